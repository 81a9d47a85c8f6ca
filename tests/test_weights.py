"""load_torchvision_weights, tested offline against torchvision's own weight loading.

The download is replaced by a stub (``WeightsEnum.get_state_dict``) that returns a torchvision
model's random state dict, and torch.hub's downloader is made to fail, so no network is used.
torchvision's builders run under the same stub (``get_model(name, weights="DEFAULT")``): the
reference for what "loading the weights" means is torchvision's own code.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models._api import WeightsEnum

from state_dicts import random_state_dict
from cnnlib.alexnet import alexnet
from cnnlib.googlenet import googlenet
from cnnlib.vgg import VGG, VGG_CONFIGS, make_vgg_layers, vgg11, vgg16_c
from cnnlib.weights import PRETRAINED_NAMES, load_torchvision_weights


_FILES: dict[str, dict[str, torch.Tensor]] = {}  # shared by all tests: generating them is the slow part


def empty(build: Callable[[], nn.Module]) -> nn.Module:
    """Build a model without spending time on initialisation (its values are then loaded)."""
    with torch.device("meta"):
        model = build()
    return model.to_empty(device="cpu")


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Same keys, bit-identical values (torch.equal is far faster than assert_close on 100 M values)."""
    assert list(a) == list(b)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different


class FakeDownloads:
    """Stands in for torchvision's weight files: ``name -> state dict``, recording requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[Any, dict[str, Any]]] = []

    def state_dict_for(self, name: str) -> dict[str, torch.Tensor]:
        if name not in _FILES:
            # Like the real files: GoogLeNet's weights include the aux heads.
            kwargs = {"aux_logits": True, "init_weights": False} if name == "googlenet" else {}
            with torch.device("meta"):
                model = torchvision.models.get_model(name, **kwargs)
            _FILES[name] = random_state_dict(model)
        return _FILES[name]

    def get_state_dict(self, weights: WeightsEnum, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        self.requests.append((weights, kwargs))
        name = {torchvision.models.get_model_weights(n).DEFAULT: n for n in PRETRAINED_NAMES}[weights]
        return {k: v.clone() for k, v in self.state_dict_for(name).items()}


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> FakeDownloads:
    fake = FakeDownloads()
    def get_state_dict(weights: WeightsEnum, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        return fake.get_state_dict(weights, *args, **kwargs)

    monkeypatch.setattr(WeightsEnum, "get_state_dict", get_state_dict)  # a function, so it binds like a method

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the network must not be used in tests")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", no_network, raising=False)
    return fake


CASES: list[tuple[str, Callable[[], nn.Module], int]] = [
    ("alexnet", lambda: alexnet(), 64),
    ("vgg11_bn", lambda: vgg11(batch_norm=True), 32),
    ("googlenet", lambda: googlenet(aux_logits=False), 64),
]


@pytest.mark.parametrize("name, build, side", CASES, ids=[c[0] for c in CASES])
def test_loads_like_torchvision(downloads: FakeDownloads, name: str, build: Callable[[], nn.Module], side: int) -> None:
    model = empty(build)
    assert model.pretrained_name == name
    assert load_torchvision_weights(model, progress=False) is model
    weights, kwargs = downloads.requests[-1]
    assert weights is torchvision.models.get_model_weights(name).IMAGENET1K_V1
    assert kwargs.get("progress") is False

    reference = torchvision.models.get_model(name, weights="DEFAULT")  # torchvision's own loading, same stub
    assert_same_state(model.state_dict(), reference.state_dict())
    model.eval(), reference.eval()
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


def test_googlenet_weights_set_transform_input_and_drop_aux(downloads: FakeDownloads) -> None:
    model = load_torchvision_weights(empty(lambda: googlenet(aux_logits=False)), progress=False)
    assert model.transform_input is True  # as torchvision does when it loads these weights
    assert model.aux1 is None and not any(k.startswith("aux") for k in model.state_dict())


def test_googlenet_weights_with_aux_heads(downloads: FakeDownloads) -> None:
    model = empty(lambda: googlenet(aux_logits=True))
    with pytest.warns(UserWarning, match="NOT pretrained"):
        load_torchvision_weights(model, progress=False)
    with pytest.warns(UserWarning, match="NOT pretrained"):
        reference = torchvision.models.googlenet(weights="DEFAULT", aux_logits=True)
    assert_same_state(model.state_dict(), reference.state_dict())
    model.train(), reference.train()
    x = torch.randn(2, 3, 64, 64)
    torch.manual_seed(0)
    expected = reference(x)
    torch.manual_seed(0)
    for got, want in zip(model.forward_with_aux(x), expected):
        torch.testing.assert_close(got, want)


def test_explicit_name_for_a_hand_built_model(downloads: FakeDownloads) -> None:
    model = empty(lambda: VGG(make_vgg_layers(VGG_CONFIGS["vgg11"], batch_norm=True)))
    with pytest.raises(ValueError, match="pass name="):
        load_torchvision_weights(model)
    load_torchvision_weights(model, "vgg11_bn", progress=False)
    assert_same_state(model.state_dict(), downloads.state_dict_for("vgg11_bn"))


def test_models_without_torchvision_weights(downloads: FakeDownloads) -> None:
    with torch.device("meta"):
        c = vgg16_c()
    with pytest.raises(ValueError, match="'vgg16_c' has no torchvision ImageNet weights"):
        load_torchvision_weights(c)
    with pytest.raises(ValueError, match="'googlenet_paper' has no torchvision ImageNet weights"):
        load_torchvision_weights(googlenet(paper=True))
    with pytest.raises(ValueError, match="paper=True"):
        load_torchvision_weights(googlenet(paper=True), "googlenet")
    assert downloads.requests == []  # refused before any download


def test_wrong_number_of_classes(downloads: FakeDownloads) -> None:
    with pytest.raises(ValueError, match=r"classifier\.6\.weight: model \(10, 4096\) vs weights \(1000, 4096\)"):
        load_torchvision_weights(empty(lambda: alexnet(num_classes=10)), progress=False)


def test_offline_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error

    def offline(*args: Any, **kwargs: Any) -> None:
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    with pytest.raises(ConnectionError, match=r"could not download torchvision's 'alexnet' weights") as info:
        load_torchvision_weights(empty(lambda: alexnet()), progress=False)
    text = str(info.value)
    assert "Network is unreachable" in text and "checkpoints" in text and "\n" not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained URLError traceback


def test_missing_key_is_named(downloads: FakeDownloads, monkeypatch: pytest.MonkeyPatch) -> None:
    real = downloads.get_state_dict

    def without_one(weights: WeightsEnum, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        state = real(weights, *args, **kwargs)
        del state["features.0.bias"]
        state["extra.weight"] = torch.zeros(1)
        return state

    monkeypatch.setattr(WeightsEnum, "get_state_dict", lambda w, *a, **k: without_one(w, *a, **k))
    with pytest.raises(ValueError, match=r"lacks 1 of the model's keys \(features\.0\.bias\)") as info:
        load_torchvision_weights(empty(lambda: alexnet()), progress=False)
    assert "extra.weight" in str(info.value) and "\n" not in str(info.value)
