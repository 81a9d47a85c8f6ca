"""A small, fast trainer for CIFAR-sized image classifiers: :class:`TrainConfig`, :func:`fit` and a CLI.

Everything that makes short runs fast is here, each switchable in :class:`TrainConfig` so its effect can be
measured: data kept on the device (:class:`cnnlib.data.DeviceLoader`), mixed precision (bf16 where supported,
else fp16 with a gradient scaler), ``channels_last``, ``torch.compile``, Nesterov SGD with a warm-up-then-decay
schedule, label smoothing, a lookahead EMA of the weights, and flip/translate test-time augmentation, after
airbench (Keller Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024).

One file per concern, read in this order:

* :mod:`~cnnlib.train.config` -- :class:`TrainConfig`, the tuned :data:`RECIPES`, :func:`recipe`, :func:`scaled_lr`;
* :mod:`~cnnlib.train.precision` -- device and mixed precision: :func:`resolve_device`, :func:`amp_dtype`,
  :func:`auto_settings`;
* :mod:`~cnnlib.train.optim` -- the schedule (:func:`lr_factor`), parameter groups, the lookahead EMA;
* :mod:`~cnnlib.train.evaluation` -- :func:`evaluate` with test-time augmentation;
* :mod:`~cnnlib.train.loop` -- :func:`fit`, :class:`FitResult`, :class:`Callback`;
* :mod:`~cnnlib.train.state` -- the checkpoint: :class:`TrainState`, :func:`load_checkpoint`;
* :mod:`~cnnlib.train.files` -- atomic writes, the output folder's lock, no silent overwrite;
* :mod:`~cnnlib.train.cli` -- ``python -m cnnlib.train`` (:func:`main`).

The live plot and the progress bar are drawn by :mod:`cnnlib.display` (``from cnnlib.display import LivePlot``).
"""

from .config import RECIPES, TrainConfig, recipe, scaled_lr
from .evaluation import evaluate
from .files import RunDirError, WriteError
from .loop import Callback, FitResult, NonFiniteLossError, count_parameters, fit
from .optim import lr_factor
from .precision import AutoSettings, amp_dtype, auto_settings, cpu_bf16_support, resolve_device
from .state import CheckpointError, TrainState, load_checkpoint
from .cli import main

__all__ = [
    "TrainConfig",
    "FitResult",
    "Callback",
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
    "TrainState",
    "NonFiniteLossError",
    "CheckpointError",
    "RunDirError",
    "WriteError",
]
