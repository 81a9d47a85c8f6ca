"""What one Inception module costs, with and without its 1x1 reductions.

Szegedy et al., *Going Deeper with Convolutions*, 2014 (arXiv:1409.4842), Table 1 and Figure 2. A
:class:`ModuleSpec` holds the widths of one module (its Table 1 row); :func:`paper_modules` reads all nine from
``cnnlib.googlenet(paper=True)``; :func:`build_module` builds the module as published
(:class:`cnnlib.Inception`) or the paper's "naive" version (:class:`cnnlib.inception_naive.NaiveInception`), and
:func:`module_cost` counts its parameters and multiply-accumulates with :func:`cnnlib.analysis.layer_table`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from ..googlenet import Inception, googlenet
from ..inception_naive import NaiveInception
from .table import layer_table

__all__ = [
    "MODULE_NAMES",
    "ModuleCost",
    "ModuleSpec",
    "build_module",
    "module_cost",
    "paper_modules",
    "scaled_spec",
    "spec_of",
]

#: GoogLeNet's nine Inception modules, in network order.
MODULE_NAMES: tuple[str, ...] = (
    "inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
    "inception4d", "inception4e", "inception5a", "inception5b",
)


@dataclass(frozen=True)
class ModuleSpec:
    """The configuration of one Inception module: the paper's Table 1 columns plus where it sits.

    Attributes:
        name: module name in :class:`~cnnlib.googlenet.GoogLeNet` (``"inception3a"``).
        in_channels: channels of the module's input.
        size: height (= width) of its input and output for a 224 x 224 image.
        ch1x1: "#1x1", width of branch 1.
        ch3x3red: "#3x3 reduce", the 1x1 reduction before the 3x3 convolution.
        ch3x3: "#3x3".
        ch5x5red: "#5x5 reduce".
        ch5x5: "#5x5".
        pool_proj: "pool proj", the 1x1 projection after the 3x3 max-pool.
    """

    name: str
    in_channels: int
    size: int
    ch1x1: int
    ch3x3red: int
    ch3x3: int
    ch5x5red: int
    ch5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        """Channels of the concatenated output: ``ch1x1 + ch3x3 + ch5x5 + pool_proj``."""
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj

    @property
    def widths(self) -> tuple[int, int, int, int, int, int]:
        """The six Table 1 columns, in the order of :class:`~cnnlib.googlenet.Inception`'s arguments."""
        return (self.ch1x1, self.ch3x3red, self.ch3x3, self.ch5x5red, self.ch5x5, self.pool_proj)


def _conv(block: nn.Module) -> nn.Conv2d:
    conv = block.conv if hasattr(block, "conv") else block
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"expected a convolution unit, got {type(block).__name__}")
    return conv


def spec_of(module: Inception, *, name: str = "", size: int = 0) -> ModuleSpec:
    """Read an :class:`~cnnlib.googlenet.Inception` module's widths from its layers.

    Args:
        module: the module.
        name: its name, for the record.
        size: its spatial size, for the record.

    Returns:
        The :class:`ModuleSpec`.
    """
    return ModuleSpec(
        name=name,
        in_channels=_conv(module.branch1).in_channels,
        size=size,
        ch1x1=_conv(module.branch1).out_channels,
        ch3x3red=_conv(module.branch2[0]).out_channels,
        ch3x3=_conv(module.branch2[1]).out_channels,
        ch5x5red=_conv(module.branch3[0]).out_channels,
        ch5x5=_conv(module.branch3[1]).out_channels,
        pool_proj=_conv(module.branch4[1]).out_channels,
    )


@functools.lru_cache(maxsize=1)
def _paper_modules() -> tuple[ModuleSpec, ...]:
    with torch.device("meta"):  # the configuration only: no memory, no initialisation cost
        model = googlenet(paper=True, aux_logits=False)
    shapes = {row.name: row.output_shape for row in layer_table(model, 224)}
    specs = []
    for name in MODULE_NAMES:
        size = shapes[f"{name}.branch1.conv"][-1]
        specs.append(spec_of(getattr(model, name), name=name, size=size))
    return tuple(specs)


def paper_modules() -> dict[str, ModuleSpec]:
    """The nine Inception modules of ``cnnlib.googlenet(paper=True)`` at a 224 x 224 input, by name.

    Returns:
        ``{"inception3a": ModuleSpec(in_channels=192, size=28, ch1x1=64, ...), ...}``.
    """
    return {s.name: s for s in _paper_modules()}


def build_module(spec: ModuleSpec, *, reductions: bool = True) -> nn.Module:
    """The module described by ``spec``, as published (5x5 kernels, biases, no BatchNorm).

    Args:
        spec: the widths.
        reductions: ``True``: :class:`~cnnlib.googlenet.Inception` with its 1x1 reductions and pool
            projection; ``False``: :class:`NaiveInception` with the same 1x1, 3x3 and 5x5 widths.

    Returns:
        The module (on the ``meta`` device is fine for costing; build it under ``torch.device("meta")``).
    """
    if reductions:
        return Inception(spec.in_channels, *spec.widths, five_by_five=True, batch_norm=False)
    return NaiveInception(spec.in_channels, spec.ch1x1, spec.ch3x3, spec.ch5x5)


@dataclass(frozen=True)
class ModuleCost:
    """What one module costs on a ``size x size`` input.

    Attributes:
        out_channels: channels of its output.
        params: parameters (weights and biases).
        macs: multiply-accumulates of one forward pass of one image (:func:`cnnlib.analysis.layer_table`).
    """

    out_channels: int
    params: int
    macs: int


def module_cost(spec: ModuleSpec, *, reductions: bool = True) -> ModuleCost:
    """Output channels, parameters and MACs of the module :func:`build_module` gives for ``spec``.

    Args:
        spec: the widths and the input size.
        reductions: with or without the 1x1 reductions (see :func:`build_module`).

    Returns:
        A :class:`ModuleCost`.
    """
    with torch.device("meta"):
        module = build_module(spec, reductions=reductions)
    table = layer_table(module, (spec.in_channels, spec.size, spec.size))
    out = spec.out_channels if reductions else spec.ch1x1 + spec.ch3x3 + spec.ch5x5 + spec.in_channels
    return ModuleCost(out_channels=out, params=table.total("params"), macs=table.total("macs"))


def scaled_spec(spec: ModuleSpec, s1: float, s3: float, s5: float, sp: float) -> ModuleSpec:
    """``spec`` with its #1x1, #3x3, #5x5 and pool-proj widths multiplied by ``s1``, ``s3``, ``s5``, ``sp``
    (rounded, at least 1); the reductions keep their widths.

    Args:
        spec: the module.
        s1, s3, s5, sp: the four factors.

    Returns:
        The scaled :class:`ModuleSpec`.
    """

    def f(c: int, s: float) -> int:
        return max(1, int(round(c * s)))

    return ModuleSpec(
        name=spec.name, in_channels=spec.in_channels, size=spec.size,
        ch1x1=f(spec.ch1x1, s1), ch3x3red=spec.ch3x3red, ch3x3=f(spec.ch3x3, s3),
        ch5x5red=spec.ch5x5red, ch5x5=f(spec.ch5x5, s5), pool_proj=f(spec.pool_proj, sp),
    )
