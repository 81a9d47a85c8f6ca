"""Tests for cnnlib.data: reading CIFAR-10 from folders, archives and the shared JPEG tarball; the device loader."""

from __future__ import annotations

import io
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from cifar_data import TARBALL, needs_tarball
from cnnlib import data as cdata
from cnnlib.data import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR10Tensors,
    DataNotFoundError,
    DeviceLoader,
    load_cifar10,
    normalize,
    random_translate,
)

# the user's cache, read before the fixture below swaps it: the full tarball is decoded once, not per test run
_USER_CACHE = cdata.cache_dir()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache folder and no default source from the environment."""
    monkeypatch.setenv(cdata.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(cdata.DATA_ENV, raising=False)


def _make_tree(root: Path, *, per_class: dict[str, int], fmt: str = "PNG") -> dict[str, list[np.ndarray]]:
    """Write ``train/`` and ``test/`` trees of random 32x32 images; return the pixels per split in label order."""
    rng = np.random.default_rng(0)
    pixels: dict[str, list[np.ndarray]] = {}
    suffix = ".png" if fmt == "PNG" else ".jpg"
    for split, scale in (("train", 1), ("test", 1)):
        pixels[split] = []
        for cls in sorted(per_class, key=CIFAR10_CLASSES.index):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(per_class[cls] * scale):
                arr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(arr).save(folder / f"{i:04d}{suffix}", format=fmt)
                pixels[split].append(arr)
    return pixels


def test_folder_tree_lossless_pixels_and_cifar_label_order(tmp_path):
    pixels = _make_tree(tmp_path / "tree", per_class={"dog": 2, "airplane": 3, "truck": 1})
    train = load_cifar10(tmp_path / "tree", train=True)
    assert train.images.shape == (6, 3, 32, 32) and train.images.dtype == torch.uint8
    assert train.classes == CIFAR10_CLASSES
    # labels are CIFAR-10's indices (airplane 0, dog 5, truck 9), not positions among the folders present
    assert train.labels.tolist() == [0, 0, 0, 5, 5, 9]
    expected = torch.from_numpy(np.stack(pixels["train"])).permute(0, 3, 1, 2)
    assert torch.equal(train.images, expected)


def test_tarball_equals_folder_and_is_cached(tmp_path):
    _make_tree(tmp_path / "tree", per_class={"cat": 2, "ship": 2}, fmt="JPEG")
    archive = tmp_path / "mini.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "tree" / "train", arcname="train")
        tar.add(tmp_path / "tree" / "test", arcname="test")
    folder = load_cifar10(tmp_path / "tree", train=False, cache=False)
    packed = load_cifar10(archive, train=False)
    assert torch.equal(folder.images, packed.images) and torch.equal(folder.labels, packed.labels)
    # JPEG decoding agrees with PIL's
    with Image.open(tmp_path / "tree" / "test" / "cat" / "0000.jpg") as im:
        ref = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
    assert (packed.images[0].int() - ref.int()).abs().max() <= 1
    cached = sorted((tmp_path / "cache").glob("cifar10-mini-*.pt"))
    assert [p.name.rsplit("-", 1)[1] for p in cached] == ["test.pt", "train.pt"]  # one pass decoded both splits
    again = load_cifar10(archive, train=False)
    assert torch.equal(again.images, packed.images)


def test_missing_source_names_the_options(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist") as info:
        load_cifar10(tmp_path / "nowhere", train=True)
    assert "cifar10" in str(info.value) and cdata.DATA_ENV in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="train/"):
        load_cifar10(tmp_path / "empty", train=True)
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not an archive")
    with pytest.raises(DataNotFoundError, match="tar"):
        load_cifar10(broken, train=True)


def test_offline_download_failure_is_explained(monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DataNotFoundError, match="could not download") as info:
        load_cifar10("cifar10", train=True)
    assert cdata.DATA_ENV in str(info.value) and ".tar.gz" in str(info.value)


def test_default_source_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(cdata.DATA_ENV, str(tmp_path / "x"))
    assert cdata.default_cifar10_source() == str(tmp_path / "x")


@needs_tarball
def test_shared_tarball_has_all_of_cifar10(monkeypatch):
    monkeypatch.setenv(cdata.CACHE_ENV, str(_USER_CACHE))
    train = load_cifar10(TARBALL, train=True)
    test = load_cifar10(TARBALL, train=False)
    assert train.images.shape == (50_000, 3, 32, 32) and test.images.shape == (10_000, 3, 32, 32)
    assert train.labels.bincount().tolist() == [5000] * 10 and test.labels.bincount().tolist() == [1000] * 10
    # spot-check two images against PIL reading the same archive members
    with tarfile.open(TARBALL) as tar:
        for split, data, cls, name, index in (
            ("train", train, "airplane", "0000.jpg", 0),
            ("test", test, "truck", "0999.jpg", 9999),
        ):
            raw = tar.extractfile(f"{split}/{cls}/{name}").read()
            ref = torch.from_numpy(np.array(Image.open(io.BytesIO(raw)).convert("RGB"))).permute(2, 0, 1)
            assert (data.images[index].int() - ref.int()).abs().max() <= 1
            assert data.classes[int(data.labels[index])] == cls
    # the dataset mean is CIFAR-10's (the JPEG copy is close to the original)
    mean = train.images.float().mean(dim=(0, 2, 3)) / 255
    torch.testing.assert_close(mean, torch.tensor(CIFAR10_MEAN), atol=0.01, rtol=0)


def _numbered(n: int) -> CIFAR10Tensors:
    """Images whose pixel (0, 0, 0) holds their index, so batches reveal which images they hold."""
    images = torch.zeros(n, 3, 32, 32, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(n, dtype=torch.uint8)
    images[:, 1] = torch.arange(32, dtype=torch.uint8).view(1, 1, 32) * 4  # a horizontal ramp to detect flips
    return CIFAR10Tensors(images, torch.arange(n) % 10)


def test_subset_is_fixed_and_spread_over_classes():
    full = _numbered(200)
    a, b = full.subset(50, seed=3), full.subset(50, seed=3)
    assert torch.equal(a.labels, b.labels) and len(a) == 50
    assert set(a.labels.tolist()) == set(range(10))
    assert not torch.equal(a.images, full.subset(50, seed=4).images)


def test_normalize_matches_torchvision():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    ref = TF.normalize(images.float() / 255, CIFAR10_MEAN, CIFAR10_STD)
    torch.testing.assert_close(normalize(images), ref)


def test_random_translate_matches_slicing():
    padded = torch.randn(5, 3, 36, 36)
    shifts = torch.tensor([[0, 0], [4, 4], [1, 3], [2, 0], [3, 2]])
    out = random_translate(padded, shifts, 32)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        assert torch.equal(out[i], padded[i, :, dy : dy + 32, dx : dx + 32])
    index = torch.tensor([4, 0])
    assert torch.equal(random_translate(padded, shifts[:2], 32, index=index)[0], padded[4, :, 0:32, 0:32])


def test_loader_shapes_determinism_and_resume():
    data = _numbered(100)
    make = lambda seed: DeviceLoader(data, batch_size=32, train=True, seed=seed, translate=2)  # noqa: E731
    loader = make(0)
    assert len(loader) == 3  # 100 // 32, the partial batch is dropped
    batches = list(loader)
    assert [tuple(x.shape) for x, _ in batches] == [(32, 3, 32, 32)] * 3
    assert all(x.dtype == torch.float32 and y.dtype == torch.int64 for x, y in batches)
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(batches, list(make(0))))
    assert not torch.equal(batches[0][0], next(iter(make(1)))[0])
    # state_dict after one epoch restores the second epoch exactly
    state = loader.state_dict()
    second = list(loader)
    fresh = make(0)
    fresh.load_state_dict(state)
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(second, list(fresh)))
    # evaluation: every image once, in order, no augmentation
    test = DeviceLoader(data, batch_size=32, train=False)
    assert len(test) == 4 and torch.cat([y for _, y in test]).tolist() == data.labels.tolist()
    assert torch.equal(torch.cat([x for x, _ in test]), normalize(data.images))


def _flipped(x: torch.Tensor) -> torch.Tensor:
    """Which images in a batch are mirrored (the ramp in channel 1 decreases)."""
    return x[:, 1, 5, 0] > x[:, 1, 5, -1]


def test_alternating_flip_mirrors_each_image_every_other_epoch():
    data = _numbered(64)
    loader = DeviceLoader(data, batch_size=64, train=True, flip="alternating", translate=0)
    (x0, y0), (x1, y1) = next(iter(loader)), next(iter(loader))
    ids0, ids1 = _ids(x0), _ids(x1)
    f0 = dict(zip(ids0.tolist(), _flipped(x0).tolist()))
    f1 = dict(zip(ids1.tolist(), _flipped(x1).tolist()))
    assert all(f0[i] != f1[i] for i in f0)  # complementary halves
    assert 16 < sum(f0.values()) < 48
    none = DeviceLoader(data, batch_size=64, train=True, flip="none", translate=0)
    assert not _flipped(next(iter(none))[0]).any()


def _ids(x: torch.Tensor) -> torch.Tensor:
    """Recover the image indices written by :func:`_numbered` from a normalised, unflipped-or-flipped batch."""
    pix = torch.where(_flipped(x), x[:, 0, 0, -1], x[:, 0, 0, 0])
    return torch.round(pix * CIFAR10_STD[0] * 255 + CIFAR10_MEAN[0] * 255).long()


def test_distributed_shards_are_disjoint():
    data = _numbered(100)
    shards = [
        DeviceLoader(data, batch_size=20, train=True, seed=5, translate=0, flip="none", rank=r, world_size=2)
        for r in range(2)
    ]
    assert [len(s) for s in shards] == [5, 5] and shards[0].local_batch_size == 10
    seen = [torch.cat([_ids(x) for x, _ in s]) for s in shards]
    assert set(seen[0].tolist()).isdisjoint(seen[1].tolist())
    assert len(set(seen[0].tolist()) | set(seen[1].tolist())) == 100
    with pytest.raises(ValueError, match="divisible"):
        DeviceLoader(data, batch_size=15, train=True, world_size=2)


# ------------------------------------------------------------------------------ no silent failures (issue #13)


def _write_images(folder: Path, n: int, *, fmt: str = "PNG", seed: int = 0) -> list[np.ndarray]:
    """``n`` random 32 x 32 images in ``folder`` (created), named 0000.<suffix>...; returns their pixels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "PPM": ".ppm"}[fmt]
    out = []
    for i in range(n):
        arr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"{i:04d}{suffix}", format=fmt)
        out.append(arr)
    return out


def test_folder_cache_sees_renamed_classes_and_added_images(tmp_path):
    root = tmp_path / "f"
    for split in ("train", "test"):
        _write_images(root / split / "cat", 2)
        _write_images(root / split / "dogs", 2, seed=1)
    assert load_cifar10(root, train=True).classes == ("cat", "dogs")
    assert load_cifar10(root, train=False).classes == ("cat", "dogs")
    for split in ("train", "test"):  # `mv f/test/dogs f/test/hounds`: the root's own size and mtime do not change
        (root / split / "dogs").rename(root / split / "hounds")
    assert load_cifar10(root, train=True).classes == ("cat", "hounds")
    assert load_cifar10(root, train=False).classes == ("cat", "hounds")
    extra = np.full((32, 32, 3), 7, dtype=np.uint8)
    Image.fromarray(extra).save(root / "train" / "cat" / "0099.png")
    again = load_cifar10(root, train=True)
    assert len(again) == 5 and torch.equal(again.images[2], torch.from_numpy(extra).permute(2, 0, 1))


def test_cache_can_be_bypassed(tmp_path, monkeypatch):
    root = tmp_path / "tree"
    pixels = _write_images(root / "train" / "cat", 3)
    stale = CIFAR10Tensors(torch.zeros(1, 3, 32, 32, dtype=torch.uint8), torch.zeros(1, dtype=torch.int64))
    cdata._write_cache(cdata._cache_file(root, "train"), stale)  # a cache entry that disagrees with the folder
    assert len(load_cifar10(root, train=True)) == 1  # the cache is read...
    assert len(load_cifar10(root, train=True, cache=False)) == 3  # ...unless bypassed by argument
    monkeypatch.setenv(cdata.NO_CACHE_ENV, "1")
    fresh = load_cifar10(root, train=True)  # ...or by the environment
    assert torch.equal(fresh.images, torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2))
    other = tmp_path / "other"
    _write_images(other / "train" / "dog", 1)
    load_cifar10(other, train=True)
    assert not cdata._cache_file(other, "train").exists()  # nor written


def _tar(root: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            if (root / split).is_dir():
                tar.add(root / split, arcname=split)
    return archive


def test_test_labels_follow_the_training_classes_by_name(tmp_path):
    root = tmp_path / "fruit"
    for cls in ("apple", "banana", "cherry"):
        _write_images(root / "train" / cls, 1)
    for cls in ("apple", "cherry"):
        _write_images(root / "test" / cls, 2)
    for source in (root, _tar(root, tmp_path / "fruit.tar.gz")):
        train, test = load_cifar10(source, train=True), load_cifar10(source, train=False)
        assert train.classes == test.classes == ("apple", "banana", "cherry")
        assert test.labels.tolist() == [0, 0, 2, 2]  # "cherry" is class 2, not "banana"
    (root / "test" / "cherry").rename(root / "test" / "chery")  # a typo
    for source in (root, _tar(root, tmp_path / "typo.tar.gz")):
        with pytest.raises(cdata.DataFormatError, match="chery") as info:
            load_cifar10(source, train=False)
        assert "apple, banana, cherry" in str(info.value)


def test_oversized_archive_member_is_refused_before_it_is_read(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("train/cat/huge.png")
        info.size = cdata._MAX_MEMBER_BYTES + 1
        tar.addfile(info, io.BytesIO(bytes(info.size)))  # zeros: a few kB compressed
    assert archive.stat().st_size < 100_000
    with pytest.raises(cdata.DataFormatError, match="train/cat/huge.png"):
        load_cifar10(archive, train=True)


def test_download_from_a_silent_server_times_out(tmp_path, monkeypatch):
    """A server on 127.0.0.1 that accepts connections (the kernel's backlog) and never answers."""
    import socket
    import threading

    import torchvision

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", f"http://127.0.0.1:{port}/cifar-10-python.tar.gz")
    monkeypatch.setattr(cdata, "_DOWNLOAD_TIMEOUT", 0.5)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            load_cifar10("cifar10", train=False)
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            outcome.append(err)

    before = socket.getdefaulttimeout()
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=20)
    hung = worker.is_alive()
    server.close()  # resets the pending connections, so a hung worker ends too
    assert not hung, "the download waited more than 20 s on a server that never answers"
    assert len(outcome) == 1 and isinstance(outcome[0], DataNotFoundError), outcome
    assert "could not download" in str(outcome[0]) and cdata.DATA_ENV in str(outcome[0])
    assert socket.getdefaulttimeout() == before


def test_bad_image_is_named_and_bmp_ppm_load(tmp_path):
    root = tmp_path / "tree"
    bmp = _write_images(root / "train" / "cat", 2, fmt="BMP")
    ppm = _write_images(root / "train" / "dog", 2, fmt="PPM", seed=1)
    train = load_cifar10(root, train=True)  # every accepted suffix decodes
    assert torch.equal(train.images, torch.from_numpy(np.stack(bmp + ppm)).permute(0, 3, 1, 2))
    (root / "train" / "dog" / "0001.ppm").write_bytes(b"P6 not really an image")
    with pytest.raises(cdata.DataFormatError, match=r"dog/0001\.ppm"):
        load_cifar10(root, train=True)
    jpegs = tmp_path / "jpegs"
    _write_images(jpegs / "train" / "cat", 2, fmt="JPEG")
    (jpegs / "train" / "cat" / "0001.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(cdata.DataFormatError, match=r"cat/0001\.jpg"):
        load_cifar10(jpegs, train=True)
    big = tmp_path / "big"
    _write_images(big / "train" / "cat", 1)
    Image.fromarray(np.zeros((40, 48, 3), dtype=np.uint8)).save(big / "train" / "cat" / "0001.png")
    with pytest.raises(cdata.DataFormatError, match=r"0001\.png is 48 x 40"):
        load_cifar10(big, train=True)
