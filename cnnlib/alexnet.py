"""AlexNet, the baseline that VGG and GoogLeNet are measured against.

Krizhevsky, Sutskever & Hinton, *ImageNet Classification with Deep Convolutional Neural
Networks*, NeurIPS 2012.

This is torchvision's version (attribute names, layer indices and outputs identical), which
follows Krizhevsky's later "one weird trick" single-tower variant (arXiv:1404.5997): 64/192
channels in the first two convolutions instead of the paper's 96/256 split over two GPUs, and
no local response normalisation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from . import _base
from ._base import FeatureInfo
from .registry import register_model

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    """AlexNet, attribute-for-attribute compatible with ``torchvision.models.AlexNet``.

    Attributes:
        features: five convolutions with ReLUs and three 3x3/2 max-pools.
        avgpool: ``AdaptiveAvgPool2d((6, 6))``.
        classifier: Dropout, FC-4096, ReLU, Dropout, FC-4096, ReLU, FC-``num_classes``.
        feature_info: the ReLU before each max-pool: ``features.1`` (conv1, reduction 4),
            ``features.4`` (conv2, reduction 8), ``features.11`` (conv5, reduction 16).
            ``forward_features`` returns the map after the last pool (reduction 32).
        min_input_size: 63, the smallest height/width that survives the stride-4 convolution
            and three unpadded pools.
        pretrained_name: ``"alexnet"`` when built by :func:`alexnet`.
        pretrained_cfg: what the network expects and returns (:class:`~cnnlib._base.PretrainedCfg`: 224 px,
            ImageNet's mean and standard deviation, ``num_classes``, the smallest input it accepts).
    """

    # Plain-Python metadata that TorchScript need not compile.
    __jit_ignored_attributes__ = ["feature_info", "pretrained_name", "pretrained_cfg"]

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        """Build the network.

        Args:
            num_classes: outputs of the last linear layer.
            dropout: dropout probability in the classifier.
        """
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        self.feature_info = [
            FeatureInfo(module="features.1", num_chs=64, reduction=4, stage="conv1"),
            FeatureInfo(module="features.4", num_chs=192, reduction=8, stage="conv2"),
            FeatureInfo(module="features.11", num_chs=256, reduction=16, stage="conv5"),
        ]
        self.min_input_size = 63
        self.pretrained_name = None
        self.pretrained_cfg = _base.pretrained_cfg(
            input_size=224, mean=_base.IMAGENET_MEAN, std=_base.IMAGENET_STD, num_classes=num_classes,
            dataset="imagenet", min_input_size=self.min_input_size,
        )

    def forward_features(self, x: Tensor) -> Tensor:
        """All convolutional layers, including the last max-pool.

        Args:
            x: ``N x 3 x H x W`` with ``H, W >= 63``.

        Returns:
            ``N x 256 x h x w`` (``N x 256 x 6 x 6`` for 224 x 224 input).

        Raises:
            ValueError: if ``x`` is not such a batch.
        """
        x = _base.check_input(x, self.min_input_size, 3, self.features[0].weight)
        # N x 3 x 224 x 224
        x = self.features(x)
        # N x 256 x 6 x 6
        return x

    def forward_head(self, x: Tensor) -> Tensor:
        """Pool to 6 x 6 and classify.

        Args:
            x: the output of :meth:`forward_features`.

        Returns:
            ``N x num_classes`` logits.
        """
        x = self.avgpool(x)
        # N x 256 x 6 x 6
        x = torch.flatten(x, 1)
        # N x 9216
        x = self.classifier(x)
        # N x num_classes
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Logits for a batch of images: ``forward_head(forward_features(x))``.

        Args:
            x: ``N x 3 x H x W`` with ``H, W >= 63``.

        Returns:
            ``N x num_classes`` logits.
        """
        return self.forward_head(self.forward_features(x))


@register_model
def alexnet(*, num_classes: int = 1000, dropout: float = 0.5) -> AlexNet:
    """AlexNet as in torchvision (61.1 M parameters with 1000 classes).

    Args:
        num_classes: outputs of the last layer.
        dropout: dropout probability in the classifier.

    Returns:
        The model, with PyTorch's default initialisation (as torchvision).
    """
    model = AlexNet(num_classes=num_classes, dropout=dropout)
    model.pretrained_name = "alexnet"
    return model
