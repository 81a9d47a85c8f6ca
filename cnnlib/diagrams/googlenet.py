"""GoogLeNet as a whole, drawn from the model: stem, the nine Inception modules, head and auxiliary heads.

Szegedy et al., *Going Deeper with Convolutions*, 2014 (arXiv:1409.4842), Figure 3 and Table 1. Nothing here is
typed: :func:`googlenet_layout` runs the model once (shapes only, on the ``meta`` device, in training mode so that
the auxiliary heads run too) and records which top-level layers run, in which order, with which output shape;
the widths of each Inception module are read from its layers (``cnnlib.analysis.inception.spec_of``). The
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
        return "inception", (f"inception ({name.removeprefix('inception')})\n{s.ch1x1} | {s.ch3x3red}\u2192{s.ch3x3}"
                             f" | {s.ch5x5red}\u2192{s.ch5x5} | {s.pool_proj}")
    if hasattr(module, "fc1") and isinstance(conv, nn.Module):  # an auxiliary head
        c = conv.conv if hasattr(conv, "conv") else conv
        return "aux", (f"{name} (training only)\navg pool, 1x1 conv {c.out_channels}\n"
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
    """GoogLeNet top to bottom: one box per layer with its output size, auxiliary heads on the right.

    Each Inception module's box lists its widths as in the paper's Table 1: ``#1x1 | #3x3 reduce -> #3x3 |
    #5x5 reduce -> #5x5 | pool proj``. The drawing is narrow (4.6 inches) and its text 10 pt, so that it stays
    readable (>= 10 px) on a phone, where the column is about 360 px wide.

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
    fs = style.FONT_SIZE
    line_h, gap = 0.19, 0.14                      # inches: one text line, the space between boxes
    heights = [0.12 + line_h * (1 + b.label.count("\n")) for b in main]
    top = 0.35 if title else 0.05
    width = 4.6
    height = top + 0.3 + sum(h + gap for h in heights) + 0.05
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)                        # inches, top to bottom
    ax.axis("off")
    if title:
        ax.text(width / 2, 0.16, title, ha="center", va="center", fontsize=fs + 1, weight="bold")
    x0, x1 = 0.03, 2.6                            # the main column
    ax0, ax1 = 2.85, width - 0.03                 # the auxiliary heads
    centre = (x0 + x1) / 2

    def box(xa: float, xb: float, y0: float, h: float, text: str, kind: str, name: str) -> None:
        color = style.PALETTE[_KIND_COLOR[kind]]
        patch = FancyBboxPatch((xa, y0), xb - xa, h, boxstyle="round,pad=0,rounding_size=0.05",
                               fc=color, alpha=0.22, ec=color, lw=1.0)
        patch.set_gid(f"box:{name}")
        ax.add_patch(patch)
        t = ax.text((xa + xb) / 2, y0 + h / 2, text, ha="center", va="center", fontsize=fs, color="black",
                    linespacing=1.15)
        t.set_gid(f"text:{name}")

    def arrow(y_from: float, y_to: float) -> None:
        ax.annotate("", xy=(centre, y_to), xytext=(centre, y_from),
                    arrowprops=dict(arrowstyle="-|>", color="#555555", lw=0.8, mutation_scale=7, shrinkA=0,
                                    shrinkB=0))

    y = top
    ax.text(centre, y + 0.12, f"input image {_shape_text((3, input_size, input_size))}", ha="center",
            va="center", fontsize=fs)
    y += 0.3
    where: dict[str, tuple[float, float]] = {}
    for b, h in zip(main, heights):
        arrow(y - gap - 0.02 if where else y - 0.08, y)
        first, *rest = b.label.split("\n")
        box(x0, x1, y, h, "\n".join([f"{first}  \u2192 {_shape_text(b.out_shape)}", *rest]), b.kind, b.name)
        where[b.name] = (y, h)
        y += h + gap
    for a in aux:
        ya, ha = where[a.attaches_to]
        h = 0.12 + line_h * (1 + a.label.count("\n"))
        box(ax0, ax1, ya + ha + 0.05, h, a.label, "aux", a.name)
        ax.annotate("", xy=(ax0 + 0.4, ya + ha + 0.05), xytext=(x1, ya + ha / 2),
                    arrowprops=dict(arrowstyle="-|>", color=style.PALETTE[3], lw=0.9, mutation_scale=7,
                                    shrinkA=0, shrinkB=0, connectionstyle="angle,angleA=0,angleB=90,rad=0"))
    return fig


def draw_module_pair(spec: ModuleSpec) -> Any:
    """The paper's naive Inception module (Figure 2a) and the one with 1x1 reductions (Figure 2b), one above the other.

    Stacked rather than side by side so that the drawing stays narrow and its text readable on a phone.

    Args:
        spec: the module's widths (e.g. ``cnnlib.analysis.paper_modules()["inception3a"]``).

    Returns:
        A matplotlib ``Figure`` with the two diagrams, boxes and bars drawn to the same scale.
    """
    import matplotlib.pyplot as plt

    from ..widgets.inception import draw_module

    fig, axes = plt.subplots(2, 1, figsize=(4.6, 6.6))
    draw_module(spec, reductions=False, ax=axes[0])
    draw_module(spec, reductions=True, ax=axes[1])
    axes[0].set_title("naive (the paper's Figure 2a)", fontsize=style.FONT_SIZE, weight="bold")
    axes[1].set_title("with 1x1 reductions (Figure 2b)", fontsize=style.FONT_SIZE, weight="bold")
    fig.tight_layout(pad=0.3, h_pad=1.0)
    return fig
