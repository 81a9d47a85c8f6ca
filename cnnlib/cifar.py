"""VGG- and GoogLeNet-style networks sized for 32 x 32 CIFAR-10 images.

``vgg_cifar``: the VGG idea (Simonyan & Zisserman 2014, arXiv:1409.1556) -- stacks of 3 x 3 convolutions, halving
the resolution with max-pooling between stages -- in the shape that trains fastest on CIFAR-10 today. It follows the
public speed-run line of work (Page 2018, "How to train your ResNet"; tysam-code's hlb-CIFAR10; Keller Jordan's
airbench, "94% on CIFAR-10 in 3.29 seconds on a single GPU", arXiv:2404.00498), re-written here for reading:

* a first 2 x 2 convolution initialised as a *patch-whitening* filter bank from the training images and frozen
  (it decorrelates the pixels of every 2 x 2 patch, which the later layers would otherwise spend epochs learning);
* three stages of ``conv3x3 -> maxpool -> BN -> GELU -> conv3x3 -> BN -> GELU`` with widths 64/256/256;
* BatchNorm without a learnable scale (only the shift is trained), and convolutions initialised close to the
  identity (Dirac), so that the untrained network already passes its input through;
* a final max-pool, a bias-free linear layer and a fixed down-scaling of the logits (1/9).

``googlenet_cifar``: GoogLeNet's Inception modules (Szegedy et al. 2014, arXiv:1409.4842) with the paper's widths
(3a ... 5b), behind a small stem of two 3 x 3 convolutions instead of the 7 x 7/stride-2 ImageNet stem, with
BatchNorm in every convolution (as torchvision's GoogLeNet; the modules are :class:`cnnlib.googlenet.Inception`) and
the paper's 5 x 5 kernel in the third branch (torchvision's 3 x 3 there is kept only for its pretrained weights;
``five_by_five=False`` restores it). The two auxiliary classifiers (after 4a and 4d) are optional
(``aux_logits=True``; their logits come from :meth:`GoogLeNetCifar.forward_with_aux`, as in
:class:`cnnlib.googlenet.GoogLeNet`). The Inception modules run
at 16 x 16 (3a, 3b), 8 x 8 (4a-4e) and 4 x 4 (5a, 5b) -- the ImageNet network's 28/14/7 grid scaled to CIFAR. Its
logits are scaled by a fixed 1/8 (as in Page's fast ResNet): the 1,024 pooled features are all positive, so one SGD
step at the fast schedules' learning rates would otherwise move the logits by several units and the run diverges.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlib import _base
from cnnlib._base import FeatureInfo
from cnnlib.data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD  # one home for the data set's statistics
from cnnlib.googlenet import BasicConv2d, Inception, InceptionAux
from cnnlib.registry import register_model

__all__ = ["VGGCifar", "GoogLeNetCifar", "KernelStudyNet", "vgg_cifar", "googlenet_cifar", "kernel_study_net",
           "whitening_filters"]


# ------------------------------------------------------------------------------------------------ VGG


class _FrozenScaleBatchNorm(nn.BatchNorm2d):
    """BatchNorm whose scale stays 1: only the shift (bias) learns.

    With a ReLU-like activation after it, the scale of a normalised map only changes the scale of the next
    layer's input, which the next BatchNorm removes again; freezing it saves parameters and makes the large
    learning rates of the speed recipes stable.
    """

    def __init__(self, num_features: int, *, momentum: float = 0.4, eps: float = 1e-12) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.weight.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        """BatchNorm2d's computation without its Python shape test, so that ``torch.fx`` (and
        ``create_feature_extractor``) can trace it: ``N x C x H x W`` -> the same shape."""
        if self.training:
            self.num_batches_tracked.add_(1)  # as nn.BatchNorm2d (momentum is set, so only bookkeeping)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                            self.momentum, self.eps)


class _DiracConv2d(nn.Conv2d):
    """A 3 x 3 convolution without bias whose first ``in_channels`` filters start as the identity."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size=3, padding=1, bias=False)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            n = min(self.in_channels, self.out_channels)
            nn.init.dirac_(self.weight[:n])


class _VGGStage(nn.Sequential):
    """``conv3x3 -> maxpool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU``: one VGG stage (pooling first, cheaper)."""

    def __init__(self, in_channels: int, out_channels: int, *, bn_momentum: float) -> None:
        super().__init__(
            _DiracConv2d(in_channels, out_channels),
            nn.MaxPool2d(2),
            _FrozenScaleBatchNorm(out_channels, momentum=bn_momentum),
            nn.GELU(),
            _DiracConv2d(out_channels, out_channels),
            _FrozenScaleBatchNorm(out_channels, momentum=bn_momentum),
            nn.GELU(),
        )


def whitening_filters(images: Tensor, kernel_size: int, *, eps: float = 5e-4) -> Tensor:
    """Filters that whiten ``kernel_size x kernel_size`` patches of ``images`` (ZCA-style eigen-basis).

    The covariance of all patches is diagonalised; each eigenvector divided by the square root of its eigenvalue
    is one filter, so the filter responses are decorrelated with unit variance. The negated filters are appended
    (so a following GELU keeps both signs of every component).

    Args:
        images: ``N x 3 x H x W`` normalised images.
        kernel_size: patch side.
        eps: added to the eigenvalues (keeps near-zero directions from exploding).

    Returns:
        ``2 * 3 * k * k x 3 x k x k`` filters (``k = kernel_size``) in float32.
    """
    c, k = images.shape[1], kernel_size
    patches = images.float().unfold(2, k, 1).unfold(3, k, 1)  # N x C x H' x W' x k x k
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)  # (N*H'*W') x (C*k*k)
    cov = patches.T @ patches / patches.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)  # ascending
    filters = (eigenvectors.T / torch.sqrt(eigenvalues + eps).unsqueeze(1)).flip(0)  # largest first
    filters = filters.reshape(c * k * k, c, k, k)
    return torch.cat([filters, -filters])


class VGGCifar(nn.Module):
    """A fast VGG-style network for 32 x 32 images (see the module docstring).

    Args:
        widths: channels of the three stages.
        num_classes: outputs of the classifier.
        whiten_kernel: side of the patch-whitening first convolution.
        bn_momentum: PyTorch BatchNorm momentum (weight of the *new* batch statistics); high, because a short
            run needs running statistics that follow the fast-changing weights.
        logit_scale: fixed factor on the logits; small logits keep the early, large-learning-rate steps stable.
    """

    def __init__(
        self,
        *,
        widths: tuple[int, int, int] = (64, 256, 256),
        num_classes: int = 10,
        whiten_kernel: int = 2,
        bn_momentum: float = 0.4,
        logit_scale: float = 1 / 9,
    ) -> None:
        super().__init__()
        whiten_width = 2 * 3 * whiten_kernel**2
        self.whiten_kernel = whiten_kernel
        self.logit_scale = logit_scale
        whiten = nn.Conv2d(3, whiten_width, kernel_size=whiten_kernel, padding=0, bias=True)
        whiten.weight.requires_grad_(False)  # set from the data by init_from_data(), then frozen
        nn.init.zeros_(whiten.bias)
        self.features = nn.Sequential(
            whiten,  # N x 24 x 31 x 31 (k = 2, no padding)
            nn.GELU(),
            _VGGStage(whiten_width, widths[0], bn_momentum=bn_momentum),  # N x 64 x 15 x 15
            _VGGStage(widths[0], widths[1], bn_momentum=bn_momentum),  # N x 256 x 7 x 7
            _VGGStage(widths[1], widths[2], bn_momentum=bn_momentum),  # N x 256 x 3 x 3
        )
        self.pool = nn.MaxPool2d(3)  # N x 256 x 1 x 1
        self.fc = nn.Linear(widths[2], num_classes, bias=False)
        self.feature_info: list[FeatureInfo] = [
            {"module": "features.1", "num_chs": whiten_width, "reduction": 1, "stage": "whiten"},
            {"module": "features.2", "num_chs": widths[0], "reduction": 2, "stage": "stage1"},
            {"module": "features.3", "num_chs": widths[1], "reduction": 4, "stage": "stage2"},
            {"module": "features.4", "num_chs": widths[2], "reduction": 8, "stage": "stage3"},
        ]
        # forward: the 2 x 2 whitening and three 2 x 2 pools give (H - 1) // 8 px, and the head's 3 x 3 max-pool
        # must give exactly 1 x 1 (the linear layer takes widths[2] features): 3 to 5 px, inputs of 25 to 48 px.
        self.pretrained_cfg = _base.pretrained_cfg(
            input_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD, num_classes=num_classes, dataset="cifar10",
            classes=CIFAR10_CLASSES, min_input_size=25, max_input_size=48,
        )

    @property
    def whitening_bias(self) -> nn.Parameter:
        """The bias of the patch-whitening layer (its weights stay frozen; airbench trains this bias for the first
        3 epochs only: ``TrainConfig.whiten_bias_epochs`` in :mod:`cnnlib.train`)."""
        return self.features[0].bias

    @torch.no_grad()
    def init_from_data(self, images: Tensor) -> None:
        """Set the first convolution to whiten the patches of ``images`` (``N x 3 x 32 x 32``, normalised).

        A few thousand training images are plenty; the trainer calls this once before the first step.
        """
        conv = self.features[0]
        conv.weight.copy_(whitening_filters(images.to(conv.weight.device), self.whiten_kernel))

    def forward_features(self, x: Tensor) -> Tensor:
        """``N x 3 x H x W`` (H, W >= 9: every stage keeps a pixel) -> ``N x 256 x (H - 1) // 8 x (W - 1) // 8``.

        The feature maps can be computed at any size from 9 px (the feature-map chapter looks at 96 px); the
        classifier (:meth:`forward_head`, and so :meth:`forward`) takes only inputs of 25 to 48 px.
        """
        x = _base.check_input(x, 9, 3, self.features[0].weight)
        return self.features(x)

    def forward_head(self, x: Tensor) -> Tensor:
        """Feature maps of 3 to 5 px (inputs of 25 to 48 px) -> ``N x num_classes`` logits.

        Raises:
            ValueError: other sizes (the 3 x 3 max-pool must leave exactly one pixel for the linear layer).
        """
        x = _base.check_map_size(x, 3, 5, "25 to 48")
        x = self.pool(x).flatten(1)  # N x 256
        return self.fc(x) * self.logit_scale

    def forward(self, x: Tensor) -> Tensor:
        """``N x 3 x 32 x 32`` images -> ``N x num_classes`` logits."""
        return self.forward_head(self.forward_features(x))


@register_model
def vgg_cifar(
    *, widths: tuple[int, int, int] = (64, 256, 256), num_classes: int = 10, bn_momentum: float = 0.4
) -> VGGCifar:
    """The fast VGG-style CIFAR-10 network (airbench-like; about 2 M parameters at the default widths).

    Args:
        widths: channels of the three stages.
        num_classes: outputs of the classifier.
        bn_momentum: PyTorch BatchNorm momentum.
    """
    return VGGCifar(widths=tuple(widths), num_classes=num_classes, bn_momentum=bn_momentum)  # type: ignore[arg-type]


# ------------------------------------------------------------------------- VGG's small-kernel experiment


class KernelStudyNet(nn.Module):
    """A plain VGG-style net for the experiment of the VGG paper's section 4.1, on 32 x 32 images.

    Simonyan & Zisserman compared their net B with a net in which each pair of 3 x 3 convolutions was replaced
    by a single 5 x 5 convolution (the same receptive field; top-1 error 7% higher). Here each of the three
    stages is either ``[conv3x3 -> BN -> ReLU] x 2`` (``kernel=3``) or ``conv5x5 -> BN -> ReLU`` (``kernel=5``),
    followed by a 2 x 2 max-pool; then global average pooling and a linear classifier. Both variants see 5 x 5
    pixels per stage; between C channels a 3 x 3 pair has fewer weights (``18 C^2`` against ``25 C^2``) and one
    more ReLU; the first convolution of a stage also changes the width (C/2 -> C), where one 5 x 5 costs less
    than two 3 x 3, so in total the 5 x 5 net here has about 10% fewer weights.

    Args:
        kernel: 3 (pairs of 3 x 3) or 5 (one 5 x 5 per pair).
        widths: channels of the three stages.
        num_classes: outputs of the classifier.
    """

    def __init__(self, *, kernel: int = 3, widths: tuple[int, int, int] = (64, 128, 256), num_classes: int = 10
                 ) -> None:
        super().__init__()
        if kernel not in (3, 5):
            raise ValueError(f"kernel must be 3 (pairs of 3x3) or 5 (one 5x5 per pair), got {kernel!r}")
        self.kernel = kernel
        layers: list[nn.Module] = []
        in_ch = 3
        for width in widths:
            convs = [(in_ch, width), (width, width)] if kernel == 3 else [(in_ch, width)]
            for c_in, c_out in convs:
                layers += [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out),
                           nn.ReLU(inplace=True)]
            layers.append(nn.MaxPool2d(2))  # 32 -> 16 -> 8 -> 4
            in_ch = width
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)
        self.pretrained_cfg = _base.pretrained_cfg(
            input_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD, num_classes=num_classes, dataset="cifar10",
            classes=CIFAR10_CLASSES, min_input_size=8,
        )

    def forward(self, x: Tensor) -> Tensor:
        """``N x 3 x H x W`` (H, W >= 8) -> ``N x num_classes`` logits."""
        x = self.features(_base.check_input(x, 8, 3, self.features[0].weight))  # N x 256 x H/8 x W/8
        return self.fc(self.avgpool(x).flatten(1))


@register_model
def kernel_study_net(*, kernel: int = 3, widths: tuple[int, int, int] = (64, 128, 256), num_classes: int = 10
                     ) -> KernelStudyNet:
    """The VGG paper's small-kernel experiment on CIFAR: pairs of 3 x 3 (``kernel=3``) or one 5 x 5 (``kernel=5``).

    See :class:`KernelStudyNet`.
    """
    return KernelStudyNet(kernel=kernel, widths=tuple(widths), num_classes=num_classes)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ GoogLeNet


# name: (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) -- Table 1 of the paper
_INCEPTION_WIDTHS: dict[str, tuple[int, int, int, int, int, int]] = {
    "inception3a": (64, 96, 128, 16, 32, 32),  # -> 256
    "inception3b": (128, 128, 192, 32, 96, 64),  # -> 480
    "inception4a": (192, 96, 208, 16, 48, 64),  # -> 512
    "inception4b": (160, 112, 224, 24, 64, 64),  # -> 512
    "inception4c": (128, 128, 256, 24, 64, 64),  # -> 512
    "inception4d": (112, 144, 288, 32, 64, 64),  # -> 528
    "inception4e": (256, 160, 320, 32, 128, 128),  # -> 832
    "inception5a": (256, 160, 320, 32, 128, 128),  # -> 832
    "inception5b": (384, 192, 384, 48, 128, 128),  # -> 1024
}


def _out_channels(widths: tuple[int, ...]) -> int:
    ch1, _, ch3, _, ch5, pool = widths
    return ch1 + ch3 + ch5 + pool


class GoogLeNetCifar(nn.Module):
    """GoogLeNet's Inception stack on a CIFAR stem (see the module docstring).

    Attribute names follow torchvision's ``GoogLeNet`` (``conv1``, ``inception3a`` ... ``inception5b``, ``fc``), so
    the Inception modules' weights line up with the ImageNet network's.

    Args:
        num_classes: outputs of the classifier.
        width_mult: multiplies every channel count (1.0: the paper's widths).
        dropout: dropout probability before the classifier.
        five_by_five: the paper's 5 x 5 kernel in branch 3 (``False``: torchvision's 3 x 3).
        aux_logits: build the two auxiliary classifiers (after inception4a and inception4d; used only by
            :meth:`forward_with_aux` in training).
        logit_scale: fixed factor on the logits (also the auxiliary ones). The classifier's input is 1,024 non-negative averages of ReLU
            maps (squared length about 200 at initialisation), and a gradient step of size ``lr`` on ``fc`` moves a
            logit by ``lr`` x that squared length x the batch's mean error for the class: several units at
            ``lr = 0.4``. The factor shrinks the move by ``logit_scale ** 2``. With 1.0 the recipe's
            learning rate of 0.4 diverges in the first epoch (a measured 11% test accuracy after 3 short epochs,
            against 39% with 1/8; rows in ``bench/results``, see ``bench/README.md``).
    """

    def __init__(
        self, *, num_classes: int = 10, width_mult: float = 1.0, dropout: float = 0.0, logit_scale: float = 0.125,
        five_by_five: bool = True, aux_logits: bool = False,
    ) -> None:
        super().__init__()
        self.logit_scale = logit_scale

        def w(c: int) -> int:
            return max(8, int(round(c * width_mult / 8)) * 8) if width_mult != 1.0 else c

        widths = {name: tuple(w(c) for c in spec) for name, spec in _INCEPTION_WIDTHS.items()}
        self.conv1 = BasicConv2d(3, w(64), kernel_size=3, padding=1)  # N x 64 x 32 x 32
        self.maxpool1 = nn.MaxPool2d(2)  # N x 64 x 16 x 16
        self.conv2 = BasicConv2d(w(64), w(192), kernel_size=3, padding=1)  # N x 192 x 16 x 16
        in_ch = w(192)
        aux_in: dict[str, int] = {}
        for name in ("inception3a", "inception3b"):
            setattr(self, name, Inception(in_ch, *widths[name], five_by_five=five_by_five))
            in_ch = _out_channels(widths[name])
        self.maxpool3 = nn.MaxPool2d(2)  # N x 480 x 8 x 8
        for name in ("inception4a", "inception4b", "inception4c", "inception4d", "inception4e"):
            setattr(self, name, Inception(in_ch, *widths[name], five_by_five=five_by_five))
            in_ch = _out_channels(widths[name])
            aux_in[name] = in_ch
        self.maxpool4 = nn.MaxPool2d(2)  # N x 832 x 4 x 4
        for name in ("inception5a", "inception5b"):
            setattr(self, name, Inception(in_ch, *widths[name], five_by_five=five_by_five))
            in_ch = _out_channels(widths[name])
        # the paper's heads (1x1 conv 128, FC 1024, dropout 0.7), on the 8 x 8 maps through a 4 x 4 average pool
        self.aux1 = InceptionAux(aux_in["inception4a"], num_classes) if aux_logits else None
        self.aux2 = InceptionAux(aux_in["inception4d"], num_classes) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # N x 1024 x 1 x 1
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, num_classes)
        self.feature_info: list[FeatureInfo] = [
            {"module": "conv2", "num_chs": w(192), "reduction": 2, "stage": "stem"},
            {"module": "inception3b", "num_chs": _out_channels(widths["inception3b"]), "reduction": 2,
             "stage": "inception3"},
            {"module": "inception4e", "num_chs": _out_channels(widths["inception4e"]), "reduction": 4,
             "stage": "inception4"},
            {"module": "inception5b", "num_chs": in_ch, "reduction": 8, "stage": "inception5"},
        ]
        self.pretrained_cfg = _base.pretrained_cfg(
            input_size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD, num_classes=num_classes, dataset="cifar10",
            classes=CIFAR10_CLASSES, min_input_size=8,
        )

    def _features(self, x: Tensor, with_aux: bool) -> tuple[Tensor, list[Tensor]]:
        x = _base.check_input(x, 8, 3, self.conv1.conv.weight)
        aux: list[Tensor] = []
        x = self.conv2(self.maxpool1(self.conv1(x)))  # N x 192 x 16 x 16
        x = self.inception3b(self.inception3a(x))  # N x 480 x 16 x 16
        x = self.maxpool3(x)  # N x 480 x 8 x 8
        x = self.inception4a(x)  # N x 512 x 8 x 8
        if with_aux and self.aux1 is not None:
            aux.append(self.aux1(x) * self.logit_scale)
        x = self.inception4b(x)  # N x 512 x 8 x 8
        x = self.inception4c(x)  # N x 512 x 8 x 8
        x = self.inception4d(x)  # N x 528 x 8 x 8
        if with_aux and self.aux2 is not None:
            aux.append(self.aux2(x) * self.logit_scale)
        x = self.inception4e(x)  # N x 832 x 8 x 8
        x = self.maxpool4(x)  # N x 832 x 4 x 4
        x = self.inception5b(self.inception5a(x))  # N x 1024 x 4 x 4
        return x, aux

    def forward_features(self, x: Tensor) -> Tensor:
        """``N x 3 x H x W`` (H, W >= 8) -> ``N x 1024 x H/8 x W/8`` (the auxiliary heads are not run)."""
        return self._features(x, False)[0]

    def forward_with_aux(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Main and auxiliary logits for training, in :class:`cnnlib.googlenet.GoogLeNet`'s order.

        The paper's training loss is ``ce(logits) + 0.3 * (ce(aux1) + ce(aux2))``.

        Returns:
            ``(logits, aux2, aux1)``, each ``N x num_classes``.

        Raises:
            RuntimeError: the model was built with ``aux_logits=False``.
        """
        if self.aux1 is None or self.aux2 is None:
            raise RuntimeError("this googlenet_cifar has no auxiliary heads (built with aux_logits=False)")
        x, (aux1, aux2) = self._features(x, True)
        return self.forward_head(x), aux2, aux1

    def forward_head(self, x: Tensor) -> Tensor:
        """Feature maps -> ``N x num_classes`` logits."""
        x = self.avgpool(x).flatten(1)  # N x 1024
        return self.fc(self.dropout(x)) * self.logit_scale

    def forward(self, x: Tensor) -> Tensor:
        """``N x 3 x 32 x 32`` images -> ``N x num_classes`` logits."""
        return self.forward_head(self.forward_features(x))


@register_model
def googlenet_cifar(
    *, num_classes: int = 10, width_mult: float = 1.0, dropout: float = 0.0, logit_scale: float = 0.125,
    five_by_five: bool = True, aux_logits: bool = False,
) -> GoogLeNetCifar:
    """GoogLeNet (Inception 3a-5b, paper widths) for 32 x 32 images (about 6 M parameters).

    Args:
        num_classes: outputs of the classifier.
        width_mult: multiplies every channel count.
        dropout: dropout probability before the classifier.
        logit_scale: fixed factor on the logits (see :class:`GoogLeNetCifar`).
        five_by_five: the paper's 5 x 5 kernel in the third branch (``False``: torchvision's 3 x 3).
        aux_logits: build the two auxiliary classifiers (see :meth:`GoogLeNetCifar.forward_with_aux`).
    """
    return GoogLeNetCifar(num_classes=num_classes, width_mult=width_mult, dropout=dropout, logit_scale=logit_scale,
                          five_by_five=five_by_five, aux_logits=aux_logits)
