"""Checkpoint state: :class:`TrainState` is everything a run needs to continue, and the one place that lays out
a checkpoint (:meth:`TrainState.state_dict` / :meth:`TrainState.load_state_dict`); :func:`load_checkpoint`.

A checkpoint holds tensors and plain containers only, so ``torch.load(weights_only=True)`` reads it (no pickled
code runs); on the CPU a resumed run is bitwise identical to an uninterrupted one.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlib.data import DeviceLoader

from .config import TrainConfig
from .files import atomic_write
from .optim import LookaheadEMA

__all__ = ["CheckpointError", "TrainState", "load_checkpoint"]

CHECKPOINT_VERSION = 1
#: The keys :meth:`TrainState.state_dict` writes.
_KEYS = ("version", "model_name", "train_images", "world_size", "epoch", "step", "train_seconds", "model",
         "optimizer", "scheduler", "scaler", "loader", "rng", "ema", "history", "config")
#: Fields that may differ between a run and the run it resumes: they change neither the steps nor the weights.
_RESUME_MAY_CHANGE = frozenset({"progress", "eval_every", "eval_batch_size", "tta", "compile"})


class CheckpointError(ValueError):
    """A checkpoint that cannot be read (empty, truncated, not a cnnlib checkpoint)."""


@dataclass
class TrainState:
    """The objects a training run changes, and how far it got.

    Attributes:
        model: the network (unwrapped: not DDP, not compiled).
        optimizer: its SGD optimiser (momentum buffers).
        scheduler: the learning-rate schedule.
        scaler: the fp16 gradient scaler (disabled otherwise).
        loader: the training batches (its generator state decides the augmentations to come).
        config: the run's configuration (a resume must match it, see :meth:`load_state_dict`).
        device: where the run trains (its CUDA RNG state is saved too).
        world_size: number of processes.
        ema: the lookahead EMA once it has started, else ``None``.
        epoch: epochs finished.
        step: optimiser steps taken.
        train_seconds: training time so far.
        history: one record per finished epoch.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    loader: DeviceLoader
    config: TrainConfig
    device: torch.device
    world_size: int = 1
    ema: LookaheadEMA | None = None
    epoch: int = 0
    step: int = 0
    train_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def model_name(self) -> str:
        """The model's class name (a resume must use the same)."""
        return type(self.model).__name__

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint: tensors and plain containers only, keyed as :func:`load_checkpoint` documents."""
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "version": CHECKPOINT_VERSION,
            "model_name": self.model_name,
            "train_images": self.loader.num_images,
            "world_size": self.world_size,
            "epoch": self.epoch,
            "step": self.step,
            "train_seconds": self.train_seconds,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "loader": self.loader.state_dict(),
            "rng": rng,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "history": self.history,
            "config": asdict(self.config),
        }

    def load_state_dict(self, checkpoint: dict[str, Any], *, path: str | os.PathLike[str] | None = None) -> None:
        """Continue from ``checkpoint`` (from :meth:`state_dict`), refusing one written by a different run.

        Raises:
            ValueError: the checkpoint's model, data, process count or settings differ from this run's (resuming
                would give neither run's result, e.g. a schedule that never decays).
        """
        self._check_same_run(checkpoint, path)
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.scaler.load_state_dict(checkpoint["scaler"])
        self.loader.load_state_dict(checkpoint["loader"])
        torch.set_rng_state(checkpoint["rng"]["torch"].cpu())
        if self.device.type == "cuda" and "cuda" in checkpoint["rng"]:
            torch.cuda.set_rng_state(checkpoint["rng"]["cuda"].cpu(), self.device)
        self.ema = None
        if checkpoint["ema"] is not None:
            self.ema = LookaheadEMA(self.model)
            self.ema.load_state_dict(checkpoint["ema"])
        self.history = list(checkpoint["history"])
        self.epoch, self.step = int(checkpoint["epoch"]), int(checkpoint["step"])
        self.train_seconds = float(checkpoint["train_seconds"])

    def save(self, path: Path) -> None:
        """Write :meth:`state_dict` to ``path`` atomically (:func:`~cnnlib.train.files.atomic_write`)."""
        state = self.state_dict()
        atomic_write(path, lambda f: torch.save(state, f))

    def _check_same_run(self, checkpoint: dict[str, Any], path: str | os.PathLike[str] | None) -> None:
        saved = dict(checkpoint.get("config", {}))
        now = asdict(self.config)
        diffs = [f"{k} {saved[k]!r} -> {now[k]!r}" for k in now
                 if k in saved and k not in _RESUME_MAY_CHANGE and saved[k] != now[k]]
        for key, value in (("model_name", self.model_name), ("train_images", self.loader.num_images),
                           ("world_size", self.world_size)):
            if key in checkpoint and checkpoint[key] != value:
                diffs.append(f"{key} {checkpoint[key]!r} -> {value!r}")
        if diffs:
            raise ValueError(
                f"cannot resume from {path}: it was written by a different run ({'; '.join(diffs)}). Resume with "
                "the same model, data and settings, or start a new run in another folder (without --resume)."
            )


def load_checkpoint(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`~cnnlib.train.fit` (``weights_only=True``: tensors and plain containers).

    Returns:
        A dict with keys ``model``, ``optimizer``, ``scheduler``, ``scaler``, ``loader``, ``rng``, ``ema``,
        ``epoch``, ``step``, ``train_seconds``, ``history``, ``config`` (and ``version``, ``model_name``,
        ``train_images``, ``world_size``).

    Raises:
        CheckpointError: the file is empty, truncated, or not a cnnlib checkpoint.
    """
    path = Path(path)
    advice = "delete it to start again, or choose another --out"
    if path.is_file() and path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (a write was interrupted?): {advice}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except (EOFError, RuntimeError, pickle.UnpicklingError, ValueError) as err:
        # torch's own message for an UnpicklingError suggests weights_only=False: never the advice to give
        kind = "truncated or corrupt" if not isinstance(err, pickle.UnpicklingError) else "not a cnnlib checkpoint"
        raise CheckpointError(f"cannot read checkpoint {path} ({kind}): {advice}") from None
    missing = [k for k in _KEYS if k not in checkpoint] if isinstance(checkpoint, dict) else list(_KEYS)
    if missing:
        raise CheckpointError(f"{path} is not a cnnlib checkpoint (no {', '.join(missing[:3])}): {advice}")
    if checkpoint["version"] != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} has version {checkpoint['version']!r}, this cnnlib reads "
                              f"{CHECKPOINT_VERSION}: {advice}")
    return checkpoint

