"""Latency and peak memory of inference and of one training step, measured on a device.

Timing: ``warmup`` untimed runs, then ``repeats`` timed runs (``time.perf_counter``, with
``torch.cuda.synchronize`` around each run on a GPU); the median is reported, all runs are kept
(``infer_best_seconds`` gives the fastest, the better estimate on a busy shared machine).

Memory, the *extra* bytes a call needs on top of what was allocated before it (weights, and
inputs already in place):

* CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus
  ``torch.cuda.memory_allocated`` before the call. Caching-allocator reserve is not counted.
* CPU: PyTorch has no peak counter for the CPU, so the call runs once under
  :mod:`torch.profiler` with ``profile_memory=True``, which records every allocation and release of
  PyTorch's CPU allocator; the peak of their running sum is reported. This includes temporaries
  allocated inside operators through that allocator, but not memory that a backend library
  (oneDNN scratch pads, BLAS buffers) takes from the system directly, nor Python objects.
  The profiler writes two start/stop lines to the process's stderr; they are discarded.

A training step is: gradients set to ``None``, forward in train mode, cross-entropy against random
labels, backward, and an SGD update with learning rate 0 (the same arithmetic as any learning rate,
but the weights stay as they were). Batch-norm running statistics are restored afterwards, so
:func:`measure` leaves the model's numbers unchanged; it does move the model to ``device``.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .._base import default_device
from ._common import InputSize, as_input_shape, first_tensor

__all__ = ["Measurement", "measure"]


@dataclass(frozen=True)
class Measurement:
    """What :func:`measure` found. Times in seconds, memory in bytes, all for one batch.

    Attributes:
        model: The model's class name.
        device: Where it ran, e.g. ``"cpu"`` or ``"cuda:0"``.
        device_name: The processor, e.g. ``"NVIDIA H100 80GB HBM3"``, or the CPU's name if known.
        input_shape: ``N x C x H x W`` of the batch.
        infer_seconds: Median latency of a forward pass in eval mode under ``torch.no_grad``.
        train_seconds: Median latency of one training step (see the module docstring); ``None``
            if not measured.
        infer_times: Every timed inference run.
        train_times: Every timed training step.
        infer_peak_bytes: Peak extra memory of one inference pass; ``None`` if not measured.
        train_peak_bytes: Peak extra memory of one training step; ``None`` if not measured.
        model_bytes: Bytes of the model's parameters and buffers.
        memory_method: How the memory was measured (``"cuda.max_memory_allocated"`` or
            ``"torch.profiler CPU allocator events"``).
        threads: ``torch.get_num_threads()`` during the run (matters for CPU timings).
    """

    model: str
    device: str
    device_name: str
    input_shape: tuple[int, ...]
    infer_seconds: float
    train_seconds: float | None
    infer_times: tuple[float, ...]
    train_times: tuple[float, ...]
    infer_peak_bytes: int | None
    train_peak_bytes: int | None
    model_bytes: int
    memory_method: str
    threads: int

    @property
    def batch_size(self) -> int:
        """``N`` of the input shape."""
        return self.input_shape[0]

    @property
    def infer_best_seconds(self) -> float:
        """The fastest timed inference run: on a machine shared with other programs, which can only
        slow a run down, the least disturbed estimate of the network's own cost."""
        return min(self.infer_times)

    @property
    def train_best_seconds(self) -> float | None:
        """The fastest timed training step (see :attr:`infer_best_seconds`); ``None`` if not measured."""
        return min(self.train_times) if self.train_times else None

    @property
    def infer_images_per_second(self) -> float:
        """Inference throughput."""
        return self.batch_size / self.infer_seconds


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "CPU"


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silences the process-level stderr (file descriptor 2) for the duration."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w", encoding="utf-8") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(fd, 2)
    finally:
        os.close(fd)


def _cpu_peak_bytes(fn: Callable[[], object]) -> int:
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events = [e for e in events if str(e.device_type()).endswith("CPU")]
    current = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        current += e.nbytes()
        peak = max(peak, current)
    return int(peak)


def _cuda_peak_bytes(fn: Callable[[], object], device: torch.device) -> int:
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device) - base)


def _timed(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> list[float]:
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


def measure(
    model: nn.Module,
    input_size: InputSize,
    *,
    device: str | torch.device | None = None,
    batch_size: int | None = None,
    repeats: int = 10,
    warmup: int = 2,
    train: bool = True,
    memory: bool = True,
    threads: int | None = None,
) -> Measurement:
    """Measures inference and training-step latency and peak memory of ``model``.

    Args:
        model: A classifier returning logits ``N x classes`` (or a tuple whose first element is
            the logits, as torchvision's GoogLeNet in train mode). Moved to ``device`` in place;
            its weights, buffers and train/eval flags are as before when this returns.
        input_size: ``224``, ``(C, H, W)`` or ``(N, C, H, W)``.
        device: Where to run; default: CUDA if available, else CPU.
        batch_size: Overrides ``N`` of ``input_size``.
        repeats: Timed runs per measurement (the median is reported).
        warmup: Untimed runs before timing (first-call allocation, kernel selection).
        train: Also measure a training step.
        memory: Also measure peak memory (one extra run per mode).
        threads: CPU threads for the run (``torch.set_num_threads``), restored afterwards; default:
            leave as set. One thread makes CPU timings on a shared machine far steadier: with
            several, every operator ends at a barrier where all threads wait for the slowest, and a
            thread that the system has paused stalls them all, which punishes networks made of many
            small operators (GoogLeNet) far more than those made of a few large ones (VGG).

    Returns:
        A :class:`Measurement`.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    dev = torch.device(device) if device is not None else default_device()
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    shape = as_input_shape(input_size, batch_size=batch_size)
    flags = {m: m.training for m in model.modules()}
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    model.to(dev)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    x = torch.randn(shape, device=dev, dtype=dtype)
    params = [p for p in model.parameters() if p.requires_grad]

    def peak(fn: Callable[[], object]) -> int:
        for p in params:  # measure from a state without gradients, as at the start of training
            p.grad = None
        return _cuda_peak_bytes(fn, dev) if dev.type == "cuda" else _cpu_peak_bytes(fn)

    def infer() -> None:
        with torch.no_grad():
            model(x)

    labels: list[torch.Tensor] = []

    def step() -> None:
        for p in params:
            p.grad = None
        out = model(x)
        logits = first_tensor(out)  # GoogLeNet in train mode: (logits, aux2, aux1)
        if not labels:
            labels.append(torch.randint(0, logits.shape[1], (logits.shape[0],), device=dev))
        loss = nn.functional.cross_entropy(logits, labels[0])
        loss.backward()
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-0.0)

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    used_threads = torch.get_num_threads()
    try:
        model.eval()
        infer_times = _timed(infer, dev, warmup, repeats)
        infer_peak = peak(infer) if memory else None
        train_times: list[float] = []
        train_peak = None
        if train:
            model.train()
            train_times = _timed(step, dev, warmup, repeats)
            train_peak = peak(step) if memory else None
    finally:
        torch.set_num_threads(old_threads)
        for p in params:
            p.grad = None
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        for m, flag in flags.items():
            m.training = flag

    return Measurement(
        model=type(model).__name__,
        device=str(dev),
        device_name=torch.cuda.get_device_name(dev) if dev.type == "cuda" else _cpu_name(),
        input_shape=shape,
        infer_seconds=statistics.median(infer_times),
        train_seconds=statistics.median(train_times) if train_times else None,
        infer_times=tuple(infer_times),
        train_times=tuple(train_times),
        infer_peak_bytes=infer_peak,
        train_peak_bytes=train_peak,
        model_bytes=sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]),
        memory_method="cuda.max_memory_allocated" if dev.type == "cuda" else "torch.profiler CPU allocator events",
        threads=used_threads,
    )
