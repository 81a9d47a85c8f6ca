"""VGG: very deep convolutional networks from stacks of 3x3 convolutions.

Simonyan & Zisserman, *Very Deep Convolutional Networks for Large-Scale Image
Recognition*, 2014 (arXiv:1409.1556).

The paper's configurations A–E (its Table 1) live in ONE table, :data:`VGG_CONFIGS`, and
one function, :func:`make_vgg_layers`, turns a configuration into the convolutional part.
The classifier is torchvision's (``features`` / ``avgpool`` / ``classifier``), so
torchvision's ``state_dict`` — and its ImageNet weights — load with ``strict=True`` and give
identical outputs. Two small departures from the paper, both torchvision's: an
``AdaptiveAvgPool2d((7, 7))`` before the classifier (the paper evaluates densely with the FC
layers turned into convolutions instead), and optional BatchNorm (``batch_norm=True``), which
postdates the paper.

Configuration entries (see :data:`VGG_CONFIGS`):

* an ``int`` ``c``: a 3x3 convolution (padding 1) with ``c`` output channels, then ReLU
  (with ``batch_norm=True``: convolution, BatchNorm, ReLU);
* ``("1x1", c)``: a 1x1 convolution with ``c`` channels, then ReLU — configuration C only;
* ``"M"``: 2x2 max-pooling with stride 2, which ends a stage;
* ``"LRN"``: local response normalisation as in Krizhevsky et al. 2012 — configuration A-LRN.
"""

from __future__ import annotations

from typing import Union

import torch
from torch import Tensor, nn

from . import _base
from ._base import FeatureInfo
from .registry import register_model

__all__ = [
    "VGG",
    "VGG_CONFIGS",
    "VGGLayer",
    "make_vgg_layers",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg16_c",
    "vgg19",
]

#: One entry of a VGG configuration: ``int`` (3x3 conv), ``("1x1", int)``, ``"M"`` or ``"LRN"``.
VGGLayer = Union[int, str, tuple[str, int]]

#: The paper's Table 1, one key per configuration (paper letter in the comment).
VGG_CONFIGS: dict[str, list[VGGLayer]] = {
    # A: 11 weight layers (8 conv + 3 FC)
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    # A-LRN: A with local response normalisation after the first convolution
    "vgg11_lrn": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    # B: 13 weight layers
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    # C: 16 weight layers; the third convolution of stages 3-5 is 1x1
    "vgg16_c": [
        64, 64, "M",
        128, 128, "M",
        256, 256, ("1x1", 256), "M",
        512, 512, ("1x1", 512), "M",
        512, 512, ("1x1", 512), "M",
    ],  # fmt: skip
    # D: 16 weight layers ("VGG-16")
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    # E: 19 weight layers ("VGG-19")
    "vgg19": [
        64, 64, "M",
        128, 128, "M",
        256, 256, 256, 256, "M",
        512, 512, 512, 512, "M",
        512, 512, 512, 512, "M",
    ],  # fmt: skip
}


def make_vgg_layers(cfg: list[VGGLayer], *, batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """Build VGG's convolutional part from a configuration (one entry of :data:`VGG_CONFIGS`).

    The layer indices equal torchvision's ``make_layers`` for configurations A, B, D, E, so
    state-dict keys such as ``features.28.weight`` match.

    Args:
        cfg: the configuration; see the module docstring for the entry types.
        batch_norm: insert ``BatchNorm2d`` between each convolution and its ReLU.
        in_channels: channels of the input image.

    Returns:
        An ``nn.Sequential`` mapping ``N x in_channels x H x W`` to
        ``N x C x H / 2**p x W / 2**p`` (``p`` = number of ``"M"`` entries).

    Raises:
        ValueError: on an entry that is none of the known types.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        if v == "LRN":
            # Krizhevsky et al.: k=2, n=5, alpha=1e-4, beta=0.75. Their alpha multiplies the
            # plain sum of squares; PyTorch divides alpha by n, hence alpha = 5 * 1e-4.
            layers.append(nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0))
            continue
        if isinstance(v, int) and not isinstance(v, bool):
            out, kernel, padding = v, 3, 1
        elif isinstance(v, tuple) and len(v) == 2 and v[0] == "1x1" and isinstance(v[1], int):
            out, kernel, padding = v[1], 1, 0
        else:
            raise ValueError(f"unknown VGG config entry {v!r}: expected an int, ('1x1', int), 'M' or 'LRN'")
        layers.append(nn.Conv2d(channels, out, kernel_size=kernel, padding=padding))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.ReLU(inplace=True))
        channels = out
    return nn.Sequential(*layers)


def _vgg_feature_info(features: nn.Sequential) -> list[FeatureInfo]:
    """One entry per stage: the last module (the ReLU) before each max-pool."""
    info: list[FeatureInfo] = []
    channels, reduction = 0, 1
    for i, m in enumerate(features):
        if isinstance(m, nn.Conv2d):
            channels = m.out_channels
        elif isinstance(m, nn.MaxPool2d):
            info.append(
                FeatureInfo(module=f"features.{i - 1}", num_chs=channels, reduction=reduction, stage=f"conv{len(info) + 1}")
            )
            reduction *= 2
    return info


class VGG(nn.Module):
    """VGG network, attribute-for-attribute compatible with ``torchvision.models.VGG``.

    Attributes:
        features: the convolutional part (from :func:`make_vgg_layers`).
        avgpool: ``AdaptiveAvgPool2d((7, 7))``.
        classifier: FC-4096, ReLU, Dropout, FC-4096, ReLU, Dropout, FC-``num_classes``.
        feature_info: one :class:`~cnnlib._base.FeatureInfo` per stage: the last ReLU of
            each stage (before its max-pool), e.g. ``features.29`` for VGG-16's conv5_3,
            with ``stage`` ``"conv1"`` … ``"conv5"`` and ``reduction`` 1, 2, 4, 8, 16.
            ``forward_features`` returns the map after the final pool (reduction 32).
        min_input_size: smallest accepted height/width (``2 ** number of pools``: 32).
        pretrained_name: the builder's name (e.g. ``"vgg16_bn"``), used by
            :func:`cnnlib.load_torchvision_weights`; ``None`` for a hand-built model.
        pretrained_cfg: what the network expects and returns (:class:`~cnnlib._base.PretrainedCfg`: 224 px,
            ImageNet's mean and standard deviation, ``num_classes``, the smallest input it accepts).
    """

    # Plain-Python metadata that TorchScript need not compile.
    __jit_ignored_attributes__ = ["feature_info", "pretrained_name", "pretrained_cfg"]

    def __init__(
        self, features: nn.Sequential, num_classes: int = 1000, init_weights: bool = True, dropout: float = 0.5
    ) -> None:
        """Wrap a ``features`` stack (like torchvision's ``VGG``).

        Args:
            features: the convolutional part, e.g. ``make_vgg_layers(VGG_CONFIGS["vgg16"])``.
                Must end with 512 channels (the classifier's input is 512 * 7 * 7).
            num_classes: outputs of the last linear layer.
            init_weights: initialise as torchvision does (Kaiming-normal convolutions,
                N(0, 0.01) linear layers, zero biases).
            dropout: dropout probability in the classifier.
        """
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        convs = [m for m in features.modules() if isinstance(m, nn.Conv2d)]
        self.in_chans: int = convs[0].in_channels if convs else 3
        self.min_input_size: int = 2 ** sum(isinstance(m, nn.MaxPool2d) for m in features.modules())
        self.feature_info = _vgg_feature_info(features)
        self.pretrained_name = None
        self.pretrained_cfg = _base.pretrained_cfg(
            input_size=224, mean=_base.IMAGENET_MEAN, std=_base.IMAGENET_STD, num_classes=num_classes,
            dataset="imagenet", min_input_size=self.min_input_size,
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward_features(self, x: Tensor) -> Tensor:
        """All convolutional layers, including the last max-pool.

        Args:
            x: ``N x 3 x H x W`` with ``H, W >= 32``.

        Returns:
            ``N x 512 x H/32 x W/32`` (``N x 512 x 7 x 7`` for 224 x 224 input).

        Raises:
            ValueError: if ``x`` is not such a batch.
        """
        x = _base.check_input(x, self.min_input_size, self.in_chans, self.features[0].weight)
        # N x 3 x 224 x 224
        x = self.features(x)
        # N x 512 x 7 x 7
        return x

    def forward_head(self, x: Tensor) -> Tensor:
        """Pool to 7 x 7 and classify.

        Args:
            x: the output of :meth:`forward_features`, ``N x 512 x h x w``.

        Returns:
            Logits, ``N x num_classes``.
        """
        x = self.avgpool(x)
        # N x 512 x 7 x 7
        x = torch.flatten(x, 1)
        # N x 25088
        x = self.classifier(x)
        # N x num_classes
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Logits for a batch of images: ``forward_head(forward_features(x))``.

        Args:
            x: ``N x 3 x H x W`` with ``H, W >= 32``.

        Returns:
            ``N x num_classes`` logits.
        """
        return self.forward_head(self.forward_features(x))


def _vgg(config: str, *, batch_norm: bool, num_classes: int, dropout: float) -> VGG:
    model = VGG(make_vgg_layers(VGG_CONFIGS[config], batch_norm=batch_norm), num_classes=num_classes, dropout=dropout)
    model.pretrained_name = config + ("_bn" if batch_norm else "")
    return model


@register_model
def vgg11(*, batch_norm: bool = False, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-11, the paper's configuration A (8 conv + 3 FC layers, 133 M parameters).

    Args:
        batch_norm: BatchNorm after every convolution (torchvision's ``vgg11_bn``).
        num_classes: outputs of the last layer.
        dropout: dropout probability in the classifier.

    Returns:
        The model, randomly initialised.
    """
    return _vgg("vgg11", batch_norm=batch_norm, num_classes=num_classes, dropout=dropout)


@register_model
def vgg13(*, batch_norm: bool = False, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-13, the paper's configuration B (10 conv + 3 FC layers, 133 M parameters).

    Args:
        batch_norm: BatchNorm after every convolution (torchvision's ``vgg13_bn``).
        num_classes: outputs of the last layer.
        dropout: dropout probability in the classifier.

    Returns:
        The model, randomly initialised.
    """
    return _vgg("vgg13", batch_norm=batch_norm, num_classes=num_classes, dropout=dropout)


@register_model
def vgg16_c(*, batch_norm: bool = False, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-16 configuration C: like D, but the third convolution of stages 3-5 is 1x1 (134 M).

    torchvision has no such model (nor weights); ``pretrained_name`` is ``"vgg16_c"``.

    Args:
        batch_norm: BatchNorm after every convolution.
        num_classes: outputs of the last layer.
        dropout: dropout probability in the classifier.

    Returns:
        The model, randomly initialised.
    """
    return _vgg("vgg16_c", batch_norm=batch_norm, num_classes=num_classes, dropout=dropout)


@register_model
def vgg16(*, batch_norm: bool = False, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-16, the paper's configuration D (13 conv + 3 FC layers, 138 M parameters).

    Args:
        batch_norm: BatchNorm after every convolution (torchvision's ``vgg16_bn``).
        num_classes: outputs of the last layer.
        dropout: dropout probability in the classifier.

    Returns:
        The model, randomly initialised.
    """
    return _vgg("vgg16", batch_norm=batch_norm, num_classes=num_classes, dropout=dropout)


@register_model
def vgg19(*, batch_norm: bool = False, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-19, the paper's configuration E (16 conv + 3 FC layers, 144 M parameters).

    Args:
        batch_norm: BatchNorm after every convolution (torchvision's ``vgg19_bn``).
        num_classes: outputs of the last layer.
        dropout: dropout probability in the classifier.

    Returns:
        The model, randomly initialised.
    """
    return _vgg("vgg19", batch_norm=batch_norm, num_classes=num_classes, dropout=dropout)


# Convenience names matching torchvision's (registry only): vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn.
@register_model
def vgg11_bn(*, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """``vgg11(batch_norm=True)``."""
    return vgg11(batch_norm=True, num_classes=num_classes, dropout=dropout)


@register_model
def vgg13_bn(*, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """``vgg13(batch_norm=True)``."""
    return vgg13(batch_norm=True, num_classes=num_classes, dropout=dropout)


@register_model
def vgg16_bn(*, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """``vgg16(batch_norm=True)``."""
    return vgg16(batch_norm=True, num_classes=num_classes, dropout=dropout)


@register_model
def vgg19_bn(*, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """``vgg19(batch_norm=True)``."""
    return vgg19(batch_norm=True, num_classes=num_classes, dropout=dropout)
