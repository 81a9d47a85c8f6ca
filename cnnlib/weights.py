"""Load torchvision's ImageNet weights into cnnlib's models.

cnnlib's AlexNet, VGG (with and without BatchNorm) and torchvision-variant GoogLeNet have
exactly torchvision's ``state_dict`` layout, so torchvision's published ImageNet weights load
with ``strict=True``. This needs a network connection the first time (the files are cached
by ``torch.hub``, typically under ``~/.cache/torch/hub/checkpoints``); the book's chapters
never call it while building, only readers who opt in.

Papers: Krizhevsky et al. 2012 (AlexNet); Simonyan & Zisserman 2014, arXiv:1409.1556 (VGG);
Szegedy et al. 2014, arXiv:1409.4842 (GoogLeNet). The models with no torchvision
counterpart — VGG configuration C (``vgg16_c``) and the paper GoogLeNet — have no weights.
"""

from __future__ import annotations

import urllib.error
import warnings
from typing import TypeVar

from torch import nn

__all__ = ["PRETRAINED_NAMES", "load_torchvision_weights"]

M = TypeVar("M", bound=nn.Module)

#: Names with torchvision ImageNet weights (torchvision's model names).
PRETRAINED_NAMES: tuple[str, ...] = (
    "alexnet",
    "googlenet",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
)

_AUX_PREFIXES = ("aux1.", "aux2.")


def load_torchvision_weights(model: M, name: str | None = None, *, progress: bool = True) -> M:
    """Download torchvision's ImageNet weights for ``model`` and load them strictly.

    Args:
        model: a cnnlib model built with 1000 classes, e.g. ``vgg16(batch_norm=True)``.
        name: torchvision's model name (one of :data:`PRETRAINED_NAMES`); by default
            ``model.pretrained_name``, which cnnlib's builders set.
        progress: show a download progress bar (torch.hub's, on stderr).

    Returns:
        ``model`` itself, with the weights loaded (its mode is unchanged; call ``.eval()``
        for inference).

    Raises:
        ValueError: if the name cannot be inferred, has no torchvision weights (e.g.
            ``"vgg16_c"``, ``"googlenet_paper"``), or the model's parameter names or shapes do not
            fit the weights (e.g. ``num_classes != 1000``, a key missing from the file).
        ConnectionError: the file is not in torch.hub's cache and cannot be downloaded (offline,
            an HTTP error, a corrupt download); the message says where the file would be cached.

    GoogLeNet, as torchvision does when it loads these weights:

    * ``model.transform_input`` is set to ``True``: the weights were ported from Caffe and
      expect inputs on a (x - 0.5) / 0.5 scale; with it, the model takes the usual
      ImageNet-normalised input. Set it back to ``False`` afterwards if you feed that scale.
    * the file holds auxiliary-head parameters; a model built with ``aux_logits=False`` drops
      them. A model with auxiliary heads loads them, with a warning that they are not
      trained (torchvision's warning).
    """
    from torchvision.models import get_model_weights  # lazy: importing cnnlib stays light

    if name is None:
        name = getattr(model, "pretrained_name", None)
        if name is None:
            raise ValueError(
                "cannot tell which torchvision weights fit this model; build it with a cnnlib builder "
                f"(e.g. cnnlib.vgg16()) or pass name=, one of: {', '.join(PRETRAINED_NAMES)}"
            )
    if name not in PRETRAINED_NAMES:
        raise ValueError(
            f"{name!r} has no torchvision ImageNet weights; weights exist for: {', '.join(PRETRAINED_NAMES)}"
        )
    if name == "googlenet" and getattr(model, "paper", False):
        raise ValueError("the paper GoogLeNet (paper=True) has no torchvision weights; use googlenet(paper=False)")

    weights = get_model_weights(name).DEFAULT
    try:
        state_dict = weights.get_state_dict(progress=progress, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError) as err:  # offline, HTTP, timeout, hash mismatch
        import torch.hub

        reason = getattr(err, "reason", None) or err
        raise ConnectionError(
            f"could not download torchvision's {name!r} weights from {weights.url} ({type(err).__name__}: {reason}); "
            f"they need the internet once, then torch.hub's cache ({torch.hub.get_dir()}/checkpoints) serves them"
        ) from None

    if name == "googlenet":
        if getattr(model, "aux1", None) is None:
            state_dict = {k: v for k, v in state_dict.items() if not k.startswith(_AUX_PREFIXES)}
        else:
            warnings.warn(
                "auxiliary heads in the pretrained googlenet model are NOT pretrained, so make sure to train them",
                stacklevel=2,
            )

    own = model.state_dict()
    mismatched = [
        f"{k}: model {tuple(own[k].shape)} vs weights {tuple(v.shape)}"
        for k, v in state_dict.items()
        if k in own and own[k].shape != v.shape
    ]
    if mismatched:
        raise ValueError(
            f"torchvision's {name!r} weights do not fit this model (1000 ImageNet classes?): " + "; ".join(mismatched)
        )
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    if missing or unexpected:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")

        parts = ([f"the file lacks {len(missing)} of the model's keys ({few(missing)})"] if missing else []) + (
            [f"the file has {len(unexpected)} keys the model lacks ({few(unexpected)})"] if unexpected else []
        )
        raise ValueError(f"torchvision's {name!r} weights do not fit this model: " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)
    if name == "googlenet":
        model.transform_input = True
    return model
