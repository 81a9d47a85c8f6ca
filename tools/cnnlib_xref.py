"""A small Sphinx extension for the API reference: resolve cross-references the way users write them.

Docstrings say ``cnnlib.vgg16`` or ``cnnlib.VGG_CONFIGS`` (the names users import), while autodoc documents each
object where it is defined (``cnnlib.vgg.vgg16``). On a missing ``py`` reference to ``cnnlib.X`` this looks ``X``
up, finds where it is defined (or, for data, which documented name holds the same object), and resolves to that. Type variables
(``F = TypeVar("F")``) in signatures and private modules (``cnnlib.widgets._core``: their public names are
documented where they are re-exported) have no page and are rendered as plain text. Every other missing
reference still fails the build (``-n -W``).

Loaded from ``_config.yml`` (``sphinx: local_extensions``).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, TypeVar

from docutils import nodes
from sphinx.application import Sphinx


def _lookup(target: str) -> Any:
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _missing_reference(app: Sphinx, env: Any, node: Any, contnode: nodes.Element) -> nodes.Element | None:
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith("cnnlib."):
        return None
    obj = _lookup(target)
    if obj is None:
        return None
    if isinstance(obj, TypeVar) or (isinstance(obj, ModuleType) and any(p.startswith("_") for p in target.split("."))):
        return contnode
    domain = env.get_domain("py")
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module and qualname and f"{module}.{qualname}" != target:
        candidates = [f"{module}.{qualname}"]
    else:
        # Data (VGG_CONFIGS) has no __module__: find the documented name that holds the very same object.
        leaf = target.rsplit(".", 1)[-1]
        candidates = [n for n in domain.objects if n != target and n.rsplit(".", 1)[-1] == leaf and _lookup(n) is obj]
    for name in candidates:
        new = node.deepcopy()
        new["reftarget"] = name
        found = domain.resolve_any_xref(env, node["refdoc"], app.builder, name, new, contnode)
        if found:
            return found[0][1]
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", _missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
