"""Three small CPU experiments that test what the papers (and this book's seed) claim, on CIFAR-10.

``kernels``  VGG's evidence for small kernels (Simonyan & Zisserman 2014, section 4.1): the same net with pairs of
             3 x 3 convolutions or with one 5 x 5 in place of each pair (:func:`cnnlib.cifar.kernel_study_net` at
             widths 32/64/128),
             trained alike; test accuracy per epoch, parameters and MACs.
``depth``    Depth without BatchNorm: VGG configurations A (11 weight layers) and D (16), at half width on
             32 x 32 images, initialised as the paper's common reading N(0, 0.01), with He (Kaiming) init, and
             with BatchNorm; training loss over the first steps. (The paper trained A first and initialised the
             deeper nets from it; BatchNorm came a year later, Ioffe & Szegedy 2015.)
``aux``      GoogLeNet's auxiliary classifiers: googlenet_cifar (a quarter of the width) trained with and without the two
             auxiliary heads (loss weight 0.3, Szegedy et al. 2014); the gradient norm that reaches the first
             convolution, per step, and the train/test curves. The seed says the heads fight vanishing gradients;
             the Inception-v3 paper (Szegedy et al. 2016) found they did not speed up early training and acted as
             regularisers.

    python bench/experiments.py kernels            # 5 epochs per variant on all 50,000 images
    python bench/experiments.py depth              # 250 steps of batch 128 per variant
    python bench/experiments.py aux                # 2 epochs per variant on all 50,000 images
    python bench/experiments.py all --quick        # smoke test: tiny data, a few steps, nothing written

Each full run appends one row per variant to ``bench/results/experiments.json`` (curves included), naming the
device, torch version and date. The training chapter draws its figures from these rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cnnlib.analysis import count_macs  # noqa: E402
from cnnlib.cifar import googlenet_cifar, kernel_study_net  # noqa: E402
from cnnlib.data import CIFAR10Tensors, DeviceLoader, default_cifar10_source, load_cifar10  # noqa: E402
from cnnlib.train import auto_settings, evaluate, lr_factor, recipe  # noqa: E402
from cnnlib.train.files import atomic_write_json  # noqa: E402
from cnnlib.vgg import VGG_CONFIGS, make_vgg_layers  # noqa: E402

DEFAULT_OUT = REPO / "bench" / "results" / "experiments.json"


def _common(device: torch.device, quick: bool, **extra: Any) -> dict[str, Any]:
    return {
        "device": f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)" if device.type == "cpu"
        else torch.cuda.get_device_name(device),
        "torch": torch.__version__, "python": platform.python_version(), "quick": quick,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), **extra,
    }


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _prepare(model: nn.Module, device: torch.device):
    """Move ``model`` to ``device`` in training mode and the layout ``fit`` would choose; returns the settings."""
    settings = auto_settings(model, device)
    model.to(device).train()
    model.to(memory_format=torch.channels_last if settings.channels_last else torch.contiguous_format)
    return settings


def _sgd(model: nn.Module, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=momentum,
                           nesterov=True, weight_decay=weight_decay)


# ------------------------------------------------------------------------------------------- kernels


def run_kernels(train: CIFAR10Tensors, test: CIFAR10Tensors, *, epochs: int, device: torch.device) -> list[dict]:
    """Pairs of 3 x 3 against one 5 x 5: the same recipe (a plain fast schedule) for both."""
    from cnnlib.train import fit

    rows = []
    for kernel in (3, 5):
        torch.manual_seed(0)
        model = kernel_study_net(kernel=kernel, widths=(32, 64, 128))  # a quarter of the MACs of 64/128/256
        macs = count_macs(model, (1, 3, 32, 32))
        cfg = recipe("generic", epochs=epochs, batch_size=512, lr=0.4, label_smoothing=0.1, warmup=0.2,
                     lr_start=0.1, flip="random", translate=2, tta=0, ema=False, progress=False, seed=0)
        result = fit(model, train, test, cfg, device=device)
        rows.append({
            "experiment": "kernels", "variant": f"{kernel}x{kernel}" + (" pairs" if kernel == 3 else " (one per pair)"),
            "kernel": kernel, "params": _params(model), "macs": int(macs), "test_acc": result.test_acc,
            "train_seconds": result.train_seconds, "images_per_second": result.images_per_second,
            "epochs": epochs, "train_images": len(train), "test_images": len(test),
            "history": [{k: r[k] for k in ("epoch", "train_loss", "train_acc", "test_acc")} for r in result.history],
            "settings": result.settings, "config": {"batch_size": 512, "lr": 0.4, "label_smoothing": 0.1},
        })
    return rows


# --------------------------------------------------------------------------------------------- depth


class _PlainVGG(nn.Module):
    """A VGG configuration at a fraction of its width, on 32 x 32 images, with a global-average-pool head."""

    def __init__(self, config: str, *, width: float, batch_norm: bool) -> None:
        super().__init__()
        cfg = [int(v * width) if isinstance(v, int) else v for v in VGG_CONFIGS[config]]
        self.features = make_vgg_layers(cfg, batch_norm=batch_norm)  # N x C x 1 x 1 after five pools
        channels = [v for v in cfg if isinstance(v, int)][-1]
        self.fc = nn.Linear(channels, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))


def _init(model: nn.Module, how: str) -> None:
    """Convolutions: ``"paper"`` N(0, 0.01), ``"he"`` and ``"bn"`` Kaiming normal (fan_out, ReLU); zero biases.

    The classifier is N(0, 0.01) in all three, so that only the convolutions' initialisation differs.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if how == "paper" or isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
            else:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def run_depth(train: CIFAR10Tensors, *, steps: int, device: torch.device) -> list[dict]:
    """Training loss per step for VGG A and D, three ways: N(0, 0.01), He, He + BatchNorm. SGD as the paper."""
    rows = []
    for config, layers in (("vgg11", 11), ("vgg16", 16)):
        for how in ("paper", "he", "bn"):
            torch.manual_seed(0)
            model = _PlainVGG(config, width=0.5, batch_norm=how == "bn")
            _init(model, how)
            settings = _prepare(model, device)
            opt = _sgd(model, lr=0.01, momentum=0.9, weight_decay=5e-4)  # the paper's lr, momentum, decay
            loader = DeviceLoader(train, batch_size=128, train=True, device=device, seed=0, flip="random",
                                  translate=2, channels_last=settings.channels_last)
            losses: list[float] = []
            t0 = time.perf_counter()
            while len(losses) < steps:
                for x, y in loader:
                    with torch.autocast(device.type, dtype=settings.dtype, enabled=settings.dtype is not None):
                        loss = F.cross_entropy(model(x).float(), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    losses.append(loss.item())
                    if len(losses) == steps:
                        break
            rows.append({
                "experiment": "depth", "variant": f"{layers} layers, "
                + {"paper": "N(0, 0.01)", "he": "He init", "bn": "He + BatchNorm"}[how],
                "config": config, "weight_layers": layers, "init": how, "batch_norm": how == "bn", "width": 0.5,
                "params": _params(model), "steps": steps, "batch_size": 128, "lr": 0.01, "losses": losses,
                "final_loss": sum(losses[-20:]) / min(20, len(losses)), "seconds": time.perf_counter() - t0,
                "settings": settings.reason,
            })
    return rows


# ----------------------------------------------------------------------------------------------- aux


def _grad_norm(module: nn.Module) -> float:
    return math.sqrt(sum(float(p.grad.float().pow(2).sum()) for p in module.parameters() if p.grad is not None))


def run_aux(train: CIFAR10Tensors, test: CIFAR10Tensors, *, epochs: int, device: torch.device,
            width_mult: float = 0.25) -> list[dict]:
    """googlenet_cifar with and without auxiliary heads (weight 0.3), the recipe's schedule, no EMA."""
    base = recipe("googlenet_cifar")
    rows = []
    for aux in (False, True):
        torch.manual_seed(0)
        model = googlenet_cifar(width_mult=width_mult, aux_logits=aux)
        settings = _prepare(model, device)
        opt = _sgd(model, lr=base.lr, momentum=base.momentum, weight_decay=base.weight_decay)
        loader = DeviceLoader(train, batch_size=base.batch_size, train=True, device=device, seed=0,
                              flip="random", translate=2, channels_last=settings.channels_last)
        total = epochs * len(loader)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: lr_factor(s, total, warmup=base.warmup, start=base.lr_start, end=base.lr_end))
        steps: list[dict[str, float]] = []
        history = []
        t0 = time.perf_counter()
        for epoch in range(epochs):
            model.train()
            for x, y in loader:
                with torch.autocast(device.type, dtype=settings.dtype, enabled=settings.dtype is not None):
                    if aux:
                        logits, aux2, aux1 = model.forward_with_aux(x)
                        main = F.cross_entropy(logits.float(), y, label_smoothing=base.label_smoothing)
                        loss = main + 0.3 * (F.cross_entropy(aux1.float(), y, label_smoothing=base.label_smoothing)
                                             + F.cross_entropy(aux2.float(), y, label_smoothing=base.label_smoothing))
                    else:
                        main = loss = F.cross_entropy(model(x).float(), y, label_smoothing=base.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                steps.append({"main_loss": main.item(), "conv1_grad": _grad_norm(model.conv1),
                              "inception5b_grad": _grad_norm(model.inception5b)})
                opt.step()
                sched.step()
            history.append({"epoch": epoch + 1, "train_loss": sum(s["main_loss"] for s in steps[-len(loader):])
                            / len(loader), "test_acc": evaluate(model, test, tta=0)["acc"]})
        rows.append({
            "experiment": "aux", "variant": "with auxiliary heads (0.3)" if aux else "without auxiliary heads",
            "aux": aux, "width_mult": width_mult, "params": _params(model), "epochs": epochs,
            "batch_size": base.batch_size, "lr": base.lr, "logit_scale": model.logit_scale,
            "train_images": len(train), "test_images": len(test),
            "steps": steps, "history": history, "test_acc": history[-1]["test_acc"],
            "seconds": time.perf_counter() - t0, "settings": settings.reason,
        })
    return rows


# ------------------------------------------------------------------------------------------------ CLI

EXPERIMENTS: dict[str, Callable[..., list[dict]]] = {"kernels": run_kernels, "depth": run_depth, "aux": run_aux}


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("experiment", choices=[*EXPERIMENTS, "all"])
    p.add_argument("--data", default=None, help="cifar10, a folder tree or a tarball (default: cnnlib's default)")
    p.add_argument("--quick", action="store_true", help="smoke test: 512/256 images, a few steps, nothing written")
    p.add_argument("--epochs", type=int, default=None, help="kernels: 5, aux: 2 (default)")
    p.add_argument("--steps", type=int, default=250, help="depth: training steps per variant")
    p.add_argument("--width-mult", type=float, default=0.25, help="aux: googlenet_cifar's width (default 0.25)")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args(argv)
    device = torch.device("cpu")
    source = args.data or default_cifar10_source()
    sub = (512, 256) if args.quick else (None, None)
    train = load_cifar10(source, train=True, subset=sub[0])
    test = load_cifar10(source, train=False, subset=sub[1])
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    rows: list[dict] = []
    for name in names:
        if name == "kernels":
            new = run_kernels(train, test, epochs=1 if args.quick else (args.epochs or 5), device=device)
        elif name == "depth":
            new = run_depth(train, steps=3 if args.quick else args.steps, device=device)
        else:
            new = run_aux(train, test, epochs=1 if args.quick else (args.epochs or 2), device=device,
                          width_mult=0.125 if args.quick else args.width_mult)
        new = [{**r, **_common(device, args.quick, data=os.path.basename(str(source)))} for r in new]
        for r in new:
            print(f"{name:8s} {r['variant']:32s} " + (f"test {100 * r['test_acc']:.1f}%" if "test_acc" in r
                  else f"final loss {r['final_loss']:.3f}"), flush=True)
        rows += new
        if not args.quick:  # after each experiment: an interruption keeps what is done
            out = Path(args.out)
            old = json.loads(out.read_text()) if out.exists() else []
            atomic_write_json(out, old + new)
    return rows


if __name__ == "__main__":
    main()
