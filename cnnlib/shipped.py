"""The trained networks that ship with the book: ``weights/<model>.safetensors`` plus ``weights/<model>.json``.

One file pair per CIFAR-10 network (``vgg_cifar``, ``googlenet_cifar``), the only binaries in the repository:

* ``<model>.safetensors``: the final ``state_dict`` of a finished ``python -m cnnlib.train`` run, its floating
  tensors stored in 16 bits (fp16 by default: 10 mantissa bits against bf16's 7, and every value of these networks
  is within fp16's range, which :func:`export_run` checks), integer buffers (``num_batches_tracked``) unchanged.
  safetensors holds tensors only, so loading it runs no code.
* ``<model>.json``: its provenance: the command that trained it, seed, test accuracy, device, training time,
  dates, torch version, ``model_kw`` (the builder's arguments, e.g. ``{"width_mult": 0.5}``), and the ``sha256``
  of the ``.safetensors`` file, which every loader verifies before it reads a byte of weights. Its ``check``
  entry is the accuracy of the 16-bit weights, loaded back into a float32 model, on a fixed test subset (every
  fifth test image: 2,000 images, 200 per class; the sources are sorted by class, so "the first 2,000" would be
  two classes), with the hash of those images, so a test can reproduce it.

Written by ``python -m cnnlib.pretrained export RUN_DIR`` (:func:`export_run`); read by
:func:`cnnlib.pretrained.load_pretrained`, which finds the folder beside the package in a clone or editable
install (``<repo>/weights``), or at ``$CNNLIB_WEIGHTS``, and otherwise downloads the pair from the repository
(:func:`download_shipped`; Colab's ``pip install`` has no ``weights/`` folder).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shlex
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

__all__ = [
    "SHIPPED_ENV",
    "SHIPPED_MODELS",
    "REPOSITORY_URL",
    "REPOSITORY_BRANCH",
    "CHECK_STRIDE",
    "ShippedWeightsError",
    "shipped_dir",
    "shipped_paths",
    "raw_url",
    "sha256_file",
    "read_meta",
    "load_shipped",
    "download_shipped",
    "check_subset",
    "check_accuracy",
    "export_run",
    "train_command",
]

#: Environment variable naming a folder of shipped weights (instead of ``<repo>/weights``).
SHIPPED_ENV = "CNNLIB_WEIGHTS"
#: The networks the book ships trained weights for.
SHIPPED_MODELS: tuple[str, ...] = ("vgg_cifar", "googlenet_cifar")
#: The book's repository and branch (as ``_config.yml``'s ``repository``; a test checks that they agree).
REPOSITORY_URL = "https://github.com/stacks-and-branches/stacks-and-branches"
REPOSITORY_BRANCH = "main"
#: The accuracy check uses every ``CHECK_STRIDE``-th test image (2,000 of CIFAR-10's 10,000).
CHECK_STRIDE = 5
#: Seconds a download may wait on the server (per socket operation).
DOWNLOAD_TIMEOUT = 10.0
_FORMAT = 1
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
_FP16_MAX = 65504.0


class ShippedWeightsError(RuntimeError):
    """Shipped weights that cannot be trusted or used (a sha256 mismatch, a missing or foreign file)."""


# ------------------------------------------------------------------------------------------ where they are
def shipped_dir() -> Path | None:
    """The folder of shipped weights: ``$CNNLIB_WEIGHTS``, else ``<repo>/weights`` beside the package (a clone or
    an editable install); ``None`` when neither exists (a ``pip install``)."""
    env = os.environ.get(SHIPPED_ENV)
    if env:
        return Path(env).expanduser()
    import cnnlib

    folder = Path(cnnlib.__file__).resolve().parents[1] / "weights"
    return folder if folder.is_dir() else None


def shipped_paths(model: str, folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``(.safetensors, .json)`` paths of ``model`` in ``folder``."""
    folder = Path(folder)
    return folder / f"{model}.safetensors", folder / f"{model}.json"


def raw_url(filename: str) -> str:
    """The download address of ``weights/<filename>`` on the repository's branch."""
    owner_repo = REPOSITORY_URL.rstrip("/").removeprefix("https://github.com/")
    return f"https://raw.githubusercontent.com/{owner_repo}/{REPOSITORY_BRANCH}/weights/{filename}"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------- reading
def read_meta(model: str, folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The JSON of ``model``'s shipped weights in ``folder``, or ``None`` if the pair is not there.

    Raises:
        ShippedWeightsError: the JSON is unreadable, names another model, or has no sha256.
    """
    weights, sidecar = shipped_paths(model, folder)
    if not (weights.is_file() and sidecar.is_file()):
        return None
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError) as err:
        raise ShippedWeightsError(f"{sidecar} is not readable JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("model") != model or not isinstance(meta.get("sha256"), str):
        raise ShippedWeightsError(f"{sidecar} is not the provenance of {model} weights (model and sha256 expected)")
    return meta


def _verified_state(model: str, folder: Path, meta: dict[str, Any]) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    weights = shipped_paths(model, folder)[0]
    actual = sha256_file(weights)
    if actual != meta["sha256"]:
        raise ShippedWeightsError(
            f"{weights} does not match its provenance {weights.with_suffix('.json').name}: sha256 {actual[:12]}... "
            f"instead of {meta['sha256'][:12]}...; the file was changed or swapped, so it is not loaded. Restore "
            "both files (git checkout weights/) or export them again (python -m cnnlib.pretrained export RUN_DIR)"
        )
    return load_file(str(weights), device="cpu")


def load_shipped(model: str, folder: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]] | None:
    """Build ``model`` with its JSON's ``model_kw`` and load the verified shipped weights strictly (as float32).

    Args:
        model: ``"vgg_cifar"`` or ``"googlenet_cifar"``.
        folder: the folder holding ``<model>.safetensors`` and ``<model>.json``.

    Returns:
        ``(model, meta)`` with the model in eval mode on the CPU, or ``None`` if the pair is not in ``folder``.

    Raises:
        ShippedWeightsError: the sha256 does not match, or the weights do not fit the architecture.
    """
    from .registry import create_model

    folder = Path(folder)
    meta = read_meta(model, folder)
    if meta is None:
        return None
    state = _verified_state(model, folder, meta)
    net = create_model(model, **dict(meta.get("model_kw") or {}))
    try:
        net.load_state_dict(state, strict=True)  # copies into the float32 parameters: 16 bits become float32
    except RuntimeError as err:
        raise ShippedWeightsError(f"{folder / (model + '.safetensors')} does not fit {model}: {err}") from None
    return net.eval(), meta


def _fetch(url: str, timeout: float) -> bytes:
    """The body at ``url`` (a plain GET with a timeout; tests replace this function)."""
    with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "cnnlib"}), timeout=timeout) as r:
        return r.read()


def download_shipped(model: str, dest: str | os.PathLike[str], *, timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Download ``model``'s shipped pair from the repository into ``dest`` (verified, written atomically).

    Args:
        model: ``"vgg_cifar"`` or ``"googlenet_cifar"``.
        dest: the cache folder.
        timeout: seconds each request may wait.

    Returns:
        ``dest``.

    Raises:
        ShippedWeightsError: offline, an HTTP error, or a file whose sha256 is not its JSON's; the message says
            which address failed.
    """
    dest = Path(dest)
    weights, sidecar = shipped_paths(model, dest)
    try:
        meta_bytes = _fetch(raw_url(sidecar.name), timeout)
        meta = json.loads(meta_bytes)
        blob = _fetch(raw_url(weights.name), timeout)
    except (urllib.error.URLError, OSError, ValueError) as err:  # offline, DNS, HTTP 404, timeout, bad JSON
        reason = getattr(err, "reason", err)
        raise ShippedWeightsError(
            f"could not download {model}'s weights from {raw_url('')} ({type(err).__name__}: {reason})"
        ) from None
    digest = hashlib.sha256(blob).hexdigest()
    if not isinstance(meta, dict) or digest != meta.get("sha256"):
        raise ShippedWeightsError(f"the downloaded {weights.name} does not match its JSON's sha256; not used")
    dest.mkdir(parents=True, exist_ok=True)
    _atomic_write(weights, blob)
    _atomic_write(sidecar, meta_bytes)  # the JSON last: a reader never finds a JSON without its weights
    return dest


# --------------------------------------------------------------------------------------------- writing
def _atomic_write(path: Path, data: bytes | Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file in the same folder and ``os.replace``; no temp file survives."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, bytes):
                fh.write(data)
        if callable(data):
            data(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; these are shared, read-only data
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_subset(data: Any) -> Any:
    """The fixed accuracy-check subset of a test set: every :data:`CHECK_STRIDE`-th image (200 per class of
    CIFAR-10's sorted test set)."""
    from .data import CIFAR10Tensors

    return CIFAR10Tensors(data.images[::CHECK_STRIDE].clone(), data.labels[::CHECK_STRIDE].clone(), data.classes)


def _images_sha256(data: Any) -> str:
    h = hashlib.sha256(data.images.contiguous().numpy().tobytes())
    h.update(data.labels.contiguous().numpy().tobytes())
    return h.hexdigest()


def check_accuracy(model: nn.Module, data: Any) -> dict[str, Any]:
    """The check entry: correct predictions of ``model`` on ``data`` (float32 on the CPU, no TTA, no autocast, so
    that it does not depend on the machine's bf16 support).

    Returns:
        ``{"images": n, "correct": k, "accuracy": k / n, "images_sha256": ...}``.
    """
    from .train import evaluate

    result = evaluate(model.float().cpu(), data, tta=0, device="cpu", amp="off")
    n = len(data)
    correct = int(round(result["acc"] * n))
    return {"images": n, "correct": correct, "accuracy": correct / n, "images_sha256": _images_sha256(data)}


def train_command(metrics: dict[str, Any], *, data: str | None = None) -> str:
    """The ``python -m cnnlib.train`` command that reproduces a run, rebuilt from its ``metrics.json``.

    Options are given where the run differs from the model's recipe (epochs, subsets, batch size, learning rate,
    amp, TTA, evaluation interval, compile); a ``command`` or ``argv`` entry in the metrics wins if present.
    ``metrics.json`` does not record the data source: ``data`` (e.g. ``"cifar10-jpeg.tar.gz"``) adds ``--data``.
    """
    if isinstance(metrics.get("command"), str):
        return metrics["command"]
    if isinstance(metrics.get("argv"), list):
        return shlex.join(["python", "-m", "cnnlib.train", *map(str, metrics["argv"])])
    from .train import recipe, scaled_lr

    name = metrics["model"]
    cfg = dict(metrics.get("config") or {})
    base = recipe(name)
    parts = ["python", "-m", "cnnlib.train", "--model", name, "--seed", str(metrics.get("seed", 0))]
    if metrics.get("model_kw"):
        parts += ["--model-kw", json.dumps(metrics["model_kw"], sort_keys=True)]
    if cfg.get("epochs", base.epochs) != base.epochs:
        parts += ["--epochs", str(cfg["epochs"])]
    if 0 < int(metrics.get("train_images", 50_000)) < 50_000:
        parts += ["--train-subset", str(metrics["train_images"])]
    if 0 < int(metrics.get("test_images", 10_000)) < 10_000:
        parts += ["--test-subset", str(metrics["test_images"])]
    batch = int(cfg.get("batch_size", base.batch_size))
    if batch != base.batch_size:
        parts += ["--batch-size", str(batch)]
    if abs(float(cfg.get("lr", base.lr)) - scaled_lr(name, batch)) > 1e-12:
        parts += ["--lr", repr(float(cfg["lr"]))]
    for key, flag in (("amp", "--amp"), ("tta", "--tta"), ("eval_every", "--eval-every")):
        if key in cfg and cfg[key] != getattr(base, key):
            parts += [flag, str(cfg[key])]
    if cfg.get("compile"):
        parts.append("--compile")
    if data:
        parts += ["--data", data]
    return shlex.join(parts)


def _to_16bit(state: dict[str, Tensor], dtype: str) -> dict[str, Tensor]:
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    out = {}
    for key, value in state.items():
        value = value.detach().cpu()
        if value.is_floating_point():
            if dtype == "fp16" and value.numel() and float(value.abs().max()) > _FP16_MAX:
                raise ValueError(f"{key} has values beyond fp16's range ({float(value.abs().max()):.3g}); "
                                 "export with --dtype bf16")
            value = value.to(_DTYPES[dtype])
        out[key] = value.contiguous().clone()
    return out


def _same_meta(a: dict[str, Any], b: dict[str, Any]) -> bool:
    skip = ("exported",)
    return {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}


def export_run(
    run_dir: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] = "weights",
    dtype: str = "fp16",
    force: bool = False,
    data: str | os.PathLike[str] | None = None,
    trained_by: str = "cnnlib (python -m cnnlib.train)",
) -> dict[str, Any]:
    """Write ``<out>/<model>.safetensors`` and ``<out>/<model>.json`` from a finished training run.

    Args:
        run_dir: a folder written by ``python -m cnnlib.train --out RUN_DIR`` (``checkpoint.pt`` and
            ``metrics.json``).
        out: the weights folder (created if missing).
        dtype: ``"fp16"`` or ``"bf16"`` for the floating tensors.
        force: replace an existing pair whose content differs (otherwise that is an error).
        data: the CIFAR-10 source the run was trained and tested on, used for the accuracy check (default
            :func:`cnnlib.data.default_cifar10_source`); its file name goes into the command as ``--data``.
        trained_by: who trained the weights, for the description sentence.

    Returns:
        The JSON written (or the identical one already there).

    Raises:
        FileNotFoundError: ``run_dir`` has no finished run.
        FileExistsError: a different pair is already in ``out`` and ``force`` is false.
        ValueError: a bad ``dtype``, a value beyond fp16's range, or a checkpoint that is not the metrics' run.
    """
    from safetensors.torch import save_file

    from .data import load_cifar10
    from .registry import create_model
    from .train import load_checkpoint

    run = Path(run_dir)
    metrics_file, ckpt_file = run / "metrics.json", run / "checkpoint.pt"
    for f in (metrics_file, ckpt_file):
        if not f.is_file():
            raise FileNotFoundError(f"{run} is not a finished training run: {f.name} is missing "
                                    "(write one with python -m cnnlib.train --out RUN_DIR)")
    metrics = json.loads(metrics_file.read_text())
    checkpoint = load_checkpoint(ckpt_file)
    if int(checkpoint.get("epoch", -1)) != int(metrics["epochs"]):
        raise ValueError(f"{ckpt_file} is at epoch {checkpoint.get('epoch')} but {metrics_file.name} reports "
                         f"{metrics['epochs']} epochs: not the same run")
    name, model_kw = str(metrics["model"]), dict(metrics.get("model_kw") or {})
    state = _to_16bit(checkpoint["model"], dtype)

    float_model = create_model(name, **model_kw)
    float_model.load_state_dict(checkpoint["model"], strict=True)
    test = check_subset(load_cifar10(data, train=False))
    float32_check = check_accuracy(float_model, test)

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    weights, sidecar = shipped_paths(name, folder)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{weights.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # one metadata key: safetensors writes the metadata map in no fixed order, and the same weights must give
        # the same bytes (and sha256) on every export
        header = json.dumps({"format": _FORMAT, "model": name, "dtype": dtype}, sort_keys=True)
        save_file(state, str(tmp), metadata={"cnnlib": header})
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; the shipped weights are read by everyone
        digest = sha256_file(tmp)
        from safetensors.torch import load_file

        model = create_model(name, **model_kw)
        model.load_state_dict(load_file(str(tmp)), strict=True)  # the 16-bit file, back into float32
        check = check_accuracy(model, test)
        trained = _dt.datetime.fromtimestamp(metrics_file.stat().st_mtime, _dt.timezone.utc)
        meta: dict[str, Any] = {
            "format": _FORMAT,
            "model": name,
            "model_kw": model_kw,
            "dataset": "CIFAR-10",
            "file": weights.name,
            "sha256": digest,
            "bytes": tmp.stat().st_size,
            "dtype": {"fp16": "float16", "bf16": "bfloat16"}[dtype],
            "command": train_command(metrics, data=os.path.basename(str(data).rstrip("/")) if data else None),
            "seed": metrics.get("seed"),
            "trained_by": trained_by,
            "device": metrics.get("device"),
            "amp": metrics.get("amp"),
            "test_accuracy": metrics.get("test_acc"),
            "test_images": metrics.get("test_images"),
            "tta": (metrics.get("config") or {}).get("tta"),
            "train_images": metrics.get("train_images"),
            "epochs": metrics.get("epochs"),
            "train_seconds": metrics.get("train_seconds"),
            "images_per_second": metrics.get("images_per_second"),
            "torch": metrics.get("torch"),
            "date": trained.replace(microsecond=0).isoformat(),
            "exported": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "check": {
                "subset": f"every {CHECK_STRIDE}th image of load_cifar10(source, train=False)",
                "stride": CHECK_STRIDE,
                "data": os.path.basename(str(data)) if data is not None else "default source",
                "tta": 0,
                "amp": "off",
                **check,
                "float32_correct": float32_check["correct"],
                "export_torch": torch.__version__,
            },
            "config": metrics.get("config"),
        }
        meta = json.loads(json.dumps(meta))  # as it reads back (tuples become lists), to compare with what is there
        existing = None
        if sidecar.is_file():
            try:
                existing = json.loads(sidecar.read_text())
            except ValueError:
                existing = None
        same_weights = weights.is_file() and sha256_file(weights) == digest
        if same_weights and existing is not None and _same_meta(existing, meta):
            return existing  # already exported: nothing to replace
        if (weights.exists() or sidecar.exists()) and not force:
            raise FileExistsError(f"{weights} or {sidecar.name} already holds other weights or provenance; "
                                  "pass --force to replace them")
        os.replace(tmp, weights)
        _atomic_write(sidecar, (json.dumps(meta, indent=1) + "\n").encode())  # JSON last
        return meta
    finally:
        tmp.unlink(missing_ok=True)
