"""What decides a training run: :class:`TrainConfig`, the tuned :data:`RECIPES`, :func:`recipe` and :func:`scaled_lr`.

The vgg_cifar recipe is airbench94's (Keller Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024) in
"mean loss" units; the linear scaling rule of :func:`scaled_lr` is Goyal et al., "Accurate, Large Minibatch SGD:
Training ImageNet in 1 Hour" (2017).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["AMP_MODES", "MAX_SEED", "RECIPES", "TrainConfig", "recipe", "scaled_lr"]

#: The values of :attr:`TrainConfig.amp`.
AMP_MODES = ("auto", "bf16", "fp16", "off")
#: The largest seed :func:`torch.manual_seed` and a ``torch.Generator`` take as a signed 64-bit integer.
MAX_SEED = 2**63 - 1


@dataclass
class TrainConfig:
    """Everything that decides a training run (the model and the data aside).

    The defaults are a generic recipe for a BatchNorm CNN on CIFAR-10; :func:`recipe` returns the tuned ones for
    ``vgg_cifar`` and ``googlenet_cifar``.
    """

    # Passes over the training set; the schedule is laid out over all of them.
    epochs: int = 20
    # Images per optimiser step (over all processes); large batches keep a GPU busy.
    batch_size: int = 512
    # Peak learning rate for the mean loss of a batch; SGD with momentum is tuned around lr / batch size.
    lr: float = 0.2
    # Momentum of SGD: averages gradients over about 1 / (1 - momentum) steps.
    momentum: float = 0.9
    # Nesterov momentum looks one step ahead; a little better than plain momentum at the same cost.
    nesterov: bool = True
    # L2 penalty as in torch.optim.SGD (coupled: the decay per step is lr x weight_decay).
    weight_decay: float = 5e-4
    # Learning rate multiplier for BatchNorm shifts (their weight decay is divided by it, so the decay per step is
    # unchanged); the speed recipes train these few parameters much faster than the rest.
    bn_bias_lr_scale: float = 1.0
    # Epochs during which the bias of the model's patch-whitening layer (``model.whitening_bias``, vgg_cifar) trains;
    # afterwards its learning rate is 0 (airbench: 3). 0: it trains throughout, like every other bias.
    whiten_bias_epochs: int = 0
    # Label smoothing: this much of the target's mass is spread evenly over all classes (the true class keeps
    # 1 - label_smoothing plus its share); keeps logits small and generalises better.
    label_smoothing: float = 0.1
    # Fraction of all steps over which the learning rate rises linearly from lr_start x lr to lr.
    warmup: float = 0.15
    # Learning rate at step 0, as a fraction of lr: the first steps on a fresh network are the least stable.
    lr_start: float = 0.1
    # Learning rate at the last step, as a fraction of lr (linear decay from the peak).
    lr_end: float = 0.0
    # Training flip augmentation: "random", "alternating" (each image mirrored every other epoch) or "none".
    flip: str = "random"
    # Random translation in pixels (reflect-pad then crop); 0 turns it off.
    translate: int = 4
    # Test-time augmentation for the final accuracy: 0 none, 1 average with the mirror image, 2 also +-1 px shifts.
    tta: int = 1
    # Lookahead EMA: every ema_every steps pull the weights towards their moving average and copy it back.
    ema: bool = False
    # Epoch from which the EMA starts; early weights are too poor to be worth averaging.
    ema_start_epoch: int = 3
    # Steps between EMA updates; rarer updates cost less and act like a longer averaging window.
    ema_every: int = 5
    # Per-step decay of the EMA, ramped up as (progress ** ema_decay_pow) so it averages more towards the end.
    ema_decay: float = 0.95
    # Exponent of that ramp.
    ema_decay_pow: float = 3.0
    # Mixed precision: "auto" (bf16 on GPUs that support it, fp16 + gradient scaler on older GPUs, bf16 on CPUs
    # with native bf16 (AMX, avx512_bf16), else off), "bf16", "fp16" (GPUs only) or "off". Halves memory
    # traffic and uses the tensor cores (GPUs) or AMX tiles (CPUs).
    amp: str = "auto"
    # channels_last (NHWC) memory format: "auto" (on for CUDA and CPU devices), True or False; the layout tensor
    # cores want, and oneDNN's CPU convolutions are faster in it too (1.2-1.4x for both CIFAR models on 2 cores).
    channels_last: str | bool = "auto"
    # torch.compile the training forward/backward: fuses BatchNorm, activations and pooling (costs compile time).
    compile: bool = False
    # Evaluate on the test set after every this many epochs (0: only at the end); evaluation time is not counted.
    eval_every: int = 1
    # Images per evaluation batch (per process).
    eval_batch_size: int = 1000
    # Seed of the augmentation generator and of the global RNG (dropout); the model's init is seeded by the caller.
    seed: int = 0
    # tqdm progress bar (on rank 0 only).
    progress: bool = True

    def __post_init__(self) -> None:
        problems = []
        for name in ("epochs", "batch_size", "eval_batch_size", "ema_every"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            problems.append(f"lr must be a positive finite number, got {self.lr}")
        if not 0 <= self.label_smoothing < 1:
            problems.append(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.warmup < 1:
            problems.append(f"warmup must be a fraction of the run in [0, 1), got {self.warmup}")
        if self.flip not in ("random", "alternating", "none"):
            problems.append(f"flip must be 'random', 'alternating' or 'none', got {self.flip!r}")
        if self.tta not in (0, 1, 2):
            problems.append(f"tta must be 0, 1 or 2, got {self.tta}")
        if self.amp not in AMP_MODES:
            problems.append(f"amp must be 'auto', 'bf16', 'fp16' or 'off', got {self.amp!r}")
        if not 0 <= int(self.seed) <= MAX_SEED:
            problems.append(f"seed must be in [0, 2**63 - 1], got {self.seed}")
        if self.translate < 0 or self.eval_every < 0 or self.whiten_bias_epochs < 0:
            problems.append("translate, eval_every and whiten_bias_epochs must not be negative")
        if problems:
            raise ValueError("invalid TrainConfig: " + "; ".join(problems))

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (unknown names raise ``TypeError``, bad values ``ValueError``)."""
        return dataclasses.replace(self, **changes)


#: Tuned recipes by model name (see :func:`recipe`).
RECIPES: dict[str, dict[str, Any]] = {
    # airbench94's recipe in "mean loss" units: lr 11.5 per 1024 images / (1 + 1/(1 - 0.85)) = 1.5;
    # decoupled weight decay 0.0153 per 1024 images -> 0.0153 * 1024 / 7851 / 1.5 = 1.33e-3 coupled.
    "vgg_cifar": dict(
        epochs=10, batch_size=1024, lr=1.5, momentum=0.85, weight_decay=1.33e-3, bn_bias_lr_scale=64.0,
        label_smoothing=0.2, warmup=0.23, lr_start=0.2, lr_end=0.07, flip="alternating", translate=2, tta=2,
        ema=True, ema_start_epoch=3, ema_every=5, ema_decay=0.95, ema_decay_pow=3.0, whiten_bias_epochs=3,
    ),
    # A ResNet-style fast schedule (batch 512, peak lr 0.4 per mean loss) with airbench's evaluation tricks.
    "googlenet_cifar": dict(
        epochs=18, batch_size=512, lr=0.4, momentum=0.9, weight_decay=5e-4, bn_bias_lr_scale=1.0,
        label_smoothing=0.2, warmup=0.15, lr_start=0.1, lr_end=0.0, flip="alternating", translate=2, tta=2,
        ema=True, ema_start_epoch=3, ema_every=5, ema_decay=0.95, ema_decay_pow=3.0,
    ),
}


def recipe(model_name: str, **overrides: Any) -> TrainConfig:
    """The tuned :class:`TrainConfig` for a model (the generic defaults for models without a recipe).

    Args:
        model_name: e.g. ``"vgg_cifar"`` or ``"googlenet_cifar"``.
        **overrides: fields to change, e.g. ``epochs=2``.

    Returns:
        The configuration.
    """
    return TrainConfig(**{**RECIPES.get(model_name, {}), **overrides})


def scaled_lr(model_name: str, batch_size: int) -> float:
    """The recipe's peak learning rate for another batch size: scaled in proportion (the linear scaling rule)."""
    base = recipe(model_name)
    return base.lr * batch_size / base.batch_size
