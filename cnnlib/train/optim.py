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

__all__ = ["WHITENING_BIAS", "LookaheadEMA", "group_lr_factor", "lr_factor", "param_groups"]


def lr_factor(step: int, total_steps: int, *, warmup: float, start: float, end: float) -> float:
    """The learning-rate multiplier at ``step``: linear from ``start`` to 1 over ``warmup * total_steps`` steps,
    then linear down to ``end`` at ``total_steps`` (a "triangle" / one-cycle schedule)."""
    peak = warmup * total_steps
    if step < peak:
        return start + (1.0 - start) * step / peak
    return 1.0 + (end - 1.0) * min(1.0, (step - peak) / max(1.0, total_steps - peak))


#: The name of the parameter group that holds the whitening layer's bias (its learning rate drops to 0 after
#: ``TrainConfig.whiten_bias_epochs``; see :func:`group_lr_factor`).
WHITENING_BIAS = "whitening_bias"


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """The optimiser's parameter groups; frozen parameters are left out.

    Everything else; BatchNorm shifts (learning rate scaled by ``bn_bias_lr_scale``, weight decay divided by it);
    and, when ``whiten_bias_epochs`` is set and the model has a ``whitening_bias``, that bias alone (it stops
    training after those epochs). Each group carries a ``"name"``.
    """
    bn_bias_ids = {
        id(m.bias)
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.bias is not None
    }
    whitening = getattr(model, WHITENING_BIAS, None) if config.whiten_bias_epochs else None
    whitening_ids = {id(whitening)} if isinstance(whitening, nn.Parameter) and whitening.requires_grad else set()
    trainable = [p for p in model.parameters() if p.requires_grad]
    bn_biases = [p for p in trainable if id(p) in bn_bias_ids]
    others = [p for p in trainable if id(p) not in bn_bias_ids | whitening_ids]
    scale = config.bn_bias_lr_scale
    groups = [{"name": "weights", "params": others, "lr": config.lr, "weight_decay": config.weight_decay}]
    if bn_biases:
        groups.append({"name": "bn_biases", "params": bn_biases, "lr": config.lr * scale,
                       "weight_decay": config.weight_decay / scale})
    if whitening_ids:
        groups.append({"name": WHITENING_BIAS, "params": [whitening], "lr": config.lr,
                       "weight_decay": config.weight_decay})
    return groups


def group_lr_factor(group_name: str, step: int, steps_per_epoch: int, total_steps: int,
                    config: TrainConfig) -> float:
    """The learning-rate multiplier of one parameter group at ``step``: :func:`lr_factor` for every group, except
    that the whitening bias stops (0) after ``whiten_bias_epochs`` epochs (airbench trains it for 3)."""
    if group_name == WHITENING_BIAS and step >= config.whiten_bias_epochs * steps_per_epoch:
        return 0.0
    return lr_factor(step, total_steps, warmup=config.warmup, start=config.lr_start, end=config.lr_end)


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
