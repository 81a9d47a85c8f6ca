"""Set-up shared by every chapter: device, quick mode, glued numbers, run descriptions.

Each chapter starts with::

    from cnnlib.notebook import setup, glue
    ctx = setup()
    print(ctx.describe())

``setup`` works the same in Colab, in Jupyter and under the tests (nbval), so the chapters never branch on
where they run except through ``ctx.quick`` (tiny data, few steps: the tests) and ``ctx.device``.
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import sys
from dataclasses import dataclass, field
from typing import Any

import torch

from ._base import default_device
from ._base import device_name as _base_device_name

__all__ = ["NotebookContext", "setup", "glue", "solution", "is_quick", "device_name", "QUICK_ENV"]

#: Environment variable that switches the chapters to quick mode (set by ``make test``).
QUICK_ENV = "CNNLIB_QUICK"

# The MIME prefix and metadata key that myst-nb's ``glue`` uses; repeating the protocol here lets the
# chapters glue numbers without importing myst-nb (Colab does not have it).
_GLUE_PREFIX = "application/papermill.record/"


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def is_quick() -> bool:
    """Whether quick mode is on (``CNNLIB_QUICK=1``): the tests' small data and few steps.

    Returns:
        ``True`` for ``1``, ``true``, ``yes`` or ``on``; ``False`` for ``0``, ``false``, ``no``, ``off``, empty or
        unset (any case, spaces ignored).

    Raises:
        ValueError: any other value (a typo must not silently mean an hour-long full run).
    """
    raw = os.environ.get(QUICK_ENV, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{QUICK_ENV}={raw!r} is not understood: use 1/true/yes/on or 0/false/no/off")


def _host() -> str:
    if "google.colab" in sys.modules:
        return "colab"
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with every notebook host
        return "script"
    shell = get_ipython()
    return "jupyter" if shell is not None and "IPKernelApp" in getattr(shell, "config", {}) else "script"


def device_name(device: torch.device) -> str:
    """A human-readable name of ``device``, e.g. ``"NVIDIA H100 80GB HBM3"`` or
    ``"CPU (AMD EPYC, x86_64, 2 threads)"`` (:func:`cnnlib._base.device_name`)."""
    return _base_device_name(device)


@dataclass
class NotebookContext:
    """What a chapter needs to know about where it runs.

    Attributes:
        device: ``cuda`` when a GPU is visible, else ``cpu``.
        quick: quick mode (tests): use tiny data and few steps.
        host: ``"colab"``, ``"jupyter"`` or ``"script"``.
        seed: the seed given to Python's and torch's generators.
        started: when :func:`setup` ran (UTC).
    """

    device: torch.device
    quick: bool
    host: str
    seed: int
    started: _dt.datetime = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc))

    def describe(self) -> str:
        """What produced this run: device, torch version, date; wrapped at 80 characters (the book's column)."""
        import textwrap

        mode = " in quick mode" if self.quick else ""
        when = self.started.strftime("%Y-%m-%d %H:%M UTC")
        return textwrap.fill(
            f"Run on {device_name(self.device)} with torch {torch.__version__}{mode}, "
            f"started {when} ({self.host}).", 80
        )

    def elapsed(self) -> float:
        """Seconds since :func:`setup` ran."""
        return (_dt.datetime.now(_dt.timezone.utc) - self.started).total_seconds()


def setup(*, seed: int = 0, device: str | torch.device | None = None) -> NotebookContext:
    """Prepare a chapter: seed the generators, pick the device, read quick mode, set the figure style, and (in
    IPython) register the ``%%solution NAME`` cell magic (:func:`solution` on the cell's code).

    Args:
        seed: seed for ``random`` and ``torch``.
        device: force a device; by default ``cuda`` if available, else ``cpu``.

    Returns:
        The :class:`NotebookContext` the chapter passes around.
    """
    random.seed(seed)
    torch.manual_seed(seed)
    from . import style  # the book's figure style (fonts, sizes, 2x images), set in one place

    style.apply()
    _register_solution_magic()
    dev = torch.device(device) if device is not None else default_device()
    return NotebookContext(device=dev, quick=is_quick(), host=_host(), seed=seed)


def glue(name: str, value: Any, *, display: bool = False) -> None:
    """Make ``value`` available to the prose as ``{glue:text}`name```.

    Writes the same output as ``myst_nb.glue`` (a display-data output with ``scrapbook`` metadata), so the book
    builder finds it, but does not need myst-nb to be installed.

    Args:
        name: unique key used in the markdown roles.
        value: any object; what the book shows is its text (or HTML/PNG) representation.
        display: also show the value in the notebook.
    """
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display

    if not name or not isinstance(name, str):
        raise ValueError(f"glue needs a non-empty string name, got {name!r}")
    bundle, metadata = format_display_data(value)
    prefix = "" if display else _GLUE_PREFIX
    metadata = dict(metadata)
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipy_display({prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


def solution(name: str, code: str, namespace: dict[str, Any]) -> str:
    """Run an exercise's solution and glue its code and what it prints, for the chapter's Solution dropdown.

    The cell that calls this is tagged ``remove-cell``; inside the dropdown the chapter shows
    ``{glue:md} <name>_code`` and ``{glue:md} <name>_output`` (with ``:format: myst``), so the solution's code and
    output appear only when the reader opens it, and the code shown is exactly the code that ran.

    Args:
        name: the glue prefix, e.g. ``"ex1"``.
        code: the solution's Python source.
        namespace: where it runs (the chapter's ``globals()``), so it sees the chapter's names.

    Returns:
        What the code printed.
    """
    import contextlib
    import io

    from IPython.display import Markdown

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"<solution {name}>", "exec"), namespace)  # noqa: S102 - the chapter's own code
    text = printed.getvalue().rstrip("\n")
    glue(f"{name}_code", Markdown(f"```python\n{code.strip()}\n```"))
    glue(f"{name}_output", Markdown(f"```text\n{text}\n```"))
    return text


def _register_solution_magic() -> None:
    """``%%solution NAME`` runs the cell through :func:`solution` in the notebook's namespace (IPython only)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with every notebook host
        return
    shell = get_ipython()
    if shell is None:
        return

    def solution_magic(line: str, cell: str) -> None:
        if not line.strip():
            raise ValueError("%%solution needs a name, e.g. %%solution ex1")
        solution(line.strip(), cell, shell.user_ns)

    shell.register_magic_function(solution_magic, "cell", "solution")
