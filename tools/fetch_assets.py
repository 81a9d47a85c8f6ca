#!/usr/bin/env python3
"""Install the scripts the HTML book serves itself, so that reading it never touches a CDN.

Jupyter Book 1 (Sphinx) loads MathJax 3 from cdn.jsdelivr.net by default. Instead, ``package.json`` /
``package-lock.json`` pin the ``mathjax`` npm package; this script installs it with ``npm ci`` into
``node_modules/`` (git-ignored) and copies the parts a page can load into ``_build/assets/mathjax/``.
``_config.yml`` lists ``_build/assets`` in ``html_static_path`` and points ``mathjax_path`` at
``mathjax/tex-chtml.js``, so every page loads MathJax (and its fonts and lazily loaded extensions) from the
book's own ``_static/`` folder.

The same way, the ``onnxruntime-web`` npm package's WebAssembly build (its script, its loader and its ``.wasm``,
about 15 MB) is copied into ``_build/assets/ort/``: the live view of the feature-map chapter loads it from there
when the reader starts it (``_static/live/live.js``), with the networks that ``tools/export_onnx.py`` exports.

Nothing else is needed at read time: the interactive views are self-contained HTML (see
``cnnlib/widgets/_core.py``), and the theme's own scripts and fonts ship inside its Python package.

Usage::

    python tools/fetch_assets.py            # install if missing, then copy (idempotent, a second run is ~instant)
    python tools/fetch_assets.py --check    # exit 1 if the assets are not in place
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
ASSETS = ROOT / "_build" / "assets"

# The MathJax 3 files a page may load: the combined TeX + CommonHTML component, plus everything it can load
# lazily (TeX extensions via autoload/\require, the fonts, the context menu, accessibility and speech).
MATHJAX_KEEP = ["tex-chtml.js", "input/tex", "output/chtml", "ui", "a11y", "sre", "adaptors"]
# The file every page references (mathjax_path in _config.yml is relative to _static/).
ENTRY = ASSETS / "mathjax" / "tex-chtml.js"
# onnxruntime-web's WebAssembly-only build: the script (global `ort`), the loader it imports and the binary.
ORT_KEEP = ["ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"]
NPM_PACKAGES = ("mathjax", "onnxruntime-web")


def _locked_version(name: str) -> str:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    return lock["packages"][f"node_modules/{name}"]["version"]


def _installed_version(name: str) -> str | None:
    pkg = NODE_MODULES / name / "package.json"
    return json.loads(pkg.read_text())["version"] if pkg.exists() else None


def npm_install() -> None:
    """``npm ci`` unless node_modules already holds the locked versions."""
    if all(_installed_version(name) == _locked_version(name) for name in NPM_PACKAGES):
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("fetch_assets: npm is not installed (needed once, at build time, to install MathJax and "
                 "onnxruntime-web)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True)


def copy_mathjax() -> None:
    """Copy the MathJax files into ``_build/assets/mathjax`` (replacing an older copy)."""
    src = NODE_MODULES / "mathjax" / "es5"
    dst = ASSETS / "mathjax"
    stamp = dst / ".version"
    version = _installed_version("mathjax")
    if stamp.exists() and stamp.read_text() == version and ENTRY.exists():
        return
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for rel in MATHJAX_KEEP:
        s, d = src / rel, dst / rel
        if s.is_dir():
            shutil.copytree(s, d)
        else:
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, d)
    stamp.write_text(version or "")


def copy_ort() -> None:
    """Copy onnxruntime-web's WebAssembly build into ``_build/assets/ort`` (replacing an older copy)."""
    src = NODE_MODULES / "onnxruntime-web" / "dist"
    dst = ASSETS / "ort"
    stamp = dst / ".version"
    version = _installed_version("onnxruntime-web")
    if stamp.exists() and stamp.read_text() == version and all((dst / f).exists() for f in ORT_KEEP):
        return
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for name in ORT_KEEP:
        shutil.copy2(src / name, dst / name)
    stamp.write_text(version or "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the assets are in place")
    args = parser.parse_args(argv)
    if args.check:
        ok = ENTRY.exists() and all((ASSETS / "ort" / f).exists() for f in ORT_KEEP)
        if not ok:
            print("fetch_assets: _build/assets/mathjax or ort is missing; run `python tools/fetch_assets.py`",
                  file=sys.stderr)
        return 0 if ok else 1
    npm_install()
    copy_mathjax()
    copy_ort()
    return 0


if __name__ == "__main__":
    sys.exit(main())
