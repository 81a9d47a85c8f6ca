"""The explorer of the chapter "The price of depth": where a network's parameters, compute and memory sit.

Pick a network (AlexNet, VGG-11/16/19, GoogLeNet), an input size and a batch size; the view shows the totals and a
per-layer profile: one row per layer with its parameters, its multiply-accumulates and the bytes of the feature
map it writes, each as a bar scaled to the largest layer of the network. GoogLeNet is
shown per block (``inception3a`` ...), its branches summed.

The numbers come from :func:`cnnlib.analysis.layer_table` (a shape-only pass on the ``meta`` device, so every view
costs milliseconds and no memory); this module only arranges and draws them, as plain HTML bars, which stay small
and sharp in the static book.
"""

from __future__ import annotations

import html as _html
from collections.abc import Callable, Sequence
from functools import lru_cache

import torch
from torch import nn

from ..alexnet import alexnet
from ..analysis import LayerTable, format_bytes, format_count, layer_table
from ..googlenet import googlenet
from ..vgg import vgg11, vgg16, vgg19
from ._core import Choice, Explorer
from ._html import html_table

__all__ = ["COST_MODELS", "cost_explorer", "cost_profile", "cost_view"]

#: The networks the chapter compares, in the order they appear (display name -> builder).
COST_MODELS: dict[str, Callable[..., nn.Module]] = {
    "AlexNet": alexnet,
    "VGG-11": vgg11,
    "VGG-16": vgg16,
    "VGG-19": vgg19,
    "GoogLeNet": googlenet,
}

# The house palette (cnnlib.style), light tints so that the numbers written over the bars stay readable.
_COLOURS = {"params": "#8fc3e6", "macs": "#f0a877", "act_bytes": "#7fd1b9"}


@lru_cache(maxsize=None)
def _meta_model(name: str) -> nn.Module:
    if name not in COST_MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {list(COST_MODELS)}")
    with torch.device("meta"):  # weights without storage: building VGG-19 costs nothing
        return COST_MODELS[name]().eval()


@lru_cache(maxsize=64)
def _full_table(name: str, input_size: int, batch_size: int) -> LayerTable:
    return layer_table(_meta_model(name), (batch_size, 3, input_size, input_size))


def cost_profile(name: str, input_size: int = 224, batch_size: int = 1) -> LayerTable:
    """The per-layer costs the explorer draws.

    Args:
        name: A key of :data:`COST_MODELS`.
        input_size: Height and width of the input images.
        batch_size: Images per batch (MACs and feature-map bytes scale with it, parameters do not).

    Returns:
        A :class:`~cnnlib.analysis.LayerTable` with the layers that hold parameters or write new memory (in-place
        ReLUs and dropout are left out); for GoogLeNet one row per top-level block, auxiliary heads left out
        (they do not run at inference).
    """
    table = _full_table(name, input_size, batch_size)
    if name == "GoogLeNet":
        table = table.grouped(1)
    return table.filter(lambda r: r.calls > 0 and (r.params > 0 or r.act_bytes > 0))


# Colours of text and bar tracks come from the book theme's variables (light and dark mode; the dark theme's output
# card re-declares them), with fallbacks that read on white in Jupyter and Colab. The layer names are code in the
# theme's inline-code colour.
_CSS = (
    ".cnnlib-cost table{border-collapse:collapse;font-size:12px;color:var(--pst-color-text-base,#222)}"
    ".cnnlib-cost td,.cnnlib-cost th{padding:2px 8px;text-align:left}"
    ".cnnlib-cost code{color:var(--pst-color-inline-code,#7a1f6e);background:transparent;border:0;padding:0}"
    ".cnnlib-cost .b{min-width:110px}"  # three bar columns that fit the book's column
    ".cnnlib-cost .b div{position:relative;height:16px;background:var(--pst-color-surface,#eeeeee)}"
    ".cnnlib-cost .b i{position:absolute;left:0;top:0;bottom:0}"
    ".cnnlib-cost .b span{position:relative;padding-left:3px;font-size:11px}"
    + "".join(f".cnnlib-cost .{c} i{{background:{colour}}}" for c, colour in _COLOURS.items())
)


def _bar(value: float, largest: float, column: str, text: str) -> str:
    width = 0.0 if largest <= 0 else 100.0 * value / largest
    return f'<div class="b {column}"><div><i style="width:{width:.1f}%"></i><span>{_html.escape(text)}</span></div></div>'


def cost_view(name: str, input_size: int = 224, batch_size: int = 1) -> str:
    """HTML: the totals of ``name`` at this input and batch size, then its per-layer profile as bars.

    Args:
        name: A key of :data:`COST_MODELS`.
        input_size: Height and width of the input images.
        batch_size: Images per batch.

    Returns:
        An HTML fragment (a summary paragraph and a table).
    """
    full = _full_table(name, input_size, batch_size)
    table = cost_profile(name, input_size, batch_size)
    params, macs, act = full.total("params"), full.total("macs"), full.total("act_bytes")
    running = full.total("params", where=lambda r: r.calls > 0)
    aux = f" ({format_count(running)} used at inference)" if running != params else ""
    summary = (
        f"<p><b>{_html.escape(name)}</b>, {batch_size} image{'s' if batch_size > 1 else ''} of "
        f"{input_size} x {input_size}: <b>{format_count(params)}</b> parameters{aux} "
        f"= {format_bytes(params * 4)} of float32 weights; <b>{format_count(macs)}</b> multiply-accumulates; "
        f"<b>{format_bytes(act)}</b> of feature maps written by one forward pass.</p>"
    )
    largest = {c: max([getattr(r, c) for r in table] + [1]) for c in _COLOURS}
    rows = [
        [
            f"<code>{_html.escape(r.name)}</code>",
            _html.escape(r.type.replace(" (own operations)", "")),
            "x".join(str(v) for v in (r.output_shape or ())[1:]),
            _bar(r.params, largest["params"], "params", format_count(r.params) if r.params else ""),
            _bar(r.macs, largest["macs"], "macs", format_count(r.macs) if r.macs else ""),
            _bar(r.act_bytes, largest["act_bytes"], "act_bytes", format_bytes(r.act_bytes)),
        ]
        for r in table
    ]
    body = html_table(rows, header=["layer", "type", "output", "parameters", "MACs", "feature map"])
    return f'<div class="cnnlib-cost"><style>{_CSS}</style>{summary}{body}</div>'


def cost_explorer(
    *,
    models: Sequence[str] | None = None,
    input_sizes: Sequence[int] = (96, 160, 224, 320),
    batch_sizes: Sequence[int] = (1, 64),
    model: str = "VGG-16",
    input_size: int = 224,
    batch_size: int = 1,
) -> Explorer:
    """Model, input size and batch size -> totals and per-layer profile (see :func:`cost_view`).

    Args:
        models: Which of :data:`COST_MODELS` to offer (default: all).
        input_sizes: The input sizes to offer (at least one; each at least 64, AlexNet's minimum is 63).
        batch_sizes: The batch sizes to offer (at least one; positive).
        model: The initial model.
        input_size: The initial input size.
        batch_size: The initial batch size.

    Returns:
        An :class:`~cnnlib.widgets.Explorer`; every combination is pre-rendered for the static book.

    Raises:
        ValueError: an unknown model, an empty list of choices, an input size below 64 or a batch size below 1.
    """
    names = list(COST_MODELS if models is None else models)
    for label, options in (("models", names), ("input_sizes", input_sizes), ("batch_sizes", batch_sizes)):
        if len(options) == 0:
            raise ValueError(f"{label} must offer at least one value, got {list(options)}")
    for n in names:
        _meta_model(n)  # fail early on unknown names
    if any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in batch_sizes):
        raise ValueError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    if min(input_sizes) < 64:
        raise ValueError(f"input sizes must be at least 64 (AlexNet's minimum is 63), got {list(input_sizes)}")
    return Explorer(
        cost_view,
        {
            "name": Choice("network", names, value=model),
            "input_size": Choice("input size", [(f"{s} x {s}", s) for s in input_sizes], value=input_size),
            "batch_size": Choice("batch", list(batch_sizes), value=batch_size),
        },
        title="Where the cost sits, layer by layer",
    )
