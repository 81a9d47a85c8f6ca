"""A small model registry: build any of cnnlib's networks by name.

>>> from cnnlib import create_model, list_models
>>> model = create_model("vgg16_bn", num_classes=10)
>>> "googlenet_paper" in list_models()
True

Builders register themselves with the :func:`register_model` decorator when their module
is imported. Importing anything from ``cnnlib`` (this module included) first runs
``cnnlib/__init__.py``, which imports every model module (``vgg``, ``alexnet``, ``googlenet``,
``cifar``), so the registry is always complete.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, TypeVar

from torch import nn

__all__ = ["create_model", "list_models", "register_model"]

F = TypeVar("F", bound=Callable[..., nn.Module])

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: F | None = None, *, name: str | None = None) -> Any:
    """Register a model builder under ``name`` (default: the function's ``__name__``).

    Usable bare (``@register_model``) or with a name (``@register_model(name="x")``).

    Args:
        fn: the builder, a callable taking keyword arguments and returning an ``nn.Module``.
        name: the registry name; defaults to ``fn.__name__``.

    Returns:
        The builder itself, unchanged (or a decorator, when called without ``fn``).

    Raises:
        ValueError: if a *different* builder is already registered under the name.
            Re-registering the same function (e.g. after ``importlib.reload``) is allowed.
    """

    def decorator(builder: F) -> F:
        key = name or builder.__name__
        old = _REGISTRY.get(key)
        if old is not None and _qualname(old) != _qualname(builder):
            raise ValueError(f"a model named {key!r} is already registered ({_qualname(old)})")
        _REGISTRY[key] = builder
        return builder

    if fn is None:
        return decorator
    return decorator(fn)


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def list_models() -> list[str]:
    """Return the names of all registered models, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model by name.

    Args:
        name: a name from :func:`list_models`, e.g. ``"vgg16"``, ``"vgg16_bn"``,
            ``"googlenet_paper"``.
        **kwargs: keyword arguments for the builder (e.g. ``num_classes=10``).

    Returns:
        The freshly built model (random weights).

    Raises:
        ValueError: if ``name`` is unknown; the message lists close matches.
    """
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.5)
        hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
        raise ValueError(f"unknown model {name!r}; {hint}known models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)
