"""Shared plumbing for cnnlib's models: input validation, the ``feature_info`` and ``pretrained_cfg`` records,
ImageNet's statistics, and the one eval-mode context and device default the layers above use.

Every model in :mod:`cnnlib` validates its input with :func:`check_input` at the top of
``forward_features`` (which ``forward`` calls), so that a wrong input fails with a
:class:`ValueError` that names the expected shape, e.g.::

    ValueError: expected a batch of shape N x 3 x H x W with H, W >= 32,
    got (3, 224, 224)

instead of a shape error from deep inside the network. The input must also be a tensor of the model's own
floating-point dtype (uint8 pixels, a float16 batch for a float32 model or a numpy array fail at the door), and
heads that only fit a range of sizes check it with :func:`check_map_size`.

The checker must not get in the way of the tools that trace a model:

* ``torch.fx`` (and so ``torchvision.models.feature_extraction.create_feature_extractor``)
  cannot run Python ``if`` statements on a traced tensor's shape. :func:`check_input` is
  therefore registered with :func:`torch.fx.wrap`: FX records it as a single call in the
  graph (which still checks real inputs when the traced module runs) instead of tracing
  into it. Models call it as ``_base.check_input(...)`` so that FX's patching of this
  module's globals is seen.
* ``torch.jit.script`` compiles it (plain ints and string concatenation only).
* ``torch.compile`` turns the shape tests into guards; the ``raise`` is never traced for
  valid inputs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Optional, TypedDict

import torch
from torch import Tensor, nn

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FeatureInfo",
    "PretrainedCfg",
    "check_input",
    "check_map_size",
    "cpu_model_name",
    "default_device",
    "device_name",
    "eval_mode",
    "format_shape",
    "pretrained_cfg",
]

#: ImageNet's per-channel mean and standard deviation of RGB pixels in [0, 1] (what torchvision's weights expect).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PretrainedCfg:
    """What a model expects of its input and what its outputs mean (timm's ``pretrained_cfg``).

    Every cnnlib model carries one as ``model.pretrained_cfg``, so that the layers above (image loading, the
    feature-map views) read the input size and normalisation from the model instead of guessing them from its
    class name.

    Attributes:
        input_size: ``(C, H, W)`` of the input the network was designed (and trained) for.
        mean: per-channel mean subtracted from pixels in [0, 1].
        std: per-channel standard deviation the pixels are divided by.
        num_classes: outputs of the classifier.
        dataset: the data set the design (and cnnlib's weights) belong to: ``"imagenet"`` or ``"cifar10"``.
        classes: class names when known (CIFAR-10's ten; ImageNet's come with torchvision's weights).
        min_input_size: the smallest height/width the whole network (``forward``) accepts.
        max_input_size: the largest height/width ``forward`` accepts (``0``: no limit).
    """

    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    dataset: str
    classes: Optional[tuple[str, ...]] = None
    min_input_size: int = 1
    max_input_size: int = 0


def pretrained_cfg(
    *,
    input_size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    num_classes: int,
    dataset: str,
    classes: Optional[tuple[str, ...]] = None,
    min_input_size: int = 1,
    max_input_size: int = 0,
) -> PretrainedCfg:
    """Build a :class:`PretrainedCfg` for a square RGB input of side ``input_size``.

    Args:
        input_size: side of the square input the network is designed for (224 or 32).
        mean: per-channel normalisation mean.
        std: per-channel normalisation standard deviation.
        num_classes: outputs of the classifier.
        dataset: ``"imagenet"`` or ``"cifar10"``.
        classes: class names, if known; must have ``num_classes`` entries.
        min_input_size: the smallest side ``forward`` accepts.
        max_input_size: the largest side ``forward`` accepts (0: no limit).

    Returns:
        The config.

    Raises:
        ValueError: ``classes`` does not have ``num_classes`` names.
    """
    if classes is not None and len(classes) != num_classes:
        classes = None  # a head re-sized for another task: the names no longer apply
    return PretrainedCfg(
        input_size=(3, int(input_size), int(input_size)),
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        num_classes=int(num_classes),
        dataset=dataset,
        classes=None if classes is None else tuple(classes),
        min_input_size=int(min_input_size),
        max_input_size=int(max_input_size),
    )


def default_device() -> torch.device:
    """The device cnnlib uses when none is given: the first CUDA GPU if there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpu_model_name() -> str:
    """The processor's model name as the OS reports it (``"AMD EPYC"``, ``"Intel(R) Xeon(R) ..."``), or ``""``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:  # not Linux: the architecture alone names it
        pass
    return ""


def device_name(device: torch.device) -> str:
    """A human-readable name of ``device``: ``"NVIDIA H100 80GB HBM3"``, ``"Apple GPU (MPS)"`` or
    ``"CPU (AMD EPYC, x86_64, 2 threads)"`` (the processor, the architecture and torch's thread count)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    import platform

    parts = [cpu_model_name(), platform.machine() or "unknown", f"{torch.get_num_threads()} threads"]
    return f"CPU ({', '.join(p for p in parts if p)})"


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode, and restore each one's own ``training`` flag afterwards.

    Args:
        model: any module.

    Yields:
        ``model`` itself, in eval mode.
    """
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags.items():
            m.training = flag


class FeatureInfo(TypedDict):
    """One entry of a model's ``feature_info`` list (the convention of timm).

    Keys:
        module: name of the module whose output is the feature map, exactly as in
            ``model.named_modules()`` (usable for forward hooks and for
            ``create_feature_extractor(model, return_nodes=[module])``).
        num_chs: number of channels of that output.
        reduction: nominal stride of that output relative to the input (an input of
            224 px gives a map of about ``224 / reduction`` px).
        stage: a short human-readable label of the stage, named after the paper
            (e.g. ``"conv3"`` for VGG's conv3_x group, ``"inception4"`` for GoogLeNet).
    """

    module: str
    num_chs: int
    reduction: int
    stage: str


def format_shape(x: Tensor) -> str:
    """Format a tensor's shape as a Python tuple would print, e.g. ``(3, 224, 224)``."""
    sizes = [str(int(s)) for s in x.shape]
    if len(sizes) == 1:
        return "(" + sizes[0] + ",)"
    return "(" + ", ".join(sizes) + ")"


@torch.jit.ignore
def _not_a_tensor(x: object) -> None:
    raise ValueError(
        f"expected a torch.Tensor batch of shape N x C x H x W, got a {type(x).__module__}.{type(x).__name__}"
        " (convert it with torch.as_tensor(...).float(), scaled to [0, 1] and normalised)"
    )


def check_input(x: Tensor, min_size: int, channels: int = 3, like: Optional[Tensor] = None) -> Tensor:
    """Check that ``x`` is a batch of images a model can take, and return it unchanged.

    Args:
        x: the model's input, expected ``N x channels x H x W``.
        min_size: the smallest height and width the network accepts (its pools and
            strided convolutions must leave at least one pixel).
        channels: the number of input channels the first convolution expects.
        like: a weight of the model; the input must have its dtype (``None``: any floating-point dtype).

    Returns:
        ``x`` itself (so that FX keeps the check in a traced graph).

    Raises:
        ValueError: if ``x`` is not a tensor, not floating point or not of the model's dtype, is not 4-D, has
            the wrong number of channels, or is smaller than ``min_size`` in height or width. The message names
            what was expected.
    """
    if not isinstance(x, torch.Tensor):
        _not_a_tensor(x)
    if not x.is_floating_point() or (like is not None and x.dtype != like.dtype):
        # string concatenation only, so that TorchScript compiles it too
        want = "a floating-point dtype" if like is None else str(like.dtype) + " (the dtype of the model's weights)"
        hint = "convert the input with x.to(dtype) or the model with model.to(dtype)"
        if not x.is_floating_point():
            hint = "images as integers? convert them with x.float() / 255, then normalise"
        raise ValueError("expected a batch of " + want + ", got dtype " + str(x.dtype) + ": " + hint)
    if x.dim() != 4 or x.size(1) != channels or x.size(2) < min_size or x.size(3) < min_size:
        raise ValueError(
            "expected a batch of shape N x "
            + str(channels)
            + " x H x W with H, W >= "
            + str(min_size)
            + ", got "
            + format_shape(x)
        )
    return x


def check_map_size(x: Tensor, min_size: int, max_size: int, input_range: str) -> Tensor:
    """Check the spatial size of a feature map before a fixed-size head, and return it unchanged.

    Used by heads that only fit a range of input sizes (a fixed pool followed by a linear layer), so that a
    wrong input size fails with a :class:`ValueError` naming the accepted *input* sizes instead of a shape error
    inside the linear layer.

    Args:
        x: ``N x C x h x w`` feature maps.
        min_size: the smallest ``h`` and ``w`` the head accepts.
        max_size: the largest ``h`` and ``w`` the head accepts.
        input_range: the input sizes that give such maps, in words (e.g. ``"25 to 48"``).

    Returns:
        ``x`` itself.

    Raises:
        ValueError: the maps are outside ``min_size .. max_size``.
    """
    if x.dim() != 4 or x.size(2) < min_size or x.size(3) < min_size or x.size(2) > max_size or x.size(3) > max_size:
        raise ValueError(
            "the classifier accepts inputs with H, W from "
            + input_range
            + " px (feature maps of "
            + str(min_size)
            + " to "
            + str(max_size)
            + " px), got feature maps of shape "
            + format_shape(x)
        )
    return x


# FX: record the checks as one leaf call each instead of tracing their shape tests.
torch.fx.wrap("check_input")
torch.fx.wrap("check_map_size")
