"""The training loop: :func:`fit`, :class:`FitResult`, :class:`Callback`.

``fit`` is airbench's loop (Keller Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024) made
resumable: data kept on the device (:class:`cnnlib.data.DeviceLoader`), Nesterov SGD with a warm-up-then-decay
schedule, label smoothing, a lookahead EMA, test-time augmentation at the end, and a checkpoint after every epoch
(:class:`~cnnlib.train.state.TrainState`). Under ``torch.distributed`` (the CLI under ``torchrun``) the model is
wrapped in ``DistributedDataParallel``; every process trains on its shard and the metrics are summed.
"""

from __future__ import annotations

import functools
import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.distributed as dist
from torch import nn

from cnnlib import _base
from cnnlib.data import CIFAR10Tensors, DeviceLoader, normalize

from .config import TrainConfig
from .evaluation import all_reduce_sum, evaluate_loader
from .files import CHECKPOINT_NAME, run_dir
from .optim import LookaheadEMA, group_lr_factor, lr_factor, param_groups
from .precision import AutoSettings, auto_settings, autocast, resolve_device, sync
from .state import TrainState, load_checkpoint

__all__ = ["Callback", "FitResult", "NonFiniteLossError", "count_parameters", "fit"]


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



class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite: the run diverged (usually a learning rate too high)."""


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or frozen)."""
    return sum(p.numel() for p in model.parameters())


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

    Args:
        model: the network; it is moved to ``device`` (and to ``channels_last`` if configured) in place.
        train: training images.
        test: test images, or ``None`` to skip evaluation (``test_acc`` is then NaN).
        config: the recipe; default :class:`TrainConfig()`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``... .
        callbacks: e.g. ``[cnnlib.display.LivePlot()]``; called on rank 0 only, after every epoch (the last one
            after the final evaluation).
        out_dir: if given, a checkpoint is written there after every epoch (rank 0 only), while the folder's lock
            is held; a folder that already holds a run is refused unless ``resume``.
        resume: continue from ``out_dir``'s checkpoint if there is one (from scratch otherwise).

    Returns:
        A :class:`FitResult`.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite (the step is named; no checkpoint of it is written).
        ValueError: bad settings, too few images for one batch, or a checkpoint of a different run;
            :class:`~cnnlib.train.files.RunDirError` (a ``ValueError``) for an unusable ``out_dir``.
        cnnlib.train.files.WriteError: a checkpoint could not be written (disk full...).
    """
    cfg = config if config is not None else TrainConfig()
    dev = resolve_device(device)
    rank, world = _dist_info()
    out = Path(out_dir) if out_dir is not None else None
    with run_dir(out, resume=resume, write=rank == 0) if out is not None else nullcontext():
        return _fit(model, train, test, cfg, dev, rank, world, list(callbacks) if rank == 0 else [],
                    out / CHECKPOINT_NAME if out is not None else None, resume)


def _fit(model: nn.Module, train: CIFAR10Tensors, test: CIFAR10Tensors | None, cfg: TrainConfig,
         dev: torch.device, rank: int, world: int, callbacks: list[Callback], ckpt_path: Path | None,
         resume: bool) -> FitResult:
    """:func:`fit` once its arguments are resolved (and ``out_dir``'s lock is held)."""
    settings = auto_settings(model, dev, amp=cfg.amp, channels_last=cfg.channels_last)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg.seed)
    model.to(dev)
    if settings.channels_last:
        model.to(memory_format=torch.channels_last)
    train_loader = DeviceLoader(
        train, batch_size=cfg.batch_size, train=True, device=dev, seed=cfg.seed, flip=cfg.flip,
        translate=cfg.translate, channels_last=settings.channels_last, rank=rank, world_size=world,
    )
    if len(train_loader) == 0:
        raise ValueError(f"{len(train)} training images make no full batch of {cfg.batch_size} (x {world} "
                         "processes): use more images or a smaller batch size")
    test_loader = None if test is None else DeviceLoader(
        test, batch_size=cfg.eval_batch_size * world, train=False, device=dev,
        channels_last=settings.channels_last, rank=rank, world_size=world,
    )
    # on the CPU: generator states must stay CPU tensors; load_state_dict moves the rest to the device
    checkpoint = load_checkpoint(ckpt_path) if resume and ckpt_path is not None and ckpt_path.is_file() else None
    init_seconds = 0.0
    if checkpoint is None and hasattr(model, "init_from_data"):
        init_seconds = _init_from_data(model, train, cfg.seed, dev)  # part of the training time, as in airbench
    total_steps = cfg.epochs * len(train_loader)
    optimizer = torch.optim.SGD(param_groups(model, cfg), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    state = TrainState(
        model=model, optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, [
            functools.partial(group_lr_factor, g["name"], steps_per_epoch=len(train_loader), total_steps=total_steps,
                              config=cfg)
            for g in optimizer.param_groups
        ]),
        scaler=torch.amp.GradScaler(dev.type, enabled=settings.dtype == torch.float16),
        loader=train_loader, config=cfg, device=dev, world_size=world, train_seconds=init_seconds,
    )
    if checkpoint is not None:
        state.load_state_dict(checkpoint, path=ckpt_path)

    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=_ddp_device_ids(dev))
    if cfg.compile:
        net = torch.compile(net)  # type: ignore[assignment]
    for cb in callbacks:
        cb.on_train_begin(cfg, total_epochs=cfg.epochs)
    bar = _progress_bar(state, total_steps, settings) if cfg.progress and rank == 0 else None

    try:
        for epoch in range(state.epoch, cfg.epochs):
            record = _train_epoch(state, net, settings.dtype, total_steps, bar)
            last = epoch + 1 == cfg.epochs
            if test_loader is not None and not last and cfg.eval_every and (epoch + 1) % cfg.eval_every == 0:
                record["test_acc"], record["test_loss"], _ = evaluate_loader(model, test_loader, tta=0,
                                                                             dtype=settings.dtype)
            state.history.append(record)
            if bar is not None:
                bar.set_postfix(_postfix(record))
            if ckpt_path is not None and rank == 0:
                state.save(ckpt_path)
            if not last:
                for cb in callbacks:
                    cb.on_epoch_end(record, state.history)
    finally:  # also when the run stops (diverged, interrupted): a notebook keeps the bar's last line
        if bar is not None:
            bar.close()

    test_acc, test_loss, test_images = math.nan, math.nan, 0
    if test_loader is not None:
        test_acc, test_loss, test_images = evaluate_loader(model, test_loader, tta=cfg.tta, dtype=settings.dtype)
    history = state.history
    if history and history[-1]["epoch"] == cfg.epochs:  # the last epoch's callbacks, after the final evaluation
        if test_loader is not None:
            history[-1]["test_acc"], history[-1]["test_loss"] = test_acc, test_loss
        for cb in callbacks:
            cb.on_epoch_end(history[-1], history)
    final = history[-1] if history else {"train_loss": math.nan, "train_acc": math.nan}
    total_images = sum(r["images_per_second"] * r["epoch_seconds"] for r in history)
    result = FitResult(
        test_acc=test_acc, test_loss=test_loss, test_images=test_images,
        train_loss=final["train_loss"], train_acc=final["train_acc"], train_seconds=state.train_seconds,
        images_per_second=total_images / state.train_seconds if state.train_seconds > 0 else math.nan,
        epochs=cfg.epochs, steps=state.step, device=_base.device_name(dev), amp=settings.amp, world_size=world,
        params=count_parameters(model), channels_last=settings.channels_last, settings=settings.reason,
        history=history, config=cfg,
    )
    for cb in callbacks:
        cb.on_train_end(result)
    return result


def _train_epoch(state: TrainState, net: nn.Module, dtype: torch.dtype | None, total_steps: int,
                 bar: Any) -> dict[str, Any]:
    """One pass over the training batches; returns the epoch's history record (test fields still ``None``)."""
    cfg, model, dev = state.config, state.model, state.device
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    ema_base = cfg.ema_decay**cfg.ema_every
    ema_on = cfg.ema and state.epoch >= cfg.ema_start_epoch
    check_every = 1 if dev.type == "cpu" else 16  # .item() waits for the GPU; on a CPU it costs nothing
    first_step = state.step
    finite = torch.ones((), dtype=torch.bool, device=dev)  # every loss of this epoch so far was finite
    finite_steps = torch.zeros((), dtype=torch.int64, device=dev)  # how many steps that is
    model.train()
    totals = torch.zeros(3, dtype=torch.float64, device=dev)  # loss sum, correct, count
    sync(dev)
    t0 = time.perf_counter()
    for i, (x, y) in enumerate(state.loader):
        with autocast(dev, dtype):
            logits = net(x)
            loss = criterion(logits.float(), y)
        state.optimizer.zero_grad(set_to_none=True)
        state.scaler.scale(loss).backward()
        state.scaler.step(state.optimizer)
        state.scaler.update()
        state.scheduler.step()
        state.step += 1
        if ema_on and state.step % cfg.ema_every == 0:
            if state.ema is None:
                state.ema = LookaheadEMA(model)
            else:
                state.ema.update(model, ema_base * (state.step / total_steps) ** cfg.ema_decay_pow)
        with torch.no_grad():
            finite &= torch.isfinite(loss.detach())
            finite_steps += finite
            totals[0] += loss.detach().double() * y.numel()
            totals[1] += (logits.detach().argmax(1) == y).sum()
            totals[2] += y.numel()
        if (i + 1) % check_every == 0 or i + 1 == len(state.loader):
            _check_finite(finite, finite_steps, first_step, state)
        if bar is not None:
            bar.update(1)
    if state.ema is not None and state.epoch + 1 == cfg.epochs:
        # the run ends on the averaged weights, copied in once (as the paper's airbench94.py; the current one
        # copies them in after every epoch: the same accuracy here, see bench/README.md)
        state.ema.update(model, 1.0)
    sync(dev)
    epoch_seconds = time.perf_counter() - t0
    state.train_seconds += epoch_seconds
    state.epoch += 1
    loss_sum, correct, count = all_reduce_sum(totals).tolist()
    return {
        "epoch": state.epoch,
        "train_loss": loss_sum / count,
        "train_acc": correct / count,
        "test_loss": None,
        "test_acc": None,
        "lr": cfg.lr * _schedule(cfg, state.step, total_steps),
        "epoch_seconds": epoch_seconds,
        "images_per_second": count / epoch_seconds,
        "train_seconds": state.train_seconds,
    }


def _check_finite(finite: torch.Tensor, finite_steps: torch.Tensor, first_step: int, state: TrainState) -> None:
    if not finite.item():
        bad = first_step + int(finite_steps.item()) + 1
        raise NonFiniteLossError(
            f"training diverged: the loss was NaN or infinite at step {bad} (epoch {state.epoch + 1}) with peak "
            f"learning rate {state.config.lr:g}; try a lower learning rate (TrainConfig.lr, --lr), e.g. "
            f"{state.config.lr / 4:g}"
        )


def _schedule(cfg: TrainConfig, step: int, total_steps: int) -> float:
    return lr_factor(step, total_steps, warmup=cfg.warmup, start=cfg.lr_start, end=cfg.lr_end)


def _init_from_data(model: nn.Module, train: CIFAR10Tensors, seed: int, dev: torch.device) -> float:
    """Call ``model.init_from_data`` with 5,000 random training images; returns the seconds it took."""
    # a random sample: folder and tarball sources are sorted by class, so the first 5,000 would all be airplanes
    sample = normalize(train.subset(5000, seed=seed).images.to(dev))
    sync(dev)
    t0 = time.perf_counter()
    model.init_from_data(sample)  # type: ignore[operator]
    sync(dev)
    return time.perf_counter() - t0


def _progress_bar(state: TrainState, total_steps: int, settings: AutoSettings) -> Any:
    """A :class:`cnnlib.display.ProgressBar` labelled with the model and its precision and layout."""
    # The one reference from training up to the presentation layer, imported only when a bar is asked for
    # (TrainConfig.progress); the trainer otherwise never imports cnnlib.display.
    from cnnlib.display import ProgressBar

    precision = settings.amp if settings.amp != "off" else "fp32"
    desc = f"{state.model_name} ({precision}, {'channels_last' if settings.channels_last else 'NCHW'})"
    return ProgressBar(total_steps, state.step, desc)


def _postfix(record: dict[str, Any]) -> dict[str, str]:
    postfix = {"loss": f"{record['train_loss']:.3f}", "img/s": f"{record['images_per_second']:.0f}"}
    if record["test_acc"] is not None:
        postfix["test"] = f"{100 * record['test_acc']:.1f}%"
    return postfix


def _ddp_device_ids(device: torch.device) -> list[int] | None:
    """DDP's ``device_ids``: the GPU's index (the current GPU for a bare ``"cuda"``), ``None`` on a CPU."""
    if device.type != "cuda":
        return None
    return [device.index if device.index is not None else torch.cuda.current_device()]


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1
