"""Analysis toolkit: what a network costs and what its layers see.

* :func:`layer_table` -- one row per layer: output shape, parameters, MACs, activation bytes.
* :func:`count_macs` -- multiply-accumulates of a forward pass (torchvision's "GFLOPS").
* :func:`weight_depth` -- weight layers on the longest path (how the papers count depth).
* :func:`receptive_fields`, :func:`receptive_field_details`, :func:`stacked_receptive_field`,
  :func:`receptive_field_footprint` (the same, measured by autograd on a :func:`conv_stack`).
* :func:`capture_features` -- intermediate feature maps via forward hooks.
* :func:`measure` -- latency and peak memory, inference and one training step.
* :func:`stage_costs` -- a VGG network's parameters and MACs per stage (:mod:`.stages`).
* :func:`paper_modules`, :func:`module_cost`, :func:`build_module` -- one Inception module's cost, with and
  without its 1x1 reductions (:mod:`.inception`).
* :func:`layer_specs`, :class:`ActivationCache` -- every feature map of a photo, from one forward pass
  (:mod:`.activations`, behind the feature-map views).

Everything except :func:`measure` and :class:`ActivationCache` runs a shape-only forward pass on the ``meta``
device, so it is instant even for VGG-19 and never changes the model. The toolkit works on any ``nn.Module``
(cnnlib's or torchvision's); it imports cnnlib's models only where it describes them (:mod:`.inception` reads the
paper's widths from ``cnnlib.googlenet(paper=True)``).
"""

from .activations import ActivationCache, Activations, LayerSpec, first_conv, layer_specs
from .depth import weight_depth
from .features import capture_features
from .macs import module_macs
from .measure import Measurement, measure
from .receptive_field import (
    ReceptiveField, conv_stack, receptive_field_details, receptive_field_footprint, receptive_fields,
    stacked_receptive_field,
)
from .stages import CONFIG_LETTERS, StageCost, stage_costs
from .inception import ModuleCost, ModuleSpec, build_module, module_cost, paper_modules
from .table import LayerRow, LayerTable, count_macs, format_bytes, format_count, layer_table

__all__ = [
    "CONFIG_LETTERS",
    "LayerRow",
    "LayerTable",
    "Measurement",
    "ReceptiveField",
    "StageCost",
    "capture_features",
    "conv_stack",
    "count_macs",
    "format_bytes",
    "format_count",
    "layer_table",
    "measure",
    "module_macs",
    "receptive_field_details",
    "receptive_field_footprint",
    "receptive_fields",
    "stacked_receptive_field",
    "stage_costs",
    "weight_depth",
    "ActivationCache",
    "Activations",
    "LayerSpec",
    "first_conv",
    "layer_specs",
    "ModuleCost",
    "ModuleSpec",
    "build_module",
    "module_cost",
    "paper_modules",
]

