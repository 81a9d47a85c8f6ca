"""Feature maps: what every layer of a trained CNN computes from a photo.

:func:`feature_map_explorer` shows, for one photo and one layer of a model, the feature maps of the channels that
respond most (or a range of channels by index), with a colour map of the reader's choice; the first layer's filters
as RGB tiles; for Inception blocks (Szegedy et al. 2014, arXiv:1409.4842) the four branches side by side; and a
per-layer strip of activation statistics (fraction of zeros after the non-linearity, mean activation, spatial
size). VGG's layers (Simonyan & Zisserman 2014, arXiv:1409.1556) come from the model's ``feature_info``.

Why it is fast enough to drag a slider: the forward pass is the only expensive step, so :class:`ActivationCache`
runs it **once per image** (capturing every layer the view can show, through
:func:`cnnlib.analysis.capture_features`) and keeps the maps and their per-channel statistics. Moving a control only
picks channels, applies a colour map (a 256-entry lookup table) and encodes small images; no matplotlib figure is
drawn and no new forward pass runs. ``bench/feature_map_latency.py`` measures this for VGG-16 at 224 px.

The explorer is a :class:`cnnlib.widgets.Explorer`, so it is live in Jupyter/Colab and pre-rendered for the static
book (a small grid: the sample photos x the ``feature_info`` layers x the two channel modes). Live, it adds an
upload button: the reader's own photo becomes the image "your upload" (grayscale, palette and RGBA images are
converted to RGB, huge ones are scaled down; a file that is not an image gives a message in the view).

Weights are never silently random: pass the :class:`cnnlib.pretrained.WeightsInfo` that
:func:`cnnlib.pretrained.load_pretrained` returns and the view states which weights it shows (and uses their input
size and normalisation: 224 px with ImageNet statistics, or 32 px with CIFAR-10's).
"""

from __future__ import annotations

import base64
import html as _html
import io
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ._core import Choice, Explorer, Slider

__all__ = [
    "ActivationCache",
    "Activations",
    "FeatureMapExplorer",
    "ImageError",
    "LayerSpec",
    "FILTERS",
    "UPLOAD",
    "DEFAULT_IMAGES",
    "feature_map_explorer",
    "layer_specs",
    "load_image",
    "first_conv",
]

#: The sample photos shipped with scikit-image (no download needed).
DEFAULT_IMAGES: tuple[str, ...] = ("chelsea", "astronaut", "coffee")
#: Value of the ``layer`` control that shows the first convolution's filters instead of feature maps.
FILTERS = "__filters__"
#: Value of the ``image`` control that shows the reader's uploaded photo (live only).
UPLOAD = "__upload__"
#: Largest side (px) an image is kept at after loading; bigger photos are scaled down first.
MAX_SIDE = 1024
#: Refuse images with more pixels than this before decoding them (a "decompression bomb").
MAX_PIXELS = 120_000_000

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

COLOUR_MAPS: tuple[str, ...] = ("viridis", "magma", "gray", "coolwarm")


class ImageError(ValueError):
    """An input that cannot be read as an image; the message is meant for the reader."""


# --------------------------------------------------------------------------------------------- images
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


def _square_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (antialiased) and take the central ``size x size`` square."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    img = Image.fromarray(image).resize((nw, nh), Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size))).copy()


# --------------------------------------------------------------------------------------------- layers
@dataclass
class LayerSpec:
    """One layer the explorer can show.

    Attributes:
        module: name in ``model.named_modules()`` (e.g. ``"features.29"``, ``"inception4e"``).
        label: what the reader sees (e.g. ``"conv5 (features.29)"``).
        num_chs: channels of its output.
        reduction: nominal stride relative to the input (``0`` when unknown).
        branches: for an Inception block, ``(module, description, channels)`` of its four branches.
    """

    module: str
    label: str
    num_chs: int
    reduction: int = 0
    branches: list[tuple[str, str, int]] = field(default_factory=list)


def _conv_desc(module: nn.Module) -> str:
    """``"1x1"``, ``"1x1 → 3x3"`` or ``"3x3 max-pool → 1x1"`` from the layers inside a branch."""
    parts = []
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size
            parts.append(f"{k[0]}x{k[1]}")
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            parts.append(f"{k}x{k} {'max' if isinstance(m, nn.MaxPool2d) else 'avg'}-pool")
    return " → ".join(parts) or type(module).__name__


def _out_channels(module: nn.Module) -> int:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels if convs else 0


def _is_inception(module: nn.Module) -> bool:
    return all(isinstance(getattr(module, f"branch{i}", None), nn.Module) for i in (1, 2, 3, 4))


def layer_specs(model: nn.Module, *, inception_blocks: bool = True) -> list[LayerSpec]:
    """The layers the explorer offers: every ``feature_info`` entry, plus every Inception block.

    Args:
        model: a cnnlib model (it has ``feature_info``); layers are never guessed, so a model without
            ``feature_info`` is refused.
        inception_blocks: also list Inception blocks that are not in ``feature_info`` (GoogLeNet's 3a, 4a-4d, 5a).

    Returns:
        The layers in the order the network computes them.

    Raises:
        ValueError: the model has no ``feature_info``.
    """
    info = getattr(model, "feature_info", None)
    if not info:
        raise ValueError("the model has no `feature_info` list (build it with cnnlib, e.g. cnnlib.vgg16())")
    modules = dict(model.named_modules())
    order = {name: i for i, name in enumerate(modules)}
    chosen: dict[str, LayerSpec] = {}
    for entry in info:
        name = entry["module"]
        if name not in modules:
            raise ValueError(f"feature_info names {name!r}, which is not a module of the model")
        stage = entry.get("stage") or name
        label = stage if stage == name else f"{stage} ({name})"
        chosen[name] = LayerSpec(name, label, int(entry["num_chs"]), int(entry.get("reduction", 0)))
    if inception_blocks:
        for name, m in modules.items():
            if _is_inception(m) and name not in chosen:
                chosen[name] = LayerSpec(name, name, sum(_out_channels(getattr(m, f"branch{i}")) for i in range(1, 5)))
    for name, spec in chosen.items():
        m = modules[name]
        if _is_inception(m):
            spec.branches = [
                (f"{name}.branch{i}", _conv_desc(getattr(m, f"branch{i}")), _out_channels(getattr(m, f"branch{i}")))
                for i in range(1, 5)
            ]
    return sorted(chosen.values(), key=lambda s: order[s.module])


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The name and module of the first convolution that reads the 3-channel image."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and m.in_channels == 3:
            return name, m
    raise ValueError("the model has no convolution with 3 input channels")


# --------------------------------------------------------------------------------------------- cache
@dataclass
class Activations:
    """Everything the explorer shows about one image, computed by one forward pass.

    Attributes:
        image: the model's input as a photo, ``S x S x 3`` ``uint8`` (after resizing and cropping).
        maps: module name -> its output for this image, ``C x h x w`` float32 on the CPU.
        channel_mean: module name -> ``C`` mean activation of every channel (to pick the most active).
        channel_max: module name -> ``C`` largest value of every channel (numpy, for the captions).
        positive_sum: module name -> sum of the positive part of its output (an Inception branch's share).
        display: module name -> the maps as numpy, averaged down to at most ``display_px`` pixels a side (what the
            view draws; computed once so that drawing does not depend on the input's resolution).
        stats: one dict per layer, in network order: ``module``, ``label``, ``channels``, ``height``, ``width``,
            ``zero_fraction`` (fraction of values <= 0: what a ReLU sets to zero), ``mean``, ``max``.
        logits: the model's output (``num_classes``), or ``None``.
        seconds: how long the forward pass took.
        memo: drawings of this image that every view reuses (e.g. the input thumbnail).
    """

    image: np.ndarray
    maps: dict[str, Tensor]
    channel_mean: dict[str, Tensor]
    channel_max: dict[str, np.ndarray]
    positive_sum: dict[str, float]
    display: dict[str, np.ndarray]
    stats: list[dict[str, Any]]
    logits: Tensor | None
    seconds: float
    memo: dict[str, str] = field(default_factory=dict)


class ActivationCache:
    """Runs a model once per image and keeps every feature map the explorer can show.

    Args:
        model: the network (put in eval mode for the forward passes; its mode is restored afterwards).
        layers: the layers to keep (from :func:`layer_specs`); Inception branches are kept too.
        input_size: side of the square input the image is resized and cropped to.
        mean, std: per-channel normalisation of the input (pixel values in [0, 1]).
        max_images: how many images to keep (least recently used are dropped first).
        display_px: largest side of the maps as drawn (larger maps are block-averaged down once, when cached).

    Attributes:
        forward_count: how many forward passes have run (tests check that moving a control adds none).
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[LayerSpec],
        *,
        input_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        max_images: int = 8,
        display_px: int = 64,
    ) -> None:
        self.model = model
        self.layers = list(layers)
        self.input_size = int(input_size)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.max_images = max_images
        self.display_px = int(display_px)
        self.forward_count = 0
        self.first_conv_name, _ = first_conv(model)
        self._store: OrderedDict[str, Activations] = OrderedDict()

    def module_names(self) -> list[str]:
        """Every module whose output is captured (layers, Inception branches, the first convolution)."""
        names = [self.first_conv_name]
        for spec in self.layers:
            names.append(spec.module)
            names += [b for b, _, _ in spec.branches]
        return list(dict.fromkeys(names))

    def to_input(self, image: np.ndarray) -> tuple[np.ndarray, Tensor]:
        """The model's view of ``image``: the ``S x S`` crop (uint8) and the normalised ``1 x 3 x S x S`` tensor."""
        crop = _square_crop(image, self.input_size)
        x = torch.from_numpy(crop).permute(2, 0, 1).float().div(255.0)
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return crop, ((x - mean) / std).unsqueeze(0)

    def __contains__(self, key: str) -> bool:
        return key in self._store

    def forget(self, key: str) -> None:
        """Drop the activations of ``key`` (e.g. when a new photo is uploaded under the same key)."""
        self._store.pop(key, None)

    def get(self, key: str, image: np.ndarray) -> Activations:
        """The activations of ``image``, computed on first use and cached under ``key``.

        Args:
            key: a name for the image (e.g. ``"chelsea"``).
            image: ``H x W x 3`` ``uint8``.

        Returns:
            The :class:`Activations`.
        """
        if key in self._store:
            self._store.move_to_end(key)
            return self._store[key]
        acts = self._compute(image)
        self._store[key] = acts
        while len(self._store) > self.max_images:
            self._store.popitem(last=False)
        return acts

    def _compute(self, image: np.ndarray) -> Activations:
        from ..analysis import capture_features

        crop, x = self.to_input(image)
        param = next(self.model.parameters(), None)
        if param is not None:
            x = x.to(device=param.device, dtype=param.dtype)
        names = self.module_names()
        was_training = self.model.training
        self.model.eval()
        start = time.perf_counter()
        try:
            with torch.no_grad(), capture_features(self.model, names, clone=True, detach=True) as feats:
                logits = self._forward(x)
        finally:
            self.model.train(was_training)
        self.forward_count += 1
        seconds = time.perf_counter() - start
        maps = {name: _as_map(feats[name]) for name in names}
        channel_mean = {name: m.mean(dim=(1, 2)) for name, m in maps.items()}
        channel_max = {name: m.amax(dim=(1, 2)).numpy() for name, m in maps.items()}
        positive_sum = {name: float(m.clamp(min=0).sum()) for name, m in maps.items()}
        display = {name: self._shrink_map(m) for name, m in maps.items()}
        stats = []
        for spec in self.layers:
            m = maps[spec.module]
            stats.append(
                {
                    "module": spec.module,
                    "label": spec.label,
                    "channels": int(m.shape[0]),
                    "height": int(m.shape[1]),
                    "width": int(m.shape[2]),
                    "zero_fraction": float((m <= 0).float().mean()),
                    "mean": float(m.mean()),
                    "max": float(m.max()),
                }
            )
        out = logits[0].detach().float().cpu() if isinstance(logits, Tensor) and logits.dim() == 2 else None
        return Activations(crop, maps, channel_mean, channel_max, positive_sum, display, stats, out, seconds)


    def _forward(self, x: Tensor) -> Tensor | None:
        """Logits, or ``None`` when the classifier cannot take this input size (e.g. a CIFAR-10 head at 96 px):
        the feature maps are what the view needs, and every convolutional layer runs at any size."""
        features = getattr(self.model, "forward_features", None)
        head = getattr(self.model, "forward_head", None)
        if features is None or head is None:
            return self.model(x)
        y = features(x)
        try:
            return head(y)
        except RuntimeError:  # a fixed-size head (flatten + linear) and a different input size
            return None

    def _shrink_map(self, m: Tensor) -> np.ndarray:
        h, w = m.shape[1:]
        if max(h, w) <= self.display_px:
            return m.numpy()
        s = self.display_px / max(h, w)
        size = (max(1, round(h * s)), max(1, round(w * s)))
        return torch.nn.functional.adaptive_avg_pool2d(m.unsqueeze(0), size)[0].numpy()


def _as_map(t: Any) -> Tensor:
    if isinstance(t, (list, tuple)):
        t = t[0]
    t = t.detach()
    if t.dim() == 4:
        t = t[0]
    if t.dim() != 3:
        raise ValueError(f"expected a N x C x H x W feature map, got shape {tuple(t.shape)}")
    return t.float().cpu().contiguous()


# --------------------------------------------------------------------------------------------- drawing
_LUTS: dict[str, np.ndarray] = {}


def _lut(cmap: str) -> np.ndarray:
    """A 256 x 3 uint8 lookup table of a matplotlib colour map."""
    if cmap not in _LUTS:
        import matplotlib

        _LUTS[cmap] = (matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    return _LUTS[cmap]


def _data_uri(rgb: np.ndarray, *, max_px: int) -> tuple[str, bool]:
    """Encode ``h x w x 3`` uint8 as a data URI: PNG when small (crisp blocks), JPEG when large (light pages).

    Returns:
        The URI and whether the browser should upscale it with hard pixel edges.
    """
    from PIL import Image

    img = Image.fromarray(rgb)
    if max(img.size) > max_px:
        img = img.resize((max_px, max(1, round(max_px * img.size[1] / img.size[0]))), Image.Resampling.BOX)
    buf = io.BytesIO()
    small = max(img.size) <= 48
    if small:
        img.save(buf, format="PNG", optimize=False, compress_level=6)
        mime = "png"
    else:
        img.save(buf, format="JPEG", quality=82)
        mime = "jpeg"
    return f"data:image/{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}", small


def _img(rgb: np.ndarray, *, width: int, max_px: int, title: str = "") -> str:
    uri, small = _data_uri(rgb, max_px=max_px)
    style = f"width:{width}px;height:auto;display:block" + (";image-rendering:pixelated" if small else "")
    return f'<img alt="{_html.escape(title)}" title="{_html.escape(title)}" style="{style}" src="{uri}"/>'


def _colour(m: np.ndarray, cmap: str) -> tuple[np.ndarray, float, float]:
    """Scale one map to its own range (from min(0, min) to max) and colour it."""
    lo, hi = min(0.0, float(m.min())), float(m.max())
    scaled = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    idx = (scaled * 255).astype(np.uint8)
    return _lut(cmap)[idx], lo, hi


def _tile(m: np.ndarray, caption: str, cmap: str, *, width: int, max_px: int) -> str:
    rgb, lo, hi = _colour(m, cmap)
    return (
        f'<figure style="margin:0;text-align:center">{_img(rgb, width=width, max_px=max_px, title=caption)}'
        f'<figcaption style="font-size:11px;color:#555">{_html.escape(caption)}</figcaption></figure>'
    )


def _grid(tiles: list[str], columns: int) -> str:
    return (
        f'<div style="display:grid;grid-template-columns:repeat({columns},max-content);gap:6px 6px">'
        + "".join(tiles)
        + "</div>"
    )


def _colourbar(cmap: str) -> str:
    strip = np.repeat(_lut(cmap)[None, :, :], 8, axis=0)
    uri, _ = _data_uri(strip, max_px=256)
    return (
        '<span style="display:inline-flex;align-items:center;gap:4px;font-size:11px;color:#555">0 '
        f'<img alt="colour scale" style="width:120px;height:8px" src="{uri}"/> largest value of each map</span>'
    )


def _pick(scores: Tensor, mode: str, start: int, k: int) -> tuple[list[int], str]:
    """Channel indices to show: the ``k`` most active, or ``k`` from ``start`` (clamped to the layer)."""
    n = int(scores.numel())
    k = min(k, n)
    if mode == "top":
        # numpy, not torch: torch's threaded kernels stall for tens of ms on a busy CPU; stable sort, ties by index
        order = np.argsort(-scores.numpy(), kind="stable")[:k]
        return order.tolist(), f"the {k} most active of {n} channels (highest mean activation)"
    first = max(0, min(start, n - k))
    note = "" if first == start else f" (from {first}, not {start}, so that {k} channels fit in this layer's {n})"
    return list(range(first, first + k)), f"channels {first}–{first + k - 1} of {n}{note}"


def _bar(fraction: float, colour: str) -> str:
    pct = max(0.0, min(1.0, fraction)) * 100
    return (
        f'<div style="background:#eee;width:90px;height:9px;display:inline-block;vertical-align:middle">'
        f'<div style="background:{colour};width:{pct:.0f}%;height:9px"></div></div>'
    )


def stats_table(stats: list[dict[str, Any]], *, highlight: str | None = None) -> str:
    """An HTML bar chart of per-layer statistics (one row per layer), ``highlight`` in bold.

    Args:
        stats: :attr:`Activations.stats`.
        highlight: module name of the row to emphasise.

    Returns:
        An HTML table.
    """
    top_mean = max((s["mean"] for s in stats), default=1.0) or 1.0
    rows = []
    for s in stats:
        on = s["module"] == highlight
        style = ' style="font-weight:bold;background:#fff7d6"' if on else ""
        rows.append(
            f"<tr{style}><td>{_html.escape(s['label'])}</td>"
            f"<td style='text-align:right'>{s['channels']} × {s['height']} × {s['width']}</td>"
            f"<td>{_bar(s['zero_fraction'], '#888')} {s['zero_fraction'] * 100:.0f}%</td>"
            f"<td>{_bar(s['mean'] / top_mean, '#3b7dd8')} {s['mean']:.3g}</td></tr>"
        )
    return (
        '<table style="font-size:12px;border-collapse:collapse;margin-top:6px">'
        "<tr style='color:#555'><th style='text-align:left'>layer</th><th>channels × height × width</th>"
        "<th style='text-align:left'>zeros (values ≤ 0)</th><th style='text-align:left'>mean activation</th></tr>"
        + "".join(rows)
        + "</table>"
    )


# --------------------------------------------------------------------------------------------- explorer
class FeatureMapExplorer(Explorer):
    """An :class:`~cnnlib.widgets.Explorer` with an activation cache and (live only) a photo upload button.

    Build it with :func:`feature_map_explorer`. Extra attributes:

    Attributes:
        cache: the :class:`ActivationCache` (``cache.forward_count`` counts forward passes).
        layers: the :class:`LayerSpec` list, in network order.
        images: image name -> ``H x W x 3`` uint8 photo.
        weights_text: the sentence saying which weights the model has.
        upload_widget: the ``ipywidgets.FileUpload`` (after :attr:`widget` is built).
        last_render_seconds: how long the latest render took.
    """

    def __init__(self, render: Any, controls: Any, **kw: Any) -> None:
        super().__init__(render, controls, **kw)
        self.cache: ActivationCache
        self.layers: list[LayerSpec] = []
        self.images: dict[str, np.ndarray] = {}
        self.weights_text = ""
        self.upload_widget: Any = None
        self.upload_message: str | None = None
        self._upload_status: Any = None
        self._upload_count = 0
        self.last_render_seconds = 0.0

    def activations(self, image: str | None = None) -> Activations:
        """The cached activations of a named image (default: the one shown); runs the forward pass if needed."""
        name = self.values["image"] if image is None else image
        if name == UPLOAD:
            if UPLOAD not in self.images:
                raise ValueError("no image has been uploaded yet")
        elif name not in self.images:
            raise ValueError(f"unknown image {name!r}; images are {sorted(self.images)}")
        return self.cache.get(f"{name}#{self._upload_count}" if name == UPLOAD else name, self.images[name])

    # -- uploads -------------------------------------------------------------------------------
    def add_upload(self, data: bytes | bytearray | memoryview, name: str = "upload") -> str | None:
        """Use an uploaded file as the image "your upload" and show it.

        Args:
            data: the file's bytes.
            name: its file name (shown in the view).

        Returns:
            ``None`` if the file was read, otherwise the message shown in the view instead of the image.
        """
        self._upload_count += 1
        try:
            self.images[UPLOAD] = load_image(bytes(data))
            self.upload_message = None
            self._upload_name = name
        except ImageError as err:
            self.images.pop(UPLOAD, None)
            self.upload_message = f"{name}: {err}"
        # Views of the previous upload are stale: drop them from the view cache.
        self.forget(image=UPLOAD)
        if self._upload_status is not None:
            self._upload_status.value = _html.escape(self.upload_message or f"showing {name}")
        self.set(image=UPLOAD)
        return self.upload_message

    def _on_upload(self, change: dict) -> None:
        for name, content in _upload_items(change["new"]):
            self.add_upload(content, name)

    @property
    def widget(self) -> Any:
        """The ipywidgets view: the Explorer's controls and output, plus an upload button (live only)."""
        if self._widget is None:
            import ipywidgets as w

            box = Explorer.widget.fget(self)  # type: ignore[attr-defined]
            self.upload_widget = w.FileUpload(accept="image/*", multiple=False, description="Upload a photo")
            self.upload_widget.observe(self._on_upload, names="value")
            self._upload_status = w.HTML("")
            row = w.HBox([self.upload_widget, self._upload_status])
            children = list(box.children)
            box.children = tuple(children[:-1] + [row, children[-1]])
        return self._widget


def _upload_items(value: Any) -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of every file in a FileUpload value: ipywidgets 7 (a dict) or 8 (a tuple of dicts)."""
    items: list[tuple[str, bytes]] = []
    if isinstance(value, Mapping):  # ipywidgets 7: {name: {"metadata": {...}, "content": bytes}}
        for name, entry in value.items():
            items.append((str(name), bytes(entry["content"])))
    else:  # ipywidgets 8: ({"name": ..., "content": memoryview, ...}, ...)
        for entry in value or ():
            items.append((str(entry.get("name", "upload")), bytes(entry["content"])))
    return items


def _image_name(source: Any, index: int) -> str:
    if isinstance(source, str):
        return Path(source).stem if Path(source).suffix else source
    return f"image {index + 1}"


def _describe_weights(weights: Any) -> str:
    if weights is None:
        return "Weights: not stated (pass weights= from cnnlib.pretrained.load_pretrained)."
    if isinstance(weights, str):
        return weights
    return str(getattr(weights, "description", weights))


def _class_names(weights: Any) -> Sequence[str] | None:
    return getattr(weights, "classes", None) if weights is not None else None


def feature_map_explorer(
    model: nn.Module,
    images: Mapping[str, Any] | Sequence[Any] | None = None,
    *,
    weights: Any = None,
    input_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    layer: str | None = None,
    channels: int = 16,
    cmap: str = "viridis",
    static_layers: Sequence[str] | None = None,
    static_images: Sequence[str] | None = None,
    tile_px: int = 64,
    tile_width: int = 84,
    title: str | None = "Feature maps",
) -> FeatureMapExplorer:
    """An interactive view of a model's feature maps for a few photos (and, live, the reader's own).

    Controls: ``image``; ``layer`` (the ``feature_info`` layers and every Inception block, plus "first-layer
    filters"); ``show`` (``"top"``: the most active channels, ``"index"``: channels by number); ``start`` (the
    first channel when showing by number); ``cmap`` (the colour map).

    Args:
        model: a cnnlib model with ``feature_info`` (e.g. from :func:`cnnlib.pretrained.load_pretrained`).
        images: photos by name (name -> anything :func:`load_image` reads), or a list of sources (scikit-image
            sample names, paths, arrays); default :data:`DEFAULT_IMAGES`.
        weights: the :class:`~cnnlib.pretrained.WeightsInfo` of the model (its sentence is shown in every view;
            its ``input_size``, ``mean``, ``std`` and ``classes`` are used), or a sentence.
        input_size: side of the square input; default the weights' (224 for ImageNet, 32 for CIFAR-10).
        mean, std: input normalisation; default the weights'.
        layer: the layer shown first (a module name); default the first ``feature_info`` layer.
        channels: maps per view (for Inception blocks, a quarter per branch).
        cmap: initial colour map (one of ``viridis``, ``magma``, ``gray``, ``coolwarm``).
        static_layers: layers pre-rendered for the static book (default: the ``feature_info`` layers and the
            filters).
        static_images: images pre-rendered for the static book (default: the first three).
        tile_px: largest side (px) at which a map is stored in the page (larger maps are averaged down).
        tile_width: displayed width (CSS px) of each map.
        title: heading of the explorer.

    Returns:
        The explorer; the last expression of a notebook cell displays it.

    Raises:
        ValueError: a model without ``feature_info``, an unknown layer or colour map, or no usable image.
    """
    specs = layer_specs(model)
    by_name = {s.module: s for s in specs}
    cls_name = type(model).__name__.lower()
    cifar = "cifar" in cls_name
    size = input_size or getattr(weights, "input_size", None) or (32 if cifar else 224)
    mean = mean or getattr(weights, "mean", None) or (CIFAR10_MEAN if cifar else IMAGENET_MEAN)
    std = std or getattr(weights, "std", None) or (CIFAR10_STD if cifar else IMAGENET_STD)
    if cmap not in COLOUR_MAPS:
        raise ValueError(f"unknown colour map {cmap!r}; choose from {COLOUR_MAPS}")

    if images is None:
        images = DEFAULT_IMAGES
    sources = dict(images) if isinstance(images, Mapping) else {_image_name(s, i): s for i, s in enumerate(images)}
    if not sources:
        raise ValueError("give at least one image")
    loaded = {str(name): load_image(src) for name, src in sources.items()}
    names = list(loaded)

    default_layer = layer or model.feature_info[0]["module"]  # type: ignore[index]
    if default_layer not in by_name and default_layer != FILTERS:
        raise ValueError(f"unknown layer {default_layer!r}; layers are {list(by_name)}")
    info_layers = [e["module"] for e in model.feature_info]  # type: ignore[union-attr]
    static_layer_values = [FILTERS, *(static_layers or info_layers)]
    for s in static_layer_values:
        if s not in by_name and s != FILTERS:
            raise ValueError(f"static layer {s!r} is not one of {list(by_name)}")
    max_chs = max(s.num_chs for s in specs)
    step = max(1, channels)
    conv_name, conv = first_conv(model)
    class_names = _class_names(weights)
    weights_text = _describe_weights(weights)
    native = "cifar" in weights_text.lower() or cifar

    ex: FeatureMapExplorer

    def render(image: str, layer: str, show: str, start: int, cmap: str) -> str:
        t0 = time.perf_counter()
        try:
            return _render(image, layer, show, start, cmap)
        finally:
            ex.last_render_seconds = time.perf_counter() - t0

    def _render(image: str, layer: str, show: str, start: int, cmap: str) -> str:
        head = [f'<div style="font-size:12px;color:#333;margin-bottom:4px">{_html.escape(ex.weights_text)}</div>']
        if image == UPLOAD and UPLOAD not in ex.images:
            msg = ex.upload_message or "No photo uploaded yet: use the “Upload a photo” button (live notebook only)."
            return "".join(head) + f'<div style="color:#a00;padding:8px;border:1px solid #e4b4b4">{_html.escape(msg)}</div>'
        acts = ex.activations(image)
        shown = getattr(ex, "_upload_name", "your upload") if image == UPLOAD else image
        h, w = ex.images[image].shape[:2]
        note = (
            f"{_html.escape(shown)} ({w} × {h} px), resized and cropped to {size} × {size} px, the input size of "
            + ("this CIFAR-10 model (its photos are 32 × 32)" if native and size == 32 else "the model")
        )
        pred = ""
        if acts.logits is not None and class_names and len(class_names) == acts.logits.numel():
            p = acts.logits.softmax(0)
            top = p.topk(min(3, p.numel()))
            pred = "; the model's guess: " + ", ".join(
                f"{_html.escape(class_names[i])} {v * 100:.0f}%" for v, i in zip(top.values.tolist(), top.indices.tolist())
            )
        side = (
            f'<div style="display:flex;gap:12px;align-items:flex-start">'
            f"<div>{thumbnail(acts)}</div>"
            f'<div style="font-size:12px;color:#333;max-width:520px">{note}{pred}.</div></div>'
        )
        head.append(side)
        if layer == FILTERS:
            body = _render_filters(acts, show, start)
        else:
            body = _render_maps(acts, by_name[layer], show, start, cmap)
        return "".join(head) + body + stats_table(acts.stats, highlight=None if layer == FILTERS else layer)

    filter_tiles: dict[int, str] = {}

    def thumbnail(acts: Activations) -> str:
        if "input" not in acts.memo:
            acts.memo["input"] = _img(acts.image, width=112, max_px=112, title="model input")
        return acts.memo["input"]

    def _render_filters(acts: Activations, show: str, start: int) -> str:
        weight = conv.weight.detach().float().cpu().numpy()  # C_out x 3 x k x k
        response = np.clip(acts.channel_mean[conv_name].numpy(), 0, None)
        if show == "top":
            order = np.argsort(-response, kind="stable").tolist()
            note = "sorted by how strongly each responds to this photo (mean of its positive output)"
        else:
            order = list(range(weight.shape[0]))
            note = "in index order"
        order = order[:64]
        k = weight.shape[-1]
        tiles = []
        for i in order:
            if i not in filter_tiles:  # the filters do not depend on the image: draw each once
                f = weight[i] / (np.abs(weight[i]).max() + 1e-12)
                rgb = ((f.transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).astype(np.uint8)
                filter_tiles[i] = (
                    f'<figure style="margin:0;text-align:center">{_img(rgb, width=40, max_px=16, title=f"filter {i}")}'
                    f'<figcaption style="font-size:10px;color:#555">{i}</figcaption></figure>'
                )
            tiles.append(filter_tiles[i])
        text = (
            f"<p style='font-size:12px;margin:6px 0'>The {weight.shape[0]} filters of the first convolution "
            f"(<code>{_html.escape(conv_name)}</code>, {k} × {k} × 3), shown as RGB colour patches, {note}. Grey is "
            "zero weight; a coloured patch matches image patches of that colour and pattern.</p>"
        )
        return text + _grid(tiles, 16)

    def _render_maps(acts: Activations, spec: LayerSpec, show: str, start: int, cmap: str) -> str:
        m = acts.maps[spec.module]
        c, hh, ww = m.shape
        if spec.branches:
            per = max(1, channels // 4)
            total = sum(acts.positive_sum[b] for b, _, _ in spec.branches) or 1.0
            columns = []
            for i, (bname, desc, _) in enumerate(spec.branches):
                bm = acts.display[bname]
                bmax = acts.channel_max[bname]
                idx, _ = _pick(acts.channel_mean[bname], show, start, per)
                share = acts.positive_sum[bname] / total
                tiles = [
                    _tile(bm[j], f"ch {j} · max {bmax[j]:.2g}", cmap, width=tile_width, max_px=tile_px) for j in idx
                ]
                columns.append(
                    f'<div style="border:1px solid #ddd;padding:4px;border-radius:4px">'
                    f'<div style="font-size:12px"><b>branch {i + 1}</b>: {_html.escape(desc)}<br>'
                    f"{bm.shape[0]} channels, {share * 100:.0f}% of the block's activation</div>"
                    f"{_grid(tiles, 2)}</div>"
                )
            mode = f"the {per} most active channels of each branch" if show == "top" else f"{per} channels of each branch from channel {start}"
            text = (
                f"<p style='font-size:12px;margin:6px 0'><b>{_html.escape(spec.label)}</b>: an Inception block, "
                f"{c} × {hh} × {ww}, the four branches side by side ({mode}); concatenated, they are the block's "
                f"output. Each map is scaled to its own range. {_colourbar(cmap)}</p>"
            )
            return text + f'<div style="display:flex;gap:8px;flex-wrap:wrap">{"".join(columns)}</div>'
        idx, what = _pick(acts.channel_mean[spec.module], show, start, channels)
        arr, mx = acts.display[spec.module], acts.channel_max[spec.module]
        tiles = [_tile(arr[j], f"ch {j} · max {mx[j]:.2g}", cmap, width=tile_width, max_px=tile_px) for j in idx]
        text = (
            f"<p style='font-size:12px;margin:6px 0'><b>{_html.escape(spec.label)}</b>: {c} maps of {hh} × {ww} "
            f"(one pixel per {size / hh:.3g} input pixels); {what}. Each map is scaled to its own range. "
            f"{_colourbar(cmap)}</p>"
        )
        return text + _grid(tiles, 8)

    controls = {
        "image": Choice(
            "image",
            [(n, n) for n in names] + [("your upload", UPLOAD)],
            value=names[0],
            static=list(static_images or names[:3]),
        ),
        "layer": Choice(
            "layer",
            [("first-layer filters", FILTERS)] + [(s.label, s.module) for s in specs],
            value=default_layer,
            static=static_layer_values,
        ),
        "show": Choice("channels", [(f"{channels} most active", "top"), ("by index", "index")], value="top"),
        "start": Slider("from channel", 0, max(0, max_chs - step), step=step, value=0, static=[0]),
        "cmap": Choice("colour map", list(COLOUR_MAPS), value=cmap, static=[cmap]),
    }
    ex = FeatureMapExplorer(render, controls, title=title, dpi=72)
    ex.layers = specs
    ex.images = loaded
    ex.weights_text = weights_text
    ex.cache = ActivationCache(
        model, specs, input_size=size, mean=mean, std=std, max_images=len(loaded) + 4, display_px=tile_px
    )
    return ex
