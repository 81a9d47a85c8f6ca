"""Interactive views of the Inception chapter: the module designer and the branch viewer.

Szegedy et al., *Going Deeper with Convolutions*, 2014 (arXiv:1409.4842).

* :func:`module_designer` — choose one of GoogLeNet's nine Inception modules, scale its branches and switch
  the 1x1 reductions on or off; see the output channels, parameters and multiply-accumulates (MACs) against
  the paper's naive module (its Figure 2a) and a diagram of the four branches drawn to scale.
* :func:`branch_viewer` — photos through a trained GoogLeNet (weights from :func:`cnnlib.pretrained.load_pretrained`,
  labelled); the feature maps of the four branches of one Inception module, side by side. It is the feature-map
  explorer (:mod:`cnnlib.widgets.feature_maps`) restricted to GoogLeNet's Inception modules: one branch view.

Both return a :class:`cnnlib.widgets.Explorer`: live controls in Jupyter and Colab, pre-rendered views in the
static book. Costs come from ``cnnlib.analysis.inception`` (:func:`~cnnlib.analysis.module_cost`, which counts
with :func:`~cnnlib.analysis.layer_table`) and feature maps from :class:`cnnlib.analysis.ActivationCache`: this
module counts and captures nothing itself.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

from torch import nn

from .. import style
from ..analysis.inception import MODULE_NAMES, ModuleCost, ModuleSpec, module_cost, paper_modules, scaled_spec
from ..images import DEFAULT_IMAGES
from ._core import Choice, Explorer, Toggle
from ._html import html_table

__all__ = ["branch_viewer", "draw_module", "module_designer"]

_BRANCH_COLORS = style.PALETTE[:4]  # one colour per branch, the house palette (readable in both themes)
_BRANCHES = ("1x1", "3x3", "5x5", "pool proj")


def _short(name: str) -> str:
    """``"inception3a" -> "inception (3a)"``, the paper's spelling."""
    return f"inception ({name.removeprefix('inception')})"


# --------------------------------------------------------------------------------------------- diagram
def draw_module(spec: ModuleSpec, *, reductions: bool = True, figsize: tuple[float, float] | None = None,
                ax: Any = None) -> Any:
    """A diagram of the module's four branches: one box per layer, a bar in each drawn to scale.

    Every box has the same width, so that its label fits inside it; the coloured bar at the foot of a box is as
    long as the layer's channels, on one scale for the whole module (the widest layer fills its box). "reduce"
    is a 1x1 reduction, "max pool" the 3x3/1 max-pool (its channels: the module's input).

    Args:
        spec: the widths.
        reductions: draw the module with 1x1 reductions and pool projection, or the naive one.
        figsize: matplotlib figure size in inches (default 4.6 x 3: narrow enough that its 10-pt text stays
            >= 10 px in a phone's column).
        ax: draw into these axes instead of a new figure.

    Returns:
        The matplotlib ``Figure`` (not shown; the caller displays or closes it).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch, Rectangle

    s = spec
    if reductions:
        branches = [
            [("1x1 conv", s.ch1x1)],
            [("reduce", s.ch3x3red), ("3x3 conv", s.ch3x3)],
            [("reduce", s.ch5x5red), ("5x5 conv", s.ch5x5)],
            [("max pool", s.in_channels), ("1x1 proj", s.pool_proj)],
        ]
    else:
        branches = [[("1x1 conv", s.ch1x1)], [("3x3 conv", s.ch3x3)], [("5x5 conv", s.ch5x5)],
                    [("max pool", s.in_channels)]]
    outs = [b[-1][1] for b in branches]
    total = sum(outs)
    widest = max(c for b in branches for _, c in b)

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (4.6, 3.0))
        own = True
    else:
        fig, own = ax.figure, False
    ax.set_xlim(0, 4)
    ax.set_ylim(-0.35, 3.6)
    ax.axis("off")
    fs = style.FONT_SIZE

    def box(xc: float, y: float, w: float, text: str, color: str, channels: int | None = None) -> None:
        ax.add_patch(FancyBboxPatch((xc - w / 2, y - 0.28), w, 0.56, boxstyle="round,pad=0,rounding_size=0.05",
                                    fc="white", ec=color, lw=1.2))
        if channels is not None:  # the bar: channels on the module's one scale
            bw = (w - 0.1) * channels / widest
            ax.add_patch(Rectangle((xc - bw / 2, y - 0.24), bw, 0.1, fc=color, ec="none"))
        ax.text(xc, y + (0.05 if channels is not None else 0), text, ha="center", va="center", fontsize=fs,
                color="black", linespacing=1.0)

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color="#555555", lw=0.9))

    box(2.0, 0.0, 3.9, f"input {s.size}x{s.size}x{s.in_channels}", "#555555")
    x = 0.05
    for k, c in enumerate(outs):  # the concatenation: one segment per branch, as wide as its output channels
        w = 3.9 * c / total
        ax.add_patch(Rectangle((x, 2.85), w, 0.3, fc=_BRANCH_COLORS[k], ec="white", lw=0.8))
        x += w
    ax.text(2.0, 3.42, f"concatenate {s.size}x{s.size}x{total} = " + " + ".join(map(str, outs)), ha="center",
            va="center", fontsize=fs, color="black")
    for k, layers in enumerate(branches):
        xc = 0.5 + k
        ys = [1.0, 2.05] if len(layers) == 2 else [1.5]
        prev = 0.28
        for (label, c), y in zip(layers, ys):
            arrow(xc, prev, xc, y - 0.28)
            box(xc, y, 0.94, f"{label}\n{c}", _BRANCH_COLORS[k], channels=c)
            prev = y + 0.28
        arrow(xc, prev, xc, 2.85)
    if own:
        fig.tight_layout(pad=0.2)
    return fig


def _fmt_m(n: int) -> str:
    return f"{n / 1e6:,.1f} M"


def _designer_html(spec: ModuleSpec, design: ModuleCost, naive: ModuleCost, paper: ModuleCost, reductions: bool) -> str:
    rows = [
        ["output channels", f"<b>{design.out_channels}</b>", str(naive.out_channels), str(paper.out_channels)],
        ["parameters", f"<b>{design.params:,}</b>", f"{naive.params:,}", f"{paper.params:,}"],
        ["MACs (one image)", f"<b>{_fmt_m(design.macs)}</b>", _fmt_m(naive.macs), _fmt_m(paper.macs)],
    ]
    table = html_table(rows, header=["", "this design", "naive, same widths", "paper's module"], align="lrrr",
                       style="margin:4px 0", cell_style="padding:2px 8px")
    if reductions:
        note = (f"The 1x1 reductions make this module <b>{naive.macs / design.macs:.1f}x</b> cheaper in MACs "
                f"and <b>{naive.params / design.params:.1f}x</b> smaller than the naive module with the same "
                "1x1/3x3/5x5 widths.")
    else:
        note = (f"Naive module (the paper's Figure 2a): the pooling branch passes all {spec.in_channels} input "
                f"channels through, so the output has {naive.out_channels} channels, and the 3x3 and 5x5 "
                "convolutions see every input channel. Switch the reductions on to compare.")
    title = html.escape(f"{_short(spec.name)}: input {spec.size}x{spec.size}x{spec.in_channels}")
    # a fixed height for the note: the view keeps its size when a control changes
    return (f"<div style='font-size:0.9em'><b>{title}</b>{table}"
            f"<div style='min-height:4.2em'>{note}</div></div>")


def module_designer(
    *,
    modules: Sequence[str] = MODULE_NAMES,
    static_modules: Sequence[str] = ("inception3a", "inception4e", "inception5b"),
    scales: Sequence[float] = (0.5, 1.0, 2.0),
    dpi: int = style.DPI,
) -> Explorer:
    """An explorer of one Inception module's cost: one branch's width and the 1x1 reductions on/off.

    Controls: the module (its input size and the paper's widths), the branch to resize (1x1, 3x3, 5x5 or pool
    proj), its width factor (applied to the paper's #1x1, #3x3, #5x5 or pool proj; the reductions keep the
    paper's widths) and the 1x1 reductions on/off. The view: a table of output channels, parameters and MACs for
    this design, for the naive module with the same widths and for the paper's module, and a diagram of the
    branches. The static book has every branch and factor for ``static_modules``.

    Args:
        modules: the modules offered (names in ``cnnlib.googlenet``).
        static_modules: the modules pre-rendered for the static book.
        scales: the width factors offered (at least two, 1.0 among them).
        dpi: resolution of the diagram.

    Returns:
        The :class:`~cnnlib.widgets.Explorer`.
    """
    specs = paper_modules()
    unknown = [m for m in [*modules, *static_modules] if m not in specs]
    if unknown:
        raise ValueError(f"unknown Inception modules {unknown}; choose from {list(specs)}")
    if 1.0 not in scales:
        raise ValueError(f"scales must include 1.0 (the paper's widths), got {list(scales)}")
    options = [(_short(m), m) for m in modules]
    factor = [(f"x{s:g}", s) for s in scales]

    def render(module: str, reductions: bool, branch: str, scale: float) -> list[Any]:
        base = specs[module]
        factors = [scale if b == branch else 1.0 for b in _BRANCHES]
        spec = scaled_spec(base, *factors)
        design = module_cost(spec, reductions=reductions)
        naive = module_cost(spec, reductions=False)
        paper = module_cost(base, reductions=True)
        return [_designer_html(spec, design, naive, paper, reductions), draw_module(spec, reductions=reductions)]

    controls = {
        "module": Choice("module", options, value=modules[0] if "inception3a" not in modules else "inception3a",
                         static=list(static_modules)),
        "reductions": Toggle("1x1 reductions", value=True),
        "branch": Choice("resize branch", [(b, b) for b in _BRANCHES], value="3x3"),
        "scale": Choice("by", factor, value=1.0),
    }
    return Explorer(render, controls, title="Inception module designer", dpi=dpi, max_static_views=80)


# --------------------------------------------------------------------------------------------- branch viewer
def branch_viewer(
    *,
    model: nn.Module | None = None,
    weights: Any = None,
    images: Sequence[str] = DEFAULT_IMAGES,
    modules: Sequence[str] = MODULE_NAMES,
    static_modules: Sequence[str] = ("inception3a", "inception4c", "inception5b"),
    channels: int = 16,
    input_size: int | None = None,
    title: str = "Inception branch viewer",
) -> Any:
    """The feature maps of the four branches of one Inception module, for one photo, side by side.

    The feature-map explorer (:func:`cnnlib.widgets.feature_maps.feature_map_explorer`) restricted to the Inception
    modules: each branch (1x1, 3x3, "5x5", pool projection) shows its most active channels, with its share of the
    module's activation; the view states which weights the network has.

    Args:
        model: a GoogLeNet (``cnnlib.googlenet()`` or ``cnnlib.cifar.googlenet_cifar()``); by default the one
            :func:`cnnlib.pretrained.load_pretrained` gives for ``"googlenet"`` (torchvision's ImageNet weights when
            they can be had, else cached CIFAR-10 weights, else a random initialisation, labelled as such; it never
            trains).
        weights: the :class:`~cnnlib.pretrained.WeightsInfo` (or a sentence) of ``model``; required with ``model``.
        images: photos offered (scikit-image sample names, paths or arrays).
        modules: Inception modules offered.
        static_modules: modules pre-rendered for the static book (with every image).
        channels: maps shown per module (a quarter per branch: by default the four strongest); at least 4.
        input_size: side of the square input; default the weights' (or the model's ``pretrained_cfg``).
        title: heading of the explorer; with random weights it says that the view means nothing.

    Returns:
        The :class:`~cnnlib.widgets.feature_maps.FeatureMapExplorer`.

    Raises:
        ValueError: ``model`` without ``weights``, a model without these Inception modules, or ``channels < 4``.
    """
    from .feature_maps import feature_map_explorer

    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 4:
        raise ValueError(f"channels must be at least 4 (one per branch), got {channels!r}")
    if model is None:
        from ..pretrained import load_pretrained

        model, weights = load_pretrained("googlenet", prefer="imagenet", allow_random=True, train_if_missing=False)
    elif weights is None:
        raise ValueError("pass weights= with model= (a WeightsInfo from load_pretrained, or a sentence)")
    missing = [m for m in [*modules, *static_modules] if not hasattr(model, m)]
    if missing or not modules:
        raise ValueError(f"unknown Inception modules {missing or list(modules)}; a GoogLeNet has {list(MODULE_NAMES)}")
    first = static_modules[0] if static_modules else modules[0]
    if getattr(weights, "source", None) == "random":  # say it where the maps are shown, not only in the text
        title = f"{title}: random weights, so the maps and branch shares say nothing about what a network learns"
    return feature_map_explorer(
        model, list(images), weights=weights, layer=first, layers=list(modules), filters=False, channels=channels,
        static_layers=list(static_modules), input_size=input_size, title=title,
    )
