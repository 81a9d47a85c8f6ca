"""Evaluation with test-time augmentation: :func:`evaluate` and the loop's :func:`evaluate_loader`.

The augmentations are airbench's (Keller Jordan, 2024): the logits of an image averaged with those of its mirror
image (``tta=1``), and also with those of copies shifted by one pixel (``tta=2``).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlib.data import CIFAR10Tensors, DeviceLoader

from .precision import amp_dtype, autocast

__all__ = ["all_reduce_sum", "evaluate", "evaluate_loader", "predict"]


def all_reduce_sum(values: Tensor) -> Tensor:
    """``values`` summed over all processes in place (unchanged outside ``torch.distributed``)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, tta: int) -> Tensor:
    """Logits averaged over test-time augmentations.

    Args:
        model: the classifier (in eval mode).
        x: ``N x C x H x W`` normalised images; H and W may differ.
        tta: 0 none, 1 also the mirror images, 2 also copies shifted by one pixel up-left and down-right
            (reflect-padded), each with its mirror image.

    Returns:
        ``N x classes`` logits.
    """

    def mirrored(inputs: Tensor) -> Tensor:
        if tta >= 1:
            return 0.5 * (model(inputs) + model(inputs.flip(-1)))
        return model(inputs)

    logits = mirrored(x)
    if tta >= 2:
        height, width = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")  # N x C x (H + 2) x (W + 2)
        shifted = 0.5 * (mirrored(padded[..., :height, :width]) + mirrored(padded[..., 2:, 2:]))
        logits = 0.5 * logits + 0.5 * shifted
    return logits


@torch.no_grad()
def evaluate_loader(
    model: nn.Module, loader: DeviceLoader, *, tta: int, dtype: torch.dtype | None
) -> tuple[float, float, int]:
    """(accuracy, mean cross-entropy, number of images) over ``loader``, summed over all processes."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64, device=loader.device)  # loss sum, correct, count
    for x, y in loader:
        with autocast(loader.device, dtype):
            logits = predict(model, x, tta).float()
        totals[0] += F.cross_entropy(logits, y, reduction="sum").double()
        totals[1] += (logits.argmax(1) == y).sum()
        totals[2] += y.numel()
    model.train(was_training)
    loss, correct, count = all_reduce_sum(totals).tolist()
    return correct / max(count, 1.0), loss / max(count, 1.0), int(count)


def evaluate(
    model: nn.Module,
    data: CIFAR10Tensors,
    *,
    tta: int = 0,
    batch_size: int = 1000,
    device: str | torch.device | None = None,
    amp: str = "auto",
) -> dict[str, float]:
    """Test accuracy and cross-entropy of ``model`` on ``data``.

    Args:
        model: a classifier taking normalised ``N x 3 x H x W`` images (``32 x 32`` for CIFAR-10).
        data: the test images.
        tta: test-time augmentation: 0 none, 1 mirror, 2 mirror and 1-pixel shifts.
        batch_size: images per forward pass.
        device: where to evaluate (default: where the model's parameters are).
        amp: mixed-precision mode, as in :class:`~cnnlib.train.TrainConfig`.

    Returns:
        ``{"acc": ..., "loss": ...}`` with ``acc`` in [0, 1].
    """
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    loader = DeviceLoader(data, batch_size=batch_size, train=False, device=dev)
    acc, loss, _ = evaluate_loader(model, loader, tta=tta, dtype=amp_dtype(amp, dev))
    return {"acc": acc, "loss": loss}
