"""cnnlib: the real VGG, GoogLeNet and AlexNet, and the tools the book *Stacks & Branches* uses to inspect and train them.

Layers, bottom to top: the models (this namespace; each carries its ``feature_info`` and ``pretrained_cfg``,
see :mod:`cnnlib._base`), then :mod:`cnnlib.analysis`, :mod:`cnnlib.images`, :mod:`cnnlib.data` and
:mod:`cnnlib.train`, then :mod:`cnnlib.widgets` (presentation only). The chapters import from all of them.
"""

from .registry import create_model, list_models, register_model
from .vgg import VGG, VGG_CONFIGS, make_vgg_layers, vgg11, vgg13, vgg16, vgg16_c, vgg19
from .alexnet import AlexNet, alexnet
from .googlenet import BasicConv2d, GoogLeNet, Inception, InceptionAux, googlenet
from .weights import load_torchvision_weights
from . import cifar as _cifar  # noqa: F401  (registers vgg_cifar and googlenet_cifar with create_model)

__version__ = "0.1.0"

__all__ = [
    "AlexNet",
    "BasicConv2d",
    "GoogLeNet",
    "Inception",
    "InceptionAux",
    "VGG",
    "VGG_CONFIGS",
    "alexnet",
    "create_model",
    "googlenet",
    "list_models",
    "load_torchvision_weights",
    "make_vgg_layers",
    "register_model",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg16_c",
    "vgg19",
]
