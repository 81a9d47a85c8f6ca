"""The Inception chapter's views: module designer and branch viewer.

References nobody here wrote: the paper's Table 1 (Szegedy et al. 2014, arXiv:1409.4842), torchvision's
Inception module and its image transforms.
"""

import importlib
import re

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

# torchvision.models.googlenet is also the name of a function; import the module itself
tv_googlenet = importlib.import_module("torchvision.models.googlenet")

from cnnlib.analysis import build_module, module_cost, paper_modules  # noqa: E402
from cnnlib.inception_naive import NaiveInception  # noqa: E402
from cnnlib.widgets import branch_viewer, module_designer  # noqa: E402  (lazy names of cnnlib.widgets)

# The paper's Table 1: input size, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj, output depth, ops (M)
TABLE1 = {
    "inception3a": (28, 64, 96, 128, 16, 32, 32, 256, 128),
    "inception3b": (28, 128, 128, 192, 32, 96, 64, 480, 304),
    "inception4a": (14, 192, 96, 208, 16, 48, 64, 512, 73),
    "inception4b": (14, 160, 112, 224, 24, 64, 64, 512, 88),
    "inception4c": (14, 128, 128, 256, 24, 64, 64, 512, 100),
    "inception4d": (14, 112, 144, 288, 32, 64, 64, 528, 119),
    "inception4e": (14, 256, 160, 320, 32, 128, 128, 832, 170),
    "inception5a": (7, 256, 160, 320, 32, 128, 128, 832, 54),
    "inception5b": (7, 384, 192, 384, 48, 128, 128, 1024, 71),
}


def test_paper_modules_match_table1():
    specs = paper_modules()
    assert list(specs) == list(TABLE1)
    previous_out = 192  # conv 3x3 gives 28x28x192 before inception (3a)
    for name, (size, *widths, out, _) in TABLE1.items():
        s = specs[name]
        assert s.size == size and list(s.widths) == widths and s.out_channels == out, name
        assert s.in_channels == previous_out, name  # each module takes the previous one's output
        previous_out = out


def test_macs_match_the_papers_ops_column():
    for name, (*_, ops) in TABLE1.items():
        macs = module_cost(paper_modules()[name]).macs
        if name == "inception5a":  # the paper's row is inconsistent with its own widths (51.1 M from them)
            assert round(macs / 1e6, 1) == 51.1
        else:
            assert abs(macs / 1e6 - ops) < 1, (name, macs)
    assert module_cost(paper_modules()["inception3a"]).macs == 128_049_152  # 163,328 weights x 28 x 28


def test_build_module_against_torchvision_inception():
    """Same module as torchvision's except the 5x5 kernel, which torchvision makes 3x3 (vision#906)."""

    class PlainConv(nn.Sequential):  # conv with bias + ReLU: the paper's unit
        def __init__(self, cin, cout, **kw):
            super().__init__(nn.Conv2d(cin, cout, **kw), nn.ReLU())

    for name in ("inception3a", "inception5b"):
        s = paper_modules()[name]
        ours = build_module(s)
        tv = tv_googlenet.Inception(s.in_channels, *s.widths, conv_block=PlainConv)
        n_ours = sum(p.numel() for p in ours.parameters())
        n_tv = sum(p.numel() for p in tv.parameters())
        assert n_ours - n_tv == (25 - 9) * s.ch5x5red * s.ch5x5
        assert module_cost(s).params == n_ours
        x = torch.randn(1, s.in_channels, s.size, s.size)
        assert ours(x).shape == tv(x).shape == (1, s.out_channels, s.size, s.size)


def test_naive_module():
    s = paper_modules()["inception3a"]
    naive = NaiveInception(s.in_channels, s.ch1x1, s.ch3x3, s.ch5x5)
    y = naive(torch.randn(2, 192, 28, 28))
    assert y.shape == (2, 64 + 128 + 32 + 192, 28, 28)
    cost = module_cost(s, reductions=False)
    weights = 192 * (64 * 1 + 128 * 9 + 32 * 25)
    assert cost.params == weights + 64 + 128 + 32
    assert cost.macs == weights * 28 * 28
    assert cost.out_channels == 416


def _cells(html):
    return re.findall(r'<td style="[^"]*text-align:right[^"]*">(?:<b>)?([^<]+)', html)


def test_module_designer_live_controls():
    ex = module_designer()
    _ = ex.widget
    html = ex.current_html
    assert "inception (3a)" in html
    assert _cells(html)[:3] == ["256", "416", "256"]
    assert "163,696" in html and "387,296" in html and "128.0 M" in html and "303.5 M" in html
    assert "2.4x</b> cheaper" in html  # 303.5 / 128.0
    assert html.count("data:image/png;base64,") == 1
    ex.controls["reductions"].value = False
    html = ex.current_html
    assert _cells(html)[:3] == ["416", "416", "256"] and "passes all 192 input channels" in html
    ex.controls["reductions"].value = True
    ex.set(branch="5x5", scale=2.0)  # 5x5 branch 32 -> 64 filters
    html = ex.current_html
    assert _cells(html)[0] == "288"
    s = paper_modules()["inception3a"]
    assert f"{163_696 + 16 * 25 * 32 + 32:,}" in html
    ex.set(module="inception5b", scale=1.0)
    assert _cells(ex.current_html)[0] == "1024"
    with pytest.raises(ValueError):
        module_designer(modules=["inception9z"])
    assert s.name == "inception3a"


def test_module_designer_static_grid(monkeypatch):
    monkeypatch.delenv("CNNLIB_QUICK", raising=False)
    ex = module_designer(static_modules=("inception3a",), scales=(1.0, 2.0))
    html = ex.static_html()
    keys = re.findall(r'class="cnnlib-view" data-key="([^"]+)"', html)
    assert len(keys) == len(set(keys)) == 1 * 2 * 4 * 2  # module x reductions x branch x width
    # every control offers a choice in the static book too (issue 16: no single-option selects)
    for name, control in ex._specs.items():
        if name != "module":
            assert len(control.static_values()) >= 2, name
    ex.set(branch="pool proj", scale=2.0)  # pool proj 32 -> 64 in inception (3a)
    assert _cells(ex.current_html)[0] == str(256 + 32)
    ex.set(branch="1x1", scale=2.0)  # 1x1 64 -> 128
    assert _cells(ex.current_html)[0] == str(256 + 64)


def test_module_designer_keeps_its_size():
    """The note under the table has a fixed height and the diagram one size, whatever the controls say."""
    import matplotlib.pyplot as plt

    from cnnlib.widgets.inception import draw_module

    ex = module_designer(modules=("inception3a", "inception5b"), static_modules=("inception3a",))
    sizes = set()
    for module in ("inception3a", "inception5b"):
        for reductions in (True, False):
            ex.set(module=module, reductions=reductions)
            assert "<div style='min-height:4.2em'>" in ex.current_html
            fig = draw_module(paper_modules()[module], reductions=reductions)
            sizes.add(tuple(fig.get_size_inches()))
            plt.close(fig)
    assert len(sizes) == 1


@pytest.fixture(scope="module")
def small_viewer():
    torch.manual_seed(0)
    from cnnlib.googlenet import googlenet

    model = googlenet(aux_logits=False).eval()
    return branch_viewer(model=model, weights="test weights", images=("chelsea", "coffee"),
                         modules=("inception3a", "inception5b"), static_modules=("inception3a", "inception5b"),
                         input_size=64)


def _branches(html):
    return re.findall(r"<b>branch (\d)</b>: ([^<]+)<br>(\d+) channels, (\d+)% of the block", html)


def test_branch_viewer_views(small_viewer):
    ex = small_viewer
    _ = ex.widget
    html = ex.current_html
    assert "inception3a" in html and "test weights" in html and "an Inception block, 256 × 8 × 8" in html
    heads = _branches(html)
    assert [int(h[2]) for h in heads] == [64, 128, 32, 32]  # the paper's Table 1, inception (3a)
    assert [h[1] for h in heads] == ["1x1", "1x1 → 3x3", "1x1 → 3x3", "3x3 max-pool → 1x1"]  # torchvision's 3x3
    assert abs(sum(int(h[3]) for h in heads) - 100) <= 2
    assert [o for _, o in ex._specs["layer"]._pairs] == ["inception3a", "inception5b"]  # only Inception modules
    ex.controls["layer"].value = 1
    html = ex.current_html
    assert "1024 × 2 × 2" in html and [int(h[2]) for h in _branches(html)] == [384, 384, 128, 128]
    ex.set(image="coffee")
    assert ex.current_html != html
    assert ex.cache.forward_count == 2  # one forward pass per photo, whatever the module


def test_branch_viewer_static_and_arguments(small_viewer, monkeypatch):
    monkeypatch.delenv("CNNLIB_QUICK", raising=False)
    html = small_viewer.static_html()
    assert len(re.findall('class="cnnlib-view"', html)) == 2 * 2 * 2  # images x modules x channel modes
    with pytest.raises(ValueError, match="weights"):
        branch_viewer(model=nn.Identity())
    with pytest.raises(ValueError, match="Inception modules"):
        branch_viewer(model=nn.Identity(), weights="w")
    with pytest.raises(ValueError, match="channels"):
        branch_viewer(model=small_viewer.model, weights="w", channels=-3)


def test_branch_viewer_takes_its_weights_from_load_pretrained(monkeypatch):
    """One weights policy: the viewer asks load_pretrained (never trains) and shows what it was given."""
    import cnnlib.pretrained as pretrained
    from cnnlib.cifar import googlenet_cifar

    calls = []
    torch.manual_seed(0)
    model = googlenet_cifar(width_mult=0.25).eval()
    info = pretrained.WeightsInfo(model="googlenet_cifar", source="random", description="random, as labelled",
                                  input_size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))

    def fake(name, **kw):
        calls.append((name, kw))
        return model, info

    monkeypatch.setattr(pretrained, "load_pretrained", fake)
    # two of each: a control offers a choice (cnnlib.widgets refuses single-option selects)
    ex = branch_viewer(images=("coffee", "chelsea"), modules=("inception3a", "inception5b"),
                       static_modules=("inception3a",))
    assert calls == [("googlenet", {"prefer": "imagenet", "allow_random": True, "train_if_missing": False})]
    assert "random, as labelled" in ex.current_html and "resized and cropped to 32 × 32 px" in ex.current_html
    # random weights: the heading itself says the statistics mean nothing (issue 15)
    assert "random weights, so the maps and branch shares say nothing" in ex.title
