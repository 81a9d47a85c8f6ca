"""The VGG chapter's explorers: receptive fields of conv stacks, and per-stage costs of configurations A-E.

References nobody here wrote: the paper (Simonyan & Zisserman 2014: two 3x3 layers see 5x5, three see 7x7;
Table 2 parameter counts), torchvision's VGG models and their weight metadata (parameter counts, GFLOPS), and
PyTorch's own ``FlopCounterMode`` and autograd.
"""

import re

import matplotlib
import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

matplotlib.use("Agg")

from cnnlib.widgets import config_explorer, receptive_field_explorer  # noqa: E402
from cnnlib.analysis import format_count, receptive_field_footprint, stage_costs  # noqa: E402


def _text(html: str) -> str:
    """The visible text of an explorer view (images and tags removed)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", html)))


def _torch_macs(model: nn.Module, shape: tuple[int, ...]) -> int:
    """Multiply-accumulates counted by PyTorch itself (shape-only, on the meta device)."""
    with torch.device("meta"):
        x = torch.empty(shape)
    with FlopCounterMode(display=False) as counter:
        model.to("meta")(x)
    return counter.get_total_flops() // 2


# --------------------------------------------------------------------------------------------- receptive field
def test_rf_explorer_paper_numbers_and_live_controls():
    ex = receptive_field_explorer()
    _ = ex.widget
    text = _text(ex.current_html)
    assert "7 x 7 input pixels" in text  # paper: three 3x3 layers see 7x7
    assert "3 ReLUs" in text
    ex.controls["layers"].value = 2
    live = _text(ex._output.outputs[-1]["data"]["text/html"])
    assert "5 x 5 input pixels" in live  # paper: two 3x3 layers see 5x5
    ex.set(layers=1, kernel=1)
    assert "1 x 1 input pixels" in _text(ex.current_html)


@pytest.mark.parametrize("layers,kernel,stride,dilation", [(3, 3, 1, 1), (2, 5, 2, 1), (4, 3, 1, 2), (1, 7, 2, 2)])
def test_rf_explorer_counts_match_pytorch(layers, kernel, stride, dilation):
    """Parameters and MACs shown equal those of a torch-built stack (C=256, 56x56), counted by PyTorch."""
    ex = receptive_field_explorer(layers=layers, kernel_size=kernel, stride=stride, dilation=dilation)
    text = _text(ex.current_html)
    pad = dilation * (kernel - 1) // 2
    with torch.device("meta"):
        stack = nn.Sequential(
            *[nn.Conv2d(256, 256, kernel, stride=stride, padding=pad, dilation=dilation) for _ in range(layers)]
        )
    params = sum(p.numel() for p in stack.parameters())
    macs = _torch_macs(stack, (1, 256, 56, 56))
    assert f"{params:,} ({layers} x" in text
    assert f"({macs:,})" in text
    r = int(re.search(r"(\d+) x \d+ input pixels", text).group(1))
    # The row pricing one conv with the same field: with the stack's total stride, so the same output size.
    with torch.device("meta"):
        single = nn.Conv2d(256, 256, r, stride=stride**layers, padding=r // 2)
        out, one_out = stack(torch.empty(1, 256, 56, 56)).shape, single(torch.empty(1, 256, 56, 56)).shape
    assert out == one_out
    label = f"one {r}x{r} conv instead" + (f", stride {stride**layers}" if stride > 1 else "")
    one_macs = _torch_macs(single, (1, 256, 56, 56))
    assert f"{label} {sum(p.numel() for p in single.parameters()):,} parameters, {format_count(one_macs)} MACs" in text
    assert f"output {out[1]} x {out[2]} x {out[3]}" in text.split(label)[1]


@pytest.mark.parametrize("layers,kernel,stride,dilation", [(1, 3, 1, 1), (2, 3, 1, 1), (3, 3, 1, 1), (3, 3, 2, 1),
                                                            (2, 5, 1, 2), (3, 3, 2, 2), (2, 1, 2, 1)])
def test_footprint_matches_autograd_on_padded_stack(layers, kernel, stride, dilation):
    """The footprint's width equals the support of a gradient through an ordinary padded, random-weight stack."""
    counts = receptive_field_footprint(layers, kernel, stride, dilation)
    r = counts.shape[0]
    rows, cols = counts.nonzero(as_tuple=True)
    assert (int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)) == (r, r)
    torch.manual_seed(0)
    size = 4 * r + 9
    stack = nn.Sequential(
        *[nn.Conv2d(1, 1, kernel, stride=stride, padding=dilation * (kernel - 1) // 2, dilation=dilation)
          for _ in range(layers)]
    ).double()
    x = torch.randn(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    y = stack(x)
    c = y.shape[-1] // 2
    y[0, 0, c, c].backward()
    seen = x.grad[0, 0].abs().sum(0).nonzero()
    assert int(seen.max() - seen.min() + 1) == r
    if (layers, kernel, stride, dilation) == (3, 3, 1, 1):
        assert r == 7 and counts[3, 3] == 49 and counts[0, 0] == 1  # paths through 3 all-ones 3x3 layers


def test_rf_explorer_static_grid_is_small():
    ex = receptive_field_explorer()
    views = 1
    for spec in ex._specs.values():
        views *= len(spec.static_values())
    assert views <= 80


# --------------------------------------------------------------------------------------------- configurations
def test_config_explorer_matches_torchvision_metadata():
    ex = config_explorer()
    _ = ex.widget
    meta = torchvision.models.VGG16_Weights.IMAGENET1K_V1.meta
    text = _text(ex.current_html)
    assert f"{meta['num_params']:,} parameters" in text
    assert f"{meta['_ops']:.2f} G MACs" in text  # torchvision's "GFLOPS" are MACs
    ex.controls["batch_norm"].value = True
    ex.controls["config"].value = 4  # E (vgg19)
    live = _text(ex._output.outputs[-1]["data"]["text/html"])
    meta19 = torchvision.models.VGG19_BN_Weights.IMAGENET1K_V1.meta
    assert f"{meta19['num_params']:,} parameters" in live and f"{meta19['_ops']:.2f} G MACs" in live
    assert ex.values == {"config": "vgg19", "batch_norm": True, "input_size": 224, "num_classes": 1000}


def test_config_explorer_paper_table2_and_small_inputs():
    ex = config_explorer()
    paper = {"vgg11": 133, "vgg13": 133, "vgg16_c": 134, "vgg16": 138, "vgg19": 144}  # Table 2, millions
    for key, millions in paper.items():
        text = _text(ex.html_for(config=key, batch_norm=False, input_size=224, num_classes=1000))
        total = int(re.search(r"([\d,]+) parameters", text).group(1).replace(",", ""))
        assert round(total / 1e6) == millions
    ex.set(config="vgg11", input_size=32, num_classes=10)
    with torch.device("meta"):
        tv = torchvision.models.vgg11(num_classes=10)
    text = _text(ex.current_html)
    assert f"{sum(p.numel() for p in tv.parameters()):,} parameters" in text
    macs = _torch_macs(tv, (1, 3, 32, 32))
    assert re.search(r"total [\d,]+ ([\d.]+ [GMk]?)", text).group(1).strip() == _fmt(macs).strip()


def _fmt(n: float) -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {prefix}"
    return f"{n:.0f}"


@pytest.mark.parametrize("name,batch_norm", [("vgg16", False), ("vgg13", True)])
def test_stage_costs_add_up_per_stage_against_torchvision(name, batch_norm):
    import cnnlib.vgg as cv

    with torch.device("meta"):
        ours = getattr(cv, name)(batch_norm=batch_norm)
        tv = getattr(torchvision.models, name + ("_bn" if batch_norm else ""))()
    costs = stage_costs(ours, 64)
    assert [c.stage for c in costs] == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    assert sum(c.params for c in costs) == sum(p.numel() for p in tv.parameters())
    # per conv stage: run torchvision's own layers of that stage and count with PyTorch
    pools = [i for i, m in enumerate(tv.features) if isinstance(m, nn.MaxPool2d)]
    start, size = 0, 64
    for stage, end in enumerate(pools):
        part = tv.features[start : end + 1]
        c_in = next(m for m in part if isinstance(m, nn.Conv2d)).in_channels
        assert costs[stage].macs == _torch_macs(part, (1, c_in, size, size))
        assert costs[stage].params == sum(p.numel() for p in part.parameters())
        start, size = end + 1, size // 2
    fc6 = tv.classifier[0]
    assert costs[5].params == fc6.weight.numel() + fc6.bias.numel() and costs[5].macs == fc6.weight.numel()
    assert costs[2].layers == ("conv3-256 x3" if name == "vgg16" else "conv3-256 x2")


def test_config_explorer_rejects_unknown_and_static_grid_is_small():
    with pytest.raises(ValueError, match="config must be one of"):
        config_explorer(config="vgg11_lrn")
    ex = config_explorer()
    views = 1
    for spec in ex._specs.values():
        views *= len(spec.static_values())
    assert views == 5 * 2 * 2 * 2


@pytest.mark.parametrize("kw", [{"channels": -3}, {"channels": 0}, {"input_size": 0}, {"max_layers": 0},
                                {"layers": 5, "max_layers": 4}])
def test_rf_explorer_refuses_impossible_arguments(kw):
    with pytest.raises(ValueError, match="must be"):
        receptive_field_explorer(**kw)
