"""Capture intermediate feature maps with forward hooks.

``torchvision.models.feature_extraction.create_feature_extractor`` does this by tracing the model
into a new graph; the hooks used here leave the model as it is, work for any control flow, and keep
the captured tensors inside the autograd graph (so gradients with respect to them can be taken).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["capture_features"]


def _copy(obj: Any, *, clone: bool, detach: bool) -> Any:
    if isinstance(obj, torch.Tensor):
        if detach:
            obj = obj.detach()
        return obj.clone() if clone else obj
    if isinstance(obj, tuple):
        return type(obj)(*(_copy(o, clone=clone, detach=detach) for o in obj)) if hasattr(obj, "_fields") \
            else tuple(_copy(o, clone=clone, detach=detach) for o in obj)
    if isinstance(obj, list):
        return [_copy(o, clone=clone, detach=detach) for o in obj]
    return obj


@contextlib.contextmanager
def capture_features(
    model: nn.Module,
    layer_names: str | Iterable[str],
    *,
    clone: bool = False,
    detach: bool = False,
) -> Iterator[dict[str, Any]]:
    """Records the outputs of the named modules during every forward pass inside the block.

    Example::

        with capture_features(model, ["features.4", "features.9"]) as feats:
            logits = model(x)
        feats["features.4"].shape   # N x 64 x 112 x 112

    The hooks are removed when the block ends, also when it raises. Each forward pass overwrites
    the previous values; a module that runs twice in one pass keeps its last output.

    Note:
        Without ``clone``, the values are those ``create_feature_extractor`` returns. That
        extractor runs the graph only as far as the last requested layer, so an in-place layer
        *between* requested layers (VGG's ``ReLU(inplace=True)`` after ``features.0`` when
        ``features.2`` is requested too) changes an earlier capture, while one *after* the last
        requested layer does not run there. Here the model runs to the end, so when an in-place
        module is about to modify a capture after all requested layers have run, the capture is
        replaced by a copy first (in-place *functional* calls inside a module's ``forward``, such
        as ``F.relu(x, inplace=True)``, are not seen). Otherwise a capture is the module's output
        object itself, part of the autograd graph. ``clone=True`` instead stores a copy of every
        output taken when its module returns: the value that layer computed, whatever follows.

    Args:
        model: The network.
        layer_names: Names as in ``model.named_modules()`` (``"features.28"``, ``"inception4a"``).
        clone: Store a copy of each output (immune to later in-place changes; costs memory).
        detach: Store outputs detached from the autograd graph.

    Yields:
        A dict ``{name: output}``, filled as the model runs, in the order of ``layer_names``
        once all of them have run.

    Raises:
        ValueError: If a name is not a module of ``model``; the message lists close matches.
    """
    names = list(dict.fromkeys([layer_names] if isinstance(layer_names, str) else layer_names))
    modules = dict(model.named_modules())
    unknown = [n for n in names if n not in modules]
    if unknown:
        hints = []
        candidates = [m for m in modules if m]
        for n in unknown:
            scored = [(difflib.SequenceMatcher(None, n, m).ratio(), -i, m) for i, m in enumerate(candidates)]
            close = [m for score, _, m in sorted(scored, reverse=True)[:5] if score >= 0.6]
            hints.append(f"{n!r} (did you mean: {', '.join(close)}?)" if close else repr(n))
        raise ValueError(
            f"{type(model).__name__} has no module named {'; '.join(hints)}. "
            "Names are those of model.named_modules()."
        )
    features: dict[str, Any] = {}
    this_pass: set[str] = set()

    def start_pass(module: nn.Module, inputs: Any) -> None:
        this_pass.clear()

    def make_hook(name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            features[name] = _copy(output, clone=clone, detach=detach)
            this_pass.add(name)
            if len(this_pass) == len(names):  # all captured: restore the requested order
                ordered = {n: features[n] for n in names}
                features.clear()
                features.update(ordered)

        return hook

    def copy_before_inplace(module: nn.Module, inputs: Any) -> None:
        if len(this_pass) < len(names) or not inputs:
            return
        for name, value in features.items():
            if value is inputs[0]:
                features[name] = value.clone()

    handles = [model.register_forward_pre_hook(start_pass)]
    handles += [modules[n].register_forward_hook(make_hook(n)) for n in names]
    if not clone:
        handles += [
            m.register_forward_pre_hook(copy_before_inplace)
            for m in modules.values()
            if getattr(m, "inplace", False) is True
        ]
    try:
        yield features
    finally:
        for h in handles:
            h.remove()
