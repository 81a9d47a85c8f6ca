"""Training throughput (images/s) of cnnlib's networks against torchvision's builds of the same architecture.

A training step is forward + backward + SGD update on a random batch, timed after warm-up steps with the device
synchronised. Both models get the same settings (mixed precision bf16 on GPUs, channels_last on GPUs, optional
``torch.compile``). A ratio near 1.0 means cnnlib's readable code costs nothing; the pairs have the same
parameter count (checked).

    python bench/throughput.py                   # GPU: 224 x 224 (GoogLeNet, VGG-11-BN) and 32 x 32 pairs
    python bench/throughput.py --quick           # CPU smoke test: small images, few steps

Results are appended to ``bench/results/throughput.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cnnlib.registry import create_model  # noqa: E402
from cnnlib.train import amp_dtype, count_parameters, resolve_device  # noqa: E402
from cnnlib.train.files import atomic_write_json  # noqa: E402

DEFAULT_OUT = REPO / "bench" / "results" / "throughput.json"

# name: (cnnlib builder, torchvision builder); both built without pretrained weights, no auxiliary heads
PAIRS: dict[str, tuple[Callable[[int], nn.Module], Callable[[int], nn.Module]]] = {
    "googlenet": (
        lambda nc: create_model("googlenet", num_classes=nc, aux_logits=False),
        lambda nc: torchvision.models.googlenet(weights=None, num_classes=nc, aux_logits=False, init_weights=True),
    ),
    "vgg11_bn": (
        lambda nc: create_model("vgg11", batch_norm=True, num_classes=nc),
        lambda nc: torchvision.models.vgg11_bn(weights=None, num_classes=nc),
    ),
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument("--sizes", nargs="+", type=int, default=[224, 32], help="input sides to measure")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--quick", action="store_true", help="CPU smoke test: 64 px, batch 4, 2 steps")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    return p.parse_args(argv)


def images_per_second(model: nn.Module, *, size: int, batch_size: int, steps: int, warmup: int,
                      device: torch.device, compile: bool) -> float:
    """Training images per second of ``model`` on random ``batch_size x 3 x size x size`` batches."""
    channels_last = device.type == "cuda"
    dtype = amp_dtype("auto", device)
    model = model.to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = torch.compile(model) if compile else model
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch_size, 3, size, size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch_size,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext():
            out = net(x)
            loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * batch_size / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> list[dict]:
    args = _parse(argv)
    if args.quick:
        args.sizes, args.batch_size, args.steps, args.warmup = [64], 4, 2, 1
        args.device = "cpu" if args.device == "auto" else args.device
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.is_file() else []
    new: list[dict] = []
    for name in args.pairs:
        ours_fn, theirs_fn = PAIRS[name]
        for size in args.sizes:
            torch.manual_seed(0)
            ours, theirs = ours_fn(10), theirs_fn(10)
            params = count_parameters(ours)
            if params != count_parameters(theirs):
                raise AssertionError(f"{name}: {params} != {count_parameters(theirs)} parameters")
            kw = dict(size=size, batch_size=args.batch_size, steps=args.steps, warmup=args.warmup, device=device,
                      compile=args.compile)
            # alternate the order (theirs, ours, theirs, ours) and keep the best of two: less noise from clocks
            results: dict[str, list[float]] = {"cnnlib": [], "torchvision": []}
            for _ in range(2):
                results["torchvision"].append(images_per_second(theirs, **kw))
                results["cnnlib"].append(images_per_second(ours, **kw))
            row = {
                "pair": name,
                "size": size,
                "batch_size": args.batch_size,
                "cnnlib_images_per_second": max(results["cnnlib"]),
                "torchvision_images_per_second": max(results["torchvision"]),
                "ratio": max(results["cnnlib"]) / max(results["torchvision"]),
                "params": params,
                "compile": args.compile,
                "amp": {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[amp_dtype("auto", device)],
                "channels_last": device.type == "cuda",
                "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)",
                "torch": torch.__version__,
                "torchvision": torchvision.__version__,
                "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            }
            new.append(row)
            print(f"{name} @ {size}px, batch {args.batch_size}: cnnlib {row['cnnlib_images_per_second']:.0f} img/s, "
                  f"torchvision {row['torchvision_images_per_second']:.0f} img/s, ratio {row['ratio']:.3f}",
                  flush=True)
            del ours, theirs
            if device.type == "cuda":
                torch.cuda.empty_cache()
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(out, rows + new)
    return new


if __name__ == "__main__":
    main()
