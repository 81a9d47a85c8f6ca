"""Where a VGG network's parameters and computation sit, stage by stage.

Simonyan & Zisserman, *Very Deep Convolutional Networks for Large-Scale Image Recognition*, 2014
(arXiv:1409.1556): five convolutional stages (conv1 ... conv5, each ending in a max-pool) and three fully connected
layers (fc6, fc7, fc8). :func:`stage_costs` sums :func:`cnnlib.analysis.layer_table`'s rows per stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .table import layer_table

__all__ = ["CONFIG_LETTERS", "StageCost", "stage_costs"]

#: The paper's letters for cnnlib's configuration keys (Table 1 of the paper).
CONFIG_LETTERS: dict[str, str] = {"vgg11": "A", "vgg13": "B", "vgg16_c": "C", "vgg16": "D", "vgg19": "E"}


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


def stage_costs(model: nn.Module, input_size: int = 224) -> list[StageCost]:
    """Parameters and MACs of a VGG model per stage (five convolutional stages, then fc6, fc7, fc8).

    Args:
        model: a :class:`cnnlib.VGG` (any configuration, with or without BatchNorm; may live on ``meta``): a
            module with ``features`` (convolutions, stages ending at max-pools) and ``classifier``.
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
