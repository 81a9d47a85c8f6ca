"""The command line of :mod:`cnnlib.pretrained` (``python -m cnnlib.pretrained ...``), kept apart so that the
weights policy reads on its own.

* ``python -m cnnlib.pretrained [--quick] [--retrain] [--half] [--cache-dir DIR] MODEL...``: train (if needed) and
  cache CIFAR-10 weights; bad arguments and a cache folder that cannot be written are one-line errors (checked
  before training), and success is reported only for weights that were written and read back.
* ``python -m cnnlib.pretrained export RUN_DIR [--out weights] [--dtype fp16|bf16] [--force] [--data SRC]``: the
  shipped pair from a finished training run (:func:`cnnlib.shipped.export_run`).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from . import pretrained as _p

_PROG = "python -m cnnlib.pretrained"


def _fail(message: str, code: int = 2) -> int:
    sys.stderr.write(f"{_PROG}: error: {message}\n")
    return code


def _writable_folder(folder: Path) -> str | None:
    """Why ``folder`` cannot take the weights, or ``None`` if it can (checked before an hour of training)."""
    if folder.exists() and not folder.is_dir():
        return f"--cache-dir {folder} is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe", delete=True):
            pass
    except OSError as err:
        return f"cannot write weights into {folder} ({err.strerror or err})"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cnnlib.pretrained [--quick] MODEL...`` trains (if needed) and caches CIFAR-10 weights;
    ``python -m cnnlib.pretrained export RUN_DIR`` writes the shipped ``weights/<model>.safetensors`` + ``.json``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["export"]:
        return _export_main(args[1:])
    return _train_main(args)


def _export_main(argv: Sequence[str]) -> int:
    import argparse

    from . import shipped
    from .data import DataNotFoundError

    p = argparse.ArgumentParser(
        prog=f"{_PROG} export",
        description="Write weights/<model>.safetensors (16-bit) and weights/<model>.json (provenance, sha256, an "
        "accuracy check on a fixed test subset) from a finished `python -m cnnlib.train --out RUN_DIR` run.",
    )
    p.add_argument("run_dir", help="the --out folder of a finished training run (checkpoint.pt, metrics.json)")
    p.add_argument("--out", default="weights", help="the weights folder (default: weights)")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"],
                   help="16-bit format of the floating tensors (default fp16: closer to float32 for these nets)")
    p.add_argument("--force", action="store_true", help="replace an existing pair with different content")
    p.add_argument("--data", default=None,
                   help="the CIFAR-10 source the run used, for the accuracy check and the recorded command "
                   "(default: $CNNLIB_CIFAR10 or the local tarball)")
    p.add_argument("--trained-by", default="cnnlib (python -m cnnlib.train)", help="who trained it, for the text")
    a = p.parse_args(argv)
    try:
        meta = shipped.export_run(a.run_dir, out=a.out, dtype=a.dtype, force=a.force, data=a.data,
                                  trained_by=a.trained_by)
    except (FileNotFoundError, DataNotFoundError, ValueError, KeyError) as err:
        return _fail(str(err) if not isinstance(err, KeyError) else f"metrics.json lacks the key {err}")
    except (FileExistsError, OSError) as err:
        return _fail(str(err), 1)
    check = meta["check"]
    sys.stdout.write(
        f"{Path(a.out) / meta['file']} ({meta['bytes'] / 1e6:.1f} MB, {meta['dtype']}, sha256 {meta['sha256'][:12]}) "
        f"and {meta['model']}.json: {check['correct']:,}/{check['images']:,} correct on the check subset "
        f"(float32: {check['float32_correct']:,}); test accuracy {100 * float(meta['test_accuracy']):.2f}%\n"
    )
    return 0


def _train_main(argv: Sequence[str]) -> int:
    import argparse

    from .data import DataNotFoundError

    p = argparse.ArgumentParser(
        prog=_PROG,
        description="Train and cache the CIFAR-10 weights the book's widgets show "
        f"(or `{_PROG} export RUN_DIR` to write the shipped weights/ files from a training run).",
    )
    p.add_argument("models", nargs="*", default=["vgg_cifar"], help="vgg_cifar and/or googlenet_cifar")
    p.add_argument("--quick", action="store_true", help="a tiny test run instead of the full recipe")
    p.add_argument("--retrain", action="store_true", help="train even if the weights are cached")
    p.add_argument("--data", default=None, help="CIFAR-10 source (default: $CNNLIB_CIFAR10 or a download)")
    p.add_argument("--cache-dir", default=None, help="weights folder (default: $CNNLIB_CACHE/weights)")
    p.add_argument("--half", action="store_true", help="store the weights as float16 (half the file size)")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (e.g. fewer on a CPU)")
    p.add_argument("--train-subset", type=int, default=None, help="train on this many images (a shorter CPU run)")
    args = p.parse_args(argv)
    cifar = sorted(set(_p.CIFAR_COUNTERPART.values()))
    unknown = [m for m in args.models if m not in cifar]
    if unknown:
        counterpart = _p.CIFAR_COUNTERPART
        hint = [f"{m} (its CIFAR-10 counterpart: {counterpart[m]})" for m in unknown if m in counterpart]
        return _fail(f"no CIFAR-10 recipe for {', '.join(unknown)}; choose from {', '.join(cifar)}"
                     + (f" — e.g. {hint[0]}" if hint else ""))
    for flag in ("epochs", "train_subset"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            return _fail(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    folder = _p.weights_dir(args.cache_dir)
    problem = _writable_folder(folder)
    if problem:
        return _fail(problem, 1)
    from .registry import create_model

    for name in args.models:
        start = time.perf_counter()
        path, sidecar = _p.weights_paths(name, quick=args.quick, cache_dir=args.cache_dir)
        meta = None if args.retrain else _p._read_cached(path, sidecar, create_model(name))
        if meta is None:
            try:
                _, meta = _p.train_cifar_weights(name, quick=args.quick, data=args.data, cache_dir=args.cache_dir,
                                              progress=True, half=args.half, epochs=args.epochs,
                                              train_subset=args.train_subset, must_write=True)
            except (DataNotFoundError, ValueError) as err:
                return _fail(str(err))
            except OSError as err:
                return _fail(f"could not write the weights into {folder} ({err})", 1)
            if _p._read_cached(path, sidecar, create_model(name)) is None:
                return _fail(f"the weights written to {path} cannot be read back", 1)
        sys.stdout.write(f"{_p._describe_cifar(meta)}\n  -> {path} ({time.perf_counter() - start:.1f} s in all)\n")
    return 0
