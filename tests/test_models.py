"""cnnlib's models against references nobody here wrote: torchvision's models and the papers' tables."""

from __future__ import annotations

import importlib
import re
from typing import Callable

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from cnnlib import registry
from state_dicts import random_state_dict
from cnnlib.alexnet import AlexNet, alexnet
from cnnlib.googlenet import BasicConv2d, GoogLeNet, Inception, InceptionAux, googlenet
from cnnlib.registry import create_model, list_models, register_model
from cnnlib.vgg import VGG, VGG_CONFIGS, make_vgg_layers, vgg11, vgg13, vgg16, vgg16_c, vgg19

tvm = torchvision.models


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# (id, cnnlib builder, torchvision builder, input side)
TV_CASES: list[tuple[str, Callable[[], nn.Module], Callable[[], nn.Module], int]] = [
    ("alexnet", lambda: alexnet(), lambda: tvm.alexnet(), 64),
    ("vgg11", lambda: vgg11(), lambda: tvm.vgg11(), 32),
    ("vgg13", lambda: vgg13(), lambda: tvm.vgg13(), 32),
    ("vgg16", lambda: vgg16(), lambda: tvm.vgg16(), 32),
    ("vgg19", lambda: vgg19(), lambda: tvm.vgg19(), 32),
    ("vgg11_bn", lambda: vgg11(batch_norm=True), lambda: tvm.vgg11_bn(), 32),
    ("vgg13_bn", lambda: vgg13(batch_norm=True), lambda: tvm.vgg13_bn(), 32),
    ("vgg16_bn", lambda: vgg16(batch_norm=True), lambda: tvm.vgg16_bn(), 32),
    ("vgg19_bn", lambda: vgg19(batch_norm=True), lambda: tvm.vgg19_bn(), 32),
    (
        "googlenet_noaux",
        lambda: googlenet(aux_logits=False),
        lambda: tvm.googlenet(aux_logits=False, init_weights=False),
        64,
    ),
    (
        "googlenet_aux",
        lambda: googlenet(aux_logits=True),
        lambda: tvm.googlenet(aux_logits=True, init_weights=False),
        64,
    ),
    (
        "googlenet_transform_input",
        lambda: googlenet(aux_logits=False, transform_input=True),
        lambda: tvm.googlenet(aux_logits=False, transform_input=True, init_weights=False),
        64,
    ),
]


def build_pair(ours_fn: Callable[[], nn.Module], tv_fn: Callable[[], nn.Module]) -> tuple[nn.Module, nn.Module]:
    """Both models built on the meta device, then given the same (torchvision's) state dict."""
    with torch.device("meta"):
        ours, tv = ours_fn(), tv_fn()
    assert n_params(ours) == n_params(tv)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in tv.named_modules()]
    tv.load_state_dict(random_state_dict(tv), strict=True, assign=True)
    ours.load_state_dict(tv.state_dict(), strict=True, assign=True)
    return ours, tv


@pytest.mark.parametrize("ours_fn, tv_fn, side", [c[1:] for c in TV_CASES], ids=[c[0] for c in TV_CASES])
def test_identical_to_torchvision(ours_fn, tv_fn, side) -> None:
    ours, tv = build_pair(ours_fn, tv_fn)
    ours.eval(), tv.eval()
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        expected = tv(x)
        torch.testing.assert_close(ours(x), expected)
        torch.testing.assert_close(ours.forward_head(ours.forward_features(x)), expected)


def test_googlenet_aux_outputs_equal_torchvision_in_training() -> None:
    ours, tv = build_pair(lambda: googlenet(aux_logits=True), lambda: tvm.googlenet(aux_logits=True, init_weights=False))
    ours.train(), tv.train()
    x = torch.randn(2, 3, 64, 64)
    torch.manual_seed(1)
    expected = tv(x)  # GoogLeNetOutputs(logits, aux_logits2, aux_logits1)
    torch.manual_seed(1)  # same dropout masks: both draw aux1, aux2, then the main dropout
    got = ours.forward_with_aux(x)
    assert len(got) == 3
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)
    # forward returns only the main logits, in training mode too
    assert ours(x).shape == (2, 1000)


def test_forward_with_aux_errors() -> None:
    x = torch.randn(1, 3, 64, 64)
    with pytest.raises(RuntimeError, match="aux_logits=False"):
        googlenet(aux_logits=False).train().forward_with_aux(x)
    with pytest.raises(RuntimeError, match=r"model\.train\(\)"):
        googlenet(aux_logits=True).eval().forward_with_aux(x)


# --- VGG: the paper's Table 1 and Table 2 -------------------------------------------------


@pytest.mark.parametrize(
    "config, millions, weight_layers",
    [
        ("vgg11", 133, 11),  # A
        ("vgg11_lrn", 133, 11),  # A-LRN
        ("vgg13", 133, 13),  # B
        ("vgg16_c", 134, 16),  # C
        ("vgg16", 138, 16),  # D
        ("vgg19", 144, 19),  # E
    ],
)
def test_vgg_parameter_counts_match_paper_table_2(config: str, millions: int, weight_layers: int) -> None:
    with torch.device("meta"):
        model = VGG(make_vgg_layers(VGG_CONFIGS[config]))
    assert round(n_params(model) / 1e6) == millions
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == weight_layers


def test_vgg16_c_has_1x1_convs_as_third_conv_of_stages_3_to_5() -> None:
    with torch.device("meta"):
        model = vgg16_c()
    kernels = [m.kernel_size[0] for m in model.features if isinstance(m, nn.Conv2d)]
    assert kernels == [3, 3, 3, 3, 3, 3, 1, 3, 3, 1, 3, 3, 1]
    # Configuration D differs only in those kernels: same channels, same layer indices.
    d = make_vgg_layers(VGG_CONFIGS["vgg16"])
    assert [type(m) for m in model.features] == [type(m) for m in d]
    assert model.pretrained_name == "vgg16_c"


def test_vgg_lrn_config_and_bad_entries() -> None:
    layers = make_vgg_layers(VGG_CONFIGS["vgg11_lrn"])
    assert isinstance(layers[2], nn.LocalResponseNorm)
    with pytest.raises(ValueError, match="unknown VGG config entry"):
        make_vgg_layers([64, "X"])
    with pytest.raises(ValueError, match="unknown VGG config entry"):
        make_vgg_layers([("5x5", 64)])


def test_vgg_builders_set_pretrained_name() -> None:
    with torch.device("meta"):
        assert vgg11().pretrained_name == "vgg11"
        assert vgg19(batch_norm=True).pretrained_name == "vgg19_bn"
        assert vgg13(num_classes=10).classifier[-1].out_features == 10


# --- GoogLeNet as published ------------------------------------------------------------------

# The paper's Table 1: name, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
PAPER_TABLE_1 = [
    ("inception3a", 64, 96, 128, 16, 32, 32),
    ("inception3b", 128, 128, 192, 32, 96, 64),
    ("inception4a", 192, 96, 208, 16, 48, 64),
    ("inception4b", 160, 112, 224, 24, 64, 64),
    ("inception4c", 128, 128, 256, 24, 64, 64),
    ("inception4d", 112, 144, 288, 32, 64, 64),
    ("inception4e", 256, 160, 320, 32, 128, 128),
    ("inception5a", 256, 160, 320, 32, 128, 128),
    ("inception5b", 384, 192, 384, 48, 128, 128),
]


def conv_params(k: int, cin: int, cout: int) -> int:
    return k * k * cin * cout + cout  # weights + biases (no BatchNorm in the paper)


def paper_googlenet_params(num_classes: int = 1000, aux: bool = True) -> int:
    total = conv_params(7, 3, 64)  # conv 7x7/2, 64
    total += conv_params(1, 64, 64) + conv_params(3, 64, 192)  # conv 3x3/1: reduce 64, 192
    c = 192
    taps = {}
    for name, c1, c3r, c3, c5r, c5, pp in PAPER_TABLE_1:
        total += conv_params(1, c, c1)
        total += conv_params(1, c, c3r) + conv_params(3, c3r, c3)
        total += conv_params(1, c, c5r) + conv_params(5, c5r, c5)
        total += conv_params(1, c, pp)
        c = c1 + c3 + c5 + pp
        taps[name] = c
    assert c == 1024  # Table 1: inception (5b) output 7x7x1024
    total += 1024 * num_classes + num_classes  # linear
    if aux:
        for tap in ("inception4a", "inception4d"):  # 4 x 4 x 512 and 4 x 4 x 528
            total += conv_params(1, taps[tap], 128)  # 1x1 conv, 128 filters
            total += 128 * 4 * 4 * 1024 + 1024  # FC 1024
            total += 1024 * num_classes + num_classes  # linear
    return total


@pytest.mark.parametrize("aux", [True, False])
def test_paper_googlenet_parameter_count_from_table_1(aux: bool) -> None:
    model = googlenet(paper=True, aux_logits=aux)
    assert n_params(model) == paper_googlenet_params(aux=aux)
    assert n_params(googlenet(paper=True, aux_logits=aux, num_classes=10)) == paper_googlenet_params(10, aux)


def test_paper_googlenet_structure() -> None:
    model = googlenet(paper=True)
    assert model.pretrained_name == "googlenet_paper"
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(m.bias is not None for m in model.modules() if isinstance(m, nn.Conv2d))
    for name, *_ in PAPER_TABLE_1:
        assert getattr(model, name).branch3[1].conv.kernel_size == (5, 5)
    assert model.dropout.p == pytest.approx(0.4)
    assert model.aux1.dropout.p == pytest.approx(0.7) and model.aux2.dropout.p == pytest.approx(0.7)
    assert model.maxpool4.kernel_size == 3

    # Figure 3: conv 7x7/2, max-pool, LRN, conv 1x1, conv 3x3, LRN, max-pool, inception 3a ...
    calls: list[str] = []
    for name, child in model.named_children():
        child.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 1000)
    assert calls == [
        "conv1", "maxpool1", "lrn1", "conv2", "conv3", "lrn2", "maxpool2",
        "inception3a", "inception3b", "maxpool3",
        "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
        "inception5a", "inception5b", "avgpool", "dropout", "fc",
    ]  # fmt: skip


def test_paper_googlenet_aux_heads_at_224() -> None:
    torch.manual_seed(0)
    model = googlenet(paper=True).train()
    x = torch.randn(1, 3, 224, 224)
    seen: dict[str, tuple[int, ...]] = {}
    model.aux1.conv.register_forward_hook(lambda m, i, o: seen.__setitem__("aux1", tuple(i[0].shape)))
    model.aux2.conv.register_forward_hook(lambda m, i, o: seen.__setitem__("aux2", tuple(i[0].shape)))
    logits, aux2, aux1 = model.forward_with_aux(x)
    assert logits.shape == aux1.shape == aux2.shape == (1, 1000)
    assert seen == {"aux1": (1, 512, 4, 4), "aux2": (1, 528, 4, 4)}  # the paper's 4x4x512, 4x4x528
    with pytest.raises(ValueError, match="224 x 224"):
        model.forward_with_aux(torch.randn(1, 3, 64, 64))


def test_paper_googlenet_transform_input_matches_manual_normalisation() -> None:
    torch.manual_seed(0)
    a = googlenet(paper=True, aux_logits=False, transform_input=True).eval()
    b = googlenet(paper=True, aux_logits=False, transform_input=False).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 64, 64)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b((x * std + mean - 0.5) / 0.5))


# --- building blocks ----------------------------------------------------------------------------


def test_building_blocks_match_torchvision() -> None:
    tvg = importlib.import_module("torchvision.models.googlenet")  # the module, not the builder

    torch.manual_seed(0)
    tv_inc = tvg.Inception(192, 64, 96, 128, 16, 32, 32).eval()
    ours = Inception(192, 64, 96, 128, 16, 32, 32).eval()
    ours.load_state_dict(tv_inc.state_dict(), strict=True)
    x = torch.randn(1, 192, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv_inc(x))

    tv_aux = tvg.InceptionAux(512, 10).eval()
    aux = InceptionAux(512, 10).eval()
    aux.load_state_dict(tv_aux.state_dict(), strict=True)
    x = torch.randn(1, 512, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(aux(x), tv_aux(x))

    conv = BasicConv2d(3, 8, kernel_size=3)
    assert conv.bn.eps == pytest.approx(0.001) and conv.conv.bias is None
    plain = BasicConv2d(3, 8, kernel_size=3, batch_norm=False)
    assert plain.bn is None and plain.conv.bias is not None

    paper_inc = Inception(192, 64, 96, 128, 16, 32, 32, five_by_five=True, batch_norm=False)
    assert paper_inc.branch3[1].conv.kernel_size == (5, 5)
    assert paper_inc(torch.randn(1, 192, 8, 8)).shape == (1, 256, 8, 8)


# --- feature_info, forward_features / forward_head, input validation, tracing ---------------------

SMALL_MODELS: dict[str, Callable[[], nn.Module]] = {
    "alexnet": lambda: alexnet(num_classes=10),
    "vgg11": lambda: vgg11(num_classes=10),
    "vgg16_c_bn": lambda: vgg16_c(batch_norm=True, num_classes=10),
    "googlenet": lambda: googlenet(num_classes=10),
    "googlenet_paper": lambda: googlenet(paper=True, num_classes=10),
}
_SMALL_CACHE: dict[str, nn.Module] = {}


def small_model(name: str) -> nn.Module:
    """Build each small model once per session (the tests below only read them)."""
    if name not in _SMALL_CACHE:
        torch.manual_seed(0)
        _SMALL_CACHE[name] = SMALL_MODELS[name]().eval()
    return _SMALL_CACHE[name]


MIN_SIZE = {"alexnet": 63, "vgg11": 32, "vgg16_c_bn": 32, "googlenet": 15, "googlenet_paper": 31}


def capture(model: nn.Module, names: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    modules = dict(model.named_modules())
    out: dict[str, torch.Tensor] = {}
    handles = [
        modules[n].register_forward_hook(lambda m, i, o, n=n: out.__setitem__(n, o.detach().clone())) for n in names
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return out


@pytest.mark.parametrize("name", list(SMALL_MODELS))
def test_feature_info_names_channels_reductions(name: str) -> None:
    model = small_model(name)
    info = model.feature_info
    assert info and all(set(d) == {"module", "num_chs", "reduction", "stage"} for d in info)
    assert len({d["stage"] for d in info}) == len(info)
    side = 224 if name == "alexnet" else 64  # AlexNet's unpadded layers: check at its design size
    x = torch.randn(1, 3, side, side)
    maps = capture(model, [d["module"] for d in info], x)
    for d in info:
        fmap = maps[d["module"]]
        assert fmap.shape[1] == d["num_chs"], d
        expected = side / d["reduction"]
        assert abs(fmap.shape[2] - expected) <= 1 and abs(fmap.shape[3] - expected) <= 1, (d, fmap.shape)
        if name != "alexnet":
            assert fmap.shape[2] == expected
    reductions = [d["reduction"] for d in info]
    assert reductions == sorted(reductions)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert abs(feats.shape[2] - side / 32) <= 1
        torch.testing.assert_close(model.forward_head(feats), model(x))
    # torchvision's feature extractor (FX tracing) accepts the same names and gives the same maps
    extractor = create_feature_extractor(model, return_nodes=[d["module"] for d in info])
    with torch.no_grad():
        got = extractor(x)
    for d in info:
        torch.testing.assert_close(got[d["module"]], maps[d["module"]])
    # ... and the traced module still validates its input
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        extractor(torch.randn(1, 3, 8, 8))


def test_vgg_feature_info_is_last_relu_of_each_stage() -> None:
    with torch.device("meta"):
        model = vgg16()
    assert [d["module"] for d in model.feature_info] == [f"features.{i}" for i in (3, 8, 15, 22, 29)]
    assert [d["num_chs"] for d in model.feature_info] == [64, 128, 256, 512, 512]
    assert [d["stage"] for d in model.feature_info] == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert all(isinstance(model.features[int(d["module"].split(".")[1]) + 1], nn.MaxPool2d) for d in model.feature_info)


@pytest.mark.parametrize("name", list(SMALL_MODELS))
def test_bad_input_raises_value_error_naming_the_shape(name: str) -> None:
    model = small_model(name)
    m = MIN_SIZE[name]
    msg = f"expected a batch of shape N x 3 x H x W with H, W >= {m}, got "
    with pytest.raises(ValueError, match=re.escape(msg + "(3, 224, 224)")):
        model(torch.randn(3, 224, 224))
    with pytest.raises(ValueError, match=re.escape(msg + "(1, 1, 224, 224)")):
        model(torch.randn(1, 1, 224, 224))
    with pytest.raises(ValueError, match=re.escape(msg + f"(1, 3, {m - 1}, {m + 40})")):
        model.forward_features(torch.randn(1, 3, m - 1, m + 40))
    with torch.no_grad():  # the minimum itself works
        assert model(torch.randn(1, 3, m, m)).shape == (1, 10)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
@pytest.mark.parametrize("name", ["alexnet", "vgg11", "googlenet", "googlenet_paper"])
def test_torchscript(name: str) -> None:
    model = small_model(name)
    scripted = torch.jit.script(model)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))
    with pytest.raises(Exception, match="N x 3 x H x W"):  # TorchScript re-raises as its own error type
        scripted(torch.randn(3, 64, 64))


def test_torch_compile_fullgraph() -> None:
    model = vgg11(num_classes=10).eval()
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        torch.compile(model, backend="eager")(torch.randn(1, 3, 16, 16))


# --- registry --------------------------------------------------------------------------------------

EXPECTED_NAMES = {
    "alexnet", "googlenet", "googlenet_paper", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn",
    "vgg16", "vgg16_bn", "vgg16_c", "vgg19", "vgg19_bn",
}  # fmt: skip


def test_registry_lists_and_creates() -> None:
    names = list_models()
    assert names == sorted(names)
    assert EXPECTED_NAMES <= set(names)
    with torch.device("meta"):
        m = create_model("vgg16_bn", num_classes=10)
        assert isinstance(m, VGG) and m.pretrained_name == "vgg16_bn"
        assert any(isinstance(x, nn.BatchNorm2d) for x in m.modules())
        assert m.classifier[-1].out_features == 10
        assert isinstance(create_model("alexnet"), AlexNet)
    g = create_model("googlenet_paper", aux_logits=False)
    assert isinstance(g, GoogLeNet) and g.paper and g.aux1 is None


def test_registry_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'vgg61'.*'vgg16'"):
        create_model("vgg61")


def test_register_model_decorator() -> None:
    @register_model(name="_test_tiny")
    def tiny(*, width: int = 4) -> nn.Module:
        return nn.Conv2d(3, width, 1)

    try:
        assert "_test_tiny" in list_models()
        assert create_model("_test_tiny", width=2).out_channels == 2
        register_model(name="_test_tiny")(tiny)  # re-registering the same builder is fine
        with pytest.raises(ValueError, match="already registered"):

            @register_model(name="_test_tiny")
            def other() -> nn.Module:
                return nn.Identity()
    finally:
        registry._REGISTRY.pop("_test_tiny", None)


# ------------------------------------------------------------------------------------------- CIFAR models
from cnnlib import cifar  # noqa: E402
from cnnlib._base import IMAGENET_MEAN, IMAGENET_STD, PretrainedCfg  # noqa: E402
from cnnlib.data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD  # noqa: E402

CIFAR_MODELS: dict[str, Callable[[], nn.Module]] = {
    "vgg_cifar": lambda: cifar.vgg_cifar(),
    "googlenet_cifar": lambda: cifar.googlenet_cifar(width_mult=0.25),
    "googlenet_cifar_3x3_aux": lambda: cifar.googlenet_cifar(width_mult=0.25, five_by_five=False, aux_logits=True),
}
CIFAR_MIN_SIZE = {"vgg_cifar": 9, "googlenet_cifar": 8, "googlenet_cifar_3x3_aux": 8, "kernel_study_net": 8}


def cifar_model(name: str) -> nn.Module:
    if name not in _SMALL_CACHE:
        torch.manual_seed(0)
        builder = CIFAR_MODELS.get(name) or (lambda: cifar.kernel_study_net(widths=(8, 16, 32)))
        _SMALL_CACHE[name] = builder().eval()
    return _SMALL_CACHE[name]


@pytest.mark.parametrize("name", list(CIFAR_MODELS))
def test_cifar_feature_info_and_torchvision_feature_extractor(name: str) -> None:
    """create_feature_extractor (torch.fx) traces the CIFAR models too, as _base.py promises."""
    model = cifar_model(name)
    info = model.feature_info
    assert info and all(set(d) == {"module", "num_chs", "reduction", "stage"} for d in info)
    x = torch.randn(2, 3, 32, 32)
    maps = capture(model, [d["module"] for d in info], x)
    for d in info:
        fmap = maps[d["module"]]
        assert fmap.shape[1] == d["num_chs"], d
        assert abs(fmap.shape[2] - 32 / d["reduction"]) <= 1, (d, fmap.shape)
    extractor = create_feature_extractor(model, return_nodes=[d["module"] for d in info])
    with torch.no_grad():
        got = extractor(x)
        torch.testing.assert_close(model.forward_head(model.forward_features(x)), model(x))
    for d in info:
        torch.testing.assert_close(got[d["module"]], maps[d["module"]])
    with pytest.raises(ValueError, match="N x 3 x H x W"):  # the traced module still validates its input
        extractor(torch.randn(1, 3, 4, 4))


def test_vgg_cifar_frozen_scale_batch_norm_is_batch_norm_2d() -> None:
    """The traceable forward of vgg_cifar's BatchNorm subclass computes what nn.BatchNorm2d does, in both modes."""
    torch.manual_seed(0)
    ours = cifar._FrozenScaleBatchNorm(8, momentum=0.4, eps=1e-12)
    ref = nn.BatchNorm2d(8, momentum=0.4, eps=1e-12)
    with torch.no_grad():
        ours.bias.normal_()
    ref.load_state_dict(ours.state_dict())
    for _ in range(3):
        x = torch.randn(4, 8, 5, 5)
        torch.testing.assert_close(ours.train()(x), ref.train()(x))
    torch.testing.assert_close(ours.eval()(x), ref.eval()(x))
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value, msg=key)
    assert not ours.weight.requires_grad


def test_vgg_cifar_accepts_exactly_what_its_head_can_take() -> None:
    """25-48 px through forward (3-5 px maps before the 3 x 3 pool); every other size a ValueError naming it."""
    model = cifar_model("vgg_cifar")
    with torch.no_grad():
        for side in range(9, 61):
            x = torch.randn(1, 3, side, side)
            assert model.forward_features(x).shape[-1] == (side - 1) // 8  # the feature maps work at any size >= 9
            if 25 <= side <= 48:
                assert model(x).shape == (1, 10), side
            else:
                with pytest.raises(ValueError, match="inputs with H, W from 25 to 48 px"):
                    model(x)
        with pytest.raises(ValueError, match="25 to 48"):
            model(torch.randn(1, 3, 32, 49))  # one side too large is enough
        with pytest.raises(ValueError, match=re.escape("H, W >= 9, got (1, 3, 8, 8)")):
            model(torch.randn(1, 3, 8, 8))
    cfg = model.pretrained_cfg
    assert (cfg.min_input_size, cfg.max_input_size) == (25, 48)


@pytest.mark.parametrize("name", [*CIFAR_MODELS, "kernel_study_net"])
def test_cifar_bad_input_raises_value_error_naming_the_shape(name: str) -> None:
    model = cifar_model(name)
    m = CIFAR_MIN_SIZE[name]
    msg = f"expected a batch of shape N x 3 x H x W with H, W >= {m}, got "
    with pytest.raises(ValueError, match=re.escape(msg + "(3, 32, 32)")):
        model(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match=re.escape(msg + "(1, 1, 32, 32)")):
        model(torch.randn(1, 1, 32, 32))


ALL_MODELS = [*SMALL_MODELS, *CIFAR_MODELS, "kernel_study_net"]


def _any_model(name: str) -> nn.Module:
    return small_model(name) if name in SMALL_MODELS else cifar_model(name)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_wrong_input_dtypes_fail_at_the_door(name: str) -> None:
    import numpy as np

    model = _any_model(name)
    side = 64 if name in SMALL_MODELS else 32
    x = torch.randn(1, 3, side, side)
    with pytest.raises(ValueError, match="got dtype torch.uint8: images as integers"):
        model((x * 50 + 128).clamp(0, 255).to(torch.uint8))
    with pytest.raises(ValueError, match=r"batch of torch.float32 \(the dtype of the model's weights\), got dtype torch.float16"):
        model(x.half())
    with pytest.raises(ValueError, match="got dtype torch.float64"):
        model(x.double())
    with pytest.raises(ValueError, match="expected a torch.Tensor.*numpy.ndarray"):
        model(np.zeros((1, 3, side, side), dtype=np.float32))
    with pytest.raises(ValueError, match="expected a torch.Tensor.*list"):
        model([[0.0]])


def test_a_half_precision_model_takes_half_precision_input() -> None:
    torch.manual_seed(0)
    model = vgg11(num_classes=10).eval().to(torch.bfloat16)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32, dtype=torch.bfloat16)).dtype == torch.bfloat16
        with pytest.raises(ValueError, match="torch.bfloat16 \\(the dtype of the model's weights\\), got dtype torch.float32"):
            model(torch.randn(1, 3, 32, 32))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_models_carry_their_metadata(name: str) -> None:
    """timm-style pretrained_cfg: input size, normalisation, classes; what the layers above read instead of guessing."""
    from torchvision.models import VGG16_Weights

    model = _any_model(name)
    cfg = model.pretrained_cfg
    assert isinstance(cfg, PretrainedCfg)
    side = cfg.input_size[-1]
    with torch.no_grad():
        out = model(torch.randn(1, *cfg.input_size))
    assert out.shape == (1, cfg.num_classes)
    if cfg.dataset == "imagenet":
        assert cfg.input_size == (3, 224, 224) and name in SMALL_MODELS
        ref = VGG16_Weights.IMAGENET1K_V1.transforms()  # torchvision's own statement of the normalisation
        assert (cfg.mean, cfg.std) == (tuple(ref.mean), tuple(ref.std)) == (IMAGENET_MEAN, IMAGENET_STD)
        assert cfg.min_input_size == MIN_SIZE[name]
    else:
        assert cfg.dataset == "cifar10" and side == 32
        assert (cfg.mean, cfg.std, cfg.classes) == (CIFAR10_MEAN, CIFAR10_STD, CIFAR10_CLASSES)
    with torch.no_grad():  # the smallest size it states works
        assert model(torch.randn(1, 3, cfg.min_input_size, cfg.min_input_size)).shape == (1, cfg.num_classes)


def test_metadata_follows_the_head() -> None:
    with torch.device("meta"):
        assert vgg16(num_classes=7).pretrained_cfg.num_classes == 7
    assert cifar.vgg_cifar(num_classes=100).pretrained_cfg.classes is None  # CIFAR-10's names no longer apply


def test_registry_has_no_module_importer() -> None:
    assert not hasattr(registry, "_import_model_modules")
    assert {"vgg_cifar", "googlenet_cifar", "kernel_study_net", "vgg16", "googlenet_paper"} <= set(list_models())
