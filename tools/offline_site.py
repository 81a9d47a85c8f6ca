"""A small Sphinx extension that keeps every page of the book self-contained and free of script errors.

Jupyter Book 1 always loads ``sphinx_thebe`` (live code cells through Binder). The book does not use it (no
kernel in the page: the interactive views are pre-computed, Colab gives the live version), yet each page would
still carry its loader, whose inline configuration points at unpkg.com and, as Jupyter Book 1.0.4 registers it
twice, throws "Identifier 'THEBE_JS_URL' has already been declared" on every page. This extension drops the
Thebe scripts and style from the pages and removes duplicated inline scripts (the toggle-button selector is
registered twice as well). The browser tests (tests/browser) check the result: no JS errors, no request to
another host.

Jupyter Book also adds every ``.js`` and ``.css`` file under every ``html_static_path`` folder to every page once
the book has a ``_static/`` folder (which holds the book's own stylesheet). ``_build/assets`` is one of
those folders: MathJax's 46 lazily loaded components would then be loaded as scripts on every page, before
MathJax itself. Only the book's ``_static/`` files are meant to be added that way; the others are dropped.

Loaded from ``_config.yml`` (``sphinx: local_extensions``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

_THEBE_FILES = {"sphinx-thebe.js", "sphinx-thebe.css"}


def _key(asset: Any) -> tuple[str, str]:
    filename = asset if type(asset) is str else (getattr(asset, "filename", None) or "")
    body = (getattr(asset, "attributes", None) or {}).get("body", "")
    return filename, body


def _is_thebe(asset: Any) -> bool:
    filename, body = _key(asset)
    return filename.split("?")[0].rsplit("/", 1)[-1] in _THEBE_FILES or "THEBE_JS_URL" in body


def _clean(assets: list[Any]) -> list[Any]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for asset in assets:
        key = _key(asset)
        if _is_thebe(asset) or key in seen:
            continue
        seen.add(key)
        kept.append(asset)
    return kept


def _page_context(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    for name in ("script_files", "css_files"):
        if name in context:
            context[name][:] = _clean(list(context[name]))  # in place: the builder shares this list


def _asset_name(entry: Any) -> str:
    return entry[0] if isinstance(entry, (tuple, list)) else str(entry)


def _drop_installed_assets(app: Sphinx, config: Any) -> None:
    """Keep MathJax's files (``_build/assets``) out of ``html_js_files`` / ``html_css_files``."""
    srcdir = Path(app.srcdir)
    own = (srcdir / "_static").resolve()
    others = [(srcdir / p).resolve() for p in config.html_static_path]
    others = [p for p in others if p != own and p.is_dir()]
    for name in ("html_js_files", "html_css_files"):
        kept = []
        for entry in getattr(config, name):
            rel = _asset_name(entry)
            installed = any((d / rel).is_file() for d in others) and not (own / rel).is_file()
            if not installed:
                kept.append(entry)
        setattr(config, name, kept)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _drop_installed_assets)
    # Late priority: after the extensions that add their assets while the page context is built.
    app.connect("html-page-context", _page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
