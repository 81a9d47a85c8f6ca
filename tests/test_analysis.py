"""Tests of cnnlib.analysis against references nobody here wrote: torchinfo, torchvision's
documented GFLOPS and feature extractor, torch's FlopCounterMode, and receptive fields measured
independently as the support of an input gradient."""

from __future__ import annotations

import copy

import pytest
import torch
import torchinfo
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import AlexNet_Weights, GoogLeNet_Weights, VGG16_Weights
from torchvision.models.feature_extraction import create_feature_extractor

from cnnlib.analysis import (
    ReceptiveField,
    capture_features,
    count_macs,
    layer_table,
    measure,
    receptive_field_details,
    receptive_fields,
    stacked_receptive_field,
    weight_depth,
)


def meta(builder, **kw):
    """A model whose weights take no memory: enough for everything shape-only."""
    with torch.device("meta"):
        return builder(**kw)


@pytest.fixture(scope="module")
def tv_models() -> dict[str, nn.Module]:
    return {
        "vgg16": meta(torchvision.models.vgg16),
        "alexnet": meta(torchvision.models.alexnet),
        "googlenet": meta(torchvision.models.googlenet, init_weights=False),
    }


# ---------------------------------------------------------------- parameters and MACs


@pytest.mark.parametrize("name", ["vgg16", "alexnet", "googlenet"])
def test_params_column_sums_to_model_and_torchinfo(tv_models, name):
    model = tv_models[name]
    table = layer_table(model, (3, 64, 64))
    expected = sum(p.numel() for p in model.parameters())
    assert table.total("params") == expected
    stats = torchinfo.summary(model, (1, 3, 64, 64), device="meta", verbose=0)
    assert table.total("params") == stats.total_params


def test_shared_parameters_counted_once():
    conv = nn.Conv2d(3, 3, 3, padding=1)
    model = nn.Sequential(conv, nn.ReLU(), conv)  # the same layer twice
    table = layer_table(model, (1, 3, 8, 8))
    assert table.total("params") == sum(p.numel() for p in model.parameters()) == 84
    assert table["0"].calls == 2
    assert table["0"].macs == 2 * 3 * 8 * 8 * 27


@pytest.mark.parametrize("name", ["vgg16", "alexnet", "googlenet"])
def test_macs_match_torchvision_documented_gflops(tv_models, name):
    weights = {"vgg16": VGG16_Weights, "alexnet": AlexNet_Weights, "googlenet": GoogLeNet_Weights}[name]
    documented = weights.IMAGENET1K_V1.meta["_ops"]  # "GFLOPS" in torchvision's tables = GMACs
    assert count_macs(tv_models[name], 224) / 1e9 == pytest.approx(documented, rel=0.02)


@pytest.mark.parametrize("name", ["vgg16", "alexnet", "googlenet"])
@pytest.mark.parametrize("shape", [(1, 3, 224, 224), (2, 3, 97, 131)])
def test_macs_match_torch_flop_counter_exactly(tv_models, name, shape):
    model = tv_models[name].eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(shape, device="meta"))
    assert count_macs(model, shape) * 2 == counter.get_total_flops()


@pytest.mark.parametrize("name", ["vgg16", "alexnet", "googlenet"])
def test_macs_match_torchinfo(tv_models, name):
    """torchinfo counts one mult-add per bias-carrying output element, and batch x (gamma + beta)
    elements for each batch norm; with include_bias=True we agree up to exactly the latter."""
    model = tv_models[name]
    shape = (2, 3, 224, 224)
    stats = torchinfo.summary(model, shape, device="meta", verbose=0)
    bn_elems = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    executed_bn = bn_elems - sum(  # aux heads do not run in eval mode
        p.numel() for n, m in model.named_modules() if n.startswith("aux") and isinstance(m, nn.BatchNorm2d)
        for p in m.parameters()
    )
    assert count_macs(model, shape, include_bias=True) + shape[0] * executed_bn == stats.total_mult_adds
    if name != "googlenet":
        assert executed_bn == 0


def test_layer_rows_match_torchinfo_per_layer(tv_models):
    model = tv_models["googlenet"]
    stats = torchinfo.summary(model, (1, 3, 224, 224), device="meta", verbose=0)
    theirs = [
        (li.class_name, tuple(li.output_size), li.macs)
        for li in stats.summary_list
        if li.is_leaf_layer and li.executed and li.class_name in ("Conv2d", "Linear", "MaxPool2d")
    ]
    table = layer_table(model, 224, include_bias=True)
    ours = [(r.type, r.output_shape, r.macs) for r in table
            if r.type in ("Conv2d", "Linear", "MaxPool2d") and r.calls]
    assert ours == theirs


def test_activation_bytes_against_torchinfo(tv_models):
    """torchinfo's "forward/backward pass size" is 2 x the output bytes of the leaf layers that
    have parameters; ours has the same bytes for those layers, and 0 for the layers that return
    their input itself (in-place ReLU, eval-mode dropout)."""
    model = tv_models["vgg16"]
    stats = torchinfo.summary(model, (1, 3, 224, 224), device="meta", verbose=0)
    table = layer_table(model, 224)
    assert table.total("act_bytes", where=lambda r: r.params > 0) == stats.total_output_bytes // 2
    assert all(r.act_bytes == 0 for r in table if r.type in ("ReLU", "Dropout"))
    pools = table.filter(lambda r: r.type == "MaxPool2d")
    assert pools.total("act_bytes") == 4 * (64 * 112**2 + 128 * 56**2 + 256 * 28**2 + 512 * 14**2 + 512 * 7**2)
    # The seed's claim in numbers: most activation memory sits in the first two stages.
    early = table.total("act_bytes", where=lambda r: r.output_shape[-1] >= 112)
    assert early > 0.5 * table.total("act_bytes")


def test_googlenet_table_has_branch_rows_and_groups(tv_models):
    table = layer_table(tv_models["googlenet"], 224)
    names = table.names()
    assert "inception3a.branch3.1.conv" in names and "inception5b.branch4.0" in names
    concat = table["inception3a"]  # torch.cat allocates the block's output
    assert concat.type == "Inception (own operations)" and concat.output_shape == (1, 256, 28, 28)
    assert concat.act_bytes == 256 * 28 * 28 * 4
    grouped = table.grouped()
    assert grouped["inception4a"].output_shape == (1, 512, 14, 14)
    assert grouped["aux1"].output_shape is None and grouped["aux1"].params > 0
    for col in ("params", "macs", "act_bytes"):
        assert grouped.total(col) == table.total(col)
    text, html = str(grouped), grouped._repr_html_()
    assert "inception4a" in text and "13,004,888" in text
    assert html.count("<tr>") == len(grouped) + 2 and "13,004,888" in html


def test_vgg16_fc1_holds_most_parameters(tv_models):
    table = layer_table(tv_models["vgg16"], 224)
    assert table["classifier.0"].params == 25088 * 4096 + 4096 == 102_764_544
    convs = table.filter(lambda r: r.type == "Conv2d")
    assert convs.total("macs") > 0.99 * table.total("macs")


def test_input_size_errors():
    with pytest.raises(ValueError, match="input_size"):
        layer_table(nn.Conv2d(3, 3, 3), (3, 32))


# ---------------------------------------------------------------- receptive fields


def test_vgg16_receptive_fields(tv_models):
    rf = receptive_fields(tv_models["vgg16"])
    assert (rf["features.0"], rf["features.2"], rf["features.28"], rf["features.30"]) == (3, 5, 196, 212)
    assert "features.1" not in rf  # ReLU is not a conv/pool layer
    assert receptive_fields(tv_models["vgg16"], names=["features.29", "classifier.0"]) == {"features.29": 196}


def test_known_receptive_fields_alexnet_googlenet(tv_models):
    assert receptive_fields(tv_models["alexnet"])["features.12"] == 195  # AlexNet pool5
    rf = receptive_fields(tv_models["googlenet"])
    # torchvision's "5x5" branch is 3x3, so the largest branch is 3x3 on a stride-8 map: 27 + 2*8
    assert rf["maxpool2"] == 27 and rf["inception3a"] == 43
    assert rf["inception3a.branch1"] == 27  # the 1x1 branch sees no more than its input


def test_stacked_receptive_field():
    assert [stacked_receptive_field(n) for n in range(5)] == [1, 3, 5, 7, 9]  # 2 x 3x3 = 5x5, 3 x 3x3 = 7x7
    assert stacked_receptive_field(2, 3, dilation=2) == 9
    assert stacked_receptive_field([(11, 4), (3, 2), (5, 1)]) == 51  # AlexNet conv1, pool1, conv2
    vgg16_layers = [(3, 1)] * 2 + [(2, 2)] + [(3, 1)] * 2 + [(2, 2)] + ([(3, 1)] * 3 + [(2, 2)]) * 3
    assert stacked_receptive_field(vgg16_layers) == 212
    with pytest.raises(ValueError):
        stacked_receptive_field([(3,)])


def _gradient_extent(net: nn.Module, size: int) -> int:
    """Receptive field measured directly: input pixels whose value changes the centre output."""
    x = torch.ones(1, 3, size, size, requires_grad=True)
    out = net(x)
    h, w = out.shape[-2:]
    out[0, :, h // 2, w // 2].sum().backward()
    support = x.grad[0].abs().sum(0) > 0
    rows = support.any(1).nonzero().flatten()
    cols = support.any(0).nonzero().flatten()
    assert rows.numel() and 0 < rows[0] and rows[-1] < size - 1, "field touches the border: use a larger input"
    assert rows[-1] - rows[0] == cols[-1] - cols[0]
    return int(rows[-1] - rows[0] + 1)


def _positive_copy(net: nn.Module) -> nn.Module:
    """Real weights all 1, biases 0, BN as identity; max pools as average pools of the same
    geometry (a max routes gradient to one pixel, an average to the whole window)."""
    net = copy.deepcopy(net).to_empty(device="cpu").eval()
    for name, m in list(net.named_modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()
        elif isinstance(m, nn.MaxPool2d):
            parent = net.get_submodule(name.rpartition(".")[0]) if "." in name else net
            setattr(parent, name.rpartition(".")[2], nn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode))
    return net


@pytest.mark.parametrize("index", [3, 6, 10])
def test_receptive_field_matches_gradient_support_vgg(index):
    model = meta(torchvision.models.vgg11)
    expected = receptive_fields(model)[f"features.{index}"]
    net = _positive_copy(model.features[: index + 1])
    assert _gradient_extent(net, expected + 24) == expected


@pytest.mark.parametrize("block", ["inception3a", "inception3b"])
def test_receptive_field_matches_gradient_support_googlenet(block):
    model = meta(torchvision.models.googlenet, init_weights=False)
    expected = receptive_fields(model)[block]
    stem = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b"]
    net = _positive_copy(nn.Sequential(*[getattr(model, n) for n in stem[: stem.index(block) + 1]]))
    assert _gradient_extent(net, 96) == expected


def test_receptive_field_details_box(tv_models):
    rf = receptive_field_details(tv_models["vgg16"])["features.2"]
    assert rf == ReceptiveField(size=(5, 5), stride=(1.0, 1.0), start=(0.0, 0.0))
    assert rf.input_box(0, 3) == ((-2, 3), (1, 6))
    assert rf.input_box(0, 3, clip_to=(224, 224)) == ((0, 3), (1, 6))


# ---------------------------------------------------------------- feature capture


def test_capture_matches_create_feature_extractor():
    torch.manual_seed(0)
    model = torchvision.models.alexnet().eval()
    names = ["features.0", "features.2", "features.12", "avgpool", "classifier.4"]
    x = torch.randn(2, 3, 67, 67)
    reference = create_feature_extractor(model, names).eval()(x)
    with capture_features(model, names) as feats, torch.no_grad():
        model(x)
    assert list(feats) == names
    for n in names:
        torch.testing.assert_close(feats[n], reference[n], rtol=0, atol=0)


def test_capture_matches_create_feature_extractor_googlenet():
    torch.manual_seed(0)
    model = torchvision.models.googlenet(init_weights=False, aux_logits=False).eval()
    names = ["maxpool2", "inception3a", "inception4e.branch2", "inception5b"]
    x = torch.randn(1, 3, 64, 64)
    reference = create_feature_extractor(model, names).eval()(x)
    with capture_features(model, names) as feats, torch.no_grad():
        model(x)
    for n in names:
        torch.testing.assert_close(feats[n], reference[n], rtol=0, atol=0)


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_capture_removes_hooks_also_on_exception():
    model = meta(torchvision.models.vgg11)
    with capture_features(model, ["features.0"]):
        assert _hook_count(model) > 0
    assert _hook_count(model) == 0
    with pytest.raises(RuntimeError, match="boom"):
        with capture_features(model, ["features.0", "classifier.6"]):
            assert _hook_count(model) > 0
            raise RuntimeError("boom")
    assert _hook_count(model) == 0


def test_capture_clone_and_gradients():
    conv = nn.Conv2d(3, 4, 3)
    model = nn.Sequential(conv, nn.ReLU(inplace=True), nn.Flatten(), nn.LazyLinear(2))
    x = torch.randn(1, 3, 8, 8)
    model(x)
    with capture_features(model, ["0"], clone=True) as cloned:
        model(x)
    assert (cloned["0"] < 0).any()  # copy taken before the in-place ReLU
    with capture_features(model, "0") as feats:
        model(x)
    torch.testing.assert_close(feats["0"], cloned["0"])  # copied before the ReLU changed it
    with capture_features(model, ["0", "1"]) as feats:
        out = model(x)
    assert feats["0"] is feats["1"] and (feats["0"] >= 0).all()  # as create_feature_extractor
    (grad,) = torch.autograd.grad(out.sum(), feats["1"])  # the capture is part of the graph
    assert grad.shape == (1, 4, 6, 6)


def test_capture_unknown_name_suggests():
    model = meta(torchvision.models.vgg11)
    with pytest.raises(ValueError, match=r"features\.O.*features\.0"):
        with capture_features(model, ["features.O"]):
            pass
    assert _hook_count(model) == 0


# ---------------------------------------------------------------- measure


def test_measure_cpu():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )
    before = copy.deepcopy(model.state_dict())
    threads = torch.get_num_threads()
    result = measure(model, (3, 32, 32), device="cpu", batch_size=4, repeats=3, warmup=1, threads=1)
    assert result.threads == 1 and torch.get_num_threads() == threads
    assert result.input_shape == (4, 3, 32, 32) and result.batch_size == 4
    assert len(result.infer_times) == 3 and result.infer_seconds > 0 and result.train_seconds > 0
    assert result.infer_best_seconds == min(result.infer_times) <= result.infer_seconds
    conv_out = 4 * 16 * 32 * 32 * 4
    # inference holds at least one conv output; training at least the saved activations
    # (conv output, BN output) plus the gradients of all parameters
    assert result.infer_peak_bytes >= conv_out
    assert result.train_peak_bytes >= 2 * conv_out + result.model_bytes - 4 * 16 * 4
    assert result.train_peak_bytes > result.infer_peak_bytes
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0, msg=key)
    assert model.training and all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------- cnnlib's own models


def test_cnnlib_models_agree_with_torchvision(tv_models):
    from cnnlib import alexnet, googlenet, vgg16

    ours = {"vgg16": meta(vgg16), "alexnet": meta(alexnet), "googlenet": meta(googlenet)}
    for name, model in ours.items():
        ref = tv_models[name]
        assert layer_table(model, 224).total("params") == sum(p.numel() for p in ref.parameters())
        assert count_macs(model, 224) == count_macs(ref, 224)
        ours_rf, ref_rf = receptive_fields(model), receptive_fields(ref)
        assert ours_rf == {k: v for k, v in ref_rf.items() if k in ours_rf}
    assert layer_table(ours["vgg16"], 224)["classifier.0"].params == 102_764_544


def test_cnnlib_paper_googlenet_receptive_field_by_gradient():
    from cnnlib import googlenet

    model = meta(googlenet, paper=True)
    rf = receptive_fields(model)
    assert rf["inception3a"] == 27 + 4 * 8  # the paper's 5x5 branch on the stride-8 map
    stem = [n for n, _ in model.named_children()]
    net = _positive_copy(nn.Sequential(*[getattr(model, n) for n in stem[: stem.index("inception3a") + 1]
                                         if getattr(model, n) is not None]))
    assert _gradient_extent(net, 128) == rf["inception3a"]
    assert 1.4e9 < count_macs(model, 224) < 1.7e9  # the paper: "1.5 billion multiply-adds"


# ---------------------------------------------------------------- depth


@pytest.mark.parametrize(
    "builder, published",
    [
        (torchvision.models.alexnet, 8),  # 5 conv + 3 FC
        (torchvision.models.vgg16, 16),  # "VGG-16"
        (torchvision.models.vgg19, 19),
        (lambda: torchvision.models.googlenet(init_weights=False), 22),  # "22 layers deep"
        (torchvision.models.resnet18, 18),
    ],
)
def test_weight_depth_matches_published_depths(builder, published):
    assert weight_depth(meta(builder)) == published


# ------------------------------------------------------------------------------------- the house's layout
def _cnnlib_imports() -> dict[str, set[str]]:
    """module -> the cnnlib modules it imports (anywhere in the file, function-level imports included)."""
    import ast
    from pathlib import Path

    import cnnlib

    root = Path(cnnlib.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(max(0, node.level - 1)):
                    base = base.rpartition(".")[0]
                mod = (base + ("." + node.module if node.module else "")) if node.level else (node.module or "")
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t.startswith("cnnlib")}
        graph[name] = deps
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def test_no_import_cycle_in_cnnlib():
    graph = _cnnlib_imports()
    # the models, analysis, images and presentation layers (training, data, weights and the pretrained CLI are
    # being reorganised separately; their own cycles are theirs to test)
    others = ("cnnlib.train", "cnnlib.data", "cnnlib.weights", "cnnlib.pretrained", "cnnlib._pretrained")
    graph = {m: {d for d in deps if d != "cnnlib" and not d.startswith(others)}
             for m, deps in graph.items() if not m.startswith(others)}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert "cnnlib.analysis.table" not in graph["cnnlib.analysis.macs"]  # the old macs <-> table cycle


def test_arrows_only_point_down():
    graph = _cnnlib_imports()
    models = {"cnnlib._base", "cnnlib.vgg", "cnnlib.googlenet", "cnnlib.alexnet", "cnnlib.cifar",
              "cnnlib.inception_naive", "cnnlib.registry"}
    for m in models:
        assert not {d for d in graph[m] if d.startswith(("cnnlib.analysis", "cnnlib.widgets", "cnnlib.train",
                                                          "cnnlib.images", "cnnlib.pretrained"))}, m
    for m, deps in graph.items():
        if m.startswith(("cnnlib.analysis", "cnnlib.images")):
            assert not {d for d in deps if d.startswith(("cnnlib.widgets", "cnnlib.train", "cnnlib.notebook"))}, m


def test_tensors_in_outputs_one_helper():
    from cnnlib.analysis._common import first_tensor, tensors_in

    a, b, c = torch.zeros(1), torch.ones(2), torch.ones(3)
    assert tensors_in({"x": [a, (None, b)], "y": "text", "z": c}) == [a, b, c]
    assert first_tensor((None, [b, a])) is b and first_tensor(("no", 1)) is None
