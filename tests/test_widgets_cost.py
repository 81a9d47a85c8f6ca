"""The cost chapter's explorer: totals and per-layer profile of AlexNet, VGG-11/16/19 and GoogLeNet.

References nobody here wrote: torchvision's models (parameter counts) and their weights' metadata
(documented GFLOPS, i.e. multiply-accumulates).
"""

import re

import pytest
import torch
import torchvision
from torchvision.models import VGG16_Weights

from cnnlib.widgets import cost_explorer
from cnnlib.widgets.cost import COST_MODELS, cost_profile, cost_view


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html)))


@pytest.mark.parametrize("name, builder", [("VGG-16", torchvision.models.vgg16), ("AlexNet", torchvision.models.alexnet)])
def test_profile_keeps_every_parameter(name, builder):
    with torch.device("meta"):
        reference = sum(p.numel() for p in builder().parameters())
    profile = cost_profile(name, 224, 1)
    assert profile.total("params") == reference
    assert all(r.type not in ("ReLU", "Dropout") for r in profile)


def test_view_totals_match_torchvision_documentation():
    documented = VGG16_Weights.IMAGENET1K_V1.meta["_ops"]
    for batch in (1, 64):  # batch size scales compute, not parameters
        text = _text(cost_view("VGG-16", 224, batch))
        assert "138.36 M parameters" in text
        gmacs = float(re.search(r"([\d.]+) G multiply-accumulates", text).group(1))
        assert gmacs == pytest.approx(batch * documented, rel=0.01)


def test_googlenet_is_shown_per_block_without_aux_heads():
    profile = cost_profile("GoogLeNet", 224, 1)
    names = profile.names()
    assert "inception4a" in names and not any(n.startswith("aux") for n in names)
    assert profile["inception5b"].output_shape == (1, 1024, 7, 7)
    assert "used at inference" in _text(cost_view("GoogLeNet", 224, 1))


def test_explorer_live_and_static(monkeypatch):
    monkeypatch.delenv("CNNLIB_QUICK", raising=False)
    ex = cost_explorer(models=["AlexNet", "GoogLeNet"], input_sizes=(64, 96), batch_sizes=(1, 2),
                       model="AlexNet", input_size=96)
    html = ex.static_html()
    assert html.count('class="cnnlib-view"') == 8
    _ = ex.widget
    ex.set(name="GoogLeNet")
    assert "inception3a" in _text(ex.current_html)
    with pytest.raises(ValueError):
        cost_explorer(models=["ResNet"])
    with pytest.raises(ValueError):
        cost_explorer(input_sizes=(32,))
    for kw in ({"input_sizes": ()}, {"batch_sizes": []}, {"models": []}, {"batch_sizes": (0,)}):
        with pytest.raises(ValueError, match="at least one|positive"):  # not min()'s "empty sequence"
            cost_explorer(**kw)
    assert list(COST_MODELS) == ["AlexNet", "VGG-11", "VGG-16", "VGG-19", "GoogLeNet"]
