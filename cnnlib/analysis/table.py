"""A per-layer table of a network: output shape, parameters, MACs and activation memory.

torchinfo prints a similar summary; this one is a value the chapters compute with (filter rows,
sum columns, group layers into blocks, plot profiles) and render in a notebook without pandas.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from torch import nn

from ._common import InputSize, as_input_shape, first_tensor, shape_forward
from .macs import module_macs

__all__ = ["LayerRow", "LayerTable", "count_macs", "layer_table", "format_bytes", "format_count"]

NUMERIC_COLUMNS = ("params", "macs", "act_bytes")


@dataclass(frozen=True)
class LayerRow:
    """One leaf layer of a network (or the own operations of a container, see :func:`layer_table`).

    Attributes:
        name: The module's name as in ``model.named_modules()``, e.g. ``"features.28"`` or
            ``"inception3a.branch2.1.conv"``.
        type: The module's class name, e.g. ``"Conv2d"``.
        output_shape: Shape of the output of its last call, batch included; ``None`` if the layer
            did not run in an eval-mode forward pass (e.g. GoogLeNet's auxiliary classifiers).
        params: Number of parameter elements it owns (shared parameters are counted once, at
            their first owner), so the column sums to ``sum(p.numel() for p in model.parameters())``.
        macs: Multiply-accumulates over all its calls, for the whole batch (see :mod:`.macs`).
        act_bytes: Bytes of *new* output memory over all its calls: 0 when the layer returns its
            input tensor itself (``ReLU(inplace=True)``, dropout in eval mode).
        calls: How many times it ran in the pass (more than 1 for a module used twice).
    """

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    params: int
    macs: int
    act_bytes: int
    calls: int


def format_count(n: float, unit: str = "") -> str:
    """``138357544 -> "138.36 M"``: a count with an SI prefix and two decimals."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {prefix}{unit}"
    return f"{n:.0f} {unit}".rstrip()


def format_bytes(n: float) -> str:
    """``6422528 -> "6.12 MiB"``: bytes with a binary prefix."""
    for factor, prefix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {prefix}"
    return f"{n:.0f} B"


def _fmt_shape(shape: tuple[int, ...] | None) -> str:
    return "--" if shape is None else " x ".join(str(s) for s in shape)


@dataclass
class LayerTable:
    """The rows of :func:`layer_table` plus what they were computed for.

    Attributes:
        rows: One :class:`LayerRow` per leaf layer, in the order the layers first ran (layers
            that did not run come last).
        input_shape: The ``N x C x H x W`` input the table describes.
        model_name: The model's class name.
    """

    rows: list[LayerRow]
    input_shape: tuple[int, ...]
    model_name: str = ""
    _types: dict[str, str] = field(default_factory=dict, repr=False)
    _shapes: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[LayerRow]:
        return iter(self.rows)

    def __getitem__(self, name: str) -> LayerRow:
        """The row of the layer called ``name``."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def names(self) -> list[str]:
        """The layer names, in row order."""
        return [row.name for row in self.rows]

    def column(self, column: str) -> list[Any]:
        """One column as a list, e.g. ``table.column("macs")``."""
        return [getattr(row, column) for row in self.rows]

    def total(self, column: str = "params", *, where: Callable[[LayerRow], bool] | None = None) -> int:
        """Sum of a numeric column (``"params"``, ``"macs"``, ``"act_bytes"``, ``"calls"``).

        Args:
            column: Which column.
            where: Optional filter, e.g. ``lambda r: r.type == "Conv2d"``.

        Returns:
            The sum over the selected rows.
        """
        if column not in (*NUMERIC_COLUMNS, "calls"):
            raise ValueError(f"column must be one of {(*NUMERIC_COLUMNS, 'calls')}, got {column!r}")
        return sum(getattr(r, column) for r in self.rows if where is None or where(r))

    def filter(self, where: Callable[[LayerRow], bool]) -> LayerTable:
        """A table with only the rows for which ``where(row)`` is true."""
        return replace(self, rows=[r for r in self.rows if where(r)])

    def grouped(self, depth: int = 1) -> LayerTable:
        """Sums the rows per module ``depth`` levels below the model.

        ``depth=1`` turns GoogLeNet's ~200 leaf rows into one row per stem layer and Inception
        block (``"inception3a"``); for VGG it gives ``features``, ``avgpool``, ``classifier``.

        Args:
            depth: How many dotted name components to keep.

        Returns:
            A table with one row per group, in order of first appearance; each row's
            ``output_shape`` is that of the group module's output.
        """
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        groups: dict[str, list[LayerRow]] = {}
        for row in self.rows:
            key = ".".join(row.name.split(".")[:depth])
            groups.setdefault(key, []).append(row)
        rows = []
        for key, members in groups.items():
            shapes = [r.output_shape for r in members if r.output_shape is not None]
            rows.append(
                LayerRow(
                    name=key,
                    type=self._types.get(key, members[0].type),
                    output_shape=self._shapes.get(key, shapes[-1] if shapes else None),
                    params=sum(r.params for r in members),
                    macs=sum(r.macs for r in members),
                    act_bytes=sum(r.act_bytes for r in members),
                    calls=max(r.calls for r in members),
                )
            )
        return replace(self, rows=rows)

    def _cells(self) -> tuple[list[str], list[list[str]], list[str]]:
        header = ["layer", "type", "output shape", "params", "MACs", "activations"]
        body = [
            [
                r.name,
                r.type,
                _fmt_shape(r.output_shape),
                f"{r.params:,}" if r.params else "--",
                format_count(r.macs) if r.macs else "--",
                format_bytes(r.act_bytes) if r.act_bytes else "--",
            ]
            for r in self.rows
        ]
        foot = [
            "total",
            f"{len(self.rows)} layers",
            f"input {_fmt_shape(self.input_shape)}",
            f"{self.total('params'):,}",
            format_count(self.total("macs")),
            format_bytes(self.total("act_bytes")),
        ]
        return header, body, foot

    def __str__(self) -> str:
        header, body, foot = self._cells()
        widths = [max(len(line[i]) for line in [header, *body, foot]) for i in range(len(header))]
        right = {3, 4, 5}

        def fmt(line: list[str]) -> str:
            return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths)))

        rule = "-" * len(fmt(header))
        return "\n".join([fmt(header), rule, *map(fmt, body), rule, fmt(foot)])

    def _repr_html_(self) -> str:
        header, body, foot = self._cells()

        def row(cells: list[str], tag: str = "td") -> str:
            tds = "".join(
                f'<{tag} style="text-align:{"right" if i >= 3 else "left"}">{html.escape(c)}</{tag}>'
                for i, c in enumerate(cells)
            )
            return f"<tr>{tds}</tr>"

        title = html.escape(f"{self.model_name} on {_fmt_shape(self.input_shape)}")
        return (
            '<div class="cnnlib-layer-table" style="max-height:420px;overflow:auto">'
            f"<table><caption>{title}</caption>"
            f"<thead>{row(header, 'th')}</thead>"
            f"<tbody>{''.join(row(b) for b in body)}</tbody>"
            f"<tfoot>{row(foot, 'th')}</tfoot></table></div>"
        )


def layer_table(model: nn.Module, input_size: InputSize, *, include_bias: bool = False) -> LayerTable:
    """One row per leaf layer: name, type, output shape, parameters, MACs, activation bytes.

    The forward pass is shape-only (meta tensors) and in eval mode; the model is not modified.
    Every leaf module gets a row, so for GoogLeNet the layers inside each Inception branch
    (``"inception3a.branch2.1.conv"``) have their own rows; use :meth:`LayerTable.grouped` for
    one row per block. A container gets a row of its own, typed ``"<Class> (own operations)"``,
    only where its ``forward`` allocates a new output with a functional call (the ``torch.cat``
    that closes an Inception block) or where it holds parameters directly, so that the activation
    and parameter columns account for everything. Views (``flatten``) and in-place functional
    calls (``F.relu(x, inplace=True)``) allocate nothing and add nothing.

    Args:
        model: The network.
        input_size: ``224``, ``(C, H, W)`` or ``(N, C, H, W)``; MACs and bytes are per batch.
        include_bias: Count bias additions as MACs too (torchinfo's convention).

    Returns:
        A :class:`LayerTable`; ``table.total("params")`` equals
        ``sum(p.numel() for p in model.parameters())``.
    """
    shape = as_input_shape(input_size)
    named = dict(model.named_modules())
    leaves = {name: m for name, m in named.items() if not any(True for _ in m.children())}
    stats: dict[str, dict[str, Any]] = {}  # in order of first completed call
    shapes: dict[str, tuple[int, ...]] = {}  # output shape of every module, containers included
    leaf_outputs: dict[int, Any] = {}  # id -> tensor (kept alive so ids stay unique)

    def new_bytes(out: Any, inputs: tuple[Any, ...]) -> int:
        """Bytes of ``out`` unless it is an input itself, a view, or (for containers) a leaf's output."""
        if any(out is x for x in inputs) or out._base is not None or leaf_outputs.get(id(out)) is out:
            return 0
        return out.numel() * out.element_size()

    def make_hook(name: str, is_leaf: bool) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            out = first_tensor(output)
            if out is None:
                return
            shapes[name] = tuple(out.shape)
            extra = new_bytes(out, inputs)
            if is_leaf:
                leaf_outputs[id(out)] = out
            elif not extra:
                return  # a container that returns what its layers computed: no row of its own
            s = stats.setdefault(name, {"macs": 0, "act_bytes": 0, "calls": 0})
            s["calls"] += 1
            s["macs"] += module_macs(module, inputs, output, include_bias=include_bias) if is_leaf else 0
            s["act_bytes"] += extra

        return hook

    def reset() -> None:
        stats.clear()
        shapes.clear()
        leaf_outputs.clear()

    handles = [m.register_forward_hook(make_hook(name, name in leaves)) for name, m in named.items()]
    try:
        shape_forward(model, shape, reset=reset)
    finally:
        for h in handles:
            h.remove()

    # Each parameter belongs to the first module (in named_modules order) that holds it directly.
    seen: set[int] = set()
    own_params: dict[str, int] = {}
    for name, m in named.items():
        n = 0
        for p in m.parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        own_params[name] = n

    # Rows: layers in the order they ran; containers only where their own code (torch.cat in an
    # Inception block) allocates a new output or where they hold parameters directly; then the
    # layers that did not run (GoogLeNet's auxiliary classifiers in eval mode).
    order = list(stats)
    order += [n for n, m in named.items() if n not in stats and (n in leaves or own_params[n])]
    rows = []
    for name in order:
        s = stats.get(name, {"macs": 0, "act_bytes": 0, "calls": 0})
        kind = type(named[name]).__name__
        rows.append(
            LayerRow(
                name=name or "(model)",
                type=kind if name in leaves else f"{kind} (own operations)",
                output_shape=shapes.get(name) if name in stats else None,
                params=own_params[name],
                macs=s["macs"],
                act_bytes=s["act_bytes"],
                calls=s["calls"],
            )
        )
    return LayerTable(
        rows=rows,
        input_shape=shape,
        model_name=type(model).__name__,
        _types={name: type(m).__name__ for name, m in named.items()},
        _shapes=shapes,
    )


def count_macs(model: nn.Module, input_size: InputSize, *, include_bias: bool = False) -> int:
    """Total multiply-accumulates of one forward pass in eval mode.

    The pass is shape-only (meta tensors), so even VGG-19 at 224 x 224 is counted in milliseconds.

    Args:
        model: The network; it is not modified.
        input_size: ``224``, ``(C, H, W)`` or ``(N, C, H, W)``; the count is for the whole batch.
        include_bias: Also count the bias additions, as torchinfo does.

    Returns:
        The number of MACs (an int). Divide by ``1e9`` for the "GFLOPS" in torchvision's tables.
    """
    return layer_table(model, input_size, include_bias=include_bias).total("macs")
