"""A small, fast trainer for CIFAR-sized image classifiers: :class:`TrainConfig`, :func:`fit` and a CLI.

Everything that makes short runs fast is here, each switchable in :class:`TrainConfig` so its effect can be
measured: data kept on the device (:class:`cnnlib.data.DeviceLoader`), mixed precision (bf16 where supported,
else fp16 with a gradient scaler), ``channels_last``, ``torch.compile``, Nesterov SGD with a warm-up-then-decay
schedule, label smoothing, a lookahead EMA of the weights, and flip/translate test-time augmentation.

``fit`` writes a checkpoint every epoch (model, optimiser, schedule, scaler, augmentation generator and RNG
states, all tensors and plain containers so that ``torch.load(weights_only=True)`` reads it) and can resume from
it; on the CPU a resumed run is bitwise identical to an uninterrupted one.

The command line::

    python -m cnnlib.train --model vgg_cifar --data cifar10 --epochs 10 --out runs/vgg
    torchrun --standalone --nproc_per_node=2 -m cnnlib.train --model vgg_cifar --data PATH --out runs/ddp

Under ``torchrun`` the same code trains with DistributedDataParallel (NCCL on GPUs, gloo on CPUs): every process
takes a disjoint shard of each epoch, metrics are summed over processes, and only rank 0 writes files.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import platform
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlib.data import CIFAR10Tensors, DataNotFoundError, DeviceLoader, load_cifar10, normalize

__all__ = [
    "TrainConfig",
    "FitResult",
    "Callback",
    "LivePlot",
    "fit",
    "evaluate",
    "recipe",
    "scaled_lr",
    "RECIPES",
    "lr_factor",
    "resolve_device",
    "amp_dtype",
    "AutoSettings",
    "auto_settings",
    "cpu_bf16_support",
    "count_parameters",
    "load_checkpoint",
    "main",
]

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.json"
_CHECKPOINT_VERSION = 1
_AMP_MODES = ("auto", "bf16", "fp16", "off")


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
        if not self.lr > 0:
            problems.append(f"lr must be positive, got {self.lr}")
        if not 0 <= self.label_smoothing < 1:
            problems.append(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.warmup < 1:
            problems.append(f"warmup must be a fraction of the run in [0, 1), got {self.warmup}")
        if self.flip not in ("random", "alternating", "none"):
            problems.append(f"flip must be 'random', 'alternating' or 'none', got {self.flip!r}")
        if self.tta not in (0, 1, 2):
            problems.append(f"tta must be 0, 1 or 2, got {self.tta}")
        if self.amp not in _AMP_MODES:
            problems.append(f"amp must be 'auto', 'bf16', 'fp16' or 'off', got {self.amp!r}")
        if self.translate < 0 or self.eval_every < 0:
            problems.append("translate and eval_every must not be negative")
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
        ema=True, ema_start_epoch=3, ema_every=5, ema_decay=0.95, ema_decay_pow=3.0,
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


# ----------------------------------------------------------------------------------------------- results


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        test_acc: final test accuracy in [0, 1] (with the configured test-time augmentation).
        test_loss: final test cross-entropy (without label smoothing).
        test_images: number of test images evaluated (over all processes).
        train_loss: mean training loss of the last epoch (with label smoothing).
        train_acc: training accuracy of the last epoch (on augmented images).
        train_seconds: wall time of the training steps only (device-synchronised; no evaluation, no checkpoints);
            includes compilation when ``compile`` is on.
        images_per_second: training images per second over the whole run.
        epochs: epochs trained in total (including those before a resume).
        steps: optimiser steps in total.
        device: human-readable device name.
        amp: the mixed-precision mode used ("bf16", "fp16" or "off").
        world_size: number of processes.
        params: number of parameters of the model.
        channels_last: whether it trained in the channels_last layout.
        settings: what ``amp``/``channels_last`` "auto" chose and why (:attr:`AutoSettings.reason`).
        history: one dict per epoch (``epoch``, ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``,
            ``lr``, ``epoch_seconds``, ``images_per_second``, ``train_seconds``).
        config: the configuration used.
    """

    test_acc: float
    test_loss: float
    test_images: int
    train_loss: float
    train_acc: float
    train_seconds: float
    images_per_second: float
    epochs: int
    steps: int
    device: str
    amp: str
    world_size: int
    params: int
    channels_last: bool = False
    settings: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    config: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the config flattened under ``"config"``)."""
        out = asdict(self)
        out["config"] = asdict(self.config)
        return out


class Callback:
    """Hooks called by :func:`fit` (on rank 0 only). Subclass and override what you need."""

    def on_train_begin(self, config: TrainConfig, *, total_epochs: int) -> None:
        """Before the first epoch (also after a resume)."""

    def on_epoch_end(self, record: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """After each epoch's evaluation; ``record`` is ``history[-1]``."""

    def on_train_end(self, result: FitResult) -> None:
        """After the final evaluation."""


class LivePlot(Callback):
    """A live plot of loss and accuracy per epoch in a notebook (a PNG redrawn in place).

    The figure is drawn with matplotlib's object API (no pyplot, so no duplicate figure at the end of the cell)
    and shown through an IPython display handle, which works in Jupyter, Colab and under nbconvert. Outside
    IPython nothing is shown; the last figure stays in :attr:`figure`.

    Args:
        title: text above the plot.
        figsize: figure size in inches.
    """

    def __init__(self, *, title: str = "", figsize: tuple[float, float] = (9.0, 3.2)) -> None:
        self.title = title
        self.figsize = figsize
        self.figure: Any = None
        self._handle: Any = None
        self._total_epochs = 1

    def on_train_begin(self, config: TrainConfig, *, total_epochs: int) -> None:
        self._total_epochs = total_epochs
        self._handle = None

    def draw(self, history: Sequence[dict[str, Any]]) -> Any:
        """Draw ``history`` into a new figure and return it."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=self.figsize, layout="constrained")
        ax_loss, ax_acc = fig.subplots(1, 2)
        epochs = [r["epoch"] for r in history]
        ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train (smoothed labels)")
        tested = [r for r in history if r.get("test_loss") is not None]
        ax_loss.plot([r["epoch"] for r in tested], [r["test_loss"] for r in tested], "s-", label="test")
        ax_loss.set(xlabel="epoch", ylabel="cross-entropy", xlim=(0.5, self._total_epochs + 0.5))
        ax_loss.legend(loc="upper right")
        ax_acc.plot(epochs, [100 * r["train_acc"] for r in history], "o-", label="train (augmented)")
        ax_acc.plot([r["epoch"] for r in tested], [100 * r["test_acc"] for r in tested], "s-", label="test")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", xlim=(0.5, self._total_epochs + 0.5))
        ax_acc.legend(loc="lower right")
        if self.title:
            fig.suptitle(self.title)
        self.figure = fig
        return fig

    def on_epoch_end(self, record: dict[str, Any], history: list[dict[str, Any]]) -> None:
        fig = self.draw(history)
        try:
            from IPython import get_ipython
            from IPython.display import Image, display
        except ImportError:  # pragma: no cover - plain Python without IPython
            return
        if get_ipython() is None:
            return
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        image = Image(data=buf.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)


# ---------------------------------------------------------------------------------------------- helpers


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> ``cuda`` if available else ``cpu``; otherwise ``torch.device(device)``.

    Raises:
        RuntimeError: ``cuda`` was asked for but no GPU is visible.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
    return dev


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``mode`` (``"auto"``, ``"bf16"``, ``"fp16"``, ``"off"``) on ``device``; ``None``: off.

    ``"auto"``: bf16 on GPUs with native bf16 (Ampere and later), fp16 on older GPUs, bf16 on CPUs with native
    bf16 instructions (:func:`cpu_bf16_support`), else off. Never fp16 on a CPU: ``"fp16"`` there raises.
    """
    if mode not in _AMP_MODES:
        raise ValueError(f"amp must be 'auto', 'bf16', 'fp16' or 'off', got {mode!r}")
    if mode == "off":
        return None
    if mode == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if _native_bf16(device) else torch.float16
        if device.type == "cpu" and cpu_bf16_support():
            return torch.bfloat16
        return None
    if mode == "fp16" and device.type == "cpu":
        raise ValueError("amp 'fp16' is not supported on a CPU (its backward pass is about 100x slower than fp32): "
                         "use 'bf16', 'auto' or 'off'")
    return torch.bfloat16 if mode == "bf16" else torch.float16


def cpu_bf16_support() -> str:
    """The CPU's native bf16 instructions that oneDNN uses: ``"amx_bf16"``, ``"avx512_bf16"`` or ``""`` (none).

    Without them bf16 autocast on a CPU is emulated and slower than fp32. Asks torch where it can, else reads the
    CPU flags of ``/proc/cpuinfo`` (Linux); other systems answer ``""``.
    """
    cpu = getattr(torch, "cpu", None)
    try:
        if cpu._is_amx_tile_supported():  # type: ignore[union-attr]
            return "amx_bf16"
        return "avx512_bf16" if cpu._is_avx512_bf16_supported() else ""  # type: ignore[union-attr]
    except AttributeError:  # older torch: read the flags
        pass
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return ""
    return next((f for f in ("amx_bf16", "avx512_bf16") if f in flags), "")


@dataclass(frozen=True)
class AutoSettings:
    """What :func:`fit` trains with: the autocast dtype, the memory layout, and why, in words.

    Attributes:
        dtype: ``torch.bfloat16``, ``torch.float16`` or ``None`` (fp32).
        channels_last: whether model and batches are in channels_last (NHWC).
        reason: one line for the reader, e.g. ``"bf16 autocast (native CPU bf16: amx_bf16), channels_last"``.
    """

    dtype: torch.dtype | None
    channels_last: bool
    reason: str

    @property
    def amp(self) -> str:
        """``"bf16"``, ``"fp16"`` or ``"off"``."""
        return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def auto_settings(model: nn.Module, device: torch.device, *, amp: str = "auto",
                  channels_last: str | bool = "auto") -> AutoSettings:
    """Resolve ``amp`` and ``channels_last`` (:class:`TrainConfig` fields) for ``model`` on ``device``.

    ``"auto"`` picks what trains fastest: see :func:`amp_dtype`; channels_last on CUDA and CPU devices (both CIFAR
    models train 2.5-3.7x faster in bf16 + channels_last than in fp32 NCHW on an AMX CPU:
    ``bench/cpu_precision.py``).
    """
    dtype = amp_dtype(amp, device)
    why = []
    if amp == "auto" and device.type == "cpu":
        support = cpu_bf16_support()
        if dtype is not None:
            why.append(f"bf16 autocast (native CPU bf16: {support})")
        else:
            why.append("fp32 (this CPU has no native bf16)")
    else:
        why.append({None: "fp32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}[dtype]
                   + (f" (amp={amp!r})" if amp != "auto" else ""))
    layout = device.type in ("cuda", "cpu") if channels_last == "auto" else bool(channels_last)
    why.append("channels_last" if layout else "NCHW")
    return AutoSettings(dtype=dtype, channels_last=layout, reason=", ".join(why))


def _native_bf16(device: torch.device) -> bool:
    """Whether the GPU computes in bf16 natively (Ampere, compute capability 8.0, and later).

    Not ``torch.cuda.is_bf16_supported()``: recent torch versions answer True on older GPUs such as Colab's T4
    too, because bf16 can be *emulated* there, which is slow (and cuDNN has no bf16 convolutions before Ampere).
    """
    if torch.version.hip is not None:  # ROCm: trust torch
        return torch.cuda.is_bf16_supported()
    index = device.index if device.index is not None else torch.cuda.current_device()
    return torch.cuda.get_device_capability(index) >= (8, 0)


#: Fields that may differ between a run and the run it resumes: they change neither the steps nor the weights.
_RESUME_MAY_CHANGE = frozenset({"progress", "eval_every", "eval_batch_size", "tta", "compile"})


def _check_resume(checkpoint: dict[str, Any], cfg: TrainConfig, model_name: str, n_train: int, world: int,
                  path: Path | None) -> None:
    """Refuse to resume from a checkpoint of a different run (the result would be neither run's)."""
    saved = dict(checkpoint.get("config", {}))
    now = asdict(cfg)
    diffs = [f"{k} {saved[k]!r} -> {now[k]!r}" for k in now if k in saved and k not in _RESUME_MAY_CHANGE
             and saved[k] != now[k]]
    for key, value in (("model_name", model_name), ("train_images", n_train), ("world_size", world)):
        if key in checkpoint and checkpoint[key] != value:
            diffs.append(f"{key} {checkpoint[key]!r} -> {value!r}")
    if diffs:
        raise ValueError(
            f"cannot resume from {path}: it was written by a different run ({'; '.join(diffs)}). Resume with the "
            "same model, data and settings, or start a new run in another folder (without --resume)."
        )


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine() or 'unknown'}, {torch.get_num_threads()} threads)"


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or frozen)."""
    return sum(p.numel() for p in model.parameters())


def lr_factor(step: int, total_steps: int, *, warmup: float, start: float, end: float) -> float:
    """The learning-rate multiplier at ``step``: linear from ``start`` to 1 over ``warmup * total_steps`` steps,
    then linear down to ``end`` at ``total_steps`` (a "triangle" / one-cycle schedule)."""
    peak = warmup * total_steps
    if step < peak:
        return start + (1.0 - start) * step / peak
    return 1.0 + (end - 1.0) * min(1.0, (step - peak) / max(1.0, total_steps - peak))


def _param_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
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


class _LookaheadEMA:
    """An exponential moving average of the weights (and float buffers) that is copied back into the model."""

    def __init__(self, model: nn.Module) -> None:
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        state = model.state_dict()
        for key, avg in self.average.items():
            avg.lerp_(state[key], 1.0 - decay)
            state[key].copy_(avg)


class _ProgressBar:
    """A ``tqdm.auto`` bar over the optimiser steps.

    In a notebook tqdm draws an ipywidgets bar, and a saved notebook (or the static book built from it) keeps only
    that widget's first frame, "0%". So there the bar is displayed with a display id, and when it closes it is
    replaced by its final text line (steps, time, the last postfix), which is what a saved page then shows.
    """

    def __init__(self, total: int, initial: int, desc: str) -> None:
        from tqdm import notebook as tqdm_notebook
        from tqdm.auto import tqdm

        self._handle: Any = None
        if issubclass(tqdm, tqdm_notebook.tqdm):
            from IPython.display import display

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", leave=True, display=False)
            self._handle = display(self.bar.container, display_id=True)
        else:
            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", leave=True)

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    def set_postfix(self, postfix: dict[str, str]) -> None:
        self.bar.set_postfix(postfix)

    def final_line(self) -> str:
        """The bar as one line of text, e.g. ``VGGCifar: 100%|##########| 16/16 [00:12<00:00, ...]``."""
        return self.bar.format_meter(**{**self.bar.format_dict, "bar_format": None, "ncols": None})

    def close(self) -> None:
        if self._handle is None:
            self.bar.close()
            return
        from IPython.display import Pretty

        line = self.final_line()
        self.bar.close()
        self._handle.update(Pretty(line))


def _autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_reduce_sum(values: Tensor) -> Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def _predict(model: nn.Module, x: Tensor, tta: int) -> Tensor:
    """Logits averaged over test-time augmentations: mirror (``tta >= 1``) and 1-pixel shifts (``tta >= 2``)."""

    def mirrored(inputs: Tensor) -> Tensor:
        if tta >= 1:
            return 0.5 * (model(inputs) + model(inputs.flip(-1)))
        return model(inputs)

    logits = mirrored(x)
    if tta >= 2:
        size = x.shape[-1]
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        shifted = 0.5 * (mirrored(padded[..., :size, :size]) + mirrored(padded[..., 2:, 2:]))
        logits = 0.5 * logits + 0.5 * shifted
    return logits


@torch.no_grad()
def _evaluate_loader(
    model: nn.Module, loader: DeviceLoader, *, tta: int, dtype: torch.dtype | None
) -> tuple[float, float, int]:
    """(accuracy, mean cross-entropy, number of images), summed over all processes."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64, device=loader.device)  # loss sum, correct, count
    for x, y in loader:
        with _autocast(loader.device, dtype):
            logits = _predict(model, x, tta).float()
        totals[0] += F.cross_entropy(logits, y, reduction="sum").double()
        totals[1] += (logits.argmax(1) == y).sum()
        totals[2] += y.numel()
    model.train(was_training)
    loss, correct, count = _all_reduce_sum(totals).tolist()
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
        model: a classifier taking normalised ``N x 3 x 32 x 32`` images.
        data: the test images.
        tta: test-time augmentation: 0 none, 1 mirror, 2 mirror and 1-pixel shifts.
        batch_size: images per forward pass.
        device: where to evaluate (default: where the model's parameters are).
        amp: mixed-precision mode, as in :class:`TrainConfig`.

    Returns:
        ``{"acc": ..., "loss": ...}`` with ``acc`` in [0, 1].
    """
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    loader = DeviceLoader(data, batch_size=batch_size, train=False, device=dev)
    acc, loss, _ = _evaluate_loader(model, loader, tta=tta, dtype=amp_dtype(amp, dev))
    return {"acc": acc, "loss": loss}


# ------------------------------------------------------------------------------------------ checkpoints


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`fit` (with ``weights_only=True``: tensors and plain containers only).

    Returns:
        A dict with keys ``model``, ``optimizer``, ``scheduler``, ``scaler``, ``loader``, ``rng``, ``ema``,
        ``epoch``, ``step``, ``train_seconds``, ``history``, ``config``.
    """
    return torch.load(path, map_location=map_location, weights_only=True)


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


# ------------------------------------------------------------------------------------------------- fit


def fit(
    model: nn.Module,
    train: CIFAR10Tensors,
    test: CIFAR10Tensors | None,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device | None = "auto",
    callbacks: Iterable[Callback] = (),
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
) -> FitResult:
    """Train ``model`` on ``train`` and evaluate it on ``test``.

    If the model defines ``init_from_data(images)`` (like :class:`cnnlib.cifar.VGGCifar`, whose first layer
    whitens image patches), it is called once before the first step with up to 5,000 normalised training images,
    drawn at random with the config's seed.

    Under ``torch.distributed`` (initialised by the caller, e.g. the CLI under ``torchrun``) the model is wrapped
    in ``DistributedDataParallel``; each process trains on its shard and the metrics are summed over processes.

    Args:
        model: the network; it is moved to ``device`` (and to ``channels_last`` if configured) in place.
        train: training images.
        test: test images, or ``None`` to skip evaluation (``test_acc`` is then NaN).
        config: the recipe; default :class:`TrainConfig()`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``... .
        callbacks: e.g. ``[LivePlot()]``; called on rank 0 only.
        out_dir: if given, a checkpoint is written there after every epoch (rank 0 only).
        resume: continue from ``out_dir``'s checkpoint if there is one (from scratch otherwise).

    Returns:
        A :class:`FitResult`.
    """
    cfg = config if config is not None else TrainConfig()
    dev = resolve_device(device)
    rank, world = _dist_info()
    settings = auto_settings(model, dev, amp=cfg.amp, channels_last=cfg.channels_last)
    dtype, channels_last = settings.dtype, settings.channels_last
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    callbacks = list(callbacks) if rank == 0 else []
    out = Path(out_dir) if out_dir is not None else None
    ckpt_path = out / CHECKPOINT_NAME if out is not None else None

    torch.manual_seed(cfg.seed)
    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    train_loader = DeviceLoader(
        train, batch_size=cfg.batch_size, train=True, device=dev, seed=cfg.seed, flip=cfg.flip,
        translate=cfg.translate, channels_last=channels_last, rank=rank, world_size=world,
    )
    if len(train_loader) == 0:
        raise ValueError(
            f"{len(train)} training images make no full batch of {cfg.batch_size} (x {world} processes): "
            "use more images or a smaller batch size"
        )
    test_loader = (
        DeviceLoader(test, batch_size=cfg.eval_batch_size * world, train=False, device=dev,
                     channels_last=channels_last, rank=rank, world_size=world)
        if test is not None else None
    )
    steps_per_epoch = len(train_loader)
    total_steps = cfg.epochs * steps_per_epoch

    checkpoint = None
    if resume and ckpt_path is not None and ckpt_path.is_file():
        # on the CPU: generator states must stay CPU tensors; load_state_dict moves the rest to the device
        checkpoint = load_checkpoint(ckpt_path, map_location="cpu")
    init_seconds = 0.0
    if checkpoint is None and hasattr(model, "init_from_data"):
        # a random sample: folder and tarball sources are sorted by class, so the first 5,000 would all be airplanes
        sample = normalize(train.subset(5000, seed=cfg.seed).images.to(dev))
        _sync(dev)
        t0 = time.perf_counter()
        model.init_from_data(sample)  # type: ignore[operator]
        _sync(dev)
        init_seconds = time.perf_counter() - t0  # part of the training time, as in airbench

    optimizer = torch.optim.SGD(_param_groups(model, cfg), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)

    def schedule(step: int) -> float:
        return lr_factor(step, total_steps, warmup=cfg.warmup, start=cfg.lr_start, end=cfg.lr_end)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    scaler = torch.amp.GradScaler(dev.type, enabled=dtype == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    ema: _LookaheadEMA | None = None
    history: list[dict[str, Any]] = []
    start_epoch, step, train_seconds = 0, 0, init_seconds
    if checkpoint is not None:
        _check_resume(checkpoint, cfg, type(model).__name__, len(train), world, ckpt_path)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        scaler.load_state_dict(checkpoint["scaler"])
        train_loader.load_state_dict(checkpoint["loader"])
        _set_rng_state(checkpoint["rng"], dev)
        if checkpoint["ema"] is not None:
            ema = _LookaheadEMA(model)
            ema.average = {k: v.to(dev) for k, v in checkpoint["ema"].items()}
        history = list(checkpoint["history"])
        start_epoch, step = int(checkpoint["epoch"]), int(checkpoint["step"])
        train_seconds = float(checkpoint["train_seconds"])

    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)  # type: ignore[assignment]

    for cb in callbacks:
        cb.on_train_begin(cfg, total_epochs=cfg.epochs)
    desc = f"{type(model).__name__} ({settings.amp if settings.amp != 'off' else 'fp32'}, " \
           f"{'channels_last' if channels_last else 'NCHW'})"
    bar = _ProgressBar(total_steps, step, desc) if cfg.progress and rank == 0 else None

    ema_base = cfg.ema_decay**cfg.ema_every
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        totals = torch.zeros(3, dtype=torch.float64, device=dev)  # loss sum, correct, count
        _sync(dev)
        t0 = time.perf_counter()
        for x, y in train_loader:
            with _autocast(dev, dtype):
                logits = net(x)
                loss = criterion(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            if cfg.ema and epoch >= cfg.ema_start_epoch and step % cfg.ema_every == 0:
                if ema is None:
                    ema = _LookaheadEMA(model)
                else:
                    ema.update(model, ema_base * (step / total_steps) ** cfg.ema_decay_pow)
            with torch.no_grad():
                totals[0] += loss.detach().double() * y.numel()
                totals[1] += (logits.detach().argmax(1) == y).sum()
                totals[2] += y.numel()
            if bar is not None:
                bar.update(1)
        if ema is not None:
            ema.update(model, 1.0)  # the epoch ends on the averaged weights
        _sync(dev)
        epoch_seconds = time.perf_counter() - t0
        train_seconds += epoch_seconds
        loss_sum, correct, count = _all_reduce_sum(totals).tolist()

        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / count,
            "train_acc": correct / count,
            "test_loss": None,
            "test_acc": None,
            "lr": cfg.lr * schedule(step),
            "epoch_seconds": epoch_seconds,
            "images_per_second": count / epoch_seconds,
            "train_seconds": train_seconds,
        }
        last = epoch + 1 == cfg.epochs
        if test_loader is not None and not last and cfg.eval_every and (epoch + 1) % cfg.eval_every == 0:
            record["test_acc"], record["test_loss"], _ = _evaluate_loader(model, test_loader, tta=0, dtype=dtype)
        history.append(record)
        if bar is not None:
            postfix = {"loss": f"{record['train_loss']:.3f}", "img/s": f"{record['images_per_second']:.0f}"}
            if record["test_acc"] is not None:
                postfix["test"] = f"{100 * record['test_acc']:.1f}%"
            bar.set_postfix(postfix)
        if ckpt_path is not None and rank == 0:
            ckpt_path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_save(
                {
                    "version": _CHECKPOINT_VERSION,
                    "model_name": type(model).__name__,
                    "train_images": len(train),
                    "world_size": world,
                    "epoch": epoch + 1,
                    "step": step,
                    "train_seconds": train_seconds,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "loader": train_loader.state_dict(),
                    "rng": _rng_state(dev),
                    "ema": ema.average if ema is not None else None,
                    "history": history,
                    "config": asdict(cfg),
                },
                ckpt_path,
            )

        if not last:
            for cb in callbacks:
                cb.on_epoch_end(record, history)
    if bar is not None:
        bar.close()
    test_acc, test_loss, test_images = math.nan, math.nan, 0
    if test_loader is not None:
        test_acc, test_loss, test_images = _evaluate_loader(model, test_loader, tta=cfg.tta, dtype=dtype)
        if history and history[-1]["epoch"] == cfg.epochs:
            history[-1]["test_acc"], history[-1]["test_loss"] = test_acc, test_loss
            for cb in callbacks:
                cb.on_epoch_end(history[-1], history)
    final = history[-1] if history else {"train_loss": math.nan, "train_acc": math.nan}
    total_images = sum(r["images_per_second"] * r["epoch_seconds"] for r in history)
    result = FitResult(
        test_acc=test_acc,
        test_loss=test_loss,
        test_images=test_images,
        train_loss=final["train_loss"],
        train_acc=final["train_acc"],
        train_seconds=train_seconds,
        images_per_second=total_images / train_seconds if train_seconds > 0 else math.nan,
        epochs=cfg.epochs,
        steps=step,
        device=_device_name(dev),
        amp=settings.amp,
        world_size=world,
        params=count_parameters(model),
        channels_last=channels_last,
        settings=settings.reason,
        history=history,
        config=cfg,
    )
    for cb in callbacks:
        cb.on_train_end(result)
    return result


# ------------------------------------------------------------------------------------------------- CLI


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m cnnlib.train",
        description="Train a cnnlib model on CIFAR-10 (also under torchrun for several processes/GPUs).",
    )
    p.add_argument("--model", default="vgg_cifar", help="registered model name (default: vgg_cifar)")
    p.add_argument("--model-kw", default="{}", metavar="JSON",
                   help='keyword arguments of the model builder, e.g. \'{"width_mult": 0.5}\'')
    p.add_argument("--data", default=None,
                   help="'cifar10' (download), a folder tree train/<class>/*.jpg, or a .tar.gz of one "
                        "(default: $CNNLIB_CIFAR10 or a local copy, else 'cifar10')")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the model's recipe)")
    p.add_argument("--train-subset", type=int, default=None, help="train on this many images (random, fixed)")
    p.add_argument("--test-subset", type=int, default=None, help="test on this many images (random, fixed)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0, help="seed of the model init, augmentation and dropout")
    p.add_argument("--out", default="runs/latest", help="folder for metrics.json and the checkpoint")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per step over all processes (default: the recipe's); without --lr the recipe's "
                        "learning rate is scaled in proportion (linear scaling rule)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the recipe's, scaled)")
    p.add_argument("--amp", default=None, choices=_AMP_MODES)
    p.add_argument("--tta", type=int, default=None, choices=[0, 1, 2])
    p.add_argument("--eval-every", type=int, default=None, help="evaluate every N epochs (0: only at the end)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the CLI; returns the metrics written to ``--out/metrics.json``."""
    args = _parse_args(argv)
    from cnnlib.registry import create_model, list_models

    if args.threads:
        torch.set_num_threads(args.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(args.device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    try:
        overrides = {
            k: v
            for k, v in {
                "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "amp": args.amp,
                "tta": args.tta, "eval_every": args.eval_every,
            }.items()
            if v is not None
        }
        try:
            if args.model not in list_models():
                raise ValueError(f"unknown model {args.model!r}; choose one of: {', '.join(list_models())}")
            try:
                model_kw = json.loads(args.model_kw)
            except json.JSONDecodeError as err:
                raise ValueError(f"--model-kw is not JSON ({err.msg}): {args.model_kw!r}") from None
            if not isinstance(model_kw, dict):
                raise ValueError(f"--model-kw must be a JSON object such as '{{\"width_mult\": 0.5}}', got {args.model_kw!r}")
            for name in ("train_subset", "test_subset", "epochs", "batch_size"):
                value = getattr(args, name)
                if value is not None and value < 1:
                    raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
            if args.batch_size is not None and args.lr is None:
                base = recipe(args.model)
                overrides["lr"] = scaled_lr(args.model, args.batch_size)
                if rank == 0 and args.batch_size != base.batch_size:
                    print(f"batch size {args.batch_size} instead of {base.batch_size}: peak learning rate scaled "
                          f"from {base.lr:g} to {overrides['lr']:g} (pass --lr to choose it)", file=sys.stderr)
            config = recipe(args.model, seed=args.seed, compile=args.compile, progress=not args.no_progress,
                            **overrides)
            train = load_cifar10(args.data, train=True, subset=args.train_subset)
            test = load_cifar10(args.data, train=False, subset=args.test_subset)
            torch.manual_seed(args.seed)
            model = create_model(args.model, num_classes=len(train.classes), **model_kw)
            result = fit(model, train, test, config, device=device, out_dir=args.out, resume=args.resume)
        except (ValueError, DataNotFoundError) as err:  # the user's input: a short message, not a traceback
            print(f"python -m cnnlib.train: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        metrics = {
            "model": args.model,
            "model_kw": model_kw,
            "test_acc": result.test_acc,
            "test_loss": result.test_loss,
            "train_loss": result.train_loss,
            "train_acc": result.train_acc,
            "train_seconds": result.train_seconds,
            "images_per_second": result.images_per_second,
            "epochs": result.epochs,
            "steps": result.steps,
            "device": result.device,
            "amp": result.amp,
            "channels_last": result.channels_last,
            "settings": result.settings,
            "world_size": result.world_size,
            "params": result.params,
            "train_images": len(train),
            "test_images": result.test_images,
            "seed": args.seed,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "history": result.history,
            "config": asdict(result.config),
        }
        if rank == 0:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / METRICS_NAME).write_text(json.dumps(metrics, indent=2) + "\n")
            print(
                f"{args.model}: test accuracy {100 * result.test_acc:.2f}% after {result.epochs} "
                f"epoch{'s' if result.epochs != 1 else ''}, "
                f"{result.train_seconds:.1f} s of training on {result.device} x {world} "
                f"({result.images_per_second:.0f} images/s; {result.settings}); wrote {out / METRICS_NAME}",
                file=sys.stderr,
            )
        return metrics
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
