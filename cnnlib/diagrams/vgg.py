"""Whole-network diagrams of VGG's configurations A-E (and A-LRN) beside AlexNet, drawn from the models.

Simonyan & Zisserman, *Very Deep Convolutional Networks for Large-Scale Image Recognition*, 2014
(arXiv:1409.1556), Table 1; AlexNet as in :mod:`cnnlib.alexnet`.

The diagram is a picture of the paper's Table 1: one column per network, one box per layer, the layers grouped into
bands by the resolution they work at (224, 112, 56, 28, 14 pixels for VGG). Nothing in it is typed by hand:
:func:`network_column` walks a model's modules (``features`` and ``classifier``) and reads every label from them,
and the output size of each stage from a shape-only pass (:func:`cnnlib.analysis.layer_table` on the ``meta``
device). Change a configuration in :data:`cnnlib.VGG_CONFIGS` and the drawing changes with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..alexnet import alexnet
from ..analysis import layer_table
from ..vgg import VGG, VGG_CONFIGS, make_vgg_layers
from .. import style

__all__ = ["Box", "Column", "Stage", "network_column", "vgg_column", "vgg_configs_figure", "draw_columns"]

#: The paper's letters for the configurations of :data:`cnnlib.VGG_CONFIGS`, in Table 1's order.
PAPER_LETTERS: dict[str, str] = {
    "vgg11": "A", "vgg11_lrn": "A-LRN", "vgg13": "B", "vgg16_c": "C", "vgg16": "D", "vgg19": "E",
}


@dataclass(frozen=True)
class Box:
    """One layer of a column.

    Attributes:
        label: the paper's notation, e.g. ``"conv3-64"``, ``"conv11-96 /4"``, ``"LRN"``, ``"FC-4096"``.
        kind: ``"conv3"``, ``"conv1"``, ``"conv_large"`` (kernel above 3), ``"lrn"`` or ``"fc"``.
    """

    label: str
    kind: str


@dataclass(frozen=True)
class Stage:
    """The layers up to and including one max-pool.

    Attributes:
        boxes: the layers before the pool, input side first.
        out_size: height (= width) of the map after the pool, for a 224 x 224 input.
    """

    boxes: tuple[Box, ...]
    out_size: int


@dataclass(frozen=True)
class Column:
    """A whole network: its stages, its classifier and its weight-layer count.

    Attributes:
        name: the column heading, e.g. ``"D"``.
        stages: the convolutional stages, input side first.
        head: the fully connected layers.
        weight_layers: convolutions plus fully connected layers.
        params: number of parameters.
    """

    name: str
    stages: tuple[Stage, ...]
    head: tuple[Box, ...]
    weight_layers: int
    params: int


def _box(module: nn.Module) -> Box | None:
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0]
        stride = f" /{module.stride[0]}" if module.stride[0] > 1 else ""
        kind = "conv3" if k == 3 else "conv1" if k == 1 else "conv_large"
        return Box(f"conv{k}-{module.out_channels}{stride}", kind)
    if isinstance(module, nn.LocalResponseNorm):
        return Box("LRN", "lrn")
    if isinstance(module, nn.Linear):
        return Box(f"FC-{module.out_features}", "fc")
    return None  # ReLU, dropout, BatchNorm, pooling: not boxes of their own


def network_column(model: nn.Module, name: str, *, input_size: int = 224) -> Column:
    """Read a column of the diagram from a model with ``features`` (ending in max-pools) and ``classifier``.

    Args:
        model: e.g. :func:`cnnlib.vgg16` or :func:`cnnlib.alexnet`, best built on the ``meta`` device.
        name: the column heading.
        input_size: height and width of the input for the stage sizes.

    Returns:
        The :class:`Column`: one :class:`Stage` per max-pool of ``model.features``, the linear layers of
        ``model.classifier`` as its head.

    Raises:
        ValueError: a model without ``features`` and ``classifier`` or whose features do not end in a max-pool.
    """
    features, classifier = getattr(model, "features", None), getattr(model, "classifier", None)
    if not isinstance(features, nn.Sequential) or not isinstance(classifier, nn.Module):
        raise ValueError(f"expected a model with `features` (nn.Sequential) and `classifier`, got {type(model).__name__}")
    sizes = {row.name: row.output_shape for row in layer_table(model, input_size)}
    stages, current = [], []
    for index, module in enumerate(features):
        if isinstance(module, nn.MaxPool2d):
            stages.append(Stage(tuple(current), int(sizes[f"features.{index}"][-1])))
            current = []
        elif (box := _box(module)) is not None:
            current.append(box)
    if current:
        raise ValueError(f"{name}: the features of a diagram column must end in a max-pool")
    head = tuple(b for m in classifier.modules() if (b := _box(m)) is not None)
    weights = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    params = sum(p.numel() for p in model.parameters())
    return Column(name, tuple(stages), head, weights, params)


def vgg_column(config: str, *, name: str | None = None, configs: Mapping[str, list] = VGG_CONFIGS) -> Column:
    """The column of one VGG configuration, built from ``configs[config]`` on the ``meta`` device.

    Args:
        config: a key of ``configs``, e.g. ``"vgg16"``.
        name: the column heading (default: the paper's letter, e.g. ``"D"``, or the key).
        configs: where the configuration is read (default :data:`cnnlib.VGG_CONFIGS`).

    Returns:
        The :class:`Column`.
    """
    with torch.device("meta"):
        model = VGG(make_vgg_layers(configs[config]))
    return network_column(model, name or PAPER_LETTERS.get(config, config))


_FILL = {"conv3": 0, "conv1": 2, "conv_large": 1, "lrn": 3, "fc": 4}  # index into style.PALETTE


def _band(out_size: int, input_size: int) -> int:
    """The resolution band of a stage: 1 for a halving of the input (112 of 224), 2 for a quarter, ..."""
    return max(1, round(math.log2(input_size / out_size)))


def draw_columns(columns: Sequence[Column], *, input_size: int = 224, ax: Any = None) -> Any:
    """Draw columns side by side, the stages of all columns aligned in bands by their output resolution.

    Args:
        columns: the networks, left to right.
        input_size: the input size the stage sizes were read at.
        ax: matplotlib axes to draw into (a new figure in the house style if ``None``).

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba
    from matplotlib.patches import FancyBboxPatch

    bands: dict[int, int] = {}  # band -> most boxes any column has in it
    for col in columns:
        for st in col.stages:
            b = _band(st.out_size, input_size)
            bands[b] = max(bands.get(b, 0), len(st.boxes))
    order = sorted(bands)
    head_rows = max(len(c.head) for c in columns)
    rows = 2.6 + sum(bands[b] + 1 for b in order) + head_rows  # heading, bands with their pools, head
    if ax is None:
        width = style.COLUMN_INCHES
        fig, ax = plt.subplots(figsize=(width, 0.19 * (rows + 1)))
        fig.subplots_adjust(left=0.005, right=0.995, bottom=0.005, top=0.995)  # the drawing takes the column
    else:
        fig = ax.figure
    ax.set_xlim(0, len(columns))
    ax.set_ylim(rows, -0.2)
    ax.axis("off")

    def box(x: float, y: float, label: str, fill: str, *, alpha: float = 0.28, bold: bool = False) -> None:
        ax.add_patch(FancyBboxPatch((x + 0.06, y + 0.08), 0.88, 0.84, boxstyle="round,pad=0,rounding_size=0.12",
                                    facecolor=to_rgba(fill, alpha), edgecolor=fill, linewidth=0.8))
        ax.text(x + 0.5, y + 0.52, label, ha="center", va="center", fontsize=style.SMALL_FONT_SIZE - 1,
                fontweight="bold" if bold else "normal", color="#111111")

    for i, col in enumerate(columns):
        ax.text(i + 0.5, 0.45, col.name, ha="center", va="center", fontsize=style.FONT_SIZE, fontweight="bold")
        for line, text in enumerate((f"{col.weight_layers} layers", f"{col.params / 1e6:.0f} M params")):
            ax.text(i + 0.5, 1.2 + 0.7 * line, text, ha="center", va="center", fontsize=style.SMALL_FONT_SIZE - 1,
                    color="#444444")
        by_band = {_band(st.out_size, input_size): st for st in col.stages}
        y = 2.6
        for b in order:
            st = by_band.get(b)
            for j, bx in enumerate(st.boxes if st else ()):
                box(i, y + j, bx.label, style.PALETTE[_FILL[bx.kind]])
            y += bands[b]
            if st is not None:
                ax.add_patch(FancyBboxPatch((i + 0.06, y + 0.3), 0.88, 0.4, boxstyle="square,pad=0",
                                            facecolor="#bdbdbd", edgecolor="none"))
                ax.text(i + 0.5, y + 0.5, f"pool → {st.out_size}", ha="center", va="center",
                        fontsize=style.SMALL_FONT_SIZE - 1.5, color="#111111")
            y += 1
        for j, bx in enumerate(col.head):
            box(i, y + j, bx.label, style.PALETTE[_FILL["fc"]])
    return fig


def vgg_configs_figure(
    configs: Sequence[str] = ("vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19"),
    *,
    alexnet_builder: Callable[[], nn.Module] | None = alexnet,
) -> Any:
    """The paper's Table 1 as a picture: AlexNet, then the VGG configurations, as stage blocks.

    Args:
        configs: keys of :data:`cnnlib.VGG_CONFIGS`, left to right.
        alexnet_builder: the AlexNet to draw in the first column (``None`` for none).

    Returns:
        The matplotlib ``Figure``.
    """
    columns = []
    if alexnet_builder is not None:
        with torch.device("meta"):
            columns.append(network_column(alexnet_builder(), "AlexNet"))
    columns += [vgg_column(c) for c in configs]
    return draw_columns(columns)
