"""The optimiser's parts: the warm-up-then-decay schedule (:func:`lr_factor`), the BatchNorm-shift parameter group
and the lookahead EMA of the weights.

The schedule is the "one-cycle"/triangle of Smith & Topin, "Super-Convergence" (2017), the EMA airbench's
(Keller Jordan, 2024): every few steps the weights are pulled towards their moving average and the average is
copied back into the model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .config import TrainConfig

__all__ = ["LookaheadEMA", "lr_factor", "param_groups"]


def lr_factor(step: int, total_steps: int, *, warmup: float, start: float, end: float) -> float:
    """The learning-rate multiplier at ``step``: linear from ``start`` to 1 over ``warmup * total_steps`` steps,
    then linear down to ``end`` at ``total_steps`` (a "triangle" / one-cycle schedule)."""
    peak = warmup * total_steps
    if step < peak:
        return start + (1.0 - start) * step / peak
    return 1.0 + (end - 1.0) * min(1.0, (step - peak) / max(1.0, total_steps - peak))


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """Two groups: BatchNorm shifts (scaled learning rate) and everything else; frozen parameters left out."""
    bn_bias_ids = {
        id(m.bias)
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.bias is not None
    }
    trainable = [p for p in model.parameters() if p.requires_grad]
    bn_biases = [p for p in trainable if id(p) in bn_bias_ids]
    others = [p for p in trainable if id(p) not in bn_bias_ids]
    scale = config.bn_bias_lr_scale
    groups = [{"params": others, "lr": config.lr, "weight_decay": config.weight_decay}]
    if bn_biases:
        groups.append({"params": bn_biases, "lr": config.lr * scale, "weight_decay": config.weight_decay / scale})
    return groups


class LookaheadEMA:
    """An exponential moving average of the weights (and float buffers) that is copied back into the model."""

    def __init__(self, model: nn.Module) -> None:
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        """Move the average ``1 - decay`` of the way towards the model's weights, then copy it into the model."""
        state = model.state_dict()
        for key, avg in self.average.items():
            avg.lerp_(state[key], 1.0 - decay)
            state[key].copy_(avg)

    def state_dict(self) -> dict[str, Tensor]:
        """The averaged tensors by state-dict key (what a checkpoint stores)."""
        return self.average

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore what :meth:`state_dict` returned (moved to where the averaged tensors live)."""
        self.average = {k: v.to(self.average[k].device) for k, v in state.items()}
