"""Time to accuracy: train a CIFAR-10 model N times (seeds 0..N-1) and record test accuracy and training seconds.

Training time is measured as in the speed-run literature (airbench): the data is already on the device,
the clock runs only over the training steps (plus the whitening-layer init), CUDA is synchronised at both ends,
evaluation is not counted. ``torch.compile`` and cuDNN autotuning happen in a separate warm-up run (one epoch on
random labels), reported as ``warmup_seconds``; the timed runs reuse the compiled graph (the same module object,
re-initialised for each seed).

Each call appends (or, while it runs, updates) one row in ``bench/results/time_to_accuracy.json``::

    python bench/time_to_accuracy.py --model vgg_cifar --runs 5
    python bench/time_to_accuracy.py --model googlenet_cifar --runs 2 --epochs 18
    python bench/time_to_accuracy.py --model vgg_cifar --quick      # CPU smoke test: 8,000 / 2,000 images, 1 epoch
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cnnlib._base import device_name  # noqa: E402
from cnnlib.data import CIFAR10Tensors, default_cifar10_source, load_cifar10  # noqa: E402
from cnnlib.registry import create_model  # noqa: E402
from cnnlib.train import fit, recipe, resolve_device, scaled_lr  # noqa: E402
from cnnlib.train.files import atomic_write_json  # noqa: E402

DEFAULT_OUT = REPO / "bench" / "results" / "time_to_accuracy.json"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--model-kw", default="{}", help='JSON keyword arguments for the builder, e.g. \'{"widths": [96, 384, 384]}\'')
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the first run; run i uses seed + i")
    p.add_argument("--epochs", type=int, nargs="+", default=None,
                   help="default: the model's recipe; several values give one row each (same compiled graph)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default: the recipe's; without --lr the recipe's learning rate is scaled in proportion")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the recipe's, scaled)")
    p.add_argument("--data", default=None, help="cifar10, a folder tree or a tarball (default: cnnlib's default)")
    p.add_argument("--train-subset", type=int, default=None)
    p.add_argument("--test-subset", type=int, default=None)
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda; --quick implies cpu")
    p.add_argument("--compile", dest="compile", action="store_true", default=None)
    p.add_argument("--no-compile", dest="compile", action="store_false")
    p.add_argument("--no-warmup", action="store_true", help="skip the warm-up run (done on GPUs or with compile)")
    p.add_argument("--budget-seconds", type=float, default=math.inf,
                   help="start no new run after this many seconds (rows keep the runs done)")
    p.add_argument("--min-runs", type=int, default=1, help="runs per row made even past the budget")
    p.add_argument("--quick", action="store_true", help="CPU smoke test: 8,000/2,000 images, 1 epoch, 1 run")
    p.add_argument("--label", default="", help="free text stored in the row (e.g. an ablation name)")
    p.add_argument("--tta", type=int, default=None, choices=[0, 1, 2], help="default: the recipe's")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    return p.parse_args(argv)


def _write_rows(path: Path, mine: list[dict]) -> None:
    """Put this process's rows into ``path``, keeping every other row: several processes can share one file.

    The file is re-read under an exclusive lock, this process's rows (known by their ``id``) are replaced, and
    the result is written with cnnlib's :func:`~cnnlib.train.files.atomic_write_json`.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ids = {r["id"] for r in mine}
        others = [r for r in (json.loads(path.read_text()) if path.is_file() else []) if r.get("id") not in ids]
        atomic_write_json(path, others + mine)


def main(argv: list[str] | None = None) -> list[dict]:
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.train_subset = args.train_subset or 8000
        args.test_subset = args.test_subset or 2000
        args.epochs = args.epochs or [1]
        args.runs = 1 if args.runs == 5 else args.runs  # unless --runs was given
        args.device = "cpu" if args.device == "auto" else args.device
    device = resolve_device(args.device)
    use_compile = device.type == "cuda" if args.compile is None else args.compile
    model_kw = json.loads(args.model_kw)
    source = args.data or default_cifar10_source()

    t0 = time.perf_counter()
    train = load_cifar10(source, train=True, subset=args.train_subset)
    test = load_cifar10(source, train=False, subset=args.test_subset)
    load_seconds = time.perf_counter() - t0

    overrides = {k: v for k, v in {"batch_size": args.batch_size, "lr": args.lr, "tta": args.tta}.items()
                 if v is not None}
    if args.batch_size is not None and args.lr is None:  # linear scaling rule, as the CLI of cnnlib.train
        overrides["lr"] = scaled_lr(args.model, args.batch_size)
    base = recipe(args.model, compile=use_compile, progress=False, eval_every=0, **overrides)
    epoch_list = args.epochs or [base.epochs]

    torch.manual_seed(args.seed)
    model = create_model(args.model, num_classes=len(train.classes), **model_kw)

    warmup_seconds = None
    compile_error = None
    if not args.no_warmup and (use_compile or device.type == "cuda"):
        # one epoch on shuffled labels: compiles the graph and autotunes cuDNN; its accuracy is meaningless
        g = torch.Generator().manual_seed(12345)
        noise = CIFAR10Tensors(train.images, train.labels[torch.randperm(len(train), generator=g)], train.classes)
        t0 = time.perf_counter()
        try:
            fit(model, noise, None, base.replace(epochs=1, seed=10_000), device=device)
        except Exception as err:  # noqa: BLE001 - a broken compiler must not cost the whole (GPU) run
            if not use_compile:
                raise
            compile_error = f"{type(err).__name__}: {err}"[:1000]
            print(f"torch.compile failed, timing without it: {compile_error}", file=sys.stderr, flush=True)
            torch._dynamo.reset()
            use_compile = False
            base = base.replace(compile=False)
            t0 = time.perf_counter()
            fit(model, noise, None, base.replace(epochs=1, seed=10_000), device=device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        warmup_seconds = time.perf_counter() - t0

    out = Path(args.out)
    started = time.perf_counter()
    done: list[dict] = []
    for epochs in epoch_list:
        config = base.replace(epochs=epochs)
        row: dict = {
            "id": f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{os.getpid()}-{epochs}",
            "model": args.model,
            "model_kw": model_kw,
            "label": args.label,
            "device": device_name(device),
            "test_acc": None,
            "train_seconds": None,
            "epochs": epochs,
            "runs": 0,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "batch_size": config.batch_size,
            "lr": config.lr,
            "tta": config.tta,
            "compile": use_compile,
            "warmup_seconds": warmup_seconds,
            "compile_error": compile_error,
            "data": os.path.basename(str(source)),
            "train_images": len(train),
            "test_images": len(test),
            "load_seconds": load_seconds,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "accs": [],
            "seconds": [],
            "epoch_seconds_first_run": None,
            "history_first_run": None,
        }
        for i in range(args.runs):
            if time.perf_counter() - started > args.budget_seconds and i >= min(args.min_runs, args.runs):
                break
            seed = args.seed + i
            torch.manual_seed(seed)
            fresh = create_model(args.model, num_classes=len(train.classes), **model_kw)
            model.load_state_dict(fresh.state_dict())  # same module object: the compiled graph is reused
            result = fit(model, train, test, config.replace(seed=seed), device=device)
            row["accs"].append(result.test_acc)
            row["seconds"].append(result.train_seconds)
            row["amp"] = result.amp
            if row["epoch_seconds_first_run"] is None:
                row["epoch_seconds_first_run"] = [round(r["epoch_seconds"], 4) for r in result.history]
                row["history_first_run"] = [{k: r[k] for k in ("epoch", "train_loss", "train_acc") if k in r}
                                            for r in result.history]
            accs, secs = row["accs"], row["seconds"]
            row.update(
                runs=len(accs),
                test_acc=statistics.fmean(accs),
                test_acc_min=min(accs),
                test_acc_max=max(accs),
                test_acc_std=statistics.stdev(accs) if len(accs) > 1 else 0.0,
                train_seconds=statistics.fmean(secs),
                train_seconds_min=min(secs),
                train_seconds_max=max(secs),
                images_per_second=result.images_per_second,
                params=result.params,
            )
            _write_rows(out, done + [row])  # after every run: a timeout still leaves the runs done
            print(f"[{args.model} {epochs} epochs, run {i + 1}/{args.runs}, seed {seed}] test acc "
                  f"{100 * result.test_acc:.2f}%  train {result.train_seconds:.2f} s "
                  f"({result.images_per_second:.0f} img/s)", flush=True)
        if row["runs"]:
            done.append(row)
            print(f"{args.model}, {epochs} epochs: mean {100 * row['test_acc']:.2f}% (min "
                  f"{100 * row['test_acc_min']:.2f}, max {100 * row['test_acc_max']:.2f}) in "
                  f"{row['train_seconds']:.2f} s mean over {row['runs']} runs on {row['device']}; warm-up "
                  f"{'-' if warmup_seconds is None else round(warmup_seconds, 1)} s", flush=True)
    return done


if __name__ == "__main__":
    main()
