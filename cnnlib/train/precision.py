"""Where and in what precision to train: :func:`resolve_device`, :func:`amp_dtype`, :func:`auto_settings`.

Mixed precision as in Micikevicius et al., "Mixed Precision Training" (2018): fp16 with a loss scaler on GPUs
without native bf16, bf16 (no scaler needed) on Ampere GPUs and later, and on CPUs with native bf16 instructions
(AMX, avx512_bf16); never fp16 on a CPU.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import AMP_MODES

__all__ = ["AutoSettings", "amp_dtype", "auto_settings", "autocast", "cpu_bf16_support", "resolve_device"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> ``cuda`` if available else ``cpu``; otherwise ``torch.device(device)``.

    Raises:
        RuntimeError: ``cuda`` was asked for but no GPU is visible.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
    return dev




def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``mode`` (``"auto"``, ``"bf16"``, ``"fp16"``, ``"off"``) on ``device``; ``None``: off.

    ``"auto"``: bf16 on GPUs with native bf16 (Ampere and later), fp16 on older GPUs, bf16 on CPUs with native
    bf16 instructions (:func:`cpu_bf16_support`), else off. Never fp16 on a CPU: ``"fp16"`` there raises.
    """
    if mode not in AMP_MODES:
        raise ValueError(f"amp must be 'auto', 'bf16', 'fp16' or 'off', got {mode!r}")
    if mode == "off":
        return None
    if mode == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if _native_bf16(device) else torch.float16
        if device.type == "cpu" and cpu_bf16_support():
            return torch.bfloat16
        return None
    if mode == "fp16" and device.type == "cpu":
        raise ValueError("amp 'fp16' is not supported on a CPU (its backward pass is about 100x slower than fp32): "
                         "use 'bf16', 'auto' or 'off'")
    return torch.bfloat16 if mode == "bf16" else torch.float16


def cpu_bf16_support() -> str:
    """The CPU's native bf16 instructions that oneDNN uses: ``"amx_bf16"``, ``"avx512_bf16"`` or ``""`` (none).

    Without them bf16 autocast on a CPU is emulated and slower than fp32. Asks torch where it can, else reads the
    CPU flags of ``/proc/cpuinfo`` (Linux); other systems answer ``""``.
    """
    cpu = getattr(torch, "cpu", None)
    try:
        if cpu._is_amx_tile_supported():  # type: ignore[union-attr]
            return "amx_bf16"
        return "avx512_bf16" if cpu._is_avx512_bf16_supported() else ""  # type: ignore[union-attr]
    except AttributeError:  # older torch: read the flags
        pass
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return ""
    return next((f for f in ("amx_bf16", "avx512_bf16") if f in flags), "")


@dataclass(frozen=True)
class AutoSettings:
    """What :func:`fit` trains with: the autocast dtype, the memory layout, and why, in words.

    Attributes:
        dtype: ``torch.bfloat16``, ``torch.float16`` or ``None`` (fp32).
        channels_last: whether model and batches are in channels_last (NHWC).
        reason: one line for the reader, e.g. ``"bf16 autocast (native CPU bf16: amx_bf16), channels_last"``.
    """

    dtype: torch.dtype | None
    channels_last: bool
    reason: str

    @property
    def amp(self) -> str:
        """``"bf16"``, ``"fp16"`` or ``"off"``."""
        return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def auto_settings(model: nn.Module, device: torch.device, *, amp: str = "auto",
                  channels_last: str | bool = "auto") -> AutoSettings:
    """Resolve ``amp`` and ``channels_last`` (:class:`TrainConfig` fields) for ``model`` on ``device``.

    ``"auto"`` picks what trains fastest: see :func:`amp_dtype`; channels_last on CUDA and CPU devices (both CIFAR
    models train 2.5-3.7x faster in bf16 + channels_last than in fp32 NCHW on an AMX CPU:
    ``bench/cpu_precision.py``).
    """
    dtype = amp_dtype(amp, device)
    why = []
    if amp == "auto" and device.type == "cpu":
        support = cpu_bf16_support()
        if dtype is not None:
            why.append(f"bf16 autocast (native CPU bf16: {support})")
        else:
            why.append("fp32 (this CPU has no native bf16)")
    else:
        why.append({None: "fp32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}[dtype]
                   + (f" (amp={amp!r})" if amp != "auto" else ""))
    layout = device.type in ("cuda", "cpu") if channels_last == "auto" else bool(channels_last)
    why.append("channels_last" if layout else "NCHW")
    return AutoSettings(dtype=dtype, channels_last=layout, reason=", ".join(why))


def _native_bf16(device: torch.device) -> bool:
    """Whether the GPU computes in bf16 natively (Ampere, compute capability 8.0, and later).

    Not ``torch.cuda.is_bf16_supported()``: recent torch versions answer True on older GPUs such as Colab's T4
    too, because bf16 can be *emulated* there, which is slow (and cuDNN has no bf16 convolutions before Ampere).
    """
    if torch.version.hip is not None:  # ROCm: trust torch
        return torch.cuda.is_bf16_supported()
    index = device.index if device.index is not None else torch.cuda.current_device()
    return torch.cuda.get_device_capability(index) >= (8, 0)


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    """``torch.autocast`` to ``dtype`` on ``device``, or a do-nothing context for ``None`` (fp32)."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def sync(device: torch.device) -> None:
    """Wait for the GPU's queued work (for honest timings); nothing on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
