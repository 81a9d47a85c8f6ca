"""The feature-map explorer: controls, the activation cache, uploads, the static twin.

References nobody here wrote: torchvision's ``create_feature_extractor`` for the captured maps, and plain torch
for the statistics and the channel ranking.
"""

import datetime
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models.feature_extraction import create_feature_extractor

import ipywidgets
from cnnlib.cifar import googlenet_cifar, vgg_cifar
from cnnlib.googlenet import googlenet
from cnnlib.vgg import vgg11
from cnnlib.analysis import ActivationCache, layer_specs
from cnnlib.images import ImageError, load_image, to_model_input
from cnnlib.widgets.feature_maps import FILTERS, UPLOAD, _upload_items, feature_map_explorer

IPYW8 = int(ipywidgets.__version__.split(".")[0]) >= 8


@pytest.fixture(scope="module")
def cifar_model():
    torch.manual_seed(0)
    return vgg_cifar().eval()


@pytest.fixture(scope="module")
def small_googlenet():
    torch.manual_seed(0)
    return googlenet_cifar(width_mult=0.25).eval()


def make(model, **kw):
    kw.setdefault("weights", "test weights: random initialisation")
    return feature_map_explorer(model, **kw)


def shown_channels(html):
    return [int(c) for c in re.findall(r"<figcaption[^>]*>ch (\d+) ·", html)]


def png_bytes(img):
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def upload(ex, data, name):
    """Feed a file through the real FileUpload widget (ipywidgets 7 and 8 store it differently)."""
    w = ex.upload_widget
    if IPYW8:
        w.value = ({"name": name, "type": "image/png", "size": len(data), "content": memoryview(data),
                    "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)},)
    else:
        w.metadata = [{"name": name, "type": "image/png", "size": len(data), "lastModified": 0}]
        w.data = [data]
        w._counter += 1


# ----------------------------------------------------------------------------------------------- layers
def test_layers_are_feature_info_plus_every_inception_block():
    model = googlenet(aux_logits=False, paper=True)
    specs = layer_specs(model)
    names = [s.module for s in specs]
    blocks = ["inception3a", "inception3b", "inception4a", "inception4b", "inception4c", "inception4d",
              "inception4e", "inception5a", "inception5b"]
    assert names == ["conv1", "lrn2", *blocks]  # network order, feature_info's "lrn2" (paper) kept
    by = {s.module: s for s in specs}
    # the paper's Table 1, inception (3a): #1x1 64, #3x3 128, #5x5 32, pool proj 32
    assert [c for _, _, c in by["inception3a"].branches] == [64, 128, 32, 32]
    assert [d for _, d, _ in by["inception3a"].branches] == ["1x1", "1x1 → 3x3", "1x1 → 5x5", "3x3 max-pool → 1x1"]
    assert by["inception5b"].num_chs == 1024 and by["inception4e"].num_chs == 832


def test_layers_need_feature_info():
    with pytest.raises(ValueError, match="feature_info"):
        layer_specs(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)))


# ------------------------------------------------------------------------------------------------ cache
def test_cache_maps_equal_torchvision_feature_extractor_vgg_cifar(cifar_model):
    """create_feature_extractor traces vgg_cifar (its BatchNorm subclass is traceable), and gives the same maps."""
    specs = layer_specs(cifar_model)
    cache = ActivationCache(cifar_model, specs, input_size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    image = load_image("chelsea")
    acts = cache.get("chelsea", image)
    _, x = cache.to_input(image)
    with torch.no_grad():
        ref = create_feature_extractor(cifar_model, return_nodes=[s.module for s in specs])(x)
    for s in specs:
        torch.testing.assert_close(acts.maps[s.module], ref[s.module][0])
    assert acts.logits is not None and acts.logits.shape == (10,)
    # at 96 px the feature maps still come (every stage keeps pixels) but the 25-48 px head gives no logits
    big = ActivationCache(cifar_model, specs, input_size=96, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    acts = big.get("chelsea", image)
    assert acts.logits is None and acts.maps["features.4"].shape == (256, 11, 11)


def test_cache_maps_equal_torchvision_feature_extractor():
    torch.manual_seed(0)
    model = vgg11().eval()
    specs = layer_specs(model)
    cache = ActivationCache(model, specs, input_size=64, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    image = load_image("coffee")
    acts = cache.get("coffee", image)
    _, x = cache.to_input(image)
    with torch.no_grad():
        ref = create_feature_extractor(model, return_nodes=[s.module for s in specs])(x)
    for s in specs:
        torch.testing.assert_close(acts.maps[s.module], ref[s.module][0])
    # VGG-11 at 64 px: stages at strides 1, 2, 4, 8, 16 (the paper's 2x2 pools)
    assert [(st["channels"], st["height"]) for st in acts.stats] == [(64, 64), (128, 32), (256, 16), (512, 8), (512, 4)]
    for st in acts.stats:
        m = ref[st["module"]][0]
        assert st["zero_fraction"] == pytest.approx(float((m <= 0).float().mean()))
        assert st["mean"] == pytest.approx(float(m.mean()), rel=1e-5)
    assert cache.forward_count == 1
    cache.get("coffee", image)
    assert cache.forward_count == 1
    cache.forget("coffee")
    cache.get("coffee", image)
    assert cache.forward_count == 2


# --------------------------------------------------------------------------------------------- controls
def test_controls_change_the_view_without_new_forward_passes(cifar_model):
    ex = make(cifar_model)
    _ = ex.widget
    first = ex.current_html
    assert ex.cache.forward_count == 1
    assert "test weights: random initialisation" in first
    assert "resized and cropped to 32 × 32 px" in first  # a CIFAR-10 model sees 32 x 32 photos

    layer_values = ex._specs["layer"].values()
    ex.controls["layer"].value = layer_values.index("features.2")  # drop-down index, as a reader would
    html = ex._output.outputs[-1]["data"]["text/html"]
    assert "64 maps of 15 × 15" in html and html != first

    # "most active" = the channels with the highest mean activation, by an independent computation
    extractor = create_feature_extractor(cifar_model, return_nodes=["features.2"])
    with torch.no_grad():
        ref = extractor(ex.cache.to_input(ex.images["chelsea"])[1])["features.2"]
    expected = ref[0].mean(dim=(1, 2)).topk(16).indices.tolist()
    assert shown_channels(html) == expected

    ex.set(show="index", start=32)
    assert shown_channels(ex.current_html) == list(range(32, 48))
    ex.set(layer="features.1", start=16)  # 24 channels: 16 shown from channel 8
    html = ex.current_html
    assert shown_channels(html) == list(range(8, 24)) and "so that 16 channels fit" in html
    before = ex.current_html
    ex.set(cmap="gray")
    assert ex.current_html != before
    ex.set(layer=FILTERS)
    assert "The 24 filters of the first convolution" in ex.current_html and "2 × 2 × 3" in ex.current_html
    # vgg_cifar's first layer is the frozen patch-whitening: the menu and the view say it is not learned
    assert cifar_model.features[0].weight.requires_grad is False
    assert "fixed, not learned" in ex.current_html
    assert len(re.findall(r'title="filter \d+"', ex.current_html)) == 24
    assert ex.cache.forward_count == 1  # every change above reused the one forward pass

    ex.set(image="astronaut")
    assert ex.cache.forward_count == 2
    ex.set(image="chelsea", layer="features.4")
    assert "256 maps of 3 × 3" in ex.current_html
    assert ex.cache.forward_count == 2


def test_stats_strip_highlights_the_layer(cifar_model):
    ex = make(cifar_model, layer="features.3")
    html = ex.current_html
    rows = re.findall(r"<tr([^>]*)><td[^>]*>([^<]+)</td><td[^>]*>(\d+) × (\d+) × (\d+)</td>", html)
    # vgg_cifar at 32 px: 2x2 whitening conv without padding (31), then a 2x2 pool per stage
    assert [(r[1], int(r[2]), int(r[3])) for r in rows] == [
        ("whiten (features.1)", 24, 31), ("stage1 (features.2)", 64, 15),
        ("stage2 (features.3)", 256, 7), ("stage3 (features.4)", 256, 3),
    ]
    assert [("bold" in r[0]) for r in rows] == [False, False, True, False]


def test_inception_blocks_show_four_branches(small_googlenet):
    ex = make(small_googlenet, layer="inception3a")
    html = ex.current_html
    heads = re.findall(r"<b>branch (\d)</b>: ([^<]+)<br>(\d+) channels, (\d+)% of the block", html)
    assert [h[0] for h in heads] == ["1", "2", "3", "4"]
    assert [h[1] for h in heads] == ["1x1", "1x1 → 3x3", "1x1 → 5x5", "3x3 max-pool → 1x1"]  # the paper's 5x5
    assert [int(h[2]) for h in heads] == [16, 32, 8, 8]  # Table 1's 64/128/32/32 at width_mult 0.25
    assert abs(sum(int(h[3]) for h in heads) - 100) <= 2
    assert len(shown_channels(html)) == 16  # 4 per branch
    ex.set(layer="inception4a")  # not in feature_info, offered as an Inception block
    assert "an Inception block" in ex.current_html
    assert ex.cache.forward_count == 1


def test_unknown_layer_and_colour_map_are_refused(cifar_model):
    with pytest.raises(ValueError, match="unknown layer"):
        make(cifar_model, layer="features.9")
    with pytest.raises(ValueError, match="colour map"):
        make(cifar_model, cmap="jet")


@pytest.mark.parametrize("kw, msg", [
    ({"channels": -3}, "channels"), ({"channels": 0}, "channels"), ({"input_size": -32}, "input_size"),
    ({"images": []}, "at least one image"), ({"layers": []}, "layers"), ({"layers": ["features.9"]}, "layers"),
    ({"tile_px": 0}, "tile_px"),
])
def test_impossible_arguments_are_refused(cifar_model, kw, msg):
    with pytest.raises(ValueError, match=msg):
        make(cifar_model, **kw)


def test_size_and_normalisation_come_from_the_model_not_its_class_name(cifar_model):
    """No weights given: the view reads vgg_cifar's own pretrained_cfg (32 px, CIFAR-10 statistics)."""
    ex = feature_map_explorer(cifar_model)
    cfg = cifar_model.pretrained_cfg
    assert ex.input_size == 32 == cfg.input_size[-1] and ex.cache.mean == cfg.mean and ex.cache.std == cfg.std
    assert "resized and cropped to 32 × 32 px" in ex.current_html and "CIFAR-10 model" in ex.current_html
    assert "the model's guess" in ex.current_html  # class names from the model's own metadata

    class Renamed(torch.nn.Module):  # a class name without "cifar" changes nothing
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.feature_info = [{**d, "module": "inner." + d["module"]} for d in inner.feature_info]
            self.pretrained_cfg = inner.pretrained_cfg

        def forward(self, x):
            return self.inner(x)

    assert feature_map_explorer(Renamed(cifar_model)).input_size == 32
    with pytest.raises(ValueError, match="pretrained_cfg"):
        bare = Renamed(cifar_model)
        del bare.pretrained_cfg
        feature_map_explorer(bare)


# ------------------------------------------------------------------------------------------------ static
def test_static_html_one_forward_pass_per_image(cifar_model, monkeypatch):
    monkeypatch.delenv("CNNLIB_QUICK", raising=False)
    ex = make(cifar_model)
    html = ex.static_html()
    keys = re.findall(r'class="cnnlib-view" data-key="([^"]+)"', html)
    assert len(keys) == 3 * (1 + 4) * 2  # images x (filters + feature_info layers) x channel modes
    assert ex.cache.forward_count == 3
    assert len(html) < 1_500_000
    assert "your upload" not in html  # live only
    assert "Traceback" not in html


# ------------------------------------------------------------------------------------------------ uploads
def test_upload_not_an_image_gives_a_message(cifar_model):
    ex = make(cifar_model)
    _ = ex.widget
    n = ex.cache.forward_count
    upload(ex, b"%PDF-1.4 definitely not a photo", "paper.pdf")
    assert ex.values["image"] == UPLOAD
    html = ex._output.outputs[-1]["data"]["text/html"]
    assert "paper.pdf: this file is not an image" in html and "Traceback" not in html
    assert ex.cache.forward_count == n


def test_upload_grayscale_rgba_and_huge(cifar_model):
    ex = make(cifar_model)
    _ = ex.widget
    gray = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1)), mode="L")
    upload(ex, png_bytes(gray), "gray.png")
    assert ex.images[UPLOAD].shape == (48, 64, 3)
    assert "gray.png (64 × 48 px)" in ex._output.outputs[-1]["data"]["text/html"]
    n = ex.cache.forward_count

    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[:20, :, 3] = 255  # top half opaque red, bottom half transparent
    upload(ex, png_bytes(Image.fromarray(rgba, mode="RGBA")), "logo.png")
    img = ex.images[UPLOAD]
    assert img.shape == (40, 40, 3)
    assert tuple(img[5, 5]) == (200, 0, 0) and tuple(img[35, 5]) == (255, 255, 255)  # transparent -> white
    assert ex.cache.forward_count == n + 1  # a new upload is a new image: one new forward pass
    assert "logo.png (40 × 40 px)" in ex._output.outputs[-1]["data"]["text/html"]

    huge = Image.new("RGB", (6000, 4000), (10, 120, 200))
    buf = io.BytesIO()
    huge.save(buf, format="JPEG", quality=50)
    upload(ex, buf.getvalue(), "huge.jpg")
    assert max(ex.images[UPLOAD].shape[:2]) <= 1024
    assert ex.images[UPLOAD].shape[1] > ex.images[UPLOAD].shape[0]  # aspect ratio kept


def test_upload_items_reads_both_ipywidgets_formats():
    v7 = {"a.png": {"metadata": {"name": "a.png"}, "content": b"abc"}}
    v8 = ({"name": "b.png", "type": "image/png", "size": 3, "content": memoryview(b"xyz")},)
    assert _upload_items(v7) == [("a.png", b"abc")]
    assert _upload_items(v8) == [("b.png", b"xyz")]
    assert _upload_items(()) == []


def test_upload_view_before_any_upload(cifar_model):
    ex = make(cifar_model)
    ex.set(image=UPLOAD)
    assert "No photo uploaded yet" in ex.current_html


# -------------------------------------------------------------------------------------------- load_image
def test_load_image_converts_arrays_and_rejects_junk(tmp_path):
    assert load_image(np.zeros((5, 7))).shape == (5, 7, 3)
    assert load_image(np.ones((5, 7, 3), dtype=np.float32))[0, 0].tolist() == [255, 255, 255]
    assert load_image(torch.zeros(3, 8, 9)).shape == (8, 9, 3)  # C x H x W tensor
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)  # fully transparent -> white
    assert load_image(rgba)[0, 0].tolist() == [255, 255, 255]
    assert load_image("chelsea").shape == (300, 451, 3)
    assert max(load_image(np.zeros((3000, 1500, 3), dtype=np.uint8)).shape) == 1024
    p = tmp_path / "photo.png"
    p.write_bytes(png_bytes(Image.new("P", (10, 6))))
    assert load_image(str(p)).shape == (6, 10, 3)
    for bad, msg in [(b"", "empty"), (b"\x89PNG\r\n\x1a\n broken", "not an image"), ("no_such_sample", "neither"),
                     (np.zeros((4, 4, 2)), "expected an image array"), (42, "cannot read")]:
        with pytest.raises(ImageError, match=msg):
            load_image(bad)


def test_to_model_input_matches_torchvision_transforms():
    from torchvision.transforms import v2

    import skimage.data

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    crop, x = to_model_input(load_image("chelsea"), 224, mean, std)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8 and x.shape == (1, 3, 224, 224)
    img = torch.from_numpy(skimage.data.chelsea()).permute(2, 0, 1)
    ref = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Resize(224, antialias=True), v2.CenterCrop(224),
                      v2.Normalize(list(mean), list(std))])(img)
    torch.testing.assert_close(x[0], ref, atol=1e-4, rtol=0)  # same resize, crop and normalisation
    with pytest.raises(ValueError, match="positive"):
        to_model_input(crop, 0, mean, std)


def test_one_public_load_image():
    import cnnlib.widgets.feature_maps as fm
    import cnnlib.widgets.inception as inc

    assert not hasattr(inc, "load_image") and "load_image" not in fm.__all__


def test_learned_first_layer_is_not_called_fixed(small_googlenet):
    ex = make(small_googlenet, layer=FILTERS)
    assert "The " in ex.current_html and "filters of the first convolution" in ex.current_html
    assert "fixed, not learned" not in ex.current_html
