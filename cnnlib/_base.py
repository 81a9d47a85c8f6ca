"""Shared plumbing for cnnlib's models: input validation and the ``feature_info`` record.

Every model in :mod:`cnnlib` validates its input with :func:`check_input` at the top of
``forward_features`` (which ``forward`` calls), so that a wrong input fails with a
:class:`ValueError` that names the expected shape, e.g.::

    ValueError: expected a batch of shape N x 3 x H x W with H, W >= 32, got (3, 224, 224)

instead of a shape error from deep inside the network.

The checker must not get in the way of the tools that trace a model:

* ``torch.fx`` (and so ``torchvision.models.feature_extraction.create_feature_extractor``)
  cannot run Python ``if`` statements on a traced tensor's shape. :func:`check_input` is
  therefore registered with :func:`torch.fx.wrap`: FX records it as a single call in the
  graph (which still checks real inputs when the traced module runs) instead of tracing
  into it. Models call it as ``_base.check_input(...)`` so that FX's patching of this
  module's globals is seen.
* ``torch.jit.script`` compiles it (plain ints and string concatenation only).
* ``torch.compile`` turns the shape tests into guards; the ``raise`` is never traced for
  valid inputs.
"""

from __future__ import annotations

from typing import TypedDict

import torch
from torch import Tensor

__all__ = ["FeatureInfo", "check_input", "format_shape"]


class FeatureInfo(TypedDict):
    """One entry of a model's ``feature_info`` list (the convention of timm).

    Keys:
        module: name of the module whose output is the feature map, exactly as in
            ``model.named_modules()`` (usable for forward hooks and for
            ``create_feature_extractor(model, return_nodes=[module])``).
        num_chs: number of channels of that output.
        reduction: nominal stride of that output relative to the input (an input of
            224 px gives a map of about ``224 / reduction`` px).
        stage: a short human-readable label of the stage, named after the paper
            (e.g. ``"conv3"`` for VGG's conv3_x group, ``"inception4"`` for GoogLeNet).
    """

    module: str
    num_chs: int
    reduction: int
    stage: str


def format_shape(x: Tensor) -> str:
    """Format a tensor's shape as a Python tuple would print, e.g. ``(3, 224, 224)``."""
    sizes = [str(int(s)) for s in x.shape]
    if len(sizes) == 1:
        return "(" + sizes[0] + ",)"
    return "(" + ", ".join(sizes) + ")"


def check_input(x: Tensor, min_size: int, channels: int = 3) -> Tensor:
    """Check that ``x`` is a batch of images a model can take, and return it unchanged.

    Args:
        x: the model's input, expected ``N x channels x H x W``.
        min_size: the smallest height and width the network accepts (its pools and
            strided convolutions must leave at least one pixel).
        channels: the number of input channels the first convolution expects.

    Returns:
        ``x`` itself (so that FX keeps the check in a traced graph).

    Raises:
        ValueError: if ``x`` is not 4-D, has the wrong number of channels, or is smaller
            than ``min_size`` in height or width. The message names the expected shape.
    """
    if x.dim() != 4 or x.size(1) != channels or x.size(2) < min_size or x.size(3) < min_size:
        raise ValueError(
            "expected a batch of shape N x "
            + str(channels)
            + " x H x W with H, W >= "
            + str(min_size)
            + ", got "
            + format_shape(x)
        )
    return x


# FX: record check_input as one leaf call instead of tracing its shape tests.
torch.fx.wrap("check_input")
