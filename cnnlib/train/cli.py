"""The command line: ``python -m cnnlib.train`` (also under ``torchrun``), see :func:`main`.

::

    python -m cnnlib.train --model vgg_cifar --data cifar10 --epochs 10 \\
        --out runs/vgg
    torchrun --standalone --nproc_per_node=2 -m cnnlib.train \\
        --model vgg_cifar --data PATH --out runs/ddp

Under ``torchrun`` every process trains on its shard (NCCL on GPUs, gloo on CPUs) and only rank 0 writes files.
Bad input stops with one line on stderr and exit status 2, before any data is loaded; a diverged run with exit
status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn, Sequence

import torch
import torch.distributed as dist

from cnnlib.data import DataNotFoundError, load_cifar10

from .config import AMP_MODES, MAX_SEED, TrainConfig, recipe, scaled_lr
from .files import METRICS_NAME, WriteError, atomic_write_json, run_dir
from .loop import FitResult, NonFiniteLossError, fit
from .precision import amp_dtype, resolve_device

__all__ = ["main"]

PROG = "python -m cnnlib.train"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROG,
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
    p.add_argument("--amp", default=None, choices=AMP_MODES)
    p.add_argument("--tta", type=int, default=None, choices=[0, 1, 2])
    p.add_argument("--eval-every", type=int, default=None, help="evaluate every N epochs (0: only at the end)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def _fail(err: BaseException, code: int = 2) -> NoReturn:
    print(f"{PROG}: error: {err}", file=sys.stderr)
    raise SystemExit(code) from None


def _check(args: argparse.Namespace, rank: int, local_rank: int, world: int) -> tuple[
        dict[str, Any], TrainConfig, torch.device]:
    """The model's keywords, the configuration and the device; ``ValueError`` for bad input (no data loaded)."""
    from cnnlib.registry import list_models

    if args.model not in list_models():
        raise ValueError(f"unknown model {args.model!r}; choose one of: {', '.join(list_models())}")
    try:
        model_kw = json.loads(args.model_kw)
    except json.JSONDecodeError as err:
        raise ValueError(f"--model-kw is not JSON ({err.msg}): {args.model_kw!r}") from None
    if not isinstance(model_kw, dict):
        raise ValueError(f"--model-kw must be a JSON object such as '{{\"width_mult\": 0.5}}', got {args.model_kw!r}")
    for name in ("train_subset", "test_subset", "epochs", "batch_size", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if not 0 <= args.seed <= MAX_SEED:
        raise ValueError(f"--seed must be in [0, 2**63 - 1], got {args.seed}")
    overrides = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                   "amp": args.amp, "tta": args.tta, "eval_every": args.eval_every}.items()
                 if v is not None}
    if args.batch_size is not None and args.lr is None:
        base = recipe(args.model)
        overrides["lr"] = scaled_lr(args.model, args.batch_size)
        if rank == 0 and args.batch_size != base.batch_size:
            print(f"batch size {args.batch_size} instead of {base.batch_size}: peak learning rate scaled "
                  f"from {base.lr:g} to {overrides['lr']:g} (pass --lr to choose it)", file=sys.stderr)
    config = recipe(args.model, seed=args.seed, compile=args.compile, progress=not args.no_progress, **overrides)
    try:
        device = resolve_device(args.device)
    except RuntimeError:
        raise ValueError(f"--device {args.device}: no GPU is visible here (torch.cuda.is_available() is False); "
                         "use --device cpu or auto") from None
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
    amp_dtype(config.amp, device)  # fp16 on a CPU: refused here, not after the data is loaded
    return model_kw, config, device


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the CLI; returns the metrics written to ``--out/metrics.json`` (strict JSON: NaN as ``null``)."""
    args = _parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    try:
        model_kw, config, device = _check(args, int(os.environ.get("RANK", "0")), local_rank, world)
    except ValueError as err:
        _fail(err)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if world > 1:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    out = Path(args.out)
    try:
        with run_dir(out, resume=args.resume, write=rank == 0):  # checked and locked before the data is loaded
            train = load_cifar10(args.data, train=True, subset=args.train_subset)
            test = load_cifar10(args.data, train=False, subset=args.test_subset)
            torch.manual_seed(args.seed)
            model = _create_model(args.model, len(train.classes), model_kw)
            result = fit(model, train, test, config, device=device, out_dir=out, resume=args.resume)
            metrics = _metrics(args, model_kw, result, len(train))
            if rank == 0:
                atomic_write_json(out / METRICS_NAME, metrics)
                print(
                    f"{args.model}: test accuracy {100 * result.test_acc:.2f}% after {result.epochs} "
                    f"epoch{'s' if result.epochs != 1 else ''}, "
                    f"{result.train_seconds:.1f} s of training on {result.device} x {world} "
                    f"({result.images_per_second:.0f} images/s; {result.settings}); wrote {out / METRICS_NAME}",
                    file=sys.stderr,
                )
        return metrics
    except NonFiniteLossError as err:
        _fail(err, code=1)
    except (ValueError, DataNotFoundError, WriteError) as err:  # the user's input or disk: one line, no traceback
        _fail(err)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _create_model(name: str, num_classes: int, model_kw: dict[str, Any]) -> torch.nn.Module:
    from cnnlib.registry import create_model

    try:
        return create_model(name, num_classes=num_classes, **model_kw)
    except TypeError as err:  # an unknown keyword in --model-kw
        raise ValueError(f"--model-kw {json.dumps(model_kw)} does not fit {name}: {err}") from None


def _metrics(args: argparse.Namespace, model_kw: dict[str, Any], result: FitResult, train_images: int
             ) -> dict[str, Any]:
    return {
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
        "train_images": train_images,
        "test_images": result.test_images,
        "seed": args.seed,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "history": result.history,
        "config": asdict(result.config),
    }
