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
:func:`~cnnlib.analysis.stacked_receptive_field` and :func:`~cnnlib.analysis.receptive_field_footprint`,
parameters and MACs from :func:`~cnnlib.analysis.layer_table` and :func:`~cnnlib.analysis.stage_costs`); this
module only arranges and draws them.
"""

from __future__ import annotations

import html as _html
from typing import Any, Callable

import torch
from torch import nn

from ..analysis import (
    CONFIG_LETTERS, conv_stack, format_count, layer_table, receptive_field_footprint, stacked_receptive_field,
    stage_costs,
)
from ..vgg import VGG, VGG_CONFIGS, vgg11, vgg13, vgg16, vgg16_c, vgg19
from ._core import Choice, Explorer, Slider, Toggle
from ._html import html_table

__all__ = [
    "config_explorer",
    "receptive_field_explorer",
    "receptive_field_figure",
]

_BUILDERS: dict[str, Callable[..., VGG]] = {
    "vgg11": vgg11, "vgg13": vgg13, "vgg16_c": vgg16_c, "vgg16": vgg16, "vgg19": vgg19,
}


# --------------------------------------------------------------------------------------------- receptive field
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
    ax.set_title(title)
    return fig


def _rf_render(layers: int, kernel: int, stride: int, dilation: int, *, channels: int, size: int) -> list:
    import matplotlib.pyplot as plt

    r = stacked_receptive_field(layers, kernel, stride, dilation)
    with torch.device("meta"):
        stack = conv_stack(layers, kernel_size=kernel, stride=stride, dilation=dilation, channels=channels)
        # The single convolution with the same field also gets the stack's total stride, so that both produce
        # the same output size and their MACs compare like with like.
        single = nn.Conv2d(channels, channels, r, stride=stride**layers, padding=r // 2)
    table = layer_table(stack, (1, channels, size, size))
    params, macs = table.total("params"), table.total("macs")
    convs = table.filter(lambda row: row.type == "Conv2d")
    out_shape = convs.rows[-1].output_shape
    one = layer_table(single, (1, channels, size, size))

    fig, ax = plt.subplots(figsize=(3.6, 3.6))
    receptive_field_figure(layers, kernel, stride, dilation, ax=ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    if r > 40:
        ax.set_xlabel(f"{r} x {r} input pixels (grid lines omitted)")

    relus = layers
    one_shape = one.filter(lambda row: row.type == "Conv2d").rows[-1].output_shape
    one_stride = f", stride {stride**layers}" if stride > 1 else ""
    rows = [
        ("receptive field", f"<b>{r} x {r}</b> input pixels"),
        ("parameters", f"{params:,} ({layers} x {kernel}&sup2;C&sup2; weights + {layers}C biases)"),
        ("MACs", f"{format_count(macs)} ({macs:,})"),
        ("output", f"{out_shape[1]} x {out_shape[2]} x {out_shape[3]}"),
        ("non-linearities", f"{relus} ReLU{'s' if relus > 1 else ''}"),
        (f"one {r}x{r} conv instead{one_stride}",
         f"{one.total('params'):,} parameters, {format_count(one.total('macs'))} MACs, 1 ReLU, "
         f"output {one_shape[1]} x {one_shape[2]} x {one_shape[3]}"),
    ]
    where = " (as in VGG-16's third stage)" if (channels, size) == (256, 56) else ""
    note = (
        f'<div class="cnnlib-note">Counted for C = {channels} channels in and out on a {size} x {size} input'
        f"{where}, padding d(k-1)/2.</div>"
    )
    return [fig, html_table([list(r) for r in rows], align="ll", cell_style="padding:2px 8px") + note]


def receptive_field_explorer(
    *,
    layers: int = 3,
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 1,
    channels: int = 256,
    input_size: int = 56,
    max_layers: int = 4,
    dpi: int | None = None,
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
        dpi: CSS pixels per inch of the figures (default: the house style's, :data:`cnnlib.style.DPI`).

    Returns:
        An :class:`~cnnlib.widgets.Explorer` with controls ``layers``, ``kernel``, ``stride``, ``dilation``.

    Raises:
        ValueError: a count that is not positive, or ``layers`` outside ``1 .. max_layers``.
    """

    for label, value in (("channels", channels), ("input_size", input_size), ("max_layers", max_layers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    if not 1 <= layers <= max_layers:
        raise ValueError(f"layers must be between 1 and max_layers={max_layers}, got {layers!r}")

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
    a1.set_xlabel("parameters (millions)")
    a2.barh(names, [c.macs / 1e9 for c in costs][::-1], color=colours)
    a2.set_xlabel("MACs per image (billions)")
    for a in (a1, a2):
        a.spines[["top", "right"]].set_visible(False)
    letter = CONFIG_LETTERS[config]
    bn = " with BatchNorm" if batch_norm else ""
    fig.suptitle(
        f"Config {letter} ({config}{'_bn' if batch_norm else ''}){bn}, {input_size}x{input_size} input, "
        f"{num_classes} classes",
    )
    fig.tight_layout()

    def pct(part: int, whole: int) -> str:
        return f"{100 * part / whole:.1f}%" if whole else "--"

    rows = [
        [c.stage, _html.escape(c.layers), c.output_shape, f"{c.params:,}", pct(c.params, total_p),
         format_count(c.macs), pct(c.macs, total_m)]
        for c in costs
    ]
    table = html_table(
        rows, header=["stage", "layers", "output", "params", "", "MACs", ""],
        footer=["total", "", "", f"{total_p:,}", "", format_count(total_m), ""], align="lllrrrr",
        style="font-size:0.85em", cell_style="padding:2px 8px",
    )
    summary = (
        f"<p><b>{total_p:,}</b> parameters ({total_p / 1e6:.1f} M), <b>{format_count(total_m)}</b> MACs per "
        f"{input_size}x{input_size} image.</p>"
    )
    return [summary, fig, table]


def config_explorer(
    *,
    config: str = "vgg16",
    batch_norm: bool = False,
    input_size: int = 224,
    num_classes: int = 1000,
    dpi: int | None = None,
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
        dpi: CSS pixels per inch of the figures (default: the house style's, :data:`cnnlib.style.DPI`).

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
