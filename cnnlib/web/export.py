"""ONNX exports of the book's shipped networks, for the live view that runs them in the reader's browser.

The online book runs ``vgg_cifar`` and ``googlenet_cifar`` with onnxruntime-web (WebAssembly) on any image the
reader picks. One ONNX file per network gives everything the page shows from one run:

* ``logits`` and ``probs`` (``1 x 10``): the class scores and their softmax;
* one output per layer of :func:`cnnlib.analysis.layer_specs` (every ``feature_info`` stage, and for GoogLeNet
  every Inception module), named by its module (``features.2``, ``inception4a``), ``1 x C x h x w``;
* for each Inception module its four branches (``inception4a.branch1`` ... ``branch4``);
* for a network whose head is global average pooling and one linear layer (``googlenet_cifar``), ``cam``
  (``1 x 10 x h x w``): the class activation maps of Zhou et al. (2016), ``fc.weight @ features`` at every
  position. GAP is linear, so each map's spatial mean is that class's logit; the tests check it.

The files are made at build time from ``weights/`` (``python tools/export_onnx.py``), so the repository holds one
copy of each network. The exporter keeps the BatchNorm layers as they are (no constant folding): every weight is
then a value of the shipped 16-bit file, and storing it as float16 in the ONNX file (with a ``Cast`` to float32
that onnxruntime folds when it loads the model) loses nothing. Tensors that float16 cannot hold exactly stay
float32.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..analysis import layer_specs

__all__ = ["LIVE_MODELS", "OPSET", "tap_names", "has_cam", "TappedModel", "export_onnx", "onnx_metadata"]

#: The networks the live view runs (the book's shipped weights).
LIVE_MODELS: tuple[str, ...] = ("vgg_cifar", "googlenet_cifar")
#: ONNX opset of the exports (onnxruntime-web 1.2x runs it).
OPSET = 17


def tap_names(model: nn.Module) -> list[str]:
    """The inner modules whose outputs the export adds, in network order (branches right after their module)."""
    names: list[str] = []
    for spec in layer_specs(model):
        names.append(spec.module)
        names.extend(branch for branch, _, _ in spec.branches)
    return names


def has_cam(model: nn.Module) -> bool:
    """Whether the head is global average pooling + one linear layer (what a class activation map needs)."""
    return isinstance(getattr(model, "avgpool", None), nn.AdaptiveAvgPool2d) and isinstance(
        getattr(model, "fc", None), nn.Linear) and hasattr(model, "forward_features")


class TappedModel(nn.Module):
    """``model`` with its inner maps as extra outputs: ``(logits, probs, *maps[, cam])``.

    Args:
        model: a cnnlib CIFAR model in eval mode.
        taps: module names whose outputs to return (default: :func:`tap_names`).
    """

    def __init__(self, model: nn.Module, taps: list[str] | None = None) -> None:
        super().__init__()
        self.model = model
        self.taps = list(taps if taps is not None else tap_names(model))
        self.cam = has_cam(model)
        modules = dict(model.named_modules())
        missing = [t for t in self.taps if t not in modules]
        if missing:
            raise ValueError(f"the model has no modules named {missing}")
        self._modules_by_name = {t: modules[t] for t in self.taps}

    @property
    def output_names(self) -> list[str]:
        """The ONNX output names, in the order :meth:`forward` returns them."""
        return ["logits", "probs", *self.taps] + (["cam"] if self.cam else [])

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``1 x 3 x S x S`` normalised input -> logits, probabilities, the tapped maps, and the CAM if any."""
        store: dict[str, Tensor] = {}
        handles = [m.register_forward_hook(lambda _m, _i, out, n=n: store.__setitem__(n, out))
                   for n, m in self._modules_by_name.items()]
        try:
            if self.cam:
                feats = self.model.forward_features(x)  # N x C x h x w
                logits = self.model.forward_head(feats)
            else:
                logits = self.model(x)
        finally:
            for h in handles:
                h.remove()
        outs = [logits, torch.softmax(logits, dim=1), *[store[n] for n in self.taps]]
        if self.cam:
            fc = self.model.fc
            scale = float(getattr(self.model, "logit_scale", 1.0))
            cam = torch.einsum("kc,nchw->nkhw", fc.weight, feats)  # N x classes x h x w
            if fc.bias is not None:
                cam = cam + fc.bias[None, :, None, None]
            outs.append(cam * scale)
        return tuple(outs)


def _to_float16(proto: Any) -> tuple[int, int]:
    """Store every float32 initializer that float16 holds exactly as float16, behind a Cast to float32.

    Returns:
        ``(converted, kept)``: how many initializers became float16 and how many stayed float32.
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = proto.graph
    converted = kept = 0
    casts = []
    for init in list(graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        half = arr.astype(np.float16)
        if arr.size < 16 or not np.array_equal(half.astype(np.float32), arr):
            kept += 1
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(half, name + "__f16"))
        casts.append(helper.make_node("Cast", [name + "__f16"], [name], to=onnx.TensorProto.FLOAT,
                                      name=name + "__cast"))
        converted += 1
    for i, node in enumerate(casts):  # first in the graph, so the order stays topological
        graph.node.insert(i, node)
    return converted, kept


def onnx_metadata(model: nn.Module, name: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the page needs to know about an export: input size, normalisation, classes, the layers and branches."""
    cfg = model.pretrained_cfg
    layers = []
    for spec in layer_specs(model):
        layers.append({"module": spec.module, "label": spec.label, "channels": spec.num_chs,
                       "branches": [{"module": b, "desc": d, "channels": c} for b, d, c in spec.branches]})
    info = {"model": name, "input_size": int(cfg.input_size[-1]), "mean": list(cfg.mean), "std": list(cfg.std),
            "classes": list(cfg.classes or ()), "layers": layers, "cam": has_cam(model)}
    if meta:
        info["test_accuracy"] = meta.get("test_accuracy")
        info["trained"] = meta.get("finished") or meta.get("date")
    return info


def export_onnx(model: nn.Module, path: str | os.PathLike[str], *, half: bool = True) -> dict[str, Any]:
    """Write ``model`` (with every tapped map as an output) as an ONNX file, atomically.

    Args:
        model: a cnnlib CIFAR model (moved to the CPU, eval mode).
        path: where to write the ``.onnx`` file.
        half: store the weights that float16 holds exactly in 16 bits (about half the download).

    Returns:
        ``{"path", "bytes", "outputs", "float16", "float32"}``: the file, its size, the output names and how many
        initializers were stored in each precision.
    """
    import onnx

    model = model.float().cpu().eval()
    tapped = TappedModel(model).eval()  # eval: the exporter restores the wrapper's mode (a new module trains)
    size = int(model.pretrained_cfg.input_size[-1])
    x = torch.zeros(1, 3, size, size)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer notes that the models' input checks become constants (the export is for one input size)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(tapped, (x,), buf, input_names=["input"], output_names=tapped.output_names,
                          opset_version=OPSET, do_constant_folding=False, dynamo=False)
    proto = onnx.load_from_string(buf.getvalue())
    converted, kept = _to_float16(proto) if half else (0, 0)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"path": str(path), "bytes": len(data), "outputs": tapped.output_names, "float16": converted,
            "float32": kept}


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as JSON, atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
