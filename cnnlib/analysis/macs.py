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
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ._common import InputSize

__all__ = ["count_macs", "module_macs"]


def _first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (list, tuple)):
        for item in obj:
            t = _first_tensor(item)
            if t is not None:
                return t
    return None


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
    out = _first_tensor(output)
    if out is None:
        return 0
    bias = int(include_bias and getattr(module, "bias", None) is not None)
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        x = _first_tensor(inputs)
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


def count_macs(model: nn.Module, input_size: InputSize, *, include_bias: bool = False) -> int:
    """Total multiply-accumulates of one forward pass in eval mode.

    The pass is shape-only (meta tensors), so even VGG-19 at 224 x 224 is counted in milliseconds.

    Args:
        model: The network; it is not modified.
        input_size: ``224``, ``(C, H, W)`` or ``(N, C, H, W)``; the count is for the whole batch.
        include_bias: Also count the bias additions, as torchinfo does.

    Returns:
        The number of MACs (an int). Divide by ``1e9`` for the "GFLOPS" in torchvision's tables.
    """
    from .table import layer_table

    return layer_table(model, input_size, include_bias=include_bias).total("macs")
