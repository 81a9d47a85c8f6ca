"""Weights for the widgets: ImageNet when online, else the shipped, a cached or a freshly trained CIFAR-10 model,
never silently random. Training runs on a tiny stand-in data set (a folder of 32 x 32 PNGs) so the whole path runs
in seconds; the network is never used (downloads are stubs)."""

import json
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from cifar_data import IN_CI, REPO, TARBALL
from cnnlib import pretrained, shipped
from cnnlib.cifar import vgg_cifar
from cnnlib.data import CIFAR10_CLASSES, load_cifar10
from cnnlib.pretrained import WeightsUnavailableError, load_pretrained, weights_paths
from cnnlib.shipped import ShippedWeightsError


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


def _offline(url, timeout):
    raise urllib.error.URLError(OSError(101, "Network is unreachable"))


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path_factory):
    """Nothing in these tests may reach the internet, and the repository's own weights/ stay out of the way
    (``$CNNLIB_WEIGHTS`` points at an empty folder) unless a test says otherwise."""
    monkeypatch.setattr(pretrained, "_imagenet_reachable", lambda url, timeout=3.0: False)
    monkeypatch.setattr(shipped, "_fetch", _offline)
    monkeypatch.setenv(shipped.SHIPPED_ENV, str(tmp_path_factory.mktemp("no_shipped_weights")))


@pytest.fixture(scope="module")
def quick_run(tiny_cifar, tmp_path_factory):
    """One quick-mode training run (through load_pretrained), shared by the tests that read its cache."""
    cache = tmp_path_factory.mktemp("weights")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pretrained, "_imagenet_reachable", lambda url, timeout=3.0: False)
        mp.setattr(shipped, "_fetch", _offline)
        mp.setenv(shipped.SHIPPED_ENV, str(tmp_path_factory.mktemp("no_shipped")))
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
    assert info.notes[0].startswith("ImageNet weights: ConnectionError: could not download torchvision's 'vgg16'")
    assert "connection reset" in info.notes[0]
    assert any(n.startswith("shipped weights: no vgg_cifar.safetensors") for n in info.notes)


# ------------------------------------------------------------------ shipped weights: export, load, verify (#14)
@pytest.fixture(scope="module")
def tiny_run(tiny_cifar, tmp_path_factory):
    """A real (tiny) run of the training CLI: checkpoint.pt + metrics.json, as the book's runs write them."""
    out = tmp_path_factory.mktemp("run")
    cmd = [sys.executable, "-m", "cnnlib.train", "--model", "vgg_cifar", "--data", str(tiny_cifar),
           "--train-subset", "256", "--epochs", "1", "--batch-size", "128", "--seed", "3",
           "--model-kw", '{"widths": [8, 16, 16]}', "--out", str(out), "--no-progress", "--threads", "1"]
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    return out


@pytest.fixture
def exported(tiny_run, tiny_cifar, tmp_path):
    meta = shipped.export_run(tiny_run, out=tmp_path / "weights", data=tiny_cifar)
    return tmp_path / "weights", meta


def test_export_writes_16_bit_weights_with_provenance(exported, tiny_run, tiny_cifar):
    folder, meta = exported
    assert sorted(p.name for p in folder.iterdir()) == ["vgg_cifar.json", "vgg_cifar.safetensors"]  # no temp files
    assert json.loads((folder / "vgg_cifar.json").read_text()) == meta
    assert meta["sha256"] == shipped.sha256_file(folder / "vgg_cifar.safetensors")
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for key in ("seed", "device", "torch", "model_kw", "train_seconds", "epochs", "train_images"):
        assert meta[key] == metrics[key], key
    assert meta["test_accuracy"] == metrics["test_acc"] and meta["model_kw"] == {"widths": [8, 16, 16]}
    assert meta["command"] == ("python -m cnnlib.train --model vgg_cifar --seed 3 --model-kw "
                               "'{\"widths\": [8, 16, 16]}' --epochs 1 --train-subset 256 --test-subset 60 "
                               f"--batch-size 128 --data {tiny_cifar.name}")
    from safetensors.torch import load_file

    from cnnlib.train import load_checkpoint

    stored = load_file(str(folder / "vgg_cifar.safetensors"))
    original = load_checkpoint(tiny_run / "checkpoint.pt")["model"]
    assert list(stored) == list(original) or sorted(stored) == sorted(original)
    for key, value in original.items():
        if value.is_floating_point():
            assert stored[key].dtype == torch.float16
            torch.testing.assert_close(stored[key], value.half(), rtol=0, atol=0)
        else:  # num_batches_tracked stays an integer
            assert stored[key].dtype == value.dtype and torch.equal(stored[key], value)
    # the check: every 5th test image, float32 model with the 16-bit weights, reproducible here exactly
    check = meta["check"]
    data = shipped.check_subset(load_cifar10(tiny_cifar, train=False))
    assert check["images"] == len(data) == 12
    model, _ = shipped.load_shipped("vgg_cifar", folder)
    assert model.fc.weight.dtype == torch.float32 and model.fc.weight.shape == (10, 16)
    assert shipped.check_accuracy(model, data) == {k: check[k] for k in ("images", "correct", "accuracy",
                                                                         "images_sha256")}


def test_export_never_silently_replaces(exported, tiny_run, tiny_cifar):
    folder, meta = exported
    before = (folder / "vgg_cifar.safetensors").stat().st_mtime_ns
    again = shipped.export_run(tiny_run, out=folder, data=tiny_cifar)  # the same content: nothing to do
    assert again == meta and (folder / "vgg_cifar.safetensors").stat().st_mtime_ns == before
    # another process writes the same bytes (safetensors' metadata map has no fixed order: one key only)
    cmd = [sys.executable, "-m", "cnnlib.pretrained", "export", str(tiny_run), "--out", str(folder),
           "--data", str(tiny_cifar)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert (folder / "vgg_cifar.safetensors").stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match="--force"):
        shipped.export_run(tiny_run, out=folder, data=tiny_cifar, dtype="bf16")
    assert json.loads((folder / "vgg_cifar.json").read_text()) == meta  # untouched
    bf16 = shipped.export_run(tiny_run, out=folder, data=tiny_cifar, dtype="bf16", force=True)
    assert bf16["dtype"] == "bfloat16" and bf16["sha256"] == shipped.sha256_file(folder / "vgg_cifar.safetensors")
    assert sorted(p.name for p in folder.iterdir()) == ["vgg_cifar.json", "vgg_cifar.safetensors"]


def test_export_cli(tiny_run, tiny_cifar, tmp_path, capsys):
    out = tmp_path / "w"
    assert pretrained._main(["export", str(tiny_run), "--out", str(out), "--data", str(tiny_cifar)]) == 0
    assert "vgg_cifar.safetensors" in capsys.readouterr().out
    assert pretrained._main(["export", str(tiny_run), "--out", str(out), "--data", str(tiny_cifar),
                             "--dtype", "bf16"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert pretrained._main(["export", str(tmp_path / "nothing")]) == 2
    assert "not a finished training run" in capsys.readouterr().err


def test_export_is_atomic(tiny_run, tiny_cifar, tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    real = os.replace

    def fail_on_json(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(shipped.os, "replace", fail_on_json)
    with pytest.raises(OSError, match="No space"):
        shipped.export_run(tiny_run, out=folder, data=tiny_cifar)
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # no temp file survives
    assert shipped.load_shipped("vgg_cifar", folder) is None  # no JSON: never read as shipped weights


def test_load_pretrained_uses_shipped_weights_first(exported, monkeypatch, tmp_path):
    folder, meta = exported
    monkeypatch.setenv(shipped.SHIPPED_ENV, str(folder))
    cache = tmp_path / "cache"
    pretrained._write_cached(*weights_paths("vgg_cifar", cache_dir=cache), vgg_cifar(),
                             {"model": "vgg_cifar", "test_accuracy": 0.5, "device": "X", "epochs": 1})
    monkeypatch.setattr(pretrained, "train_cifar_weights", lambda *a, **k: pytest.fail("trained"))
    # the reported bug: load_pretrained("vgg16") offline on a CPU started an hour of training
    model, info = load_pretrained("vgg16", cache_dir=cache, device="cpu")
    assert info.source == "cifar10" and info.details == meta and not info.quick
    assert model.fc.weight.shape == (10, 16)  # rebuilt with the JSON's model_kw
    assert info.description.startswith("vgg_cifar trained on CIFAR-10 (256 of its 50,000 training images) by "
                                       "cnnlib (python -m cnnlib.train) on CPU")
    assert "0.0% test accuracy" in info.description and "shipped weights, float16" in info.description


def test_swapped_shipped_file_is_refused(exported, monkeypatch, tmp_path):
    folder, _ = exported
    from safetensors.torch import save_file

    torch.manual_seed(5)
    other = {k: v.contiguous() for k, v in vgg_cifar(widths=(8, 16, 16)).state_dict().items()}
    save_file(other, str(folder / "vgg_cifar.safetensors"))  # a valid file, but not the one the JSON describes
    monkeypatch.setenv(shipped.SHIPPED_ENV, str(folder))
    with pytest.raises(ShippedWeightsError, match="sha256"):
        load_pretrained("vgg_cifar", prefer="cifar10", cache_dir=tmp_path, allow_random=True)


def test_download_when_there_is_no_weights_folder(exported, monkeypatch, tmp_path):
    folder, meta = exported
    requested = []

    def serve(url, timeout):
        requested.append(url)
        assert timeout <= 10
        return (folder / url.rsplit("/", 1)[1]).read_bytes()

    monkeypatch.setattr(shipped, "_fetch", serve)
    cache = tmp_path / "cache"
    model, info = load_pretrained("vgg_cifar", prefer="cifar10", cache_dir=cache, device="cpu")
    assert info.details == meta and "shipped weights" in info.description
    base = "https://raw.githubusercontent.com/stacks-and-branches/stacks-and-branches/main/weights/"
    assert requested == [base + "vgg_cifar.json", base + "vgg_cifar.safetensors"]
    assert shipped.sha256_file(cache / "vgg_cifar.safetensors") == meta["sha256"]
    monkeypatch.setattr(shipped, "_fetch", _offline)  # offline now: the verified copy in the cache serves
    _, again = load_pretrained("vgg_cifar", prefer="cifar10", cache_dir=cache, device="cpu")
    assert again.details == meta


def test_tampered_or_failed_download_is_not_used(exported, monkeypatch, tmp_path):
    folder, _ = exported

    def tampered(url, timeout):
        data = (folder / url.rsplit("/", 1)[1]).read_bytes()
        return data if url.endswith(".json") else data[:-1] + bytes([data[-1] ^ 1])

    monkeypatch.setattr(shipped, "_fetch", tampered)
    with pytest.raises(WeightsUnavailableError, match="does not match its JSON's sha256"):
        load_pretrained("vgg_cifar", prefer="cifar10", cache_dir=tmp_path, device="cpu", train_if_missing=False)
    assert not (tmp_path / "vgg_cifar.safetensors").exists()
    monkeypatch.setattr(shipped, "_fetch", _offline)
    with pytest.raises(WeightsUnavailableError, match="could not download vgg_cifar's weights.*unreachable"):
        load_pretrained("vgg_cifar", prefer="cifar10", cache_dir=tmp_path, device="cpu", train_if_missing=False)


def test_real_download_times_out_on_a_silent_server(monkeypatch):
    """The real download code (no stub) against a local server that accepts and never answers."""
    import socket
    import time

    monkeypatch.undo()  # the real _fetch
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    url = f"http://127.0.0.1:{server.getsockname()[1]}/vgg_cifar.json"
    start = time.perf_counter()
    try:
        with pytest.raises(OSError):  # socket.timeout (TimeoutError) or URLError, both OSErrors
            shipped._fetch(url, timeout=0.5)
    finally:
        server.close()
    assert time.perf_counter() - start < 5


def test_repository_url_is_the_books(monkeypatch):
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert shipped.REPOSITORY_URL == config["repository"]["url"]
    assert shipped.REPOSITORY_BRANCH == config["repository"].get("branch", "main")


# ------------------------------------------------------------------------------ no silent failures (#13)
def test_cache_sidecar_sha256_is_verified(tmp_path):
    pt, sidecar = weights_paths("vgg_cifar", cache_dir=tmp_path)
    meta = {"model": "vgg_cifar", "quick": False, "device": "X", "epochs": 9, "test_accuracy": 0.9,
            "train_seconds": 1.0}
    torch.manual_seed(0)
    pretrained._write_cached(pt, sidecar, vgg_cifar(), meta)
    torch.manual_seed(1)
    torch.save(vgg_cifar().state_dict(), pt)  # swapped: a valid state dict, not the one the sidecar describes
    with pytest.raises(WeightsUnavailableError) as err:
        load_pretrained("vgg_cifar", prefer="cifar10", train_if_missing=False, cache_dir=tmp_path, device="cpu")
    assert "does not match the sha256" in str(err.value)


def test_cache_pair_is_written_atomically_sidecar_last(tmp_path, monkeypatch):
    pt, sidecar = weights_paths("vgg_cifar", cache_dir=tmp_path)
    real, order = os.replace, []

    def record(src, dst):
        order.append(Path(dst).name)
        if str(dst).endswith(".json"):
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(pretrained.os, "replace", record)
    meta = {"model": "vgg_cifar", "device": "X", "epochs": 1, "test_accuracy": 0.5}
    with pytest.raises(OSError):
        pretrained._write_cached(pt, sidecar, vgg_cifar(), meta)
    assert order == ["vgg_cifar-cifar10.pt", "vgg_cifar-cifar10.json"]  # the sidecar last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vgg_cifar-cifar10.pt"]  # no temp file left behind
    monkeypatch.setattr(pretrained.os, "replace", real)
    with pytest.raises(WeightsUnavailableError):  # a .pt without its sidecar is never served
        load_pretrained("vgg_cifar", prefer="cifar10", train_if_missing=False, cache_dir=tmp_path, device="cpu")


def test_cpu_never_trains_silently(tiny_cifar, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(pretrained, "train_cifar_weights", lambda *a, **k: calls.append(k) or pytest.fail("x"))
    with pytest.raises(WeightsUnavailableError) as err:
        load_pretrained("vgg16", quick=False, data=tiny_cifar, cache_dir=tmp_path, device="cpu")
    assert calls == [] and "python -m cnnlib.pretrained vgg_cifar" in str(err.value)

    def fake_train(name, **kwargs):
        calls.append(kwargs)
        return vgg_cifar(), {"model": name, "device": "CPU", "epochs": 1, "test_accuracy": 0.1}

    monkeypatch.setattr(pretrained, "train_cifar_weights", fake_train)
    _, info = load_pretrained("vgg16", quick=False, data=tiny_cifar, cache_dir=tmp_path, device="cpu",
                              train_if_missing=True)  # explicitly allowed
    assert len(calls) == 1 and info.source == "cifar10"


def test_cli_reports_a_cache_dir_it_cannot_write(tiny_cifar, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = pretrained._main(["vgg_cifar", "--quick", "--data", str(tiny_cifar), "--cache-dir", str(blocker)])
    captured = capsys.readouterr()
    assert code != 0 and captured.out == ""
    assert captured.err.count("\n") == 1 and "is a file" in captured.err


def test_cli_bad_arguments_are_one_line(capsys):
    assert pretrained._main(["vgg16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "vgg_cifar" in err and "Traceback" not in err
    assert pretrained._main(["resnet50", "vgg_cifar"]) == 2
    assert "resnet50" in capsys.readouterr().err
    assert pretrained._main(["vgg_cifar", "--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        pretrained._main(["vgg_cifar", "--epochs", "many"])
    assert exit_.value.code == 2


# --------------------------------------------------------------------------- the book's own weights/
_WEIGHTS = REPO / "weights"
_SHIPPED = sorted(set(shipped.SHIPPED_MODELS) | {p.stem for p in _WEIGHTS.glob("*.json")})


def test_weights_folder_holds_only_small_16_bit_pairs():
    files = [p for p in _WEIGHTS.glob("*") if p.name != "README.md"] if _WEIGHTS.is_dir() else []
    assert all(p.suffix in (".safetensors", ".json") for p in files), files
    assert sum(p.stat().st_size for p in files) <= 16 * 1024 * 1024
    stems = {p.stem for p in files}
    assert all((_WEIGHTS / f"{s}.safetensors").is_file() and (_WEIGHTS / f"{s}.json").is_file() for s in stems)


@pytest.mark.slow
@pytest.mark.parametrize("model_name", _SHIPPED)
def test_shipped_weights_reproduce_their_recorded_accuracy(model_name, monkeypatch):
    if not (_WEIGHTS / f"{model_name}.json").is_file():
        pytest.fail(f"weights/{model_name}.json is missing: the book ships both networks' weights")
    if not TARBALL.is_file() and not IN_CI:
        pytest.skip(f"the CIFAR-10 tarball is not at {TARBALL}")
    monkeypatch.setenv(shipped.SHIPPED_ENV, str(_WEIGHTS))
    model, info = load_pretrained(model_name, prefer="cifar10", device="cpu", online=False)  # sha256 verified
    meta = info.details
    assert info.source == "cifar10" and meta["model"] == model_name and "shipped weights" in info.description
    for key in ("command", "seed", "test_accuracy", "device", "date", "torch", "sha256", "model_kw"):
        assert meta.get(key) is not None, key
    check = meta["check"]
    data = shipped.check_subset(load_cifar10(TARBALL, train=False))
    assert shipped._images_sha256(data) == check["images_sha256"], "not the images the check was made on"
    got = shipped.check_accuracy(model, data)
    # float32 on the CPU without autocast; a different CPU's kernels may round a borderline image the other way
    assert abs(got["correct"] - check["correct"]) <= 2, (got, check)
