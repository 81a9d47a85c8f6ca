#!/usr/bin/env python3
"""Export the book's shipped networks (``weights/``) as ONNX files for the live view, at build time.

Writes ``_build/assets/live/<model>.onnx`` and ``<model>.json`` (what the page needs: input size, normalisation,
classes, layers and branches, the file's size) for ``vgg_cifar`` and ``googlenet_cifar``. The site serves them
from ``_static/live/`` (``_build/assets`` is in ``html_static_path``). A second run does nothing unless the
weights' sha256 changed. Run by ``make assets`` (after ``tools/fetch_assets.py``).

Usage::

    python tools/export_onnx.py            # export if missing or stale
    python tools/export_onnx.py --check    # exit 1 if an export is missing or stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "assets" / "live"


def _exporter_sha256() -> str:
    """A change of the export code makes the exports stale, like a change of the weights."""
    return hashlib.sha256((ROOT / "cnnlib" / "web" / "export.py").read_bytes()).hexdigest()


def _stale(name: str, sha: str) -> bool:
    meta = OUT / f"{name}.json"
    if not meta.exists() or not (OUT / f"{name}.onnx").exists():
        return True
    info = json.loads(meta.read_text())
    return info.get("weights_sha256") != sha or info.get("exporter_sha256") != _exporter_sha256()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the exports are in place")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from cnnlib.shipped import load_shipped, read_meta
    from cnnlib.web.export import LIVE_MODELS, export_onnx, onnx_metadata, write_json

    weights = ROOT / "weights"
    stale = []
    for name in LIVE_MODELS:
        meta = read_meta(name, weights)
        if meta is None:
            sys.exit(f"export_onnx: no shipped weights for {name} in {weights}")
        if _stale(name, meta["sha256"]):
            stale.append((name, meta))
    if args.check:
        for name, _ in stale:
            print(f"export_onnx: {OUT / name}.onnx is missing or stale; run `python tools/export_onnx.py`",
                  file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, meta in stale:
        loaded = load_shipped(name, weights)  # verifies the sha256
        if loaded is None:
            sys.exit(f"export_onnx: could not load {name} from {weights}")
        model, meta = loaded
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's TracerWarnings about the input checks
            result = export_onnx(model, OUT / f"{name}.onnx")
        info = onnx_metadata(model, name, meta)
        info.update(onnx_bytes=result["bytes"], outputs=result["outputs"], weights_sha256=meta["sha256"],
                    exporter_sha256=_exporter_sha256(),
                    float16=result["float16"], float32=result["float32"])
        write_json(OUT / f"{name}.json", info)
        print(f"export_onnx: {name}.onnx, {result['bytes'] / 1e6:.1f} MB, {len(result['outputs'])} outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
