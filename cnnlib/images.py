"""One image pipeline: read a photo from almost anything, and turn it into a model's input.

Two steps, used by every part of cnnlib that shows a network a photo (the feature-map and Inception views, the
chapters):

* :func:`load_image` reads a scikit-image sample photo, a file, encoded bytes (an upload), a PIL image, an array
  or a tensor and returns ``H x W x 3`` ``uint8`` RGB (EXIF rotation applied, transparency composited onto white,
  huge photos scaled down, and a message in words when it is not an image).
* :func:`to_model_input` resizes (shorter side, antialiased), centre-crops and normalises it with
  ``torchvision.transforms.v2`` -- the same steps as torchvision's ImageNet weights' ``transforms()`` -- and returns
  both the crop the model sees (for display) and the ``1 x 3 x S x S`` tensor. :func:`model_transform` is that
  transform by itself, for data sets.

The size and normalisation come from the model (``model.pretrained_cfg``, see :class:`cnnlib._base.PretrainedCfg`)
or from the weights' :class:`cnnlib.pretrained.WeightsInfo`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DEFAULT_IMAGES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "ImageError",
    "load_image",
    "model_transform",
    "to_model_input",
]

#: The sample photos shipped with scikit-image (no download needed).
DEFAULT_IMAGES: tuple[str, ...] = ("chelsea", "astronaut", "coffee")
#: Largest side (px) an image is kept at after loading; bigger photos are scaled down first.
MAX_SIDE = 1024
#: Refuse images with more pixels than this before decoding them (a "decompression bomb").
MAX_PIXELS = 120_000_000


class ImageError(ValueError):
    """An input that cannot be read as an image; the message is meant for the reader."""


def _pil_to_rgb(img: Any) -> Any:
    """Apply EXIF rotation, then convert any PIL mode (L, LA, P, RGBA, CMYK, I;16, F, ...) to 8-bit RGB.

    Transparent pixels are composited onto white (so a logo on a transparent background stays visible).
    """
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(img)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
        img = Image.fromarray(arr.astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def _shrink(img: Any, max_side: int) -> Any:
    from PIL import Image

    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def _from_array(arr: np.ndarray) -> np.ndarray:
    """An ``H x W``, ``H x W x 1``, ``H x W x 3`` or ``H x W x 4`` array (uint8, or floats in [0, 1]) as RGB uint8."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)) or min(arr.shape[:2]) < 1:
        raise ImageError(f"expected an image array of shape H x W, H x W x 3 or H x W x 4, got {arr.shape}")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        arr = np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255 if arr.max() <= 1.0 else np.clip(arr, 0, 255)
        arr = arr.round().astype(np.uint8)
    elif arr.dtype != np.uint8:
        hi = float(arr.max()) if arr.size else 0.0
        arr = (arr.astype(np.float64) * (255.0 / hi if hi > 255 else 1.0)).clip(0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    elif arr.shape[-1] == 4:
        alpha = arr[..., 3:4].astype(np.float32) / 255.0
        arr = (arr[..., :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(arr)


def load_image(source: Any, *, max_side: int = MAX_SIDE) -> np.ndarray:
    """Read an image from almost anything and return it as ``H x W x 3`` ``uint8`` RGB.

    Args:
        source: the name of a scikit-image sample photo (``"chelsea"``, ``"astronaut"``, ``"coffee"``, ...), a
            file path, encoded bytes (what an upload widget gives), a PIL image, or an array of shape
            ``H x W`` (grayscale), ``H x W x 3`` or ``H x W x 4`` (RGBA; composited onto white), ``uint8`` or
            floats in [0, 1].
        max_side: photos larger than this (in either side) are scaled down to it, keeping the aspect ratio.

    Returns:
        The image, at most ``max_side`` pixels on its longer side.

    Raises:
        ImageError: the source is not an image (the message says why, in words for the reader).
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, str) and not Path(source).suffix and "/" not in source and "\\" not in source:
        import skimage.data

        loader = getattr(skimage.data, source, None)
        if loader is None or not callable(loader):
            raise ImageError(f"{source!r} is neither a file nor one of scikit-image's sample photos (e.g. 'chelsea')")
        try:
            return load_image(loader(), max_side=max_side)
        except ImageError:
            raise
        except Exception as err:  # a sample that needs a download (pooch) on an offline machine
            raise ImageError(f"scikit-image's sample {source!r} is not available here ({type(err).__name__})") from err
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise ImageError(f"no image file at {path.name!r}")
        source = path.read_bytes()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ImageError("the file is empty")
        try:
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"the image is too large to open ({w} x {h} pixels)")
            img.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale directly (fast, little memory)
            img.load()
        except ImageError:
            raise
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as err:
            kind = "too large to open" if isinstance(err, Image.DecompressionBombError) else "not an image PIL can read"
            raise ImageError(f"this file is {kind} (try a JPEG or PNG photo)") from err
        return np.asarray(_shrink(_pil_to_rgb(img), max_side)).copy()
    if isinstance(source, Image.Image):
        return np.asarray(_shrink(_pil_to_rgb(source), max_side)).copy()
    if isinstance(source, Tensor):
        t = source.detach().cpu()
        if t.dim() == 3 and t.shape[0] in (1, 3, 4):
            t = t.permute(1, 2, 0)  # a tensor image is C x H x W; arrays are H x W x C
        source = t.numpy()
    if isinstance(source, np.ndarray):
        arr = _from_array(source)
        if max(arr.shape[:2]) > max_side:
            arr = np.asarray(_shrink(Image.fromarray(arr), max_side)).copy()
        return arr
    raise ImageError(f"cannot read an image from a {type(source).__name__}")


def model_transform(size: int, mean: Sequence[float], std: Sequence[float]) -> Any:
    """The ``torchvision.transforms.v2`` pipeline from a ``uint8`` image tensor to a model's input.

    Resize the shorter side to ``size`` (antialiased), take the central ``size x size`` square, scale to [0, 1]
    and normalise: what torchvision's ImageNet weights' ``transforms()`` do (with ``resize_size == crop_size``).

    Args:
        size: side of the square input.
        mean: per-channel mean of pixels in [0, 1].
        std: per-channel standard deviation.

    Returns:
        A ``v2.Compose`` taking ``3 x H x W`` ``uint8`` (or a PIL image) and returning ``3 x size x size`` float32.
    """
    from torchvision.transforms import v2

    return v2.Compose([
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),  # resize in float, as the reference pipelines do (no rounding)
        v2.Resize(int(size), antialias=True),
        v2.CenterCrop(int(size)),
        v2.Normalize([float(m) for m in mean], [float(s) for s in std]),
    ])


def to_model_input(
    image: Any, size: int, mean: Sequence[float], std: Sequence[float]
) -> tuple[np.ndarray, Tensor]:
    """What a model sees of ``image``: the crop (for display) and the normalised input tensor.

    Args:
        image: anything :func:`load_image` reads (usually its ``H x W x 3`` ``uint8`` result).
        size: side of the square input (e.g. ``model.pretrained_cfg.input_size[-1]``).
        mean: per-channel normalisation mean.
        std: per-channel normalisation standard deviation.

    Returns:
        ``(crop, x)``: the ``size x size x 3`` ``uint8`` crop and the ``1 x 3 x size x size`` float32 input.

    Raises:
        ImageError: ``image`` is not an image.
        ValueError: ``size`` is not positive.
    """
    if int(size) < 1:
        raise ValueError(f"the input size must be a positive number of pixels, got {size!r}")
    arr = image if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 else load_image(image)
    pixels = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)  # 3 x H x W uint8
    steps = model_transform(int(size), mean, std).transforms
    unit = torch.nn.Sequential(*steps[1:4])(pixels)  # 3 x size x size in [0, 1] (antialiasing may overshoot)
    x = steps[4](unit)
    crop = (unit.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy().copy()
    return crop, x.unsqueeze(0)
