"""Weights for the widgets: ImageNet when online, else a cached or freshly trained CIFAR-10 model, never silently
random. Training runs on a tiny stand-in data set (a folder of 32 x 32 PNGs) so the whole path runs in seconds."""

import json

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from cnnlib import pretrained
from cnnlib.cifar import vgg_cifar
from cnnlib.data import CIFAR10_CLASSES
from cnnlib.pretrained import WeightsUnavailableError, load_pretrained, weights_paths


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory):
    """train/<class>/*.png and test/<class>/*.png, 32 x 32, a few per class."""
    root = tmp_path_factory.mktemp("tiny_cifar")
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 30), ("test", 6)):
        for label, cls in enumerate(CIFAR10_CLASSES):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                pixels[..., label % 3] = 25 * label  # a learnable colour cue per class
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Nothing in these tests may reach the internet."""
    monkeypatch.setattr(pretrained, "_imagenet_reachable", lambda url, timeout=3.0: False)


@pytest.fixture(scope="module")
def quick_run(tiny_cifar, tmp_path_factory):
    """One quick-mode training run (through load_pretrained), shared by the tests that read its cache."""
    cache = tmp_path_factory.mktemp("weights")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pretrained, "_imagenet_reachable", lambda url, timeout=3.0: False)
        model, info = load_pretrained("vgg16", prefer="cifar10", quick=True, data=tiny_cifar, cache_dir=cache,
                                      device="cpu")
    return model, info, cache


def test_quick_training_caches_weights_and_says_so(quick_run, monkeypatch):
    model, info, tmp_path = quick_run
    assert info.source == "cifar10" and info.model == "vgg_cifar" and info.quick
    assert "vgg_cifar trained on CIFAR-10 by cnnlib in quick mode" in info.description
    assert "not a trained model" in info.description and "test accuracy" in info.description
    assert info.input_size == 32 and info.classes == CIFAR10_CLASSES and not model.training

    pt, sidecar = weights_paths("vgg_cifar", quick=True, cache_dir=tmp_path)
    assert pt.name == "vgg_cifar-cifar10-quick.pt"
    meta = json.loads(sidecar.read_text())
    for key in ("device", "epochs", "test_accuracy", "train_seconds", "date", "torch", "config", "sha256"):
        assert key in meta
    assert meta["quick"] is True and meta["epochs"] == 1 and meta["train_images"] == 300
    state = torch.load(pt, weights_only=True)  # a plain state_dict: safe to load
    for k, v in model.state_dict().items():
        torch.testing.assert_close(state[k], v.cpu())

    # second call: read from the cache, no training
    monkeypatch.setattr(pretrained, "train_cifar_weights", lambda *a, **k: pytest.fail("trained again"))
    again, info2 = load_pretrained("vgg_cifar", prefer="cifar10", quick=True, cache_dir=tmp_path, device="cpu")
    assert info2.description == info.description
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(again(x), model(x))


def test_full_mode_never_uses_quick_weights(quick_run):
    tmp_path = quick_run[2]
    assert weights_paths("vgg_cifar", quick=True, cache_dir=tmp_path)[0].is_file()
    with pytest.raises(WeightsUnavailableError, match="train_if_missing=False"):
        load_pretrained("vgg_cifar", prefer="cifar10", quick=False, train_if_missing=False, cache_dir=tmp_path)


def test_full_weights_in_cache_are_used_and_described(tmp_path):
    torch.manual_seed(1)
    trained = vgg_cifar()
    meta = {"format": 1, "model": "vgg_cifar", "dataset": "CIFAR-10", "quick": False, "device": "NVIDIA H100",
            "epochs": 10, "train_images": 50000, "test_images": 10000, "test_accuracy": 0.938, "train_seconds": 4.1,
            "date": "2026-11-28T10:00:00+00:00"}
    pretrained._write_cached(*weights_paths("vgg_cifar", cache_dir=tmp_path), trained, meta)
    for quick in (False, True):  # quick mode also prefers the full weights when they are there
        model, info = load_pretrained("vgg16", prefer="imagenet", quick=quick, cache_dir=tmp_path, device="cpu")
        assert info.description == "vgg_cifar trained on CIFAR-10 by cnnlib on NVIDIA H100 in 4.1 s (10 epochs), " \
                                   "93.8% test accuracy."
        assert info.test_accuracy == pytest.approx(0.938) and not info.quick
        assert any("ImageNet weights" in n for n in info.notes)  # why ImageNet was skipped
        torch.testing.assert_close(model.state_dict()["fc.weight"], trained.state_dict()["fc.weight"])


def test_half_precision_cache_loads_into_float32(tmp_path):
    torch.manual_seed(2)
    trained = vgg_cifar().eval()
    meta = {"model": "vgg_cifar", "quick": False, "device": "X", "epochs": 1, "test_accuracy": 0.5,
            "train_seconds": 1.0}
    pt, sidecar = weights_paths("vgg_cifar", cache_dir=tmp_path)
    pretrained._write_cached(pt, sidecar, trained, meta, half=True)
    assert torch.load(pt, weights_only=True)["fc.weight"].dtype == torch.float16
    assert json.loads(sidecar.read_text())["stored_dtype"] == "float16"
    model, _ = load_pretrained("vgg_cifar", prefer="cifar10", train_if_missing=False, cache_dir=tmp_path, device="cpu")
    assert model.fc.weight.dtype == torch.float32
    torch.testing.assert_close(model.fc.weight, trained.fc.weight, atol=1e-3, rtol=1e-3)


def test_corrupt_cache_is_not_loaded(tmp_path):
    pt, sidecar = weights_paths("vgg_cifar", cache_dir=tmp_path)
    pt.parent.mkdir(parents=True, exist_ok=True)
    pt.write_bytes(b"not a checkpoint")
    sidecar.write_text("{}")
    with pytest.raises(WeightsUnavailableError):
        load_pretrained("vgg_cifar", prefer="cifar10", train_if_missing=False, cache_dir=tmp_path)


def test_no_network_no_data_no_random(tmp_path):
    missing = tmp_path / "no_such_data"
    with pytest.raises(WeightsUnavailableError) as err:
        load_pretrained("googlenet", quick=True, data=missing, cache_dir=tmp_path)
    text = str(err.value)
    assert "allow_random=True" in text and "CNNLIB_CIFAR10" in text and "ImageNet" in text

    model, info = load_pretrained("googlenet", quick=True, data=missing, cache_dir=tmp_path, allow_random=True)
    assert info.source == "random" and "random initialisation" in info.description
    assert info.model == "googlenet" and info.input_size == 224  # the network that was asked for


def test_explicit_random_and_bad_arguments(tmp_path):
    _, info = load_pretrained("vgg_cifar", prefer="random", cache_dir=tmp_path)
    assert info.source == "random" and info.model == "vgg_cifar" and "random initialisation" in str(info)
    with pytest.raises(ValueError, match="prefer"):
        load_pretrained("vgg16", prefer="imagenet21k")
    with pytest.raises(ValueError, match="no trained weights for 'resnet50'"):
        load_pretrained("resnet50")


def test_imagenet_weights_match_torchvision(monkeypatch):
    """With the download replaced by torchvision's own (randomly initialised) GoogLeNet, the loaded model gives
    torchvision's outputs, and the info carries torchvision's metadata."""
    torch.manual_seed(0)
    reference = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True).eval()
    monkeypatch.setattr(torchvision.models.GoogLeNet_Weights, "get_state_dict",
                        lambda self, *a, **k: reference.state_dict())
    model, info = load_pretrained("googlenet", online=True, device="cpu")
    assert info.source == "imagenet" and info.input_size == 224 and len(info.classes) == 1000
    assert info.description == ("googlenet with torchvision's ImageNet weights "
                                "(IMAGENET1K_V1, 69.8% top-1 accuracy on ImageNet).")
    reference.transform_input = True  # what torchvision sets when it loads these weights
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


def test_imagenet_download_failure_falls_back(quick_run, monkeypatch):
    def broken(self, *a, **k):
        raise OSError("connection reset")

    monkeypatch.setattr(torchvision.models.VGG16_Weights, "get_state_dict", broken)
    monkeypatch.setattr(pretrained, "train_cifar_weights", lambda *a, **k: pytest.fail("the cache has weights"))
    _, info = load_pretrained("vgg16", online=True, quick=True, cache_dir=quick_run[2], device="cpu")
    assert info.source == "cifar10" and info.description == quick_run[1].description
    assert info.notes == ("ImageNet weights: OSError: connection reset",)
