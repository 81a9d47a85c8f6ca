"""Interactive views for the VGG chapter: why stacks of 3x3 convolutions, and where VGG's cost sits.

Simonyan & Zisserman, *Very Deep Convolutional Networks for Large-Scale Image Recognition*, 2014
(arXiv:1409.1556).

* :func:`receptive_field_explorer` -- a stack of ``n`` convolutions with kernel ``k``, stride ``s`` and
  dilation ``d``: its receptive field, parameters and multiply-accumulates, and a picture of the input
  pixels one output value sees.
* :func:`config_explorer` -- the paper's configurations A-E (``cnnlib.VGG_CONFIGS``), with or without
  BatchNorm, at any input size and number of classes: parameters and MACs per stage, as bars and a table.

Both are :class:`~cnnlib.widgets.Explorer` objects: live ipywidgets in Jupyter and Colab, pre-rendered
static views in the HTML book. The numbers come from :mod:`cnnlib.analysis` (receptive fields from
:func:`~cnnlib.analysis.stacked_receptive_field`, parameters and MACs from
:func:`~cnnlib.analysis.layer_table`); this module only arranges and draws them.
"""

from __future__ import annotations

import html as _html
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..analysis import format_count, layer_table, stacked_receptive_field
from ..vgg import VGG, VGG_CONFIGS, vgg11, vgg13, vgg16, vgg16_c, vgg19
from ._core import Choice, Explorer, Slider, Toggle

__all__ = [
    "CONFIG_LETTERS",
    "StageCost",
    "conv_stack",
    "config_explorer",
    "receptive_field_explorer",
    "receptive_field_figure",
    "receptive_field_footprint",
    "stage_costs",
]

#: The paper's letters for cnnlib's configuration keys (Table 1 of the paper).
CONFIG_LETTERS: dict[str, str] = {"vgg11": "A", "vgg13": "B", "vgg16_c": "C", "vgg16": "D", "vgg19": "E"}

_BUILDERS: dict[str, Callable[..., VGG]] = {
    "vgg11": vgg11, "vgg13": vgg13, "vgg16_c": vgg16_c, "vgg16": vgg16, "vgg19": vgg19,
}


# --------------------------------------------------------------------------------------------- receptive field
def conv_stack(
    layers: int,
    *,
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 1,
    channels: int = 1,
    padding: int | None = None,
    relu: bool = True,
) -> nn.Sequential:
    """``layers`` identical convolutions ``channels -> channels`` (each followed by a ReLU).

    Args:
        layers: how many convolutions.
        kernel_size: kernel ``k`` of each (``k x k``).
        stride: stride of each.
        dilation: dilation of each.
        channels: input and output channels of every convolution.
        padding: zero padding of each; default ``dilation * (kernel_size - 1) // 2`` ("same" size at stride 1).
        relu: put a ``ReLU`` after every convolution.

    Returns:
        An ``nn.Sequential`` mapping ``N x channels x H x W`` to ``N x channels x H' x W'``.
    """
    if layers < 1:
        raise ValueError(f"a stack needs at least one layer, got {layers}")
    pad = dilation * (kernel_size - 1) // 2 if padding is None else padding
    mods: list[nn.Module] = []
    for _ in range(layers):
        mods.append(nn.Conv2d(channels, channels, kernel_size, stride=stride, padding=pad, dilation=dilation))
        if relu:
            mods.append(nn.ReLU(inplace=True))
    return nn.Sequential(*mods)


def receptive_field_footprint(layers: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1) -> torch.Tensor:
    """Which input pixels one output value of the stack depends on, and through how many paths.

    The stack is built for real (one channel, all weights 1, no padding, no ReLU) on an input exactly one
    receptive field wide, so its output is a single value; the gradient of that value with respect to the
    input counts, for every input pixel, the paths through the stack that connect the two. Its non-zero
    extent is the receptive field measured by autograd, independently of the formula in
    :func:`cnnlib.analysis.stacked_receptive_field`.

    Args:
        layers: number of stacked convolutions.
        kernel_size: kernel of each.
        stride: stride of each.
        dilation: dilation of each.

    Returns:
        ``r x r`` float64 tensor of path counts, ``r`` the receptive field.
    """
    r = stacked_receptive_field(layers, kernel_size, stride, dilation)
    stack = conv_stack(layers, kernel_size=kernel_size, stride=stride, dilation=dilation, padding=0, relu=False)
    stack = stack.double()
    for m in stack:
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    x = torch.zeros(1, 1, r, r, dtype=torch.float64, requires_grad=True)
    out = stack(x)
    if out.shape[-2:] != (1, 1):  # the formula and the layers disagree: never expected
        raise RuntimeError(f"a {r}x{r} input should give a 1x1 output, got {tuple(out.shape)}")
    (grad,) = torch.autograd.grad(out.sum(), x)
    return grad[0, 0].detach()


_LAYER_COLOURS = ["#e6550d", "#31a354", "#756bb1", "#3182bd", "#de2d26", "#636363"]


def receptive_field_figure(
    layers: int,
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 1,
    *,
    ax: Any = None,
    margin: int = 2,
    title: str | None = None,
) -> Any:
    """Draw the input pixels that one output value of the stack sees, on a pixel grid.

    Shading: how many paths connect each input pixel to the output (darker = more; white inside the field
    = a pixel skipped by dilation). Coloured squares: the receptive field after 1, 2, ... layers.

    Args:
        layers: number of stacked convolutions.
        kernel_size: kernel of each.
        stride: stride of each.
        dilation: dilation of each.
        ax: matplotlib axes to draw into (a new 3.2 x 3.2 inch figure if ``None``).
        margin: pixels of empty grid drawn around the field.
        title: axes title (default: the stack and its receptive field).

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    counts = receptive_field_footprint(layers, kernel_size, stride, dilation)
    r = counts.shape[0]
    size = r + 2 * margin
    grid = torch.zeros(size, size, dtype=torch.float64)
    # sqrt keeps the rarely reached border pixels visible next to the centre's many paths
    shade = torch.where(counts > 0, 0.25 + 0.75 * (counts / counts.max()).sqrt(), torch.zeros_like(counts))
    grid[margin : margin + r, margin : margin + r] = shade
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.2, 3.2))
    else:
        fig = ax.figure
    ax.imshow(grid.numpy(), cmap="Blues", vmin=0, vmax=1.1, interpolation="nearest")
    if size <= 40:  # pixel grid lines while the pixels are big enough to see
        ax.set_xticks([i - 0.5 for i in range(size + 1)], minor=True)
        ax.set_yticks([i - 0.5 for i in range(size + 1)], minor=True)
        ax.grid(which="minor", color="#bbbbbb", linewidth=0.5)
        ax.tick_params(which="minor", length=0)
    ax.set_xticks([])
    ax.set_yticks([])
    centre = margin + (r - 1) / 2
    for i in range(1, layers + 1):
        ri = stacked_receptive_field(i, kernel_size, stride, dilation)
        colour = _LAYER_COLOURS[(i - 1) % len(_LAYER_COLOURS)]
        ax.add_patch(
            Rectangle((centre - ri / 2, centre - ri / 2), ri, ri, fill=False, edgecolor=colour,
                      linewidth=2.0 if i == layers else 1.3, label=f"after {i} layer{'s' if i > 1 else ''}: {ri}x{ri}")
        )
    ax.add_patch(Rectangle((centre - 0.5, centre - 0.5), 1, 1, color="#d62728", label="the output value's position"))
    if title is None:
        extra = "".join([f", stride {stride}" if stride > 1 else "", f", dilation {dilation}" if dilation > 1 else ""])
        title = f"{layers} x conv{kernel_size}x{kernel_size}{extra}: {r}x{r}"
    ax.set_title(title, fontsize=10)
    return fig


def _rf_render(layers: int, kernel: int, stride: int, dilation: int, *, channels: int, size: int) -> list:
    import matplotlib.pyplot as plt

    r = stacked_receptive_field(layers, kernel, stride, dilation)
    with torch.device("meta"):
        stack = conv_stack(layers, kernel_size=kernel, stride=stride, dilation=dilation, channels=channels)
        single = nn.Conv2d(channels, channels, r, padding=r // 2)
    table = layer_table(stack, (1, channels, size, size))
    params, macs = table.total("params"), table.total("macs")
    convs = table.filter(lambda row: row.type == "Conv2d")
    out_shape = convs.rows[-1].output_shape
    one = layer_table(single, (1, channels, size, size))

    fig, ax = plt.subplots(figsize=(3.6, 3.6))
    receptive_field_figure(layers, kernel, stride, dilation, ax=ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, frameon=False)
    if r > 40:
        ax.set_xlabel(f"{r} x {r} input pixels (grid lines omitted)", fontsize=9)

    relus = layers
    rows = [
        ("receptive field", f"<b>{r} x {r}</b> input pixels"),
        ("parameters", f"{params:,} ({layers} x {kernel}&sup2;C&sup2; weights + {layers}C biases)"),
        ("MACs", f"{format_count(macs)} ({macs:,})"),
        ("output", f"{out_shape[1]} x {out_shape[2]} x {out_shape[3]}"),
        ("non-linearities", f"{relus} ReLU{'s' if relus > 1 else ''}"),
        (f"one {r}x{r} conv instead", f"{one.total('params'):,} parameters, {format_count(one.total('macs'))} MACs, 1 ReLU"),
    ]
    body = "".join(
        f'<tr><td style="text-align:left;padding-right:12px">{k}</td><td style="text-align:left">{v}</td></tr>'
        for k, v in rows
    )
    where = " (as in VGG-16's third stage)" if (channels, size) == (256, 56) else ""
    note = (
        f'<div class="cnnlib-note">Counted for C = {channels} channels in and out on a {size} x {size} input'
        f"{where}, padding d(k-1)/2.</div>"
    )
    return [fig, f"<table>{body}</table>{note}"]


def receptive_field_explorer(
    *,
    layers: int = 3,
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 1,
    channels: int = 256,
    input_size: int = 56,
    max_layers: int = 4,
    dpi: int = 64,
) -> Explorer:
    """Explore a stack of identical convolutions: receptive field, parameters, MACs and the pixel grid.

    Args:
        layers: initial number of stacked layers.
        kernel_size: initial kernel size (one of 1, 3, 5, 7).
        stride: initial stride (1 or 2).
        dilation: initial dilation (1 or 2).
        channels: channels ``C`` in and out of every convolution, for the parameter and MAC counts.
        input_size: height and width of the input map for the MAC counts.
        max_layers: the most layers the slider offers.
        dpi: resolution of the figures.

    Returns:
        An :class:`~cnnlib.widgets.Explorer` with controls ``layers``, ``kernel``, ``stride``, ``dilation``.
    """

    def render(layers: int, kernel: int, stride: int, dilation: int) -> list:
        return _rf_render(layers, kernel, stride, dilation, channels=channels, size=input_size)

    render.__name__ = "receptive_field_explorer"
    return Explorer(
        render,
        {
            "layers": Slider("layers", 1, max_layers, value=layers),
            "kernel": Choice("kernel", [(f"{k}x{k}", k) for k in (1, 3, 5, 7)], value=kernel_size),
            "stride": Choice("stride", [1, 2], value=stride),
            "dilation": Choice("dilation", [1, 2], value=dilation),
        },
        title="A stack of convolutions: what one output value sees, and what it costs",
        dpi=dpi,
    )


# --------------------------------------------------------------------------------------------- configurations
@dataclass(frozen=True)
class StageCost:
    """Parameters and MACs of one stage of a VGG network.

    Attributes:
        stage: ``"conv1"`` ... ``"conv5"`` (the convolutions before each max-pool) or ``"fc6"``, ``"fc7"``,
            ``"fc8"`` (the classifier's linear layers, with their ReLU/dropout).
        layers: the stage's weight layers in the paper's notation, e.g. ``"conv3-256 x2, conv1-256"``.
        output_shape: ``C x H x W`` (or ``features``) of the stage's last layer.
        params: parameters (BatchNorm's included when present).
        macs: multiply-accumulates for one image.
    """

    stage: str
    layers: str
    output_shape: str
    params: int
    macs: int


def _paper_names(modules: list[nn.Module]) -> str:
    names: list[str] = []
    for m in modules:
        if isinstance(m, nn.Conv2d):
            names.append(f"conv{m.kernel_size[0]}-{m.out_channels}")
        elif isinstance(m, nn.Linear):
            names.append(f"FC-{m.out_features}")
    parts: list[str] = []
    for name in names:  # run-length: "conv3-256 x2"
        if parts and parts[-1].split(" x")[0] == name:
            count = int(parts[-1].split(" x")[1]) + 1 if " x" in parts[-1] else 2
            parts[-1] = f"{name} x{count}"
        else:
            parts.append(name)
    return ", ".join(parts)


def stage_costs(model: VGG, input_size: int = 224) -> list[StageCost]:
    """Parameters and MACs of a VGG model per stage (five convolutional stages, then fc6, fc7, fc8).

    Args:
        model: a :class:`cnnlib.VGG` (any configuration, with or without BatchNorm; may live on ``meta``).
        input_size: height and width of the (square, RGB) input.

    Returns:
        One :class:`StageCost` per stage, in order; the ``params`` sum to the model's parameter count.
    """
    table = layer_table(model, input_size)
    named = dict(model.named_modules())
    groups: dict[str, list[str]] = {}
    stage = 1
    for i, m in enumerate(model.features):
        groups.setdefault(f"conv{stage}", []).append(f"features.{i}")
        if isinstance(m, nn.MaxPool2d):
            stage += 1
    fc = 5
    for i, m in enumerate(model.classifier):
        if isinstance(m, nn.Linear):
            fc += 1
        groups.setdefault(f"fc{fc}", []).append(f"classifier.{i}")
    costs = []
    for name, members in groups.items():
        rows = [table[n] for n in members]
        last = [r for r in rows if r.output_shape is not None and r.type != "MaxPool2d"]
        shape = last[-1].output_shape[1:] if last else ()
        costs.append(
            StageCost(
                stage=name,
                layers=_paper_names([named[n] for n in members]),
                output_shape=" x ".join(str(s) for s in shape),
                params=sum(r.params for r in rows),
                macs=sum(r.macs for r in rows),
            )
        )
    other = table.total("params") - sum(c.params for c in costs)
    if other:  # every parameter of a VGG sits in features or classifier
        raise RuntimeError(f"{other} parameters outside features/classifier")
    return costs


def _config_render(config: str, batch_norm: bool, input_size: int, num_classes: int) -> list:
    import matplotlib.pyplot as plt

    with torch.device("meta"):
        model = _BUILDERS[config](batch_norm=batch_norm, num_classes=num_classes)
    costs = stage_costs(model, input_size)
    total_p = sum(c.params for c in costs)
    total_m = sum(c.macs for c in costs)

    names = [c.stage for c in costs][::-1]
    colours = ["#3182bd" if c.stage.startswith("conv") else "#e6550d" for c in costs][::-1]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.2, 2.5), sharey=True)
    a1.barh(names, [c.params / 1e6 for c in costs][::-1], color=colours)
    a1.set_xlabel("parameters (millions)", fontsize=8)
    a2.barh(names, [c.macs / 1e9 for c in costs][::-1], color=colours)
    a2.set_xlabel("MACs per image (billions)", fontsize=8)
    for a in (a1, a2):
        a.tick_params(labelsize=8)
        a.spines[["top", "right"]].set_visible(False)
    letter = CONFIG_LETTERS[config]
    bn = " with BatchNorm" if batch_norm else ""
    fig.suptitle(
        f"Config {letter} ({config}{'_bn' if batch_norm else ''}){bn}, {input_size}x{input_size} input, "
        f"{num_classes} classes", fontsize=9,
    )
    fig.tight_layout()

    def pct(part: int, whole: int) -> str:
        return f"{100 * part / whole:.1f}%" if whole else "--"

    head = "".join(
        f'<th style="text-align:{a}">{h}</th>'
        for h, a in [("stage", "left"), ("layers", "left"), ("output", "left"), ("params", "right"),
                     ("", "right"), ("MACs", "right"), ("", "right")]
    )
    body = "".join(
        "<tr>"
        f'<td style="text-align:left">{c.stage}</td><td style="text-align:left">{_html.escape(c.layers)}</td>'
        f'<td style="text-align:left">{c.output_shape}</td><td style="text-align:right">{c.params:,}</td>'
        f'<td style="text-align:right">{pct(c.params, total_p)}</td>'
        f'<td style="text-align:right">{format_count(c.macs)}</td>'
        f'<td style="text-align:right">{pct(c.macs, total_m)}</td>'
        "</tr>"
        for c in costs
    )
    foot = (
        f'<tr><th style="text-align:left">total</th><th></th><th></th>'
        f'<th style="text-align:right">{total_p:,}</th><th></th>'
        f'<th style="text-align:right">{format_count(total_m)}</th><th></th></tr>'
    )
    summary = (
        f"<p><b>{total_p:,}</b> parameters ({total_p / 1e6:.1f} M), <b>{format_count(total_m)}</b> MACs per "
        f"{input_size}x{input_size} image.</p>"
    )
    table = f'<table style="font-size:0.85em"><thead><tr>{head}</tr></thead><tbody>{body}</tbody><tfoot>{foot}</tfoot></table>'
    return [summary, fig, table]


def config_explorer(
    *,
    config: str = "vgg16",
    batch_norm: bool = False,
    input_size: int = 224,
    num_classes: int = 1000,
    dpi: int = 64,
) -> Explorer:
    """Explore VGG's configurations A-E: parameters and MACs per stage, as bars and a table.

    The models are built on PyTorch's ``meta`` device (shapes only), so every view is computed in a
    fraction of a second without allocating the 130-odd million weights.

    Args:
        config: initial configuration, a key of :data:`cnnlib.VGG_CONFIGS` (``"vgg11"`` ... ``"vgg19"``, not
            ``"vgg11_lrn"``).
        batch_norm: initial BatchNorm setting.
        input_size: initial input height and width (32, 64, 128 or 224; the book pre-renders 32 and 224).
        num_classes: initial number of classes (10, 100 or 1000; the book pre-renders 10 and 1000).
        dpi: resolution of the figures.

    Returns:
        An :class:`~cnnlib.widgets.Explorer` with controls ``config``, ``batch_norm``, ``input_size``,
        ``num_classes``.
    """
    if config not in CONFIG_LETTERS:
        raise ValueError(f"config must be one of {list(CONFIG_LETTERS)}, got {config!r}")
    options = [(f"{CONFIG_LETTERS[k]} ({k})", k) for k in CONFIG_LETTERS if k in VGG_CONFIGS]

    def render(config: str, batch_norm: bool, input_size: int, num_classes: int) -> list:
        return _config_render(config, batch_norm, input_size, num_classes)

    render.__name__ = "config_explorer"
    return Explorer(
        render,
        {
            "config": Choice("configuration", options, value=config),
            "batch_norm": Toggle("BatchNorm", value=batch_norm),
            "input_size": Choice("input size", [32, 64, 128, 224], value=input_size, static=[32, 224]),
            "num_classes": Choice("classes", [10, 100, 1000], value=num_classes, static=[10, 1000]),
        },
        title="VGG configurations A-E: where the parameters and the computation are",
        dpi=dpi,
    )
