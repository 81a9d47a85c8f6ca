"""Turn finished training runs (``python -m cnnlib.train --out RUN``) into rows of ``bench/results/cpu_runs.json``.

    python bench/collect_runs.py runs/vgg_cifar-s0 runs/vgg_cifar-s1 runs/googlenet_cifar-s0

Each row is the run's ``metrics.json`` (test accuracy with the recipe's test-time augmentation on all 10,000 test
images, training seconds, images/s, the per-epoch history, the config) plus the command that reproduces it and the
date the run finished (the file's modification time, UTC). A run already in the file (same model, model_kw, seed,
epochs and date) is not added twice. Rows are only ever added by this script from real runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cnnlib.shipped import train_command  # noqa: E402
from cnnlib.train.files import atomic_write_json  # noqa: E402

DEFAULT_OUT = REPO / "bench" / "results" / "cpu_runs.json"
_KEEP = ("model", "model_kw", "seed", "test_acc", "test_loss", "train_loss", "train_acc", "train_seconds",
         "images_per_second", "epochs", "steps", "device", "amp", "channels_last", "settings", "world_size",
         "params", "train_images", "test_images", "torch", "python", "history", "config")


def row(run: Path) -> dict:
    """The row of one finished run folder."""
    path = run / "metrics.json"
    metrics = json.loads(path.read_text())
    finished = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
    out = {k: metrics.get(k) for k in _KEEP}
    out.update(run=run.name, command=train_command(metrics, data="cifar10-jpeg.tar.gz"),
               date=finished.strftime("%Y-%m-%d %H:%M UTC"),
               data="cifar10-jpeg.tar.gz" if metrics.get("train_images") == 50_000 else "subset")
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders holding metrics.json")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    rows = json.loads(args.out.read_text()) if args.out.exists() else []
    key = lambda r: (r["model"], json.dumps(r.get("model_kw") or {}), r["seed"], r["epochs"], r["date"])  # noqa: E731
    seen = {key(r) for r in rows}
    added = []
    for run in args.runs:
        if not (run / "metrics.json").is_file():
            print(f"collect_runs: {run} has no metrics.json (not finished?)", file=sys.stderr)
            raise SystemExit(2)
        r = row(run)
        if key(r) not in seen:
            added.append(r)
            seen.add(key(r))
        print(f"{r['run']}: {100 * r['test_acc']:.2f}% in {r['train_seconds']:.0f} s "
              f"({r['images_per_second']:.0f} images/s) on {r['device']}{'' if r in added else ' (already there)'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, rows + added)
    return added


if __name__ == "__main__":
    main()
