"""The live view: the book's trained networks run in the reader's browser, on a sample photo or the reader's own.

The chapter shows :func:`live_view`'s HTML. On the built site, ``_static/live/live.js`` (loaded by every page,
inert without a live view) turns it into the view when the reader presses *Start*: only then does the page load
onnxruntime-web (WebAssembly, served by the book from ``_static/ort/``) and the ONNX network from
``_static/live/`` (both put there at build time by ``tools/fetch_assets.py`` and ``tools/export_onnx.py``).
Nothing is uploaded: the reader's image is decoded, resized and classified inside the page.

The page prepares an image as :func:`cnnlib.images.to_model_input` does (shorter side resized to the input size
with PyTorch's antialiased bilinear filter, central square, normalised by the weights' mean and std), so the
browser and Python agree; the browser tests compare them. Without JavaScript or WebAssembly the view says so and
the pre-rendered explorers of the chapter remain.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["png_data_uri", "colormap_lut", "runtime_bytes", "live_view_html", "LiveView"]

#: The onnxruntime-web files the page loads (see tools/fetch_assets.py), relative to its npm package's dist/.
RUNTIME_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


def png_data_uri(image: np.ndarray) -> str:
    """An ``H x W x 3`` ``uint8`` image as a lossless PNG ``data:`` URI (the page decodes exactly these pixels)."""
    from PIL import Image

    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 image, got {arr.dtype} {arr.shape}")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def colormap_lut(name: str) -> list[int]:
    """Matplotlib's colour map ``name`` as 256 RGB triples, flattened (``[r0, g0, b0, r1, ...]``)."""
    import matplotlib

    cmap = matplotlib.colormaps[name]
    rgb = (cmap(np.linspace(0, 1, 256))[:, :3] * 255).round().astype(int)
    return rgb.ravel().tolist()


def runtime_bytes(node_modules: str | Path | None = None) -> int | None:
    """Size of the onnxruntime-web files the page loads, or ``None`` if the npm package is not installed here."""
    root = Path(node_modules) if node_modules else Path(__file__).resolve().parents[2] / "node_modules"
    dist = root / "onnxruntime-web" / "dist"
    if not all((dist / f).is_file() for f in RUNTIME_FILES):
        return None
    return sum((dist / f).stat().st_size for f in RUNTIME_FILES)


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"


def live_view_html(
    samples: Mapping[str, np.ndarray],
    models: Mapping[str, Mapping[str, Any]],
    *,
    runtime: int | None = None,
) -> str:
    """The live view's HTML: the fallback text, the start button with the download size, and its configuration.

    Args:
        samples: sample photos by label, each ``H x W x 3`` ``uint8`` (embedded as PNG; the reader can also
            upload an image).
        models: per network name (``"vgg_cifar"``, ``"googlenet_cifar"``), ``{"label": ..., "bytes": ...}``:
            the menu label and the size of its ONNX file.
        runtime: size of onnxruntime-web's files in bytes (see :func:`runtime_bytes`).

    Returns:
        HTML for a notebook output (``IPython.display.HTML``).

    Raises:
        ValueError: no samples or no models.
    """
    if not samples or not models:
        raise ValueError("the live view needs at least one sample photo and one network")
    config = {
        "models": [{"name": n, "label": str(m["label"]), "bytes": int(m["bytes"])} for n, m in models.items()],
        "runtime_bytes": runtime,
        "samples": [{"label": k, "src": png_data_uri(v)} for k, v in samples.items()],
        "maps_lut": colormap_lut("viridis"),
        "cam_lut": colormap_lut("inferno"),
    }
    total = (runtime or 0) + sum(int(m["bytes"]) for m in models.values())
    sizes = ", ".join(f"{html.escape(str(m['label']))} {_mb(int(m['bytes']))}" for m in models.values())
    payload = json.dumps(config, separators=(",", ":")).replace("</", "<\\/")
    return (
        '<div class="sb-live" data-state="static">'
        '<p class="sb-live-nojs">The live view runs the book\'s trained networks in your browser. It needs '
        "JavaScript and WebAssembly and the book's website (it does not run inside a notebook, where the "
        "explorers above are live instead); the pre-rendered views above show the same maps for the sample "
        "photos.</p>"
        '<div class="sb-live-start" hidden>'
        f"<p>Press <em>Start</em> to load the runtime ({_mb(runtime)}) and the first network; together "
        f"{_mb(total)} with both networks ({sizes}), fetched from this site once. Your images stay on your "
        "device: they are decoded and classified inside this page, and nothing is uploaded anywhere.</p>"
        '<button type="button" class="sb-live-go">Start the live view</button></div>'
        f'<script type="application/json" class="sb-live-config">{payload}</script>'
        "</div>"
    )


class LiveView:
    """A notebook output holding :func:`live_view_html` (its ``_repr_html_``), and the numbers the text cites.

    Args:
        samples, models, runtime: as for :func:`live_view_html`.
    """

    def __init__(self, samples: Mapping[str, np.ndarray], models: Mapping[str, Mapping[str, Any]], *,
                 runtime: int | None = None) -> None:
        self.html = live_view_html(samples, models, runtime=runtime)
        self.runtime = runtime
        self.model_bytes = {n: int(m["bytes"]) for n, m in models.items()}

    @property
    def total_bytes(self) -> int:
        """Runtime plus every network (what a reader downloads at most)."""
        return (self.runtime or 0) + sum(self.model_bytes.values())

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"LiveView(networks={list(self.model_bytes)}, download={_mb(self.total_bytes)})"
