"""Small pictures as HTML: feature maps as coloured tiles, grids of tiles, colour bars and a statistics strip.

The drawing half of the feature-map views (:mod:`cnnlib.widgets.feature_maps`). No matplotlib figure is drawn: a
map is coloured through a 256-entry lookup table of a matplotlib colour map and encoded as a small PNG (or a JPEG
when large), so redrawing a view after a control moves costs milliseconds.
"""

from __future__ import annotations

import base64
import html as _html
import io
import re
from typing import Any

import numpy as np
from torch import Tensor

from ._html import html_table

__all__ = ["COLOUR_MAPS", "colourbar", "grid", "img", "pick", "stats_table", "tile"]

#: The colour maps the views offer.
COLOUR_MAPS: tuple[str, ...] = ("viridis", "magma", "gray", "coolwarm")

_LUTS: dict[str, np.ndarray] = {}


def _lut(cmap: str) -> np.ndarray:
    """A 256 x 3 uint8 lookup table of a matplotlib colour map."""
    if cmap not in _LUTS:
        import matplotlib

        _LUTS[cmap] = (matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    return _LUTS[cmap]


def _data_uri(rgb: np.ndarray, *, max_px: int) -> tuple[str, bool]:
    """Encode ``h x w x 3`` uint8 as a data URI: PNG when small (crisp blocks), JPEG when large (light pages).

    Returns:
        The URI and whether the browser should upscale it with hard pixel edges.
    """
    from PIL import Image

    img = Image.fromarray(rgb)
    if max(img.size) > max_px:
        img = img.resize((max_px, max(1, round(max_px * img.size[1] / img.size[0]))), Image.Resampling.BOX)
    buf = io.BytesIO()
    small = max(img.size) <= 48
    if small:
        img.save(buf, format="PNG", optimize=False, compress_level=6)
        mime = "png"
    else:
        img.save(buf, format="JPEG", quality=82)
        mime = "jpeg"
    return f"data:image/{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}", small


def img(rgb: np.ndarray, *, width: int, max_px: int, title: str = "") -> str:
    """An ``<img>`` of ``h x w x 3`` uint8 pixels, stored at most ``max_px`` wide and shown ``width`` CSS px wide
    (narrower when its box is: never wider than 100%)."""
    uri, small = _data_uri(rgb, max_px=max_px)
    style = f"width:{width}px;max-width:100%;height:auto;display:block"
    style += ";image-rendering:pixelated" if small else ""
    return f'<img alt="{_html.escape(title)}" title="{_html.escape(title)}" style="{style}" src="{uri}"/>'


def _colour(m: np.ndarray, cmap: str) -> tuple[np.ndarray, float, float]:
    """Scale one map to its own range (from min(0, min) to max) and colour it."""
    lo, hi = min(0.0, float(m.min())), float(m.max())
    scaled = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    idx = (scaled * 255).astype(np.uint8)
    return _lut(cmap)[idx], lo, hi


def tile(m: np.ndarray, caption: str, cmap: str, *, width: int, max_px: int) -> str:
    """One ``h x w`` feature map, scaled to its own range and coloured with ``cmap``, above its caption."""
    rgb, lo, hi = _colour(m, cmap)
    return (
        f'<figure style="margin:0;text-align:center;min-width:0;width:{width}px">'
        f"{img(rgb, width=width, max_px=max_px, title=caption)}"
        f'<figcaption style="font-size:11px;color:#555;overflow-wrap:anywhere">{_html.escape(caption)}</figcaption>'
        "</figure>"
    )


def grid(tiles: list[str], columns: int, *, tile_width: int | None = None, gap: int = 6) -> str:
    """Tiles (HTML fragments) in rows of at most ``columns``, as many as the box has room for.

    On a laptop that is ``columns`` a row; in a narrower box (a phone) the tiles wrap onto more rows at their own
    size instead of running out of the box or shrinking to stamps.

    Args:
        tiles: the tiles, e.g. from :func:`tile`.
        columns: the most tiles in a row.
        tile_width: each tile's width in CSS px (default: read from the first tile's ``width:..px``).
        gap: space between tiles in CSS px.

    Returns:
        An HTML ``<div>``.
    """
    if tile_width is None and tiles:
        found = re.search(r"width:(\d+)px", tiles[0])
        tile_width = int(found.group(1)) if found else None
    if tile_width is None:  # unknown tile size: columns that shrink together
        layout = f"grid-template-columns:repeat({columns},minmax(0,max-content));max-width:100%"
    else:
        cap = columns * tile_width + (columns - 1) * gap
        layout = f"grid-template-columns:repeat(auto-fill,{tile_width}px);max-width:{cap}px"
    return f'<div style="display:grid;{layout};gap:{gap}px {gap}px">' + "".join(tiles) + "</div>"


def colourbar(cmap: str) -> str:
    """A small horizontal colour scale of ``cmap``, from 0 to "largest value of each map"."""
    strip = np.repeat(_lut(cmap)[None, :, :], 8, axis=0)
    uri, _ = _data_uri(strip, max_px=256)
    return (
        '<span style="display:inline-flex;align-items:center;gap:4px;font-size:11px;color:#555">0 '
        f'<img alt="colour scale" style="width:120px;height:8px" src="{uri}"/> largest value of each map</span>'
    )


def pick(scores: Tensor, mode: str, start: int, k: int) -> tuple[list[int], str]:
    """Channel indices to show: the ``k`` most active, or ``k`` from ``start`` (clamped to the layer)."""
    n = int(scores.numel())
    k = min(k, n)
    if mode == "top":
        # numpy, not torch: torch's threaded kernels stall for tens of ms on a busy CPU; stable sort, ties by index
        order = np.argsort(-scores.numpy(), kind="stable")[:k]
        return order.tolist(), f"the {k} most active of {n} channels (highest mean activation)"
    first = max(0, min(start, n - k))
    note = "" if first == start else f" (from {first}, not {start}, so that {k} channels fit in this layer's {n})"
    return list(range(first, first + k)), f"channels {first}–{first + k - 1} of {n}{note}"


def _bar(fraction: float, colour: str) -> str:
    pct = max(0.0, min(1.0, fraction)) * 100
    return (
        f'<div style="background:#eee;width:90px;height:9px;display:inline-block;vertical-align:middle">'
        f'<div style="background:{colour};width:{pct:.0f}%;height:9px"></div></div>'
    )


def stats_table(stats: list[dict[str, Any]], *, highlight: str | None = None) -> str:
    """An HTML bar chart of per-layer statistics (one row per layer), ``highlight`` in bold.

    Args:
        stats: :attr:`Activations.stats`.
        highlight: module name of the row to emphasise.

    Returns:
        An HTML table.
    """
    top_mean = max((s["mean"] for s in stats), default=1.0) or 1.0
    rows = [
        [
            _html.escape(s["label"]),
            f"{s['channels']} × {s['height']} × {s['width']}",
            f"{_bar(s['zero_fraction'], '#888')} {s['zero_fraction'] * 100:.0f}%",
            f"{_bar(s['mean'] / top_mean, '#3b7dd8')} {s['mean']:.3g}",
        ]
        for s in stats
    ]
    styles = ["font-weight:bold;background:#fff7d6" if s["module"] == highlight else "" for s in stats]
    return html_table(
        rows, header=["layer", "channels × height × width", "zeros (values ≤ 0)", "mean activation"], align="lrll",
        style="font-size:12px;border-collapse:collapse;margin-top:6px", row_styles=styles, header_style="color:#555",
    )
