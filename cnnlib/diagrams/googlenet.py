"""GoogLeNet as a whole, drawn from the model: stem, the nine Inception modules, head and auxiliary heads.

Szegedy et al., *Going Deeper with Convolutions*, 2014 (arXiv:1409.4842), Figure 3 and Table 1. Nothing here is
typed: :func:`googlenet_layout` runs the model once (shapes only, on the ``meta`` device, in training mode so that
the auxiliary heads run too) and records which top-level layers run, in which order, with which output shape;
the widths of each Inception module are read from its layers (:func:`cnnlib.analysis.inception.spec_of`). The
auxiliary heads attach after the layer that ran just before them. :func:`draw_googlenet` draws that layout;
:func:`draw_module_pair` draws the paper's naive Inception module (Figure 2a) beside the one with 1x1 reductions
(Figure 2b), with :func:`cnnlib.widgets.inception.draw_module`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import style
from ..analysis.inception import ModuleSpec, spec_of
from ..googlenet import Inception

__all__ = ["Block", "draw_googlenet", "draw_module_pair", "googlenet_layout"]


@dataclass(frozen=True)
class Block:
    """One top-level layer of a GoogLeNet, as the diagram shows it.

    Attributes:
        name: the module's attribute name (``"inception4a"``, ``"aux1"``).
        kind: ``"conv"``, ``"pool"``, ``"norm"``, ``"inception"``, ``"head"`` or ``"aux"``.
        label: the text in its box.
        out_shape: its output, ``(C, H, W)`` or ``(C,)``, for the input size of the layout.
        attaches_to: for an auxiliary head, the layer whose output it reads; else ``""``.
    """

    name: str
    kind: str
    label: str
    out_shape: tuple[int, ...]
    attaches_to: str = ""


def _pair(v: Any) -> int:
    return v[0] if isinstance(v, (tuple, list)) else int(v)


def _describe(name: str, module: nn.Module) -> tuple[str, str]:
    """(kind, label) of a top-level layer, read from its attributes."""
    conv = getattr(module, "conv", None)
    if isinstance(module, Inception):
        s = spec_of(module, name=name)
        return "inception", (f"inception ({name.removeprefix('inception')})   {s.ch1x1} | {s.ch3x3red}\u2192{s.ch3x3}"
                             f" | {s.ch5x5red}\u2192{s.ch5x5} | {s.pool_proj}")
    if hasattr(module, "fc1") and isinstance(conv, nn.Module):  # an auxiliary head
        c = conv.conv if hasattr(conv, "conv") else conv
        return "aux", (f"{name}: avg pool, 1x1 conv {c.out_channels},\n"
                       f"fc {module.fc1.out_features}, fc {module.fc2.out_features}")
    if isinstance(conv, nn.Conv2d) or isinstance(module, nn.Conv2d):
        c = conv if isinstance(conv, nn.Conv2d) else module
        k, s = _pair(c.kernel_size), _pair(c.stride)
        return "conv", f"conv {k}x{k}/{s}, {c.out_channels}" + (" + BN" if getattr(module, "bn", None) else "")
    if isinstance(module, nn.MaxPool2d):
        return "pool", f"max pool {_pair(module.kernel_size)}x{_pair(module.kernel_size)}/{_pair(module.stride)}"
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return "pool", "global average pool"
    if isinstance(module, nn.LocalResponseNorm):
        return "norm", "local response norm"
    if isinstance(module, nn.Dropout):
        return "head", f"dropout {module.p:g}"
    if isinstance(module, nn.Linear):
        return "head", f"linear {module.in_features}\u2192{module.out_features}"
    return "head", type(module).__name__


def googlenet_layout(model: nn.Module, input_size: int = 224) -> list[Block]:
    """The top-level layers of a GoogLeNet in the order they run, with output shapes and aux attachments.

    Args:
        model: a :class:`cnnlib.googlenet.GoogLeNet` (``cnnlib.googlenet()``, ``paper=True``, or the CIFAR variant)
            with or without auxiliary heads. It is not modified: a copy runs on the ``meta`` device.
        input_size: side of the square input image.

    Returns:
        One :class:`Block` per top-level layer that runs, main path first in order, each auxiliary head right
        after the layer it reads.

    Raises:
        ValueError: ``model`` has no Inception modules.
    """
    children = dict(model.named_children())
    if not any(isinstance(m, Inception) for m in children.values()):
        raise ValueError(f"expected a GoogLeNet with Inception modules, got {type(model).__name__}")
    shadow = copy.deepcopy(model).to("meta")
    calls: list[tuple[str, tuple[int, ...]]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=n: calls.append((n, tuple(out.shape[1:]))))
             for n, m in shadow.named_children()]
    x = torch.empty(1, 3, input_size, input_size, device="meta")
    try:
        with torch.no_grad():
            if getattr(shadow, "aux1", None) is not None:
                shadow.train()
                shadow.forward_with_aux(x)
            else:
                shadow.eval()
                shadow(x)
    finally:
        for h in hooks:
            h.remove()
    blocks: list[Block] = []
    previous = ""
    for name, shape in calls:
        kind, label = _describe(name, children[name])
        if kind == "aux":
            blocks.append(Block(name, kind, label, shape, attaches_to=previous))
        else:
            blocks.append(Block(name, kind, label, shape))
            previous = name
    return blocks


def _shape_text(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return f"{shape[1]}x{shape[2]}x{shape[0]}"
    return "x".join(str(s) for s in shape)


_KIND_COLOR = {"conv": 0, "pool": 5, "norm": 7, "inception": 4, "head": 2, "aux": 3}


def draw_googlenet(model: nn.Module, *, input_size: int = 224, title: str | None = None) -> Any:
    """GoogLeNet top to bottom: one box per layer, output sizes on the left, auxiliary heads on the right.

    Each Inception module's box lists its widths as in the paper's Table 1: ``#1x1 | #3x3 reduce -> #3x3 |
    #5x5 reduce -> #5x5 | pool proj``.

    Args:
        model: a GoogLeNet (see :func:`googlenet_layout`).
        input_size: side of the square input image.
        title: a title above the drawing; none by default.

    Returns:
        A matplotlib ``Figure`` (not shown; the caller displays or closes it).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    blocks = googlenet_layout(model, input_size)
    main = [b for b in blocks if b.kind != "aux"]
    aux = [b for b in blocks if b.kind == "aux"]
    row_h = 0.3                                   # inches per row
    rows = len(main) + 1                          # + the input
    width, height = style.COLUMN_INCHES, row_h * rows + (0.35 if title else 0.1)
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)                        # inches, top to bottom
    ax.axis("off")
    top = 0.35 if title else 0.1
    if title:
        ax.text(width / 2, 0.16, title, ha="center", va="center", fontsize=style.FONT_SIZE, weight="bold")
    x0, x1 = 1.25, 5.05                           # the main column
    ax0, ax1 = 5.35, width - 0.05                 # the auxiliary heads
    centre = (x0 + x1) / 2

    def box(xa: float, xb: float, y: float, h: float, text: str, kind: str, name: str) -> None:
        color = style.PALETTE[_KIND_COLOR[kind]]
        patch = FancyBboxPatch((xa, y - h / 2), xb - xa, h, boxstyle="round,pad=0,rounding_size=0.05",
                               fc=color, alpha=0.22, ec=color, lw=1.0)
        patch.set_gid(f"box:{name}")
        ax.add_patch(patch)
        t = ax.text((xa + xb) / 2, y, text, ha="center", va="center", fontsize=style.SMALL_FONT_SIZE,
                    color="black", linespacing=1.1)
        t.set_gid(f"text:{name}")

    y_of: dict[str, float] = {}
    y = top + row_h / 2
    ax.text(x0 - 0.1, y, _shape_text((3, input_size, input_size)), ha="right", va="center",
            fontsize=style.SMALL_FONT_SIZE, color="#444444")
    ax.text(centre, y, "input image", ha="center", va="center", fontsize=style.SMALL_FONT_SIZE)
    for b in main:
        y_new = y + row_h
        ax.annotate("", xy=(centre, y_new - row_h * 0.38), xytext=(centre, y + row_h * 0.38 if y_of else y + 0.1),
                    arrowprops=dict(arrowstyle="-|>", color="#555555", lw=0.8, mutation_scale=7))
        y = y_new
        y_of[b.name] = y
        box(x0, x1, y, row_h * 0.74, b.label, b.kind, b.name)
        ax.text(x0 - 0.1, y, _shape_text(b.out_shape), ha="right", va="center", fontsize=style.SMALL_FONT_SIZE,
                color="#444444")
    for a in aux:
        ya = y_of[a.attaches_to] + row_h * 0.5
        box(ax0, ax1, ya + row_h * 0.5, row_h * 1.55, f"{a.label}\n(training only)", "aux", a.name)
        ax.annotate("", xy=(ax0, ya + row_h * 0.5), xytext=(x1, y_of[a.attaches_to]),
                    arrowprops=dict(arrowstyle="-|>", color=style.PALETTE[3], lw=0.9, mutation_scale=7,
                                    connectionstyle="angle,angleA=0,angleB=90,rad=0"))
    return fig


def draw_module_pair(spec: ModuleSpec) -> Any:
    """The paper's naive Inception module (Figure 2a) beside the one with 1x1 reductions (Figure 2b).

    Args:
        spec: the module's widths (e.g. ``cnnlib.analysis.paper_modules()["inception3a"]``).

    Returns:
        A matplotlib ``Figure`` with the two diagrams side by side, boxes drawn to the same scale.
    """
    import matplotlib.pyplot as plt

    from ..widgets.inception import draw_module

    fig, axes = plt.subplots(1, 2, figsize=style.figsize(1.0, 0.5))
    draw_module(spec, reductions=False, ax=axes[0])
    draw_module(spec, reductions=True, ax=axes[1])
    axes[0].set_title("naive (Figure 2a)", fontsize=style.FONT_SIZE)
    axes[1].set_title("with 1x1 reductions (Figure 2b)", fontsize=style.FONT_SIZE)
    fig.tight_layout(pad=0.3)
    return fig
