"""Depth of a network: the number of weight layers on its longest input-to-output path.

This is how the papers count: VGG-16 has 16 weight layers (13 convolutions, 3 fully connected;
Simonyan & Zisserman 2014, arXiv:1409.1556), and GoogLeNet is "22 layers deep when counting only
layers with parameters" (Szegedy et al. 2014, arXiv:1409.4842) -- the parallel branches of an
Inception block add width, not depth, so a block counts two (a 1x1 reduction, then a 3x3 or 5x5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ._common import InputSize, as_input_shape, shape_forward, tensors_in

__all__ = ["weight_depth"]

_WEIGHT_OPS = {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
               "linear", "bilinear"}


class _DepthTracker(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.depth: dict[int, tuple[torch.Tensor, int]] = {}

    def get(self, t: torch.Tensor) -> int | None:
        entry = self.depth.get(id(t))
        return entry[1] if entry is not None and entry[0] is t else None

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: Sequence[Any] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if name in _WEIGHT_OPS:  # only the data input (first argument) carries depth
            first = args[0] if args else kwargs.get("input")
            known = [self.get(first)] if isinstance(first, torch.Tensor) else []
        else:
            known = [self.get(t) for t in tensors_in((args, kwargs))]
        known = [d for d in known if d is not None]
        if known:
            d = max(known) + (1 if name in _WEIGHT_OPS else 0)
            for t in tensors_in(out):
                if self.get(t) is None or self.get(t) < d:
                    self.depth[id(t)] = (t, d)
        return out


def weight_depth(model: nn.Module, input_size: InputSize = 224) -> int:
    """Weight layers (convolutions, fully connected) on the longest path from input to output.

    Follows the eval-mode forward pass (so GoogLeNet's auxiliary classifiers do not count) through
    every torch function, including ``torch.cat`` and other functional calls.

    Args:
        model: The network (not modified).
        input_size: ``224``, ``(C, H, W)`` or ``(N, C, H, W)``.

    Returns:
        The depth: 8 for AlexNet, 16 for VGG-16, 22 for GoogLeNet.
    """
    tracker = _DepthTracker()

    class _Seed(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> Any:
            tracker.depth[id(x)] = (x, 0)
            with tracker:
                return self.inner(x)

    out = shape_forward(_Seed(model), as_input_shape(input_size), reset=tracker.depth.clear)
    depths = [tracker.get(t) for t in tensors_in(out)]
    depths = [d for d in depths if d is not None]
    if not depths:
        raise ValueError(f"could not follow {type(model).__name__}'s output back to its input")
    return max(depths)
