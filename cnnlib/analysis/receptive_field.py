"""Receptive fields: how many input pixels can influence one value of a feature map.

For a chain of layers with kernel ``k``, stride ``s`` and dilation ``d`` the receptive field grows
as ``r_out = r_in + (d (k - 1)) * j_in`` and the *jump* (input pixels between neighbouring outputs)
as ``j_out = j_in * s``. Three stacked 3x3 convolutions therefore see 7x7 pixels, the argument of
Simonyan & Zisserman 2014 (arXiv:1409.1556, section 2.3). Where branches meet -- the concatenation
at the end of an Inception block (Szegedy et al. 2014, arXiv:1409.4842) -- the field is the largest
over the branches.

:func:`receptive_fields` follows these rules through a real (shape-only) forward pass, watching
every torch function with a :class:`~torch.overrides.TorchFunctionMode`, so it needs no knowledge
of the architecture and also sees functional calls (``torch.cat``, ``F.max_pool2d``). The values
are *theoretical* receptive fields: they count zero padding, so deep layers may exceed the image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ._common import InputSize, as_input_shape, shape_forward, tensors_in

__all__ = [
    "ReceptiveField",
    "conv_stack",
    "receptive_field_details",
    "receptive_field_footprint",
    "receptive_fields",
    "stacked_receptive_field",
]


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one feature map, per spatial axis (``(H, W)`` for images).

    Attributes:
        size: Input pixels seen by one output value along each axis.
        stride: Input pixels between neighbouring output values (the "jump").
        start: Input coordinate of the centre of the field of output index 0 (pixel centres are
            at 0, 1, ...; negative when padding puts it left of the image).
    """

    size: tuple[int, ...]
    stride: tuple[float, ...]
    start: tuple[float, ...]

    @property
    def max_size(self) -> int:
        """The largest size over the axes (the one number :func:`receptive_fields` reports)."""
        return max(self.size)

    def input_box(self, *index: int, clip_to: Sequence[int] | None = None) -> tuple[tuple[int, int], ...]:
        """Input pixels seen by the output value at ``index`` (one index per spatial axis).

        Args:
            *index: Position in the feature map, e.g. ``(row, col)``.
            clip_to: Input size per axis; if given, the box is clipped to the image.

        Returns:
            Per axis, a half-open pixel range ``(first, stop)``.
        """
        if len(index) != len(self.size):
            raise ValueError(f"expected {len(self.size)} indices, got {len(index)}")
        box = []
        for axis, i in enumerate(index):
            centre = self.start[axis] + i * self.stride[axis]
            lo = math.floor(centre - (self.size[axis] - 1) / 2 + 1e-9)
            hi = lo + self.size[axis]
            if clip_to is not None:
                lo, hi = max(lo, 0), min(hi, int(clip_to[axis]))
            box.append((lo, hi))
        return tuple(box)


def _step(rf: ReceptiveField, kernel: Sequence[int], stride: Sequence[int], padding: Sequence[float],
          dilation: Sequence[int]) -> ReceptiveField:
    size, jump, start = [], [], []
    for a in range(len(rf.size)):
        k_eff = dilation[a] * (kernel[a] - 1) + 1
        size.append(rf.size[a] + (k_eff - 1) * rf.stride[a])
        start.append(rf.start[a] + ((k_eff - 1) / 2 - padding[a]) * rf.stride[a])
        jump.append(rf.stride[a] * stride[a])
    return ReceptiveField(tuple(int(math.ceil(s - 1e-9)) for s in size), tuple(jump), tuple(start))


def stacked_receptive_field(
    layers: int | Iterable[Sequence[int]],
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 1,
) -> int:
    """Receptive field of a stack of convolutions or poolings, along one axis.

    Examples:
        ``stacked_receptive_field(3)`` is 7 (three 3x3 convolutions);
        ``stacked_receptive_field([(3, 1), (3, 1), (2, 2)])`` is 6 (two 3x3, then a 2x2/2 pool).

    Args:
        layers: Either the number of identical layers, or one ``(kernel, stride)`` or
            ``(kernel, stride, dilation)`` tuple per layer, input side first.
        kernel_size: Kernel of each layer when ``layers`` is a count.
        stride: Stride of each layer when ``layers`` is a count.
        dilation: Dilation of each layer when ``layers`` is a count.

    Returns:
        The receptive field in input pixels.
    """
    if isinstance(layers, int):
        if layers < 0:
            raise ValueError(f"the number of layers must be >= 0, got {layers}")
        specs: list[Sequence[int]] = [(kernel_size, stride, dilation)] * layers
    else:
        specs = [tuple(spec) for spec in layers]
    size, jump = 1, 1
    for spec in specs:
        if not 2 <= len(spec) <= 3 or any(int(v) < 1 for v in spec):
            raise ValueError(f"each layer must be (kernel, stride[, dilation]) of positive ints, got {spec!r}")
        k, s, d = int(spec[0]), int(spec[1]), int(spec[2]) if len(spec) == 3 else 1
        size += d * (k - 1) * jump
        jump *= s
    return size


def _arg(args: Sequence[Any], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def _tup(value: Any, nd: int) -> tuple[Any, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(value) if len(value) == nd else tuple(value) * nd if len(value) == 1 else tuple(value)
    return (value,) * nd


_CONV = {"conv1d", "conv2d", "conv3d"}
_MAX_POOL = {"max_pool1d", "max_pool2d", "max_pool3d", "_max_pool1d", "_max_pool2d", "_max_pool3d",
             "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices"}
_AVG_POOL = {"avg_pool1d", "avg_pool2d", "avg_pool3d"}
_LP_POOL = {"lp_pool1d", "lp_pool2d", "lp_pool3d"}
_ADAPTIVE = {"adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
             "adaptive_max_pool2d", "adaptive_max_pool3d", "_adaptive_max_pool1d", "_adaptive_max_pool2d",
             "_adaptive_max_pool3d", "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
             "adaptive_max_pool3d_with_indices"}
_UNSUPPORTED = {"conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "interpolate", "upsample",
                "upsample_nearest2d", "upsample_bilinear2d", "grid_sample", "pixel_shuffle", "unfold", "fold"}


class _Tracker(TorchFunctionMode):
    """Attaches a :class:`ReceptiveField` to every tensor computed from the input."""

    def __init__(self, nd: int) -> None:
        super().__init__()
        self.nd = nd
        self._info: dict[int, tuple[torch.Tensor, ReceptiveField]] = {}

    def get(self, t: Any) -> ReceptiveField | None:
        if not isinstance(t, torch.Tensor):
            return None
        entry = self._info.get(id(t))
        return entry[1] if entry is not None and entry[0] is t else None

    def set(self, t: torch.Tensor, rf: ReceptiveField) -> None:
        self._info[id(t)] = (t, rf)  # keeping t alive keeps id(t) unique

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: Sequence[Any] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self._propagate(getattr(func, "__name__", ""), args, kwargs, out)
        return out

    def _propagate(self, name: str, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> None:
        outs = [o for o in tensors_in(out) if isinstance(o, torch.Tensor) and o.dim() >= self.nd]
        if not outs:
            return
        nd = self.nd
        first = args[0] if args else kwargs.get("input")
        rf_in = self.get(first)
        if rf_in is not None and name in _CONV | _MAX_POOL | _AVG_POOL | _LP_POOL | _ADAPTIVE:
            if name in _CONV:
                kernel = tuple(_arg(args, kwargs, 1, "weight", None).shape[2:])
                stride = _tup(_arg(args, kwargs, 3, "stride", 1), nd)
                padding: Any = _arg(args, kwargs, 4, "padding", 0)
                dilation = _tup(_arg(args, kwargs, 5, "dilation", 1), nd)
                if padding == "valid":
                    padding = (0,) * nd
                elif padding == "same":
                    padding = tuple(d * (k - 1) / 2 for k, d in zip(kernel, dilation))
                new = _step(rf_in, kernel, stride, _tup(padding, nd), dilation)
            elif name in _ADAPTIVE:
                size, jump, start = [], [], []
                for a in range(nd):
                    n_in, n_out = first.shape[-nd + a], outs[0].shape[-nd + a]
                    bins = [math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out)]
                    size.append(rf_in.size[a] + (max(bins) - 1) * rf_in.stride[a])
                    jump.append(rf_in.stride[a] * n_in / n_out)
                    start.append(rf_in.start[a] + (bins[0] - 1) / 2 * rf_in.stride[a])
                new = ReceptiveField(tuple(int(math.ceil(s)) for s in size), tuple(jump), tuple(start))
            else:
                k_index = 2 if name in _LP_POOL else 1
                kernel = _tup(_arg(args, kwargs, k_index, "kernel_size", None), nd)
                stride = _arg(args, kwargs, k_index + 1, "stride", None)
                stride = kernel if stride is None or stride == [] or stride == () else _tup(stride, nd)
                padding = (0,) * nd if name in _LP_POOL else _tup(_arg(args, kwargs, 3, "padding", 0), nd)
                dilation = _tup(_arg(args, kwargs, 4, "dilation", 1), nd) if name in _MAX_POOL else (1,) * nd
                new = _step(rf_in, kernel, stride, padding, dilation)
            for o in outs:
                self.set(o, new)
            return
        if name in _UNSUPPORTED:
            return
        # Anything else (ReLU, batch norm, LRN, dropout, cat, add, ...) acts pointwise in space:
        # an output whose spatial size matches its inputs inherits the largest of their fields.
        known = [(t, self.get(t)) for t in tensors_in((args, kwargs))]
        known = [(t, rf) for t, rf in known if rf is not None]
        for o in outs:
            same = [rf for t, rf in known if t.dim() >= nd and t.shape[-nd:] == o.shape[-nd:]]
            if same:
                self.set(o, max(same, key=lambda rf: (max(rf.size), rf.size)))


_POOLS = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._LPPoolNd,
          nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)


def _is_conv_or_pool(m: nn.Module) -> bool:
    return isinstance(m, (nn.modules.conv._ConvNd, *_POOLS))


def receptive_field_details(
    model: nn.Module, input_size: InputSize = 224, *, names: Iterable[str] | None = None
) -> dict[str, ReceptiveField]:
    """Receptive field (size, stride and offset per axis) of every conv/pool layer and block.

    Args:
        model: The network (eval-mode, shape-only pass; the model is not modified).
        input_size: ``224``, ``(C, H, W)`` or ``(N, C, H, W)``. Sizes do not depend on it except
            after adaptive pooling.
        names: Report exactly these modules instead (any type, e.g. the ReLU layers that
            ``model.feature_info`` names); a module whose output is not a feature map is left out.

    Returns:
        ``{module name: ReceptiveField}`` in the order the modules start running, for every
        convolution and pooling layer and for every container that holds one and returns a
        feature map (an Inception block, one of its branches, a ``BasicConv2d``, a ``Sequential``
        stage such as VGG's ``features``).
    """
    shape = as_input_shape(input_size)
    nd = len(shape) - 2
    named = dict(model.named_modules())
    if names is not None:
        relevant = set(names)
        unknown = sorted(relevant - set(named))
        if unknown:
            raise ValueError(f"{type(model).__name__} has no modules named {unknown}")
    else:
        relevant = {
            name for name, m in named.items()
            if name and (_is_conv_or_pool(m) or any(_is_conv_or_pool(c) for c in m.modules()))
        }
    found: dict[str, ReceptiveField | None] = {}
    tracker = _Tracker(nd)

    def pre_hook(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any) -> None:
            found.setdefault(name, None)
        return hook

    def post_hook(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            outs = [o for o in tensors_in(output) if isinstance(o, torch.Tensor)]
            rf = tracker.get(outs[0]) if len(outs) == 1 and outs[0].dim() == nd + 2 else None
            if rf is not None:
                found[name] = rf
        return hook

    class _Seed(nn.Module):
        """Marks the input as covering one pixel, then runs the model inside the tracker."""

        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> Any:
            tracker.set(x, ReceptiveField((1,) * nd, (1.0,) * nd, (0.0,) * nd))
            with tracker:
                return self.inner(x)

    handles = []
    for name in relevant:
        handles.append(named[name].register_forward_pre_hook(pre_hook(name)))
        handles.append(named[name].register_forward_hook(post_hook(name)))
    try:
        shape_forward(_Seed(model), shape, reset=found.clear)
    finally:
        for h in handles:
            h.remove()
    return {name: rf for name, rf in found.items() if rf is not None}


def receptive_fields(
    model: nn.Module, input_size: InputSize = 224, *, names: Iterable[str] | None = None
) -> dict[str, int]:
    """Receptive field in input pixels of every conv/pool layer and block of ``model``.

    For VGG-16: ``features.0`` 3, ``features.2`` 5, ``features.28`` (conv5_3) 196, ``features.30``
    (pool5) 212. For an Inception block the value is the largest over its branches.

    Args:
        model: The network (not modified).
        input_size: ``224``, ``(C, H, W)`` or ``(N, C, H, W)``.
        names: Report exactly these modules (any type) instead of every conv/pool layer and block.

    Returns:
        ``{module name: size}``, the largest over the spatial axes (see
        :func:`receptive_field_details` for per-axis sizes, strides and offsets).
    """
    details = receptive_field_details(model, input_size, names=names)
    return {name: rf.max_size for name, rf in details.items()}


# ------------------------------------------------------------------ a stack of convolutions, measured by autograd
def conv_stack(
    layers: int,
    *,
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 1,
    channels: int = 1,
    padding: int | None = None,
    relu: bool = True,
) -> nn.Sequential:
    """``layers`` identical convolutions ``channels -> channels`` (each followed by a ReLU).

    Args:
        layers: how many convolutions.
        kernel_size: kernel ``k`` of each (``k x k``).
        stride: stride of each.
        dilation: dilation of each.
        channels: input and output channels of every convolution.
        padding: zero padding of each; default ``dilation * (kernel_size - 1) // 2`` ("same" size at stride 1).
        relu: put a ``ReLU`` after every convolution.

    Returns:
        An ``nn.Sequential`` mapping ``N x channels x H x W`` to ``N x channels x H' x W'``.
    """
    if layers < 1:
        raise ValueError(f"a stack needs at least one layer, got {layers}")
    pad = dilation * (kernel_size - 1) // 2 if padding is None else padding
    mods: list[nn.Module] = []
    for _ in range(layers):
        mods.append(nn.Conv2d(channels, channels, kernel_size, stride=stride, padding=pad, dilation=dilation))
        if relu:
            mods.append(nn.ReLU(inplace=True))
    return nn.Sequential(*mods)


def receptive_field_footprint(layers: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1) -> torch.Tensor:
    """Which input pixels one output value of the stack depends on, and through how many paths.

    The stack is built for real (one channel, all weights 1, no padding, no ReLU) on an input exactly one
    receptive field wide, so its output is a single value; the gradient of that value with respect to the
    input counts, for every input pixel, the paths through the stack that connect the two. Its non-zero
    extent is the receptive field measured by autograd, independently of the formula in
    :func:`stacked_receptive_field`.

    Args:
        layers: number of stacked convolutions.
        kernel_size: kernel of each.
        stride: stride of each.
        dilation: dilation of each.

    Returns:
        ``r x r`` float64 tensor of path counts, ``r`` the receptive field.
    """
    r = stacked_receptive_field(layers, kernel_size, stride, dilation)
    stack = conv_stack(layers, kernel_size=kernel_size, stride=stride, dilation=dilation, padding=0, relu=False)
    stack = stack.double()
    for m in stack:
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    x = torch.zeros(1, 1, r, r, dtype=torch.float64, requires_grad=True)
    out = stack(x)
    if out.shape[-2:] != (1, 1):  # the formula and the layers disagree: never expected
        raise RuntimeError(f"a {r}x{r} input should give a 1x1 output, got {tuple(out.shape)}")
    (grad,) = torch.autograd.grad(out.sum(), x)
    return grad[0, 0].detach()
