"""CIFAR-10 as tensors, and a loader that keeps the whole data set on the training device.

CIFAR-10 (Krizhevsky 2009) is 60,000 RGB images of 32 x 32 pixels in ten classes, 50,000 for training and
10,000 for testing. It is small enough (150 MB as ``uint8``) to live entirely in GPU memory, so the fastest way
to feed a GPU is not a ``DataLoader`` with worker processes but a few tensor operations per batch on the device
itself: pick the batch's indices from a permutation, crop, flip, done.

Three sources are understood by :func:`load_cifar10`:

* ``"cifar10"``: the original data set, downloaded by ``torchvision.datasets.CIFAR10`` (needs the internet once);
* a folder tree ``train/<class>/*.jpg`` and ``test/<class>/*.jpg`` (any image format PIL reads);
* a ``.tar``/``.tar.gz`` archive holding such a tree, read directly without unpacking it.

Images are decoded once and cached as ``uint8`` tensors (``N x 3 x 32 x 32``) under :func:`cache_dir`, so
the second load of the same source takes a fraction of a second. A folder's cache entry is keyed by the relative
path, size and modification time of every image file in it (renaming a class folder or adding an image decodes
again); an archive's by its path, size and modification time. ``load_cifar10(..., cache=False)`` or the
environment variable ``CNNLIB_NO_DATA_CACHE=1`` bypasses the cache.

Labels follow the training split's classes: the test split's class folders are looked up by name in the training
split's class list (a test class that the training split lacks is an error, never a silently shifted label).

(At about 600 lines this file is longer than most in cnnlib: it holds one data set end to end, three sources,
their validation, the cache and the device loader, which share the same tensors and error messages. The loader
is the natural piece to move out first.)
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DATA_ENV",
    "CACHE_ENV",
    "NO_CACHE_ENV",
    "CIFAR10Tensors",
    "DeviceLoader",
    "DataNotFoundError",
    "DataFormatError",
    "cache_dir",
    "default_cifar10_source",
    "load_cifar10",
    "normalize",
    "random_translate",
    "random_flip",
]

#: The ten classes, in the label order of the original data set.
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
#: Per-channel mean and standard deviation of the CIFAR-10 training images (pixel values in [0, 1]).
CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)

#: Environment variable naming the default data source (``cifar10`` or a local path).
DATA_ENV = "CNNLIB_CIFAR10"
#: Environment variable naming the cache folder (default ``~/.cache/cnnlib``).
CACHE_ENV = "CNNLIB_CACHE"
#: Environment variable that, set to ``1``/``true``/``yes``, bypasses the decoded-data cache (read and write).
NO_CACHE_ENV = "CNNLIB_NO_DATA_CACHE"

_TARBALL_NAME = "cifar10-jpeg.tar.gz"
# Every suffix here is decoded: torchvision's decoders for JPEG/PNG/WEBP, PIL for the rest (BMP, PPM).
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")
# Bump when the cache layout or the labelling changes, so stale caches are never read.
_CACHE_VERSION = 2
# Largest archive member read (a CIFAR image is about 1 kB): a bigger one is refused before it is read, so a small
# compressed archive cannot expand into gigabytes of memory.
_MAX_MEMBER_BYTES = 10 * 1024 * 1024
# Seconds a torchvision download may wait on a silent server before it gives up (per socket operation).
_DOWNLOAD_TIMEOUT = 30.0


class DataNotFoundError(FileNotFoundError):
    """The requested CIFAR-10 source does not exist or cannot be downloaded."""


class DataFormatError(ValueError):
    """The source exists, but what it holds is not usable (an undecodable image, an oversized archive member,
    test classes the training split lacks); the message names the file or the classes."""


def _options_text() -> str:
    return (
        "Options: (1) pass 'cifar10' to download the original data with torchvision (needs the internet once); "
        "(2) pass the path of a folder with train/<class>/*.jpg and test/<class>/*.jpg; "
        f"(3) pass the path of a .tar.gz holding such a folder tree (e.g. {_TARBALL_NAME}); "
        f"or set the environment variable {DATA_ENV} to one of these."
    )


def cache_dir() -> Path:
    """The folder where decoded data sets are cached: ``$CNNLIB_CACHE`` or ``~/.cache/cnnlib``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "cnnlib"


def default_cifar10_source() -> str:
    """The data source used when none is given.

    In order: the environment variable ``CNNLIB_CIFAR10``; a local copy of the JPEG tarball at
    ``<repo>/.data/cifar10-jpeg.tar.gz`` or ``<repo>/../shared/data/cifar10-jpeg.tar.gz`` (the layout of the
    book's own test and GPU machines); otherwise ``"cifar10"`` (download with torchvision).

    Returns:
        ``"cifar10"`` or a filesystem path.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return env
    repo = Path(__file__).resolve().parents[1]
    for candidate in (repo / ".data" / _TARBALL_NAME, repo.parent / "shared" / "data" / _TARBALL_NAME):
        if candidate.is_file():
            return str(candidate)
    return "cifar10"


@dataclass
class CIFAR10Tensors:
    """A labelled image set held as two tensors.

    Attributes:
        images: ``N x 3 x 32 x 32`` ``uint8`` pixels.
        labels: ``N`` ``int64`` class indices.
        classes: class names, ``classes[label]``.
    """

    images: Tensor
    labels: Tensor
    classes: tuple[str, ...] = CIFAR10_CLASSES

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be N x 3 x H x W, got {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must have shape ({self.images.shape[0]},), got {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> "CIFAR10Tensors":
        """The same data on ``device``."""
        return CIFAR10Tensors(self.images.to(device), self.labels.to(device), self.classes)

    def subset(self, n: int, *, seed: int = 0) -> "CIFAR10Tensors":
        """``n`` images drawn at random (without replacement, fixed ``seed``), so every class appears.

        The source folders are sorted by class, so "the first ``n``" would be a single class.
        """
        if n >= len(self):
            return self
        if n <= 0:
            raise ValueError(f"subset size must be positive, got {n}")
        gen = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self), generator=gen)[:n].sort().values.to(self.labels.device)
        return CIFAR10Tensors(self.images[idx], self.labels[idx], self.classes)


# --------------------------------------------------------------------------------------------- loading


def load_cifar10(
    source: str | os.PathLike[str] | None = None,
    *,
    train: bool,
    subset: int | None = None,
    subset_seed: int = 0,
    cache: bool = True,
) -> CIFAR10Tensors:
    """Load the CIFAR-10 training or test images as ``uint8`` tensors.

    Args:
        source: ``"cifar10"`` (download with torchvision), a folder tree ``train/<class>/*.jpg`` +
            ``test/<class>/*.jpg``, or a ``.tar``/``.tar.gz`` of such a tree. ``None`` uses
            :func:`default_cifar10_source`.
        train: the 50,000 training images (``True``) or the 10,000 test images (``False``).
        subset: keep only this many images, drawn at random with ``subset_seed`` (all classes appear).
        subset_seed: seed of the subset draw (fixed so that runs compare on the same images).
        cache: read and write the decoded tensors in :func:`cache_dir` (also off when the environment variable
            ``CNNLIB_NO_DATA_CACHE`` is ``1``).

    Returns:
        A :class:`CIFAR10Tensors` on the CPU with ``images`` ``N x 3 x 32 x 32`` (``uint8``).

    Raises:
        DataNotFoundError: the source does not exist, or cannot be downloaded; the message names the options.
        DataFormatError: an image cannot be decoded, an archive member is too large, or the test split has a class
            the training split lacks; the message names the file or the classes.
    """
    src = str(source) if source is not None else default_cifar10_source()
    split = "train" if train else "test"
    cache = cache and os.environ.get(NO_CACHE_ENV, "").strip().lower() not in ("1", "true", "yes")
    if src.lower() == "cifar10":
        data = _load_torchvision(train=train)
    else:
        path = Path(src).expanduser()
        if not path.exists():
            raise DataNotFoundError(f"CIFAR-10 source {src!r} does not exist. {_options_text()}")
        cached = _read_cache(_cache_file(path, split)) if cache else None
        if cached is not None:
            data = cached
        elif path.is_file():
            # one pass over the archive decodes both splits (reading the archive dominates the time)
            splits = _load_tar(path)
            if split not in splits:
                raise DataNotFoundError(f"no {split}/<class>/ images in {path}. {_options_text()}")
            if cache:
                for name, tensors in splits.items():
                    _write_cache(_cache_file(path, name), tensors)
            data = splits[split]
        else:
            data = _load_folder(path, split)
            if cache:
                _write_cache(_cache_file(path, split), data)
    if subset is not None:
        data = data.subset(subset, seed=subset_seed)
    return data


def _image_listing(folder: Path) -> list[tuple[str, int, int]]:
    """``(relative path, size, mtime_ns)`` of every image file under ``folder``, sorted (one ``os.scandir`` walk)."""
    out: list[tuple[str, int, int]] = []
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir():
                stack.append(Path(entry.path))
            elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in _IMAGE_SUFFIXES:
                st = entry.stat()
                out.append((Path(entry.path).relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
    return sorted(out)


def _cache_file(path: Path, split: str) -> Path:
    """The cache file of one split of ``path``.

    An archive is keyed by its path, size and mtime (its members cannot change without rewriting it); a folder by
    the listing of its split's image files and the training split's class folders (the test labels follow them).
    """
    if path.is_file():
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|v{_CACHE_VERSION}"
    else:
        listing = _image_listing(path / split)
        key = f"{path.resolve()}|{split}|{listing}|{_class_dirs(path / 'train')}|v{_CACHE_VERSION}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / f"cifar10-{path.name.split('.')[0]}-{digest}-{split}.pt"


def _read_cache(file: Path) -> CIFAR10Tensors | None:
    if not file.is_file():
        return None
    try:
        blob = torch.load(file, map_location="cpu", weights_only=True)
        return CIFAR10Tensors(blob["images"], blob["labels"], tuple(blob["classes"]))
    except Exception:  # a truncated or foreign file: decode again
        return None


def _write_cache(file: Path, data: CIFAR10Tensors) -> None:
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".tmp{os.getpid()}")
        torch.save({"images": data.images, "labels": data.labels, "classes": list(data.classes)}, tmp)
        os.replace(tmp, file)  # atomic: concurrent readers see the old file or the new one
    except OSError:  # a read-only home is not an error, only slower next time
        pass


def _decode_pil(blob: bytes) -> Tensor:
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as im:
        return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).contiguous()


def _decode_one(blob: bytes, name: str) -> Tensor:
    """One image to ``3 x H x W`` ``uint8``: torchvision's decoder, else PIL (BMP, PPM); neither: an error naming it."""
    try:
        with warnings.catch_warnings():  # torchvision >= 0.29 announces a move of its decoders to TorchCodec
            warnings.simplefilter("ignore")
            from torchvision.io import ImageReadMode, decode_image

            return decode_image(torch.frombuffer(bytearray(blob), dtype=torch.uint8), mode=ImageReadMode.RGB)
    except (ImportError, RuntimeError, ValueError):
        pass
    try:
        return _decode_pil(blob)
    except Exception as err:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ... for broken files
        raise DataFormatError(f"cannot decode the image {name} ({type(err).__name__}: {err})") from None


def _decode(blobs: list[bytes], names: Sequence[str] | None = None) -> Tensor:
    """Decode encoded images to ``N x 3 x 32 x 32`` ``uint8`` (torchvision's libjpeg-turbo decoder, else PIL).

    Args:
        blobs: the encoded files.
        names: the files' names, for the error messages (default: their positions).

    Raises:
        DataFormatError: an image cannot be decoded, or is not 32 x 32; the message names the file.
    """
    if not blobs:
        return torch.empty(0, 3, 32, 32, dtype=torch.uint8)
    names = list(names) if names is not None else [f"image #{i}" for i in range(len(blobs))]
    images: list[Tensor] | None = None
    if all(b[:2] == b"\xff\xd8" for b in blobs):
        try:  # the fast path: one batched libjpeg-turbo call
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from torchvision.io import ImageReadMode, decode_jpeg

                tensors = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in blobs]
                images = list(decode_jpeg(tensors, mode=ImageReadMode.RGB))
        except (ImportError, RuntimeError, ValueError):
            images = None  # one broken file, or no decoder: decode one by one to name it
    if images is None:
        images = [_decode_one(b, n) for b, n in zip(blobs, names)]
    for im, name in zip(images, names):
        if tuple(im.shape) != (3, 32, 32):
            raise DataFormatError(
                f"expected 32 x 32 RGB images, but {name} is {im.shape[-1]} x {im.shape[-2]} (width x height)"
            )
    return torch.stack(images)


def _classes_for(names: Sequence[str]) -> tuple[str, ...]:
    """The class list for these folder names: CIFAR-10's order when they are CIFAR-10 classes, else sorted."""
    return CIFAR10_CLASSES if set(names) <= set(CIFAR10_CLASSES) else tuple(sorted(set(names)))


def _assemble(
    items: list[tuple[str, str, bytes]], where: str, *, train_classes: Sequence[str] | None = None
) -> CIFAR10Tensors:
    """Build the tensors from ``(class_name, file name, encoded bytes)`` triples.

    Args:
        items: the images of one split.
        where: the split's location, for messages.
        train_classes: the training split's class folder names; the labels are looked up by name in their class
            list (default: this split's own folders).

    Raises:
        DataNotFoundError: no images.
        DataFormatError: this split has a class that ``train_classes`` lacks, or an image cannot be decoded.
    """
    if not items:
        raise DataNotFoundError(f"no images found in {where}. {_options_text()}")
    names = sorted({c for c, _, _ in items})
    reference = sorted(set(train_classes)) if train_classes else names
    unknown = sorted(set(names) - set(reference))
    if unknown:
        raise DataFormatError(
            f"{where} has class folders that the training split lacks: {', '.join(unknown)} "
            f"(training classes: {', '.join(reference)}); test labels must name training classes"
        )
    classes = _classes_for(reference)
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[c] for c, _, _ in items], dtype=torch.int64)
    return CIFAR10Tensors(_decode([b for _, _, b in items], [n for _, n, _ in items]), labels, classes)


def _class_dirs(folder: Path) -> list[str]:
    """The names of the class folders in ``folder`` (empty if it is not a folder)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def _load_folder(root: Path, split: str) -> CIFAR10Tensors:
    folder = root / split
    if not folder.is_dir():
        raise DataNotFoundError(f"{root} has no {split}/ folder. {_options_text()}")
    items = [
        (cls_dir.name, str(file), file.read_bytes())
        for cls_dir in sorted(p for p in folder.iterdir() if p.is_dir())
        for file in sorted(cls_dir.iterdir())
        if file.suffix.lower() in _IMAGE_SUFFIXES and file.is_file()
    ]
    train_classes = _class_dirs(root / "train") if split == "test" else None
    return _assemble(items, str(folder), train_classes=train_classes or None)


def _load_tar(path: Path) -> dict[str, CIFAR10Tensors]:
    """Decode every ``<split>/<class>/<image>`` of a tar archive (an optional top folder is allowed)."""
    items: dict[str, list[tuple[str, str, bytes]]] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                parts = [p for p in member.name.split("/") if p not in ("", ".")]
                if len(parts) == 4 and parts[1] in ("train", "test"):
                    parts = parts[1:]  # archive with one top-level folder
                if len(parts) != 3 or parts[0] not in ("train", "test"):
                    continue
                if os.path.splitext(parts[2])[1].lower() not in _IMAGE_SUFFIXES:
                    continue
                if member.size > _MAX_MEMBER_BYTES:  # checked before reading: the header states the size
                    raise DataFormatError(
                        f"{path}: the member {member.name} is {member.size:,} bytes, more than the "
                        f"{_MAX_MEMBER_BYTES:,} an image may have here (CIFAR images are about 1 kB); refused"
                    )
                fh = tar.extractfile(member)
                if fh is not None:
                    items.setdefault(parts[0], []).append((parts[1], f"{path}:{member.name}", fh.read()))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataNotFoundError(f"{path} is not a readable tar archive ({err}). {_options_text()}") from err
    if not items:
        raise DataNotFoundError(f"no train/<class>/ or test/<class>/ images in {path}. {_options_text()}")
    out = {}
    train_classes = sorted({c for c, _, _ in items.get("train", [])}) or None
    for split, triples in items.items():
        triples.sort(key=lambda item: item[0])  # stable: keeps the archive's file order inside a class
        out[split] = _assemble(triples, f"{path}:{split}/", train_classes=train_classes if split == "test" else None)
    return out


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Give every socket opened inside the block a timeout (torchvision's downloader sets none)."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _load_torchvision(*, train: bool) -> CIFAR10Tensors:
    import torchvision

    root = cache_dir() / "torchvision"
    try:
        with _socket_timeout(_DOWNLOAD_TIMEOUT):  # a server that accepts and never answers must not hang us
            dset = torchvision.datasets.CIFAR10(str(root), train=train, download=True)
    except Exception as err:  # URLError, socket timeouts and errors, checksum failures
        raise DataNotFoundError(
            f"could not download CIFAR-10 with torchvision into {root} ({type(err).__name__}: {err}). "
            + _options_text()
        ) from err
    images = torch.from_numpy(dset.data).permute(0, 3, 1, 2).contiguous()  # N x 32 x 32 x 3 -> N x 3 x 32 x 32
    return CIFAR10Tensors(images, torch.tensor(dset.targets, dtype=torch.int64), tuple(dset.classes))


# ------------------------------------------------------------------------------------------ augmentation


def normalize(images: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """``uint8`` pixels to floats with the CIFAR-10 mean removed and unit standard deviation.

    Args:
        images: ``N x 3 x H x W`` ``uint8``.
        dtype: floating type of the result.

    Returns:
        ``N x 3 x H x W`` tensor of ``dtype``.
    """
    mean = torch.tensor(CIFAR10_MEAN, device=images.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(CIFAR10_STD, device=images.device).view(1, 3, 1, 1) * 255
    return ((images.float() - mean) / std).to(dtype)


def random_translate(padded: Tensor, shifts: Tensor, size: int, *, index: Tensor | None = None) -> Tensor:
    """Crop a ``size x size`` window from each padded image: a random translation in one gather.

    Args:
        padded: ``M x C x (size + 2p) x (size + 2p)`` images padded by ``p`` pixels on every side.
        shifts: ``N x 2`` integer offsets (row, column) in ``[0, 2p]`` of each window's top-left corner.
        size: side of the output.
        index: ``N`` indices into ``padded`` of the images to crop (default: all ``M``, in order).

    Returns:
        ``N x C x size x size``.
    """
    n, c = shifts.shape[0], padded.shape[1]
    ar = torch.arange(size, device=padded.device)
    rows = (shifts[:, 0].view(n, 1) + ar.view(1, size)).view(n, 1, size, 1)  # N x 1 x size x 1
    cols = (shifts[:, 1].view(n, 1) + ar.view(1, size)).view(n, 1, 1, size)  # N x 1 x 1 x size
    batch = (index if index is not None else torch.arange(n, device=padded.device)).view(n, 1, 1, 1)
    chans = torch.arange(c, device=padded.device).view(1, c, 1, 1)
    return padded[batch, chans, rows, cols]


def random_flip(images: Tensor, flip: Tensor) -> Tensor:
    """Mirror the images where ``flip`` (``N`` booleans) is true."""
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)


# --------------------------------------------------------------------------------------------- loader


class DeviceLoader:
    """Batches of normalised, augmented CIFAR-10 images made on the device that holds the data.

    The images are normalised (and, for training, reflect-padded) once, then every batch is an index
    into those tensors plus a random crop and flip, all on the device: no worker processes, no host-to-device
    copies besides one small tensor of random numbers per epoch.

    Randomness comes from a CPU ``torch.Generator`` seeded with ``seed``, so the sequence of batches is the same
    on every device and can be saved and restored with :meth:`state_dict` / :meth:`load_state_dict`.

    Under ``torch.distributed`` each of ``world_size`` processes gets a disjoint shard of every epoch's
    permutation (``rank``-th of every ``world_size`` images) and ``batch_size // world_size`` images per batch.

    Args:
        data: the images and labels (moved to ``device``).
        batch_size: images per step, summed over all processes.
        train: shuffle, augment and drop the last partial batch (``True``), or iterate in order (``False``).
        device: where the data lives and batches are made.
        seed: seed of the generator for shuffling and augmentation.
        flip: ``"random"`` (each image mirrored with probability 1/2 each epoch), ``"alternating"`` (a random half
            is mirrored in even epochs, the other half in odd epochs: every image is seen both ways every two
            epochs) or ``"none"``.
        translate: largest random shift in pixels (pad-and-crop with reflection padding); 0 turns it off.
        channels_last: hand out batches in ``channels_last`` memory format (faster convolutions on GPUs).
        rank: this process's index under ``torch.distributed``.
        world_size: number of processes.
    """

    def __init__(
        self,
        data: CIFAR10Tensors,
        *,
        batch_size: int,
        train: bool,
        device: torch.device | str = "cpu",
        seed: int = 0,
        flip: str = "random",
        translate: int = 2,
        channels_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if flip not in ("random", "alternating", "none"):
            raise ValueError(f"flip must be 'random', 'alternating' or 'none', got {flip!r}")
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by world_size {world_size}")
        self.device = torch.device(device)
        self.train = train
        self.batch_size = batch_size
        self.local_batch_size = batch_size // world_size
        self.flip = flip if train else "none"
        self.translate = translate if train else 0
        self.channels_last = channels_last
        self.rank, self.world_size = rank, world_size
        self.classes = data.classes
        self.num_images = len(data)
        self.labels = data.labels.to(self.device)
        images = normalize(data.images.to(self.device))  # N x 3 x 32 x 32 float32
        self.size = images.shape[-1]
        if self.translate:
            images = F.pad(images, (self.translate,) * 4, mode="reflect")  # N x 3 x 36 x 36 for translate=2
        self.images = images
        self.generator = torch.Generator().manual_seed(seed)
        # the fixed half that "alternating" mirrors in even epochs: drawn from its own generator so it does
        # not depend on how far the main generator has advanced
        self._flip_base = torch.rand(self.num_images, generator=torch.Generator().manual_seed(seed + 1)) < 0.5
        self.epoch = 0

    def __len__(self) -> int:
        """Steps per epoch."""
        per_rank = self._indices_per_rank()
        if self.train:
            return per_rank // self.local_batch_size
        return -(-per_rank // self.local_batch_size)

    def _indices_per_rank(self) -> int:
        if self.train:
            return self.num_images // self.world_size
        return len(range(self.rank, self.num_images, self.world_size))

    def state_dict(self) -> dict[str, object]:
        """The generator state and epoch counter (tensors and ints only)."""
        return {"generator": self.generator.get_state(), "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.generator.set_state(state["generator"].cpu())  # type: ignore[union-attr]
        self.epoch = int(state["epoch"])  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield ``(images, labels)``: ``B x 3 x 32 x 32`` float32 and ``B`` int64 on the loader's device."""
        n = self.num_images
        if self.train:
            # one draw per epoch on the CPU generator, one copy to the device
            perm = torch.randperm(n, generator=self.generator)
            shifts = torch.randint(0, 2 * self.translate + 1, (n, 2), generator=self.generator)
            if self.flip == "random":
                flips = torch.rand(n, generator=self.generator) < 0.5
            elif self.flip == "alternating":
                flips = self._flip_base ^ bool(self.epoch % 2)
            else:
                flips = torch.zeros(n, dtype=torch.bool)
            per_rank = n // self.world_size
            perm = perm[self.rank :: self.world_size][:per_rank]
            perm, shifts, flips = perm.to(self.device), shifts.to(self.device), flips.to(self.device)
        else:
            perm = torch.arange(self.rank, n, self.world_size, device=self.device)
        self.epoch += 1
        bs = self.local_batch_size
        for step in range(len(self)):
            idx = perm[step * bs : (step + 1) * bs]
            if self.train and self.translate:
                x = random_translate(self.images, shifts[idx], self.size, index=idx)
            else:
                x = self.images[idx]
            if self.train:
                if self.flip != "none":
                    x = random_flip(x, flips[idx])
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx]
