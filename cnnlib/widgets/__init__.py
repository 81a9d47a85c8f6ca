"""Interactive views for the book: live ipywidgets in Jupyter/Colab, pre-rendered static twins in the HTML book.

:mod:`cnnlib.widgets._core` holds the one mechanism (:class:`Explorer` and its controls); the chapter widgets are
built on it and imported lazily, so ``import cnnlib.widgets`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._core import Choice, Explorer, Slider, Toggle, figure_to_html, to_html
from ._html import html_table

# public name -> submodule that defines it (imported on first access)
_LAZY = {
    "cost_explorer": "cost",
    "receptive_field_explorer": "vgg",
    "config_explorer": "vgg",
    "module_designer": "inception",
    "branch_viewer": "inception",
    "feature_map_explorer": "feature_maps",
}

__all__ = ["Choice", "Explorer", "Slider", "Toggle", "figure_to_html", "html_table", "to_html", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'cnnlib.widgets' has no attribute {name!r}")
