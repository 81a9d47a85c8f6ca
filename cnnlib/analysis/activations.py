"""What every layer of a network computes from one photo, captured once and kept.

The analysis behind the feature-map views (:mod:`cnnlib.widgets.feature_maps`): :func:`layer_specs` lists the
layers worth showing (a model's ``feature_info`` -- VGG's stages, Simonyan & Zisserman 2014, arXiv:1409.1556 --
plus every Inception block of GoogLeNet, Szegedy et al. 2014, arXiv:1409.4842, with its four branches), and
:class:`ActivationCache` runs the model **once per image** (through :func:`cnnlib.analysis.capture_features`) and
keeps each layer's maps and per-channel statistics, so that a view can be redrawn without another forward pass.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .._base import eval_mode
from ..images import to_model_input
from ._common import first_tensor
from .features import capture_features

__all__ = ["ActivationCache", "Activations", "LayerSpec", "first_conv", "layer_specs"]


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
        memo: what the views derive from this image once and reuse (e.g. an encoded thumbnail); empty here.
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
        """The model's view of ``image``: the ``S x S`` crop (uint8) and the normalised ``1 x 3 x S x S`` tensor
        (:func:`cnnlib.images.to_model_input`)."""
        return to_model_input(image, self.input_size, self.mean, self.std)

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
        crop, x = self.to_input(image)
        param = next(self.model.parameters(), None)
        if param is not None:
            x = x.to(device=param.device, dtype=param.dtype)
        names = self.module_names()
        start = time.perf_counter()
        with eval_mode(self.model), torch.no_grad(), capture_features(self.model, names, clone=True, detach=True) as feats:
            logits = self._forward(x)
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
        except (ValueError, RuntimeError):  # a fixed-size head (e.g. vgg_cifar's: 25 to 48 px) at another size
            return None

    def _shrink_map(self, m: Tensor) -> np.ndarray:
        h, w = m.shape[1:]
        if max(h, w) <= self.display_px:
            return m.numpy()
        s = self.display_px / max(h, w)
        size = (max(1, round(h * s)), max(1, round(w * s)))
        return torch.nn.functional.adaptive_avg_pool2d(m.unsqueeze(0), size)[0].numpy()


def _as_map(t: Any) -> Tensor:
    t = first_tensor(t)
    if t is None:
        raise ValueError("expected a feature map tensor, got none in the module's output")
    t = t.detach()
    if t.dim() == 4:
        t = t[0]
    if t.dim() != 3:
        raise ValueError(f"expected a N x C x H x W feature map, got shape {tuple(t.shape)}")
    return t.float().cpu().contiguous()
