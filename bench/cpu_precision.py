"""CPU training throughput of the CIFAR models for each precision and memory layout.

Measures training images/s (forward + backward + SGD step, batch of random 32 x 32 images) of ``vgg_cifar`` and
``googlenet_cifar`` for {fp32, bf16 autocast} x {NCHW, channels_last} on the CPU that runs it. The four settings of
a model are timed in turns (``--rounds`` times, the best of each kept), in one process, so that a noisy machine
hurts them alike. ``ratio`` is images/s over fp32 NCHW's.

It also prints what ``TrainConfig(amp="auto", channels_last="auto")`` picks on this machine, so the rows show
whether the automatic choice is the fastest one.

    python bench/cpu_precision.py                 # both models, batch 256
    python bench/cpu_precision.py --quick         # smoke test: batch 16, 1 step

Results are appended to ``bench/results/cpu_precision.json`` (one row per model and setting).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cnnlib._base import device_name  # noqa: E402
from cnnlib.registry import create_model  # noqa: E402
from cnnlib.train import auto_settings, cpu_bf16_support  # noqa: E402
from cnnlib.train.files import atomic_write_json  # noqa: E402

DEFAULT_OUT = REPO / "bench" / "results" / "cpu_precision.json"
SETTINGS = [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["vgg_cifar", "googlenet_cifar"])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=4, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3, help="times each setting is timed (the best is kept)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--quick", action="store_true", help="smoke test: batch 16, 1 step, 1 round, nothing written")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    return p.parse_args(argv)


def _time_steps(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer,
                dtype: torch.dtype | None, steps: int) -> float:
    """Seconds per training step over ``steps`` steps."""
    t0 = time.perf_counter()
    for _ in range(steps):
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def measure(name: str, *, batch_size: int, steps: int, rounds: int) -> list[dict]:
    """One row per setting: best images/s over ``rounds`` rounds, and the ratio to fp32 NCHW."""
    torch.manual_seed(0)
    x = torch.randn(batch_size, 3, 32, 32)
    y = torch.randint(0, 10, (batch_size,))
    runs = []
    for precision, channels_last in SETTINGS:
        model = create_model(name).train()
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(memory_format=fmt)
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
        dtype = torch.bfloat16 if precision == "bf16" else None
        inputs = x.contiguous(memory_format=fmt)
        _time_steps(model, inputs, y, opt, dtype, 1)  # warm-up: oneDNN picks and caches its kernels
        runs.append({"precision": precision, "channels_last": channels_last, "model": model, "opt": opt,
                     "x": inputs, "dtype": dtype, "best": float("inf")})
    for _ in range(rounds):  # alternate the settings, keep each one's best
        for run in runs:
            run["best"] = min(run["best"], _time_steps(run["model"], run["x"], y, run["opt"], run["dtype"], steps))
    base = batch_size / runs[0]["best"]
    return [{"model": name, "precision": r["precision"], "channels_last": r["channels_last"],
             "images_per_second": round(batch_size / r["best"], 1), "ratio": round(batch_size / r["best"] / base, 3)}
            for r in runs]


def main(argv: list[str] | None = None) -> list[dict]:
    args = _parse(argv)
    if args.quick:
        args.batch_size, args.steps, args.rounds = 16, 1, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    support = cpu_bf16_support()
    common = {
        "device": device_name(torch.device("cpu")),
        "cpu_bf16": support, "batch_size": args.batch_size, "steps": args.steps, "rounds": args.rounds,
        "torch": torch.__version__, "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    rows = []
    print(f"native CPU bf16: {support or 'no'}; {common['device']}; batch {args.batch_size}")
    for name in args.models:
        auto = auto_settings(create_model(name), torch.device("cpu"))
        for row in measure(name, batch_size=args.batch_size, steps=args.steps, rounds=args.rounds):
            row["auto_choice"] = (row["precision"] == ("bf16" if auto.dtype is not None else "fp32")
                                  and row["channels_last"] == auto.channels_last)
            rows.append({**row, **common})
            print(f"{name:16s} {row['precision']:5s} {'channels_last' if row['channels_last'] else 'NCHW':13s} "
                  f"{row['images_per_second']:8.1f} images/s  x{row['ratio']:.2f}"
                  f"{'  <- amp/channels_last auto' if row['auto_choice'] else ''}")
    if not args.quick:
        out = Path(args.out)
        old = json.loads(out.read_text()) if out.exists() else []
        atomic_write_json(out, old + rows)
        print(f"appended {len(rows)} rows to {out}")
    return rows


if __name__ == "__main__":
    main()
