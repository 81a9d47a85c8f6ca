"""Helpers shared by the analysis modules: input sizes, tensors in outputs, shape-only forward passes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import torch
from torch import nn
from torch.func import functional_call

from .._base import eval_mode  # the one eval-mode context (models' layer); re-exported for the analysis modules

InputSize = int | Sequence[int]


def as_input_shape(input_size: InputSize, *, batch_size: int | None = None) -> tuple[int, ...]:
    """Turns the ways the toolkit accepts an input size into a full ``N x C x H x W`` shape.

    Args:
        input_size: ``224`` (a square RGB image), ``(C, H, W)`` or ``(N, C, H, W)``.
        batch_size: If given, replaces ``N``.

    Returns:
        The shape as a tuple of ints, batch first.

    Raises:
        ValueError: If the size is neither an int nor a sequence of 3 or 4 positive ints.
    """
    if isinstance(input_size, int):
        shape: tuple[int, ...] = (1, 3, input_size, input_size)
    else:
        shape = tuple(int(s) for s in input_size)
        if len(shape) == 3:
            shape = (1, *shape)
        elif len(shape) != 4:
            raise ValueError(
                f"input_size must be an int, (C, H, W) or (N, C, H, W); got {tuple(input_size)!r}"
            )
    if any(s <= 0 for s in shape):
        raise ValueError(f"input_size must be positive, got {shape!r}")
    if batch_size is not None:
        shape = (int(batch_size), *shape[1:])
    return shape


def model_dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    """The dtype and device of the model's first floating-point parameter (float32/CPU if none)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype, p.device
    return torch.float32, torch.device("cpu")


def tensors_in(obj: Any) -> list[torch.Tensor]:
    """Every tensor in a module's inputs or outputs (nested tuples, lists and dicts), in order.

    Args:
        obj: a tensor, or a (nested) tuple, list or dict holding tensors and anything else.

    Returns:
        The tensors, depth first; an empty list if there are none.
    """
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in tensors_in(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in tensors_in(o)]
    return []


def first_tensor(obj: Any) -> torch.Tensor | None:
    """The first tensor of :func:`tensors_in` (e.g. GoogLeNet's logits from a ``(logits, aux2, aux1)`` tuple)."""
    found = tensors_in(obj)
    return found[0] if found else None


def shape_forward(
    model: nn.Module, shape: Sequence[int], *, reset: Callable[[], None] | None = None
) -> Any:
    """Runs ``model`` in eval mode on an input of ``shape`` without computing real numbers.

    The parameters and buffers are swapped for storage-free tensors on the ``meta`` device with
    :func:`torch.func.functional_call`, so the pass costs no memory and almost no time, and the
    model itself is not modified. Forward hooks registered on the model still fire. If some
    operation has no meta implementation, the pass falls back to a real one under
    :func:`torch.no_grad` on the model's own device.

    Args:
        model: Any module taking one ``N x C x H x W`` tensor.
        shape: Full input shape.
        reset: Called before the fallback pass, so hooks can forget what the failed pass recorded.

    Returns:
        The model's output (meta tensors, or real ones after a fallback).
    """
    dtype, device = model_dtype_device(model)
    with eval_mode(model), torch.no_grad():
        try:
            swapped = {
                name: torch.empty_like(t, device="meta")
                for name, t in [*model.named_parameters(), *model.named_buffers()]
            }
            x = torch.empty(tuple(shape), dtype=dtype, device="meta")
            return functional_call(model, swapped, (x,))
        except (NotImplementedError, RuntimeError):
            if reset is not None:
                reset()
            return model(torch.zeros(tuple(shape), dtype=dtype, device=device))
