"""The ONNX exports the live view runs in the browser compute what PyTorch computes, for the shipped weights.

Reference: the PyTorch model itself (its logits and the outputs of its inner modules, taken with forward hooks
independently of the export wrapper) against onnxruntime's CPU run of the exported file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from cnnlib.analysis import capture_features, layer_specs  # noqa: E402
from cnnlib.images import load_image, to_model_input  # noqa: E402
from cnnlib.shipped import load_shipped  # noqa: E402
from cnnlib.web.export import LIVE_MODELS, TappedModel, export_onnx, onnx_metadata, tap_names  # noqa: E402

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


@pytest.fixture(scope="module", params=LIVE_MODELS)
def exported(request, tmp_path_factory):
    loaded = load_shipped(request.param, WEIGHTS)
    if loaded is None:
        pytest.skip(f"no shipped weights for {request.param}")
    model, meta = loaded
    model = model.float().eval()
    path = tmp_path_factory.mktemp("onnx") / f"{request.param}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = export_onnx(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return request.param, model, result, session


def _inputs(model: torch.nn.Module) -> list[torch.Tensor]:
    cfg = model.pretrained_cfg
    gen = torch.Generator().manual_seed(0)
    photo = to_model_input(load_image(np.full((40, 56, 3), 200, np.uint8)), 32, cfg.mean, cfg.std)[1]
    return [torch.randn(1, 3, 32, 32, generator=gen), photo]


def test_outputs_name_every_stage_and_branch(exported):
    name, model, result, session = exported
    outputs = [o.name for o in session.get_outputs()]
    assert outputs == result["outputs"]
    assert outputs[:2] == ["logits", "probs"]
    for f in model.feature_info:
        assert f["module"] in outputs
    for spec in layer_specs(model):
        assert spec.module in outputs
        assert [b for b, _, _ in spec.branches] == [o for o in outputs if o.startswith(spec.module + ".branch")]
    if name == "googlenet_cifar":
        assert sum(o.endswith((".branch1", ".branch2", ".branch3", ".branch4")) for o in outputs) == 4 * 9
        assert outputs[-1] == "cam"


def test_onnxruntime_equals_pytorch(exported):
    _, model, result, session = exported
    names = tap_names(model)
    for x in _inputs(model):
        with torch.no_grad(), capture_features(model, names) as feats:
            logits = model(x)
        got = dict(zip(result["outputs"], session.run(None, {"input": x.numpy()})))
        torch.testing.assert_close(torch.from_numpy(got["logits"]), logits, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(torch.from_numpy(got["probs"]), logits.softmax(1), atol=1e-5, rtol=1e-4)
        for n in names:
            torch.testing.assert_close(torch.from_numpy(got[n]), feats[n], atol=1e-4, rtol=1e-4, msg=n)


def test_cam_averages_to_the_logits(exported):
    """GAP is linear: the mean of a class's activation map over the positions is that class's logit."""
    _, model, result, session = exported
    if "cam" not in result["outputs"]:
        pytest.skip("no global-average-pooling head")
    for x in _inputs(model):
        got = dict(zip(result["outputs"], session.run(None, {"input": x.numpy()})))
        with torch.no_grad():
            logits = model(x)
        assert got["cam"].shape[:2] == (1, 10)
        torch.testing.assert_close(torch.from_numpy(got["cam"]).mean(dim=(2, 3)), logits, atol=1e-4, rtol=1e-4)


def test_weights_stored_in_16_bits_without_loss(exported):
    """The 16-bit storage keeps every value of the (16-bit) shipped weights: each becomes a float16 initializer."""
    name, model, result, _ = exported
    proto = onnx.load(result["path"])
    half = {i.name.removesuffix("__f16") for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16}
    assert result["float16"] == len(half) > 0
    big = [k for k, v in model.state_dict().items() if v.is_floating_point() and v.numel() >= 1000]
    stored = {i.name for i in proto.graph.initializer}
    # every large weight tensor of the model is stored in 16 bits (its ONNX name may differ; count them)
    assert len(half) >= len(big), (len(half), len(big), sorted(stored)[:5])
    assert result["bytes"] < 0.6 * 4 * sum(p.numel() for p in model.parameters()), "not stored in 16 bits"


def test_metadata_lists_layers_in_network_order(exported):
    name, model, _, _ = exported
    info = onnx_metadata(model, name)
    assert [layer["module"] for layer in info["layers"]] == [s.module for s in layer_specs(model)]
    assert info["input_size"] == 32 and len(info["classes"]) == 10
    assert info["cam"] == (name == "googlenet_cifar")


def test_wrapper_rejects_unknown_modules(exported):
    _, model, _, _ = exported
    with pytest.raises(ValueError, match="no modules named"):
        TappedModel(model, ["no_such_layer"])
