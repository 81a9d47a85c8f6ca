"""Trained weights for the book's widgets, never silently random.

:func:`load_pretrained` returns a model and a :class:`WeightsInfo` whose ``description`` is one sentence saying
what the weights are, e.g. *"vgg_cifar trained on CIFAR-10 by cnnlib on NVIDIA H100 80GB HBM3 in 4.1 s
(10 epochs), 93.8% test accuracy."* It tries, in the order that ``prefer`` gives:

1. **ImageNet** (``prefer="imagenet"``): torchvision's weights through :func:`cnnlib.load_torchvision_weights`
   (VGG-16: Simonyan & Zisserman 2014, arXiv:1409.1556; GoogLeNet: Szegedy et al. 2014, arXiv:1409.4842). This
   needs the internet once (or torch.hub's cache, ``~/.cache/torch/hub/checkpoints``); a network failure is caught
   and the next source is tried.
2. **CIFAR-10** (``prefer="cifar10"``): the CIFAR-sized counterpart (``vgg16 -> vgg_cifar``,
   ``googlenet -> googlenet_cifar``, see :mod:`cnnlib.cifar`), from the first of:

   a. the weights that ship with the book (:mod:`cnnlib.shipped`): ``<repo>/weights/<model>.safetensors`` beside
      the package in a clone or editable install, or ``$CNNLIB_WEIGHTS``; their sha256 is verified against their
      JSON before they are read (a mismatch is a :class:`cnnlib.shipped.ShippedWeightsError`, never "trained"),
      and the model is rebuilt with the JSON's ``model_kw`` and loaded strictly;
   b. a verified copy of those files downloaded earlier into the weights cache (below);
   c. weights trained and cached by this machine (``<model>-cifar10.pt``, sha256 verified against its JSON);
   d. a download of the shipped pair from the book's repository (``online`` permitting; about 10 s timeout;
      verified, then cached for b.), for a ``pip install`` without ``weights/`` (Colab);
   e. training with the model's recipe (:func:`cnnlib.train.fit`), only when allowed: ``train_if_missing=True``,
      or by default on a GPU and in quick mode. Never silently on a CPU, where the full recipe takes an hour or
      more: there the notes say the command to run instead.
3. Otherwise a :class:`WeightsUnavailableError` that lists the options. Random weights only with
   ``allow_random=True`` (or ``prefer="random"``), and then the description says "random initialisation".

The cache (documented here because the book's GPU run fills it before the chapters are executed):

* folder: ``cache_dir`` if given, else ``$CNNLIB_CACHE/weights``, else ``~/.cache/cnnlib/weights``
  (``$XDG_CACHE_HOME/cnnlib/weights`` when ``XDG_CACHE_HOME`` is set) -- see :func:`weights_dir`;
* files: ``<model>-cifar10.pt`` (a plain ``state_dict``: tensors only, read with ``torch.load(...,
  weights_only=True)`` and loaded with ``strict=True``) and ``<model>-cifar10.json`` beside it, e.g.::

      {"format": 1, "model": "vgg_cifar", "dataset": "CIFAR-10", "quick": false,
       "device": "NVIDIA H100 80GB HBM3", "epochs": 10,
       "train_images": 50000, "test_images": 10000,
       "test_accuracy": 0.938, "train_seconds": 4.1,
       "date": "2026-11-28T10:00:00+00:00", "torch": "2.14.1",
       "config": {...the TrainConfig...}, "sha256": "<of the .pt file>"}

* quick mode (``CNNLIB_QUICK=1``, the tests) trains a tiny model (a 512-image subset, 1 epoch) and caches it
  as ``<model>-cifar10-quick.pt``/``.json``; its description says it is a quick-mode test run. Quick mode uses the
  full weights when they are in the cache; full mode never uses quick weights.

To fill the cache on a GPU machine (what the book's release run does)::

    CNNLIB_CACHE=/path/to/cache python -m cnnlib.pretrained \\
        vgg_cifar googlenet_cifar [--half] [--retrain]

(``--half`` stores float16 tensors: 4 MB and 11 MB instead of 8 MB and 22 MB; they load into the float32 model
unchanged in every other respect.)

or, from Python, ``load_pretrained("vgg16", prefer="cifar10", train_if_missing=True)``.

(This file is longer than most because it holds the whole weights policy, every source in its order, in one place;
the shipped-weights format lives in :mod:`cnnlib.shipped`, the command line in ``cnnlib._pretrained_cli``.)
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

import torch
from torch import nn

__all__ = [
    "WeightsInfo",
    "WeightsUnavailableError",
    "load_pretrained",
    "train_cifar_weights",
    "weights_dir",
    "weights_paths",
    "CIFAR_COUNTERPART",
    "QUICK_TRAIN_IMAGES",
]

#: The CIFAR-10 network that stands in for each ImageNet network when ImageNet weights cannot be had.
CIFAR_COUNTERPART: dict[str, str] = {
    "vgg16": "vgg_cifar",
    "vgg": "vgg_cifar",
    "vgg_cifar": "vgg_cifar",
    "googlenet": "googlenet_cifar",
    "googlenet_cifar": "googlenet_cifar",
}
#: Training images in quick mode (tests): enough to run the whole code path, not to learn much.
QUICK_TRAIN_IMAGES = 512
#: Test images used to measure the quick-mode model.
QUICK_TEST_IMAGES = 500
_FORMAT = 1

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsUnavailableError(RuntimeError):
    """No trained weights could be loaded or made, and random weights were not allowed."""


@dataclass(frozen=True)
class WeightsInfo:
    """What a model's weights are, for the reader.

    Attributes:
        model: the network's name (``"vgg16"``, ``"vgg_cifar"``, ...).
        source: ``"imagenet"``, ``"cifar10"`` or ``"random"``.
        description: one sentence the widgets show.
        input_size: side of the square input the weights expect (224 or 32).
        mean, std: per-channel input normalisation of pixel values in [0, 1].
        classes: the class names of the outputs.
        quick: quick-mode weights (a tiny test run, not a trained model).
        test_accuracy: accuracy on the data set's test set in [0, 1] (ImageNet: torchvision's top-1), if known.
        details: the JSON sidecar of cached weights (how they were trained), or torchvision's metadata.
        notes: why preferred sources were skipped (e.g. "ImageNet weights: offline").
    """

    model: str
    source: str
    description: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    classes: tuple[str, ...] | None = None
    quick: bool = False
    test_accuracy: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.description


# ------------------------------------------------------------------------------------------------ cache
def weights_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder of cached weights: ``cache_dir``, else ``<cnnlib cache>/weights`` (``$CNNLIB_CACHE`` or
    ``~/.cache/cnnlib``, as :func:`cnnlib.data.cache_dir`)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from .data import cache_dir as data_cache_dir

    return data_cache_dir() / "weights"


def weights_paths(model: str, *, quick: bool = False, cache_dir: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    """The ``(.pt, .json)`` paths of cached CIFAR-10 weights for ``model`` (``"vgg_cifar"``, ``"googlenet_cifar"``)."""
    stem = f"{model}-cifar10" + ("-quick" if quick else "")
    folder = weights_dir(cache_dir)
    return folder / f"{stem}.pt", folder / f"{stem}.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _duration(seconds: float) -> str:
    if seconds < 600:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _describe_cifar(meta: dict[str, Any]) -> str:
    acc = meta.get("test_accuracy")
    acc_text = f"{acc * 100:.1f}% test accuracy" if isinstance(acc, (int, float)) else "test accuracy unknown"
    epochs = int(meta.get("epochs") or 0)
    when = f"in {_duration(float(meta.get('train_seconds') or 0.0))} ({epochs} epoch{'s' if epochs != 1 else ''})"
    if str(meta.get("file") or "").endswith(".safetensors"):  # the weights that ship with the book
        images = int(meta.get("train_images") or 0)
        part = f" ({images:,} of its 50,000 training images)" if 0 < images < 50_000 else ""
        return (
            f"{meta['model']} trained on CIFAR-10{part} by {meta.get('trained_by') or 'cnnlib'} on "
            f"{meta.get('device', '?')} {when}, {acc_text} (the book's shipped weights, {meta.get('dtype', '16-bit')}, "
            f"trained {str(meta.get('date', '?'))[:10]})."
        )
    if meta.get("quick"):
        return (
            f"{meta['model']} trained on CIFAR-10 by cnnlib in quick mode — a test run on "
            f"{int(meta.get('train_images', 0)):,} images, not a trained model — on {meta.get('device', '?')} {when}, "
            f"{acc_text} on {int(meta.get('test_images', 0)):,} test images."
        )
    images = int(meta.get("train_images", 0))
    part = f" ({images:,} of its 50,000 training images)" if 0 < images < 50_000 else ""
    return f"{meta['model']} trained on CIFAR-10{part} by cnnlib on {meta.get('device', '?')} {when}, {acc_text}."


def _read_cached(path: Path, sidecar: Path, model: nn.Module, notes: list[str] | None = None) -> dict[str, Any] | None:
    """Load cached weights into ``model`` after checking their sha256 against the sidecar; ``None`` if absent,
    unreadable or mismatched (the reason is appended to ``notes``: a stale cache is not an error, but a swapped
    file is never described as trained)."""
    if not (path.is_file() and sidecar.is_file()):
        return None
    try:
        meta = json.loads(sidecar.read_text())
        if not isinstance(meta, dict) or meta.get("sha256") != _sha256(path):
            if notes is not None:
                notes.append(f"CIFAR-10 weights: {path.name} does not match the sha256 in {sidecar.name}; not used")
            return None
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except Exception as err:  # truncated file, foreign format, changed architecture: train again
        if notes is not None:
            notes.append(f"CIFAR-10 weights: {path.name} is unusable ({type(err).__name__})")
        return None
    return meta


def _write_cached(path: Path, sidecar: Path, model: nn.Module, meta: dict[str, Any], *, half: bool = False) -> None:
    """Write the weights and their sidecar as a consistent pair: both to temporary files in the same folder first
    (the sidecar's sha256 computed from the written weights), then ``os.replace`` the weights and the sidecar last;
    no temporary file survives a failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu().clone())
        for k, v in model.state_dict().items()
    }
    meta = {**meta, "stored_dtype": "float16" if half else "as trained"}
    tmps: list[Path] = []
    try:
        for target in (path, sidecar):
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            os.close(fd)
            tmps.append(Path(name))
        torch.save(state, tmps[0])
        meta = {**meta, "sha256": _sha256(tmps[0])}
        tmps[1].write_text(json.dumps(meta, indent=1, default=str))
        os.replace(tmps[0], path)  # atomic: a reader sees the old file or the new one
        os.replace(tmps[1], sidecar)  # the sidecar last; between the two, the sha256 check refuses the pair
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------- training
def train_cifar_weights(
    model_name: str,
    *,
    quick: bool = False,
    data: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    epochs: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    half: bool = False,
    train_subset: int | None = None,
    must_write: bool = False,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train a CIFAR-10 model with its tuned recipe (:func:`cnnlib.train.recipe`) and cache the weights.

    Args:
        model_name: ``"vgg_cifar"`` or ``"googlenet_cifar"``.
        quick: a tiny run (a :data:`QUICK_TRAIN_IMAGES`-image subset, 1 epoch) for tests.
        data: the CIFAR-10 source (see :func:`cnnlib.data.load_cifar10`); default its default source.
        device: where to train (default: a GPU if there is one).
        epochs: override the recipe's epochs.
        cache_dir: where to write the weights (see :func:`weights_dir`).
        progress: show a progress bar.
        half: store the cached weights as float16 (half the file: googlenet_cifar is 22 MB in float32);
            ``load_state_dict`` casts them back to float32 when they are loaded.
        train_subset: train on this many training images only, drawn at random with a fixed seed (a shorter run
            on a CPU); the sidecar and the description say how many were used.
        must_write: raise if the weights cannot be written (otherwise a read-only cache only costs a retrain).

    Returns:
        The trained model (on the training device, eval mode) and the sidecar dict that was written.

    Raises:
        cnnlib.data.DataNotFoundError: no CIFAR-10 data could be found or downloaded.
        OSError: ``must_write`` and the weights could not be written.
    """
    from .data import load_cifar10
    from .registry import create_model
    from .train import fit, recipe, resolve_device

    dev = resolve_device(device if device is not None else "auto")
    train = load_cifar10(data, train=True, subset=QUICK_TRAIN_IMAGES if quick else train_subset)
    test = load_cifar10(data, train=False, subset=QUICK_TEST_IMAGES if quick else None)
    overrides: dict[str, Any] = {"progress": progress}
    if quick:
        overrides.update(epochs=1, batch_size=256, eval_every=0, tta=0, ema=False)
    if epochs is not None:
        overrides["epochs"] = int(epochs)
    config = recipe(model_name, **overrides)
    torch.manual_seed(0)
    model = create_model(model_name)
    result = fit(model, train, test, config, device=dev)
    meta = {
        "format": _FORMAT,
        "model": model_name,
        "dataset": "CIFAR-10",
        "quick": bool(quick),
        "device": result.device,
        "epochs": result.epochs,
        "train_images": len(train),
        "test_images": len(test),
        "test_accuracy": round(float(result.test_acc), 4),
        "train_seconds": round(float(result.train_seconds), 2),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "torch": torch.__version__,
        "config": result.to_dict()["config"],
    }
    path, sidecar = weights_paths(model_name, quick=quick, cache_dir=cache_dir)
    try:
        _write_cached(path, sidecar, model, meta, half=half)
    except OSError:  # a read-only home: the weights still serve this session
        if must_write:
            raise
    return model.eval(), meta


# ---------------------------------------------------------------------------------------------- ImageNet
def _imagenet_reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether ``url``'s file is in torch.hub's cache or its host answers within ``timeout`` seconds."""
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    if cached.is_file():
        return True
    host = urlparse(url).hostname
    if not host:
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _load_imagenet(name: str, *, online: bool | None, progress: bool) -> tuple[nn.Module, WeightsInfo]:
    from torchvision.models import get_model_weights

    from .registry import create_model
    from .weights import PRETRAINED_NAMES, load_torchvision_weights

    if name not in PRETRAINED_NAMES:
        raise ValueError(f"{name!r} has no ImageNet weights")
    weights = get_model_weights(name).DEFAULT
    if online is False or (online is None and not _imagenet_reachable(weights.url)):
        raise ConnectionError("offline (download.pytorch.org cannot be reached)")
    kwargs = {"aux_logits": False} if name == "googlenet" else {}
    model = create_model(name, **kwargs)
    load_torchvision_weights(model, name, progress=progress)
    meta = dict(weights.meta)
    top1 = meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
    acc = f", {top1:.1f}% top-1 accuracy on ImageNet" if isinstance(top1, (int, float)) else ""
    info = WeightsInfo(
        model=name,
        source="imagenet",
        description=f"{name} with torchvision's ImageNet weights ({weights.name}{acc}).",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        classes=tuple(meta.get("categories") or ()) or None,
        test_accuracy=top1 / 100 if isinstance(top1, (int, float)) else None,
        details={k: v for k, v in meta.items() if k != "categories"},
    )
    return model, info


# ------------------------------------------------------------------------------------------------ public
def load_pretrained(
    name: str,
    *,
    prefer: str = "imagenet",
    cache_dir: str | os.PathLike[str] | None = None,
    train_if_missing: bool | None = None,
    device: str | torch.device | None = None,
    allow_random: bool = False,
    quick: bool | None = None,
    data: str | os.PathLike[str] | None = None,
    online: bool | None = None,
    progress: bool = False,
) -> tuple[nn.Module, WeightsInfo]:
    """A model with trained weights and a sentence saying which (see the module docstring for the order).

    Args:
        name: ``"vgg16"`` or ``"googlenet"`` (ImageNet, or their CIFAR-10 counterparts), or ``"vgg_cifar"`` /
            ``"googlenet_cifar"`` (CIFAR-10 only).
        prefer: ``"imagenet"`` (try torchvision's weights first), ``"cifar10"`` (try the shipped, cached or trained
            CIFAR-10 model first) or ``"random"`` (random initialisation, labelled as such).
        cache_dir: folder of the cached CIFAR-10 weights (default: see :func:`weights_dir`).
        train_if_missing: train the CIFAR-10 model when no trained weights can be found (seconds on a GPU, an hour
            or more on a CPU). ``None`` (default): only on a GPU or in quick mode; on a CPU the notes of the error
            say which command trains them.
        device: where the returned model lives (default: a GPU if there is one); training uses it too.
        allow_random: if no trained weights can be had, return a randomly initialised model (labelled
            "random initialisation") instead of raising.
        quick: quick mode (tiny training run); default: the ``CNNLIB_QUICK`` environment variable.
        data: CIFAR-10 source for training (default :func:`cnnlib.data.default_cifar10_source`).
        online: ``False`` never tries to download (neither ImageNet weights nor the book's shipped weights);
            ``True`` always tries; ``None`` tries, after checking that torchvision's server (or torch.hub's cached
            file) can be reached within 3 seconds, and with a 10-second timeout for the shipped weights.
        progress: show download/training progress bars.

    Returns:
        ``(model, info)``: the model in eval mode on ``device``, and its :class:`WeightsInfo`.

    Raises:
        ValueError: an unknown ``name`` or ``prefer``.
        WeightsUnavailableError: no trained weights (no network, no cached weights, no CIFAR-10 data or
            training not allowed) and ``allow_random`` is false; the message lists what to do.
        cnnlib.shipped.ShippedWeightsError: the shipped weights do not match the sha256 in their JSON (a changed
            or swapped file), or do not fit the architecture.
    """
    from .notebook import is_quick
    from .registry import create_model

    if prefer not in ("imagenet", "cifar10", "random"):
        raise ValueError(f"prefer must be 'imagenet', 'cifar10' or 'random', got {prefer!r}")
    if name not in CIFAR_COUNTERPART:
        raise ValueError(f"no trained weights for {name!r}; choose one of {sorted(CIFAR_COUNTERPART)}")
    quick = is_quick() if quick is None else quick
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cifar_name = CIFAR_COUNTERPART[name]
    imagenet_name = name if name in ("vgg16", "googlenet") else None
    notes: list[str] = []

    def finish(model: nn.Module, info: WeightsInfo) -> tuple[nn.Module, WeightsInfo]:
        if notes and not info.notes:
            info = dataclasses.replace(info, notes=tuple(notes))
        return model.to(dev).eval(), info

    def random_model() -> tuple[nn.Module, WeightsInfo]:
        if prefer == "random":  # exactly the network asked for
            model_name = imagenet_name or cifar_name
        else:  # the preferred source's network
            model_name = imagenet_name if (prefer == "imagenet" and imagenet_name) else cifar_name
        torch.manual_seed(0)
        model = create_model(model_name, **({"aux_logits": False} if model_name == "googlenet" else {}))
        imagenet = model_name == imagenet_name
        from .data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD

        info = WeightsInfo(
            model=model_name,
            source="random",
            description=f"{model_name} with random initialisation (untrained): these maps show the architecture, "
            "not anything learned.",
            input_size=224 if imagenet else 32,
            mean=IMAGENET_MEAN if imagenet else CIFAR10_MEAN,
            std=IMAGENET_STD if imagenet else CIFAR10_STD,
            classes=None if imagenet else CIFAR10_CLASSES,
        )
        return finish(model, info)

    if prefer == "random":
        return random_model()

    order = ["imagenet", "cifar10"] if prefer == "imagenet" else ["cifar10", "imagenet"]
    for source in order:
        if source == "imagenet":
            if imagenet_name is None:
                continue
            try:
                return finish(*_load_imagenet(imagenet_name, online=online, progress=progress))
            except Exception as err:  # offline, DNS, HTTP, hash mismatch: try the next source
                notes.append(f"ImageNet weights: {type(err).__name__}: {err}")
                continue
        allowed = train_if_missing if train_if_missing is not None else (dev.type == "cuda" or quick)
        result = _load_cifar(cifar_name, quick=quick, cache_dir=cache_dir, train_if_missing=allowed,
                             device=dev, data=data, progress=progress, notes=notes, online=online)
        if result is not None:
            return finish(*result)

    if allow_random:
        return random_model()
    raise WeightsUnavailableError(
        f"no trained weights for {name!r}, and random weights were not allowed. Tried: "
        + "; ".join(notes)
        + ". Options: (1) go online, so torchvision's ImageNet weights can be downloaded (prefer='imagenet'); "
        f"(2) use a clone of the book's repository (its weights/ folder holds the trained {cifar_name}) or set "
        f"CNNLIB_WEIGHTS to a folder with {cifar_name}.safetensors and its .json; "
        f"(3) train and cache it: python -m cnnlib.pretrained {cifar_name} (minutes on a GPU, an hour or more on a "
        "CPU; or load_pretrained(..., train_if_missing=True) with CIFAR-10 data, see CNNLIB_CIFAR10); "
        "(4) pass allow_random=True for a model labelled 'random initialisation'."
    )


def _load_cifar(
    cifar_name: str,
    *,
    quick: bool,
    cache_dir: str | os.PathLike[str] | None,
    train_if_missing: bool,
    device: torch.device,
    data: str | os.PathLike[str] | None,
    progress: bool,
    notes: list[str],
    online: bool | None = None,
) -> tuple[nn.Module, WeightsInfo] | None:
    from . import shipped
    from .data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, DataNotFoundError
    from .registry import create_model

    def info(meta: dict[str, Any]) -> WeightsInfo:
        acc = meta.get("test_accuracy")
        return WeightsInfo(
            model=cifar_name,
            source="cifar10",
            description=_describe_cifar(meta),
            input_size=32,
            mean=CIFAR10_MEAN,
            std=CIFAR10_STD,
            classes=CIFAR10_CLASSES,
            quick=bool(meta.get("quick")),
            test_accuracy=float(acc) if isinstance(acc, (int, float)) else None,
            details=meta,
        )

    # a. the weights that ship with the book; a sha256 mismatch raises ShippedWeightsError (never "trained")
    folder = shipped.shipped_dir()
    if folder is not None:
        found = shipped.load_shipped(cifar_name, folder)
        if found is not None:
            return found[0], info(found[1])
        notes.append(f"shipped weights: no {cifar_name}.safetensors with its .json in {folder}")
    # b. a verified download of them, cached earlier
    downloaded = weights_dir(cache_dir)
    try:
        found = shipped.load_shipped(cifar_name, downloaded)
    except shipped.ShippedWeightsError as err:  # our own cache, changed since: download again below
        notes.append(f"downloaded weights: {err}")
        found = None
    if found is not None:
        return found[0], info(found[1])
    # c. weights trained on this machine: full weights first; quick weights only in quick mode
    for use_quick in ([False, True] if quick else [False]):
        path, sidecar = weights_paths(cifar_name, quick=use_quick, cache_dir=cache_dir)
        model = create_model(cifar_name)
        meta = _read_cached(path, sidecar, model, notes)
        if meta is not None:
            return model, info(meta)
    # d. download the shipped pair from the repository (Colab: pip install has no weights/ folder)
    if online is False:
        notes.append("shipped weights: not downloaded (online=False)")
    else:
        try:
            shipped.download_shipped(cifar_name, downloaded)
            found = shipped.load_shipped(cifar_name, downloaded)
        except (shipped.ShippedWeightsError, OSError) as err:  # offline: fall through to training
            notes.append(f"shipped weights: {err}")
            found = None
        if found is not None:
            return found[0], info(found[1])
    # e. train, when allowed
    where = weights_paths(cifar_name, quick=quick, cache_dir=cache_dir)[0].name
    if not train_if_missing:
        notes.append(
            f"CIFAR-10 weights: {where} is not in the cache, and training on first use was not allowed "
            f"(train_if_missing=False, or the default on a CPU, where the full recipe takes an hour or more); "
            f"to train them: python -m cnnlib.pretrained {cifar_name}"
        )
        return None
    try:
        model, meta = train_cifar_weights(
            cifar_name, quick=quick, data=data, device=device, cache_dir=cache_dir, progress=progress
        )
    except DataNotFoundError as err:
        notes.append(f"CIFAR-10 weights: not cached, and no data to train them ({err})")
        return None
    return model, info(meta)


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m cnnlib.pretrained [--quick] MODEL...`` trains (if needed) and caches CIFAR-10 weights;
    ``python -m cnnlib.pretrained export RUN_DIR`` writes the shipped ``weights/<model>.safetensors`` + ``.json``
    (the command line lives in ``cnnlib._pretrained_cli``)."""
    from ._pretrained_cli import main

    return main(argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
