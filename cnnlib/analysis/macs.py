"""Multiply-accumulate (MAC) counts.

One MAC is one multiplication of a weight by an input value added into an output. This is the
unit in which VGG (Simonyan & Zisserman 2014, arXiv:1409.1556) and GoogLeNet (Szegedy et al. 2014,
arXiv:1409.4842) state their cost, and the unit behind torchvision's documented "GFLOPS" (which are
MACs counted by :class:`torch.utils.flop_counter.FlopCounterMode`, divided by two).

Counted: convolutions and fully connected layers, ``output elements x (inputs per output)``.
Not counted: pooling, ReLU, batch norm, LRN, dropout, softmax (each a few cheap operations per
value, orders of magnitude below the convolutions), and -- unless ``include_bias=True`` -- the
addition of the bias. torchinfo's "Total mult-adds" adds one per bias-carrying output element,
and also counts ``batch x (weight + bias)`` elements for every batch-norm layer;
``count_macs(..., include_bias=True)`` reproduces the former exactly.

This module holds the per-layer rule (:func:`module_macs`); :func:`cnnlib.analysis.count_macs` sums it over a
network through :func:`cnnlib.analysis.layer_table` (in :mod:`.table`, which imports this module, never the
reverse).
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from ._common import first_tensor

__all__ = ["module_macs"]


def module_macs(module: nn.Module, inputs: tuple[Any, ...], output: Any, *, include_bias: bool = False) -> int:
    """MACs of one call of a leaf module, from its input and output tensors.

    Args:
        module: The leaf module that ran.
        inputs: The positional inputs it received.
        output: What it returned.
        include_bias: Count one MAC per output element that receives a bias (torchinfo's convention).

    Returns:
        The count for the whole batch; 0 for module types that do no weight multiplications.
    """
    out = first_tensor(output)
    if out is None:
        return 0
    bias = int(include_bias and getattr(module, "bias", None) is not None)
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        x = first_tensor(inputs)
        per_input = module.out_channels // module.groups * math.prod(module.kernel_size)
        return x.numel() * per_input + bias * out.numel()
    if isinstance(module, nn.modules.conv._ConvNd):
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return out.numel() * (per_output + bias)
    if isinstance(module, nn.Linear):
        return out.numel() * (module.in_features + bias)
    if isinstance(module, nn.Bilinear):
        return out.numel() * (module.in1_features * module.in2_features + bias)
    return 0
