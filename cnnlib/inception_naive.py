"""The "naive" Inception module of Szegedy et al., *Going Deeper with Convolutions*, 2014 (arXiv:1409.4842),
Figure 2a: the module before the 1x1 reductions, next to :class:`cnnlib.googlenet.Inception` (Figure 2b).

It is the model that :func:`cnnlib.analysis.inception.module_cost` compares with the published module.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["NaiveInception"]


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
