"""Interactive views of the Inception chapter: the module designer and the branch viewer.

Szegedy et al., *Going Deeper with Convolutions*, 2014 (arXiv:1409.4842).

* :func:`module_designer` — choose one of GoogLeNet's nine Inception modules, scale its branches and switch
  the 1x1 reductions on or off; see the output channels, parameters and multiply-accumulates (MACs) against
  the paper's naive module (its Figure 2a) and a diagram of the four branches drawn to scale.
* :func:`branch_viewer` — one image through a real GoogLeNet; the feature maps of the four branches of one
  Inception module, side by side.

Both return a :class:`cnnlib.widgets.Explorer`: live controls in Jupyter and Colab, pre-rendered views in the
static book. Costs come from :func:`cnnlib.analysis.layer_table` (the counter behind ``count_macs``) and
feature maps from :func:`cnnlib.analysis.capture_features`: this module counts and captures nothing itself.
"""

from __future__ import annotations

import functools
import html
import os
import sys
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ..analysis import capture_features, layer_table
from ..googlenet import GoogLeNet, Inception, googlenet
from ._core import Choice, Explorer, Toggle

__all__ = [
    "ModuleSpec",
    "ModuleCost",
    "NaiveInception",
    "branch_viewer",
    "build_module",
    "draw_module",
    "load_image",
    "module_cost",
    "module_designer",
    "paper_modules",
    "prepare_googlenet",
    "spec_of",
]

MODULE_NAMES: tuple[str, ...] = (
    "inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
    "inception4d", "inception4e", "inception5a", "inception5b",
)
IMAGES: tuple[str, ...] = ("chelsea", "astronaut", "coffee")
_BRANCH_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _short(name: str) -> str:
    """``"inception3a" -> "inception (3a)"``, the paper's spelling."""
    return f"inception ({name.removeprefix('inception')})"


# --------------------------------------------------------------------------------------------- module specs
@dataclass(frozen=True)
class ModuleSpec:
    """The configuration of one Inception module: the paper's Table 1 columns plus where it sits.

    Attributes:
        name: module name in :class:`~cnnlib.googlenet.GoogLeNet` (``"inception3a"``).
        in_channels: channels of the module's input.
        size: height (= width) of its input and output for a 224 x 224 image.
        ch1x1: "#1x1", width of branch 1.
        ch3x3red: "#3x3 reduce", the 1x1 reduction before the 3x3 convolution.
        ch3x3: "#3x3".
        ch5x5red: "#5x5 reduce".
        ch5x5: "#5x5".
        pool_proj: "pool proj", the 1x1 projection after the 3x3 max-pool.
    """

    name: str
    in_channels: int
    size: int
    ch1x1: int
    ch3x3red: int
    ch3x3: int
    ch5x5red: int
    ch5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        """Channels of the concatenated output: ``ch1x1 + ch3x3 + ch5x5 + pool_proj``."""
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj

    @property
    def widths(self) -> tuple[int, int, int, int, int, int]:
        """The six Table 1 columns, in the order of :class:`~cnnlib.googlenet.Inception`'s arguments."""
        return (self.ch1x1, self.ch3x3red, self.ch3x3, self.ch5x5red, self.ch5x5, self.pool_proj)


def _conv(block: nn.Module) -> nn.Conv2d:
    conv = block.conv if hasattr(block, "conv") else block
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"expected a convolution unit, got {type(block).__name__}")
    return conv


def spec_of(module: Inception, *, name: str = "", size: int = 0) -> ModuleSpec:
    """Read an :class:`~cnnlib.googlenet.Inception` module's widths from its layers.

    Args:
        module: the module.
        name: its name, for the record.
        size: its spatial size, for the record.

    Returns:
        The :class:`ModuleSpec`.
    """
    return ModuleSpec(
        name=name,
        in_channels=_conv(module.branch1).in_channels,
        size=size,
        ch1x1=_conv(module.branch1).out_channels,
        ch3x3red=_conv(module.branch2[0]).out_channels,
        ch3x3=_conv(module.branch2[1]).out_channels,
        ch5x5red=_conv(module.branch3[0]).out_channels,
        ch5x5=_conv(module.branch3[1]).out_channels,
        pool_proj=_conv(module.branch4[1]).out_channels,
    )


@functools.lru_cache(maxsize=1)
def _paper_modules() -> tuple[ModuleSpec, ...]:
    with torch.device("meta"):  # the configuration only: no memory, no initialisation cost
        model = googlenet(paper=True, aux_logits=False)
    shapes = {row.name: row.output_shape for row in layer_table(model, 224)}
    specs = []
    for name in MODULE_NAMES:
        size = shapes[f"{name}.branch1.conv"][-1]
        specs.append(spec_of(getattr(model, name), name=name, size=size))
    return tuple(specs)


def paper_modules() -> dict[str, ModuleSpec]:
    """The nine Inception modules of ``cnnlib.googlenet(paper=True)`` at a 224 x 224 input, by name.

    Returns:
        ``{"inception3a": ModuleSpec(in_channels=192, size=28, ch1x1=64, ...), ...}``.
    """
    return {s.name: s for s in _paper_modules()}


# --------------------------------------------------------------------------------------------- building and costing
class NaiveInception(nn.Module):
    """The paper's "naive" Inception module (Figure 2a): no 1x1 reductions, no pool projection.

    1x1, 3x3 and 5x5 convolutions (each with bias and ReLU) straight on the input, and a 3x3/1 max-pool whose
    output, all ``in_channels`` of it, is concatenated with them: the output has
    ``ch1x1 + ch3x3 + ch5x5 + in_channels`` channels.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3: int, ch5x5: int) -> None:
        """Build the module.

        Args:
            in_channels: input channels.
            ch1x1: channels of the 1x1 branch.
            ch3x3: channels of the 3x3 branch.
            ch5x5: channels of the 5x5 branch.
        """
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, ch1x1, kernel_size=1), nn.ReLU(inplace=True))
        self.branch2 = nn.Sequential(nn.Conv2d(in_channels, ch3x3, kernel_size=3, padding=1), nn.ReLU(inplace=True))
        self.branch3 = nn.Sequential(nn.Conv2d(in_channels, ch5x5, kernel_size=5, padding=2), nn.ReLU(inplace=True))
        self.branch4 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """``N x C x H x W`` -> ``N x (ch1x1 + ch3x3 + ch5x5 + C) x H x W``."""
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


def build_module(spec: ModuleSpec, *, reductions: bool = True) -> nn.Module:
    """The module described by ``spec``, as published (5x5 kernels, biases, no BatchNorm).

    Args:
        spec: the widths.
        reductions: ``True``: :class:`~cnnlib.googlenet.Inception` with its 1x1 reductions and pool
            projection; ``False``: :class:`NaiveInception` with the same 1x1, 3x3 and 5x5 widths.

    Returns:
        The module (on the ``meta`` device is fine for costing; build it under ``torch.device("meta")``).
    """
    if reductions:
        return Inception(spec.in_channels, *spec.widths, five_by_five=True, batch_norm=False)
    return NaiveInception(spec.in_channels, spec.ch1x1, spec.ch3x3, spec.ch5x5)


@dataclass(frozen=True)
class ModuleCost:
    """What one module costs on a ``size x size`` input.

    Attributes:
        out_channels: channels of its output.
        params: parameters (weights and biases).
        macs: multiply-accumulates of one forward pass of one image (:func:`cnnlib.analysis.layer_table`).
    """

    out_channels: int
    params: int
    macs: int


def module_cost(spec: ModuleSpec, *, reductions: bool = True) -> ModuleCost:
    """Output channels, parameters and MACs of the module :func:`build_module` gives for ``spec``.

    Args:
        spec: the widths and the input size.
        reductions: with or without the 1x1 reductions (see :func:`build_module`).

    Returns:
        A :class:`ModuleCost`.
    """
    with torch.device("meta"):
        module = build_module(spec, reductions=reductions)
    table = layer_table(module, (spec.in_channels, spec.size, spec.size))
    out = spec.out_channels if reductions else spec.ch1x1 + spec.ch3x3 + spec.ch5x5 + spec.in_channels
    return ModuleCost(out_channels=out, params=table.total("params"), macs=table.total("macs"))


def _scaled(spec: ModuleSpec, s1: float, s3: float, s5: float, sp: float) -> ModuleSpec:
    def f(c: int, s: float) -> int:
        return max(1, int(round(c * s)))

    return ModuleSpec(
        name=spec.name, in_channels=spec.in_channels, size=spec.size,
        ch1x1=f(spec.ch1x1, s1), ch3x3red=spec.ch3x3red, ch3x3=f(spec.ch3x3, s3),
        ch5x5red=spec.ch5x5red, ch5x5=f(spec.ch5x5, s5), pool_proj=f(spec.pool_proj, sp),
    )


# --------------------------------------------------------------------------------------------- diagram
def draw_module(spec: ModuleSpec, *, reductions: bool = True, figsize: tuple[float, float] = (7.5, 3.2)) -> Any:
    """A diagram of the module's four branches, box widths proportional to their channels.

    Args:
        spec: the widths.
        reductions: draw the module with 1x1 reductions and pool projection, or the naive one.
        figsize: matplotlib figure size in inches.

    Returns:
        A matplotlib ``Figure`` (not shown; the caller displays or closes it).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    s = spec
    if reductions:
        branches = [
            [("1x1 conv", s.ch1x1)],
            [("1x1 reduce", s.ch3x3red), ("3x3 conv", s.ch3x3)],
            [("1x1 reduce", s.ch5x5red), ("5x5 conv", s.ch5x5)],
            [("3x3 max pool", s.in_channels), ("1x1 proj", s.pool_proj)],
        ]
    else:
        branches = [[("1x1 conv", s.ch1x1)], [("3x3 conv", s.ch3x3)], [("5x5 conv", s.ch5x5)],
                    [("3x3 max pool", s.in_channels)]]
    outs = [b[-1][1] for b in branches]
    total = sum(outs)
    widest = max(c for b in branches for _, c in b)

    fig, ax = plt.subplots(figsize=figsize)
    ax.set_xlim(0, 4)
    ax.set_ylim(-0.45, 3.45)
    ax.axis("off")

    def box(xc: float, y: float, w: float, text: str, color: str, *, alpha: float = 0.85) -> None:
        ax.add_patch(FancyBboxPatch((xc - w / 2, y - 0.2), w, 0.4, boxstyle="round,pad=0.02,rounding_size=0.04",
                                    fc=color, ec="#333", lw=0.8, alpha=alpha))
        ax.text(xc, y, text, ha="center", va="center", fontsize=8, color="black")

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color="#555", lw=0.9))

    box(2.0, 0.0, 3.8, f"input  {s.size}x{s.size}x{s.in_channels}", "#dddddd")
    # concat bar: one segment per branch, widths proportional to the branch's output channels
    x = 0.1
    for k, c in enumerate(outs):
        w = 3.8 * c / total
        ax.add_patch(plt.Rectangle((x, 2.8), w, 0.4, fc=_BRANCH_COLORS[k], ec="#333", lw=0.8, alpha=0.85))
        if w > 0.22:
            ax.text(x + w / 2, 3.0, str(c), ha="center", va="center", fontsize=8)
        x += w
    ax.text(2.0, 3.38, f"concatenate: {s.size}x{s.size}x{total}", ha="center", va="center", fontsize=9)
    for k, layers in enumerate(branches):
        xc = 0.5 + k
        ys = [1.0, 1.9] if len(layers) == 2 else [1.45]
        prev = 0.2
        for (label, c), y in zip(layers, ys):
            w = 0.12 + 0.8 * c / widest
            arrow(xc, prev, xc, y - 0.2)
            faint = label.startswith(("1x1 r", "3x3 m"))  # reductions and pooling: lighter than the main layers
            box(xc, y, w, f"{label}\n{c}", _BRANCH_COLORS[k], alpha=0.45 if faint else 0.85)
            prev = y + 0.2
        arrow(xc, prev, xc, 2.8)
    fig.tight_layout(pad=0.2)
    return fig


def _fmt_m(n: int) -> str:
    return f"{n / 1e6:,.1f} M"


def _designer_html(spec: ModuleSpec, design: ModuleCost, naive: ModuleCost, paper: ModuleCost, reductions: bool) -> str:
    def row(label: str, a: str, b: str, c: str) -> str:
        return (f"<tr><td style='text-align:left'>{label}</td><td style='text-align:right'><b>{a}</b></td>"
                f"<td style='text-align:right'>{b}</td><td style='text-align:right'>{c}</td></tr>")

    head = ("<tr><th></th><th style='text-align:right'>this design</th>"
            "<th style='text-align:right'>naive, same widths</th><th style='text-align:right'>paper's module</th></tr>")
    body = "".join([
        row("output channels", str(design.out_channels), str(naive.out_channels), str(paper.out_channels)),
        row("parameters", f"{design.params:,}", f"{naive.params:,}", f"{paper.params:,}"),
        row("MACs (one image)", _fmt_m(design.macs), _fmt_m(naive.macs), _fmt_m(paper.macs)),
    ])
    if reductions:
        note = (f"The 1x1 reductions make this module <b>{naive.macs / design.macs:.1f}x</b> cheaper in MACs "
                f"and <b>{naive.params / design.params:.1f}x</b> smaller than the naive module with the same "
                "1x1/3x3/5x5 widths.")
    else:
        note = (f"Naive module (the paper's Figure 2a): the pooling branch passes all {spec.in_channels} input "
                f"channels through, so the output has {naive.out_channels} channels, and the 3x3 and 5x5 "
                "convolutions see every input channel. Switch the reductions on to compare.")
    title = html.escape(f"{_short(spec.name)}: input {spec.size}x{spec.size}x{spec.in_channels}")
    return (f"<div style='font-size:0.9em'><b>{title}</b>"
            f"<table style='margin:4px 0'>{head}{body}</table><div>{note}</div></div>")


def module_designer(
    *,
    modules: Sequence[str] = MODULE_NAMES,
    static_modules: Sequence[str] = ("inception3a", "inception4e", "inception5b"),
    scales: Sequence[float] = (0.5, 1.0, 2.0),
    dpi: int = 65,
) -> Explorer:
    """An explorer of one Inception module's cost: branch widths and 1x1 reductions on/off.

    Controls: the module (its input size and the paper's widths), a width factor for each of the four
    branches (applied to the paper's #1x1, #3x3, #5x5 and pool proj; the reductions keep the paper's widths)
    and the 1x1 reductions on/off. The view: a table of output channels, parameters and MACs for this design,
    for the naive module with the same widths and for the paper's module, and a diagram of the branches.

    Args:
        modules: the modules offered (names in ``cnnlib.googlenet``).
        static_modules: the modules pre-rendered for the static book.
        scales: the width factors offered. The static book renders every factor for the 3x3 and 5x5 branches
            and only 1.0 for the 1x1 and pool branches.
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

    def render(module: str, reductions: bool, scale_1x1: float, scale_3x3: float, scale_5x5: float,
               scale_pool: float) -> list[Any]:
        base = specs[module]
        spec = _scaled(base, scale_1x1, scale_3x3, scale_5x5, scale_pool)
        design = module_cost(spec, reductions=reductions)
        naive = module_cost(spec, reductions=False)
        paper = module_cost(base, reductions=True)
        return [_designer_html(spec, design, naive, paper, reductions), draw_module(spec, reductions=reductions)]

    controls = {
        "module": Choice("module", options, value=modules[0] if "inception3a" not in modules else "inception3a",
                         static=list(static_modules)),
        "reductions": Toggle("1x1 reductions", value=True),
        "scale_1x1": Choice("1x1 width", factor, value=1.0, static=[1.0]),
        "scale_3x3": Choice("3x3 width", factor, value=1.0),
        "scale_5x5": Choice("5x5 width", factor, value=1.0),
        "scale_pool": Choice("pool proj width", factor, value=1.0, static=[1.0]),
    }
    return Explorer(render, controls, title="Inception module designer", dpi=dpi, max_static_views=80)


# --------------------------------------------------------------------------------------------- branch viewer
def load_image(name: str, *, size: int = 224) -> tuple[Tensor, Tensor]:
    """One of scikit-image's sample photographs, resized (shorter side) and centre-cropped to ``size``.

    Args:
        name: ``"chelsea"`` (a cat), ``"astronaut"`` or ``"coffee"`` — any ``skimage.data`` RGB image.
        size: output height and width.

    Returns:
        ``(picture, x)``: the crop as ``size x size x 3`` floats in [0, 1] for display, and the network input
        ``1 x 3 x size x size``, normalised with ImageNet's mean and standard deviation.
    """
    import skimage.data

    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise ValueError(f"skimage.data has no image {name!r}; try one of {IMAGES}")
    img = torch.from_numpy(loader().copy()).permute(2, 0, 1).float().div(255).unsqueeze(0)  # 1 x 3 x H x W
    h, w = img.shape[-2:]
    # shorter side -> size, the longer one truncated as torchvision's Resize(size) does
    new = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
    img = nn.functional.interpolate(img, size=new, mode="bilinear", antialias=True, align_corners=False)
    top, left = (img.shape[-2] - size) // 2, (img.shape[-1] - size) // 2
    img = img[..., top:top + size, left:left + size].clamp(0, 1)
    mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
    return img[0].permute(1, 2, 0), (img - mean) / std


def _torchvision_weights_cached() -> bool:
    try:
        from torchvision.models import GoogLeNet_Weights
    except ImportError:  # pragma: no cover - torchvision is a dependency
        return False
    url = GoogLeNet_Weights.DEFAULT.url
    return os.path.exists(os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url)))


def prepare_googlenet(*, weights: str = "auto", seed: int = 0) -> tuple[GoogLeNet, str]:
    """A torchvision-layout GoogLeNet (no auxiliary heads) in eval mode, with the best weights at hand.

    Args:
        weights: ``"imagenet"``: torchvision's ImageNet weights (downloads them once, needs a connection);
            ``"random"``: random initialisation (seeded); ``"auto"``: ImageNet weights if they are already in
            torch's download cache or the notebook runs in Colab (online), otherwise random.
        seed: seed of the random initialisation.

    Returns:
        ``(model, label)``, where ``label`` says in words which weights the model has.
    """
    if weights not in ("auto", "imagenet", "random"):
        raise ValueError(f"weights must be 'auto', 'imagenet' or 'random', got {weights!r}")
    if weights == "auto":
        weights = "imagenet" if ("google.colab" in sys.modules or _torchvision_weights_cached()) else "random"
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = googlenet(aux_logits=False)
    finally:
        torch.random.set_rng_state(state)
    if weights == "imagenet":
        from ..weights import load_torchvision_weights

        load_torchvision_weights(model, progress=False)
        label = "ImageNet weights (torchvision's GoogLeNet)"
    else:
        label = ("RANDOM weights (untrained, seed %d): no ImageNet weights were available offline. These maps show "
                 "what the architecture alone does; run the chapter in Colab for trained ones." % seed)
    return model.eval(), label


def _branch_figure(picture: Tensor, feats: list[Tensor], titles: list[str], channels: int) -> Any:
    import matplotlib.pyplot as plt

    cols = max(1, (channels + 1) // 2)
    rows = (channels + cols - 1) // cols
    fig = plt.figure(figsize=(1.8 + 4 * 0.9 * cols + 0.6, 0.9 * rows + 0.5))
    outer = fig.add_gridspec(1, 5, width_ratios=[1.25 * rows / cols] + [1] * 4, wspace=0.12)
    ax = fig.add_subplot(outer[0])
    ax.imshow(picture.numpy())
    ax.set_title("input", fontsize=8)
    ax.axis("off")
    for b, (f, title) in enumerate(zip(feats, titles)):
        f = f[0]  # C x h x w
        strongest = f.mean(dim=(1, 2)).argsort(descending=True)[:channels]
        inner = outer[b + 1].subgridspec(rows, cols, wspace=0.06, hspace=0.25)
        for i, c in enumerate(strongest.tolist()):
            ax = fig.add_subplot(inner[i // cols, i % cols])
            m = f[c]
            lo, hi = float(m.min()), float(m.max())
            ax.imshow(((m - lo) / (hi - lo + 1e-12)).numpy(), cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color(_BRANCH_COLORS[b])
                spine.set_linewidth(2)
            ax.set_xlabel(f"ch {c}", fontsize=6, labelpad=1)
            if i == 0:
                ax.set_title(title, fontsize=8, loc="left", color=_BRANCH_COLORS[b])
    return fig


def branch_viewer(
    *,
    model: GoogLeNet | None = None,
    weights: str = "auto",
    weights_label: str | None = None,
    images: Sequence[str] = IMAGES,
    modules: Sequence[str] = MODULE_NAMES,
    static_modules: Sequence[str] = ("inception3a", "inception4c", "inception5b"),
    channels: int = 4,
    image_size: int = 224,
    dpi: int = 60,
) -> Explorer:
    """An explorer of the four branches' feature maps of one Inception module, for one image.

    For each branch (1x1, 3x3, "5x5", pool projection) it shows the ``channels`` maps with the largest mean
    activation, each scaled to its own range, beside the input; the caption says which weights the network
    has and how the module's total activation splits over the branches.

    Args:
        model: a GoogLeNet with torchvision's layout (``cnnlib.googlenet()``) in eval mode; by default one from
            :func:`prepare_googlenet` with ``weights``.
        weights: passed to :func:`prepare_googlenet` when ``model`` is None.
        weights_label: the words shown for the model's weights (required with ``model``).
        images: names of ``skimage.data`` photographs offered.
        modules: Inception modules offered.
        static_modules: modules pre-rendered for the static book (with every image).
        channels: maps shown per branch (an even number reads best).
        image_size: side of the square network input.
        dpi: resolution of the figures.

    Returns:
        The :class:`~cnnlib.widgets.Explorer`; its ``weights_label`` attribute holds the words shown for the weights.
    """
    if model is None:
        model, label = prepare_googlenet(weights=weights)
    else:
        if weights_label is None:
            raise ValueError("pass weights_label= with model=, e.g. 'ImageNet weights' or 'random initialisation'")
        label = weights_label
    if not hasattr(model, "inception3a"):
        raise ValueError(f"branch_viewer needs a GoogLeNet (cnnlib.googlenet()), got {type(model).__name__}")
    bad = [m for m in [*modules, *static_modules] if m not in MODULE_NAMES]
    if bad:
        raise ValueError(f"unknown Inception modules {bad}; choose from {list(MODULE_NAMES)}")
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    five = getattr(model, "paper", False)
    titles = ["1x1", "3x3", "5x5" if five else "'5x5'*", "pool proj"]

    @functools.lru_cache(maxsize=len(images))
    def features(image: str) -> tuple[Tensor, dict[str, list[Tensor]]]:
        picture, x = load_image(image, size=image_size)
        names = [f"{m}.branch{b}" for m in modules for b in range(1, 5)]
        with torch.no_grad(), capture_features(model, names, detach=True, clone=True) as feats:
            model(x)
        return picture, {m: [feats[f"{m}.branch{b}"] for b in range(1, 5)] for m in modules}

    def render(image: str, module: str) -> list[Any]:
        picture, feats = features(image)
        maps = feats[module]
        energy = [float(f.sum()) for f in maps]
        total = sum(energy) or 1.0
        widths = [f.shape[1] for f in maps]
        share = ", ".join(f"{t} {w} ch, {100 * e / total:.0f}%" for t, w, e in zip(titles, widths, energy))
        h, w = maps[0].shape[-2:]
        star = "" if five else " (*) torchvision's '5x5' branch has a 3x3 kernel."
        caption = (f"<div style='font-size:0.85em'><b>{html.escape(_short(module))}</b>, maps of {h}x{w}; "
                   f"strongest {channels} channels per branch, each scaled to its own range. "
                   f"Share of the module's total activation: {html.escape(share)}.{star}<br>"
                   f"<b>Weights:</b> {html.escape(label)}</div>")
        return [caption, _branch_figure(picture, maps, [f"{t}: {c} ch" for t, c in zip(titles, widths)], channels)]

    controls = {
        "image": Choice("image", list(images)),
        "module": Choice("module", [(_short(m), m) for m in modules],
                         value=static_modules[0] if static_modules else modules[0], static=list(static_modules)),
    }
    explorer = Explorer(render, controls, title="Inception branch viewer", dpi=dpi, max_static_views=80)
    explorer.weights_label = label  # type: ignore[attr-defined]
    return explorer
