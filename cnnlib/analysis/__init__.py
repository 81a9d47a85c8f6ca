"""Analysis toolkit: what a network costs and what its layers see.

* :func:`layer_table` -- one row per layer: output shape, parameters, MACs, activation bytes.
* :func:`count_macs` -- multiply-accumulates of a forward pass (torchvision's "GFLOPS").
* :func:`weight_depth` -- weight layers on the longest path (how the papers count depth).
* :func:`receptive_fields`, :func:`receptive_field_details`, :func:`stacked_receptive_field`.
* :func:`capture_features` -- intermediate feature maps via forward hooks.
* :func:`measure` -- latency and peak memory, inference and one training step.

Everything except :func:`measure` runs a shape-only forward pass on the ``meta`` device, so it is
instant even for VGG-19 and never changes the model. The toolkit imports no model: it works on
any ``nn.Module`` (cnnlib's or torchvision's).
"""

from .depth import weight_depth
from .features import capture_features
from .macs import count_macs, module_macs
from .measure import Measurement, measure
from .receptive_field import ReceptiveField, receptive_field_details, receptive_fields, stacked_receptive_field
from .table import LayerRow, LayerTable, format_bytes, format_count, layer_table

__all__ = [
    "LayerRow",
    "LayerTable",
    "Measurement",
    "ReceptiveField",
    "capture_features",
    "count_macs",
    "format_bytes",
    "format_count",
    "layer_table",
    "measure",
    "module_macs",
    "receptive_field_details",
    "receptive_fields",
    "stacked_receptive_field",
    "weight_depth",
]
