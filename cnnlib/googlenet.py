"""GoogLeNet (Inception v1): a deep network built from parallel-branch Inception modules.

Szegedy et al., *Going Deeper with Convolutions*, 2014 (arXiv:1409.4842).

Two variants, chosen with ``googlenet(paper=...)``:

``paper=False`` (default) — torchvision's GoogLeNet, exactly: same attribute names, same
``state_dict`` (ImageNet weights load with ``strict=True``), same outputs. It departs from
the paper in ways torchvision inherited from its training recipe:

* every convolution is :class:`BasicConv2d` = conv (no bias) + BatchNorm (eps 0.001) + ReLU;
* the "5x5" branch of every Inception module uses a **3x3** kernel (a known torchvision
  quirk, pytorch/vision#906, kept because its weights depend on it);
* no local response normalisation;
* ``maxpool4`` (between 4e and 5a) is 2x2/2 instead of the paper's 3x3/2;
* the auxiliary heads pool adaptively to 4 x 4 (any input size) and use BatchNorm;
* dropout 0.2 before the last layer.

``paper=True`` — the network as published (the paper's Figure 3 and Table 1):

* plain convolutions with biases followed by ReLU, no BatchNorm;
* true 5x5 convolutions in the third branch;
* LocalResponseNorm after the first max-pool and after the 3x3 ``conv3`` (before the second
  max-pool), as in Figure 3: conv 7x7/2, max-pool 3x3/2, LRN, conv 1x1, conv 3x3, LRN,
  max-pool 3x3/2. The paper gives no LRN constants; we use the BVLC Caffe reproduction's
  (size 5, alpha 1e-4, beta 0.75, k 1);
* every max-pool 3x3/2 (``maxpool4`` included);
* dropout 0.4 ("40% ratio of dropped outputs") before the linear classifier;
* auxiliary heads as published: average pool 5x5/3 (4 x 4 x 512 for 4a, 4 x 4 x 528 for 4d),
  1x1 conv with 128 filters + ReLU, FC 1024 + ReLU, dropout 70%, linear.

Departures of ``paper=True`` from the paper, kept deliberately:

* max-pools use ``ceil_mode=True`` with no padding (Caffe's rounding; what torchvision and
  the BVLC model do) so that a 224 x 224 input gives the paper's 112/56/28/14/7 sizes;
* the final "avg pool 7x7/1" is an ``AdaptiveAvgPool2d(1)`` (identical at 224 x 224, and it
  accepts other sizes);
* the paper does not state its initialisation; convolutions get He (Kaiming) normal
  initialisation so that the 22-layer network without BatchNorm trains from scratch;
* no softmax: ``forward`` returns logits (use ``cross_entropy``).

``forward`` always returns the main logits. The auxiliary classifiers only act in training
(the paper discards them at inference), so their logits come from an explicit call,
:meth:`GoogLeNet.forward_with_aux`, which requires ``model.train()``.

This file is a little over 500 lines because both variants live in one class, their differences named options
(listed above), and the building blocks (:class:`BasicConv2d`, :class:`Inception`, :class:`InceptionAux`) sit with
it as torchvision keeps them; the paper's "naive" module is in :mod:`cnnlib.inception_naive`.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _base
from ._base import FeatureInfo
from .registry import register_model

__all__ = ["BasicConv2d", "GoogLeNet", "Inception", "InceptionAux", "googlenet", "googlenet_paper"]


class BasicConv2d(nn.Module):
    """Convolution + (optional) BatchNorm + ReLU: GoogLeNet's convolution unit.

    With ``batch_norm=True`` (torchvision): ``Conv2d(bias=False)``, ``BatchNorm2d(eps=0.001)``,
    ReLU — state-dict keys ``conv.weight``, ``bn.weight``, ``bn.bias``, ``bn.running_mean``, ...
    With ``batch_norm=False`` (the paper): ``Conv2d(bias=True)`` and ReLU; ``bn`` is ``None``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, batch_norm: bool = True, **kwargs: Any) -> None:
        """Build the unit.

        Args:
            in_channels: input channels.
            out_channels: output channels.
            batch_norm: use BatchNorm (and no convolution bias).
            **kwargs: passed to ``nn.Conv2d`` (``kernel_size``, ``stride``, ``padding``).
        """
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=not batch_norm, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001) if batch_norm else None

    def forward(self, x: Tensor) -> Tensor:
        """``N x in_channels x H x W`` -> ``N x out_channels x H' x W'``."""
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True)


class Inception(nn.Module):
    """An Inception module: four parallel branches concatenated along channels.

    Branches: (1) 1x1 conv; (2) 1x1 reduce then 3x3 conv; (3) 1x1 reduce then 5x5 conv
    (3x3 in torchvision, see ``five_by_five``); (4) 3x3/1 max-pool then 1x1 projection.
    Output channels: ``ch1x1 + ch3x3 + ch5x5 + pool_proj``.

    The positional arguments are torchvision's ``Inception`` (and the columns of the paper's
    Table 1: "#1x1", "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5", "pool proj").
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        conv_block: Optional[Callable[..., nn.Module]] = None,
        *,
        five_by_five: bool = False,
        batch_norm: bool = True,
    ) -> None:
        """Build the module.

        Args:
            in_channels: input channels.
            ch1x1: channels of branch 1.
            ch3x3red: channels of branch 2's 1x1 reduction.
            ch3x3: channels of branch 2's 3x3 convolution.
            ch5x5red: channels of branch 3's 1x1 reduction.
            ch5x5: channels of branch 3's last convolution.
            pool_proj: channels of branch 4's 1x1 projection.
            conv_block: the convolution unit; default :class:`BasicConv2d` with
                ``batch_norm``. When given, ``batch_norm`` is ignored.
            five_by_five: ``True``: branch 3 uses a 5x5 kernel (padding 2) as in the paper;
                ``False``: 3x3 (padding 1) as in torchvision.
            batch_norm: BatchNorm in the default convolution unit (torchvision) or plain
                convolutions with biases (the paper).
        """
        super().__init__()
        if conv_block is None:
            conv_block = partial(BasicConv2d, batch_norm=batch_norm)
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv_block(in_channels, ch3x3red, kernel_size=1),
            conv_block(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        k = 5 if five_by_five else 3
        self.branch3 = nn.Sequential(
            conv_block(in_channels, ch5x5red, kernel_size=1),
            conv_block(ch5x5red, ch5x5, kernel_size=k, padding=k // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv_block(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``N x in_channels x H x W`` -> ``N x (ch1x1 + ch3x3 + ch5x5 + pool_proj) x H x W``."""
        branch1 = self.branch1(x)
        branch2 = self.branch2(x)
        branch3 = self.branch3(x)
        branch4 = self.branch4(x)
        return torch.cat([branch1, branch2, branch3, branch4], 1)


class InceptionAux(nn.Module):
    """An auxiliary classifier, attached to inception4a (aux1) and inception4d (aux2).

    pool -> 1x1 conv (128) + ReLU -> flatten (2048) -> FC 1024 + ReLU -> dropout -> FC.
    The pool is torchvision's adaptive 4 x 4 average (any input size) or, with
    ``adaptive_pool=False``, the paper's 5x5/3 average pool, which gives 4 x 4 only for a
    14-16 px map (a 224 x 224 network input).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        conv_block: Optional[Callable[..., nn.Module]] = None,
        dropout: float = 0.7,
        *,
        batch_norm: bool = True,
        adaptive_pool: bool = True,
    ) -> None:
        """Build the head.

        Args:
            in_channels: channels of the tapped map (512 for 4a, 528 for 4d).
            num_classes: outputs.
            conv_block: the convolution unit; default :class:`BasicConv2d` with ``batch_norm``.
            dropout: dropout probability after FC 1024 (the paper: 0.7).
            batch_norm: BatchNorm in the default convolution unit.
            adaptive_pool: ``True``: adaptive average pool to 4 x 4 (torchvision);
                ``False``: average pool 5x5, stride 3 (the paper).
        """
        super().__init__()
        if conv_block is None:
            conv_block = partial(BasicConv2d, batch_norm=batch_norm)
        self.adaptive_pool = adaptive_pool
        self.conv = conv_block(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``N x C x 14 x 14`` -> ``N x num_classes`` logits.

        Raises:
            ValueError: with the paper's pool, if the map does not pool to 4 x 4.
        """
        # aux1: N x 512 x 14 x 14, aux2: N x 528 x 14 x 14
        if self.adaptive_pool:
            x = F.adaptive_avg_pool2d(x, (4, 4))
        else:
            if x.size(2) < 14 or x.size(2) > 16 or x.size(3) < 14 or x.size(3) > 16:
                raise ValueError(
                    "the paper's auxiliary head (average pool 5x5/3 to 4 x 4) needs a 14-16 px map, i.e. a "
                    "network input of about N x 3 x 224 x 224; got a map of shape " + _base.format_shape(x)
                )
            x = F.avg_pool2d(x, kernel_size=5, stride=3)
        # N x C x 4 x 4
        x = self.conv(x)
        # N x 128 x 4 x 4
        x = torch.flatten(x, 1)
        # N x 2048
        x = F.relu(self.fc1(x), inplace=True)
        # N x 1024
        x = self.dropout(x)
        x = self.fc2(x)
        # N x num_classes
        return x


class GoogLeNet(nn.Module):
    """GoogLeNet; ``paper=False`` is torchvision's model, ``paper=True`` the 2014 paper's.

    Attributes:
        conv1, maxpool1, conv2, conv3, maxpool2, inception3a ... inception5b, avgpool,
            dropout, fc: as in torchvision (``conv2`` is the 1x1 reduction, ``conv3`` the
            3x3 convolution of the paper's second "convolution" row).
        lrn1, lrn2: ``LocalResponseNorm`` (paper) or ``None`` (torchvision).
        aux1, aux2: :class:`InceptionAux` heads, or ``None`` when ``aux_logits=False``.
        aux_logits: whether the model has auxiliary heads.
        transform_input: re-normalise ImageNet-normalised input to the (x - 0.5) / 0.5 scale
            that torchvision's ported GoogLeNet weights expect.
        paper: which variant this is.
        feature_info: the output of each stage before it is downsampled: ``conv1``
            (64 ch, reduction 2), ``conv3`` (or ``lrn2`` for the paper; 192, 4),
            ``inception3b`` (480, 8), ``inception4e`` (832, 16), ``inception5b`` (1024, 32).
            ``forward_features`` returns the last of these.
        min_input_size: smallest accepted height/width (15 for torchvision's variant, 31 for
            the paper's, whose ``maxpool4`` is 3x3).
        pretrained_name: ``"googlenet"`` or ``"googlenet_paper"`` when built by :func:`googlenet`.
        pretrained_cfg: what the network expects and returns (:class:`~cnnlib._base.PretrainedCfg`: 224 px,
            ImageNet's mean and standard deviation, ``num_classes``, the smallest input it accepts).
    """

    # Plain-Python metadata that TorchScript need not compile.
    __jit_ignored_attributes__ = ["feature_info", "pretrained_name", "pretrained_cfg"]

    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = True,
        transform_input: bool = False,
        init_weights: bool = True,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
        *,
        paper: bool = False,
    ) -> None:
        """Build the network (prefer the :func:`googlenet` builder).

        Args:
            num_classes: outputs of the classifiers.
            aux_logits: build the two auxiliary heads.
            transform_input: see the class docstring.
            init_weights: initialise weights (torchvision's truncated normal, std 0.01, for
                ``paper=False``; He-normal convolutions for ``paper=True``).
            dropout: dropout probability before ``fc``.
            dropout_aux: dropout probability in the auxiliary heads.
            paper: build the 2014 paper's network instead of torchvision's.
        """
        super().__init__()
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.paper = paper
        self.min_input_size: int = 31 if paper else 15
        self.pretrained_name = None
        self.pretrained_cfg = _base.pretrained_cfg(
            input_size=224, mean=_base.IMAGENET_MEAN, std=_base.IMAGENET_STD, num_classes=num_classes,
            dataset="imagenet", min_input_size=self.min_input_size,
        )

        conv_block = partial(BasicConv2d, batch_norm=not paper)
        inception_block = partial(Inception, five_by_five=paper, batch_norm=not paper)

        self.conv1 = conv_block(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0) if paper else None
        self.conv2 = conv_block(64, 64, kernel_size=1)
        self.conv3 = conv_block(64, 192, kernel_size=3, padding=1)
        self.lrn2 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0) if paper else None
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        # The paper's Table 1: in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
        self.inception3a = inception_block(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = inception_block(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = inception_block(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = inception_block(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = inception_block(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = inception_block(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = inception_block(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(3 if paper else 2, stride=2, ceil_mode=True)

        self.inception5a = inception_block(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = inception_block(832, 384, 192, 384, 48, 128, 128)

        if aux_logits:
            aux_block = partial(InceptionAux, dropout=dropout_aux, batch_norm=not paper, adaptive_pool=not paper)
            self.aux1: Optional[InceptionAux] = aux_block(512, num_classes)
            self.aux2: Optional[InceptionAux] = aux_block(528, num_classes)
        else:
            self.aux1 = None
            self.aux2 = None

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

        self.feature_info = [
            FeatureInfo(module="conv1", num_chs=64, reduction=2, stage="conv1"),
            FeatureInfo(module="lrn2" if paper else "conv3", num_chs=192, reduction=4, stage="conv2"),
            FeatureInfo(module="inception3b", num_chs=480, reduction=8, stage="inception3"),
            FeatureInfo(module="inception4e", num_chs=832, reduction=16, stage="inception4"),
            FeatureInfo(module="inception5b", num_chs=1024, reduction=32, stage="inception5"),
        ]

        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d) and paper:
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, (nn.Conv2d, nn.Linear)):
                    torch.nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                    if paper and m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    def _transform_input(self, x: Tensor) -> Tensor:
        if self.transform_input:
            x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
            x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
            x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
            x = torch.cat((x_ch0, x_ch1, x_ch2), 1)
        return x

    def _features(self, x: Tensor, with_aux: bool) -> tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
        x = _base.check_input(x, self.min_input_size, 3, self.conv1.conv.weight)
        x = self._transform_input(x)
        # N x 3 x 224 x 224
        x = self.conv1(x)
        # N x 64 x 112 x 112
        x = self.maxpool1(x)
        # N x 64 x 56 x 56
        if self.lrn1 is not None:
            x = self.lrn1(x)
        x = self.conv2(x)
        # N x 64 x 56 x 56
        x = self.conv3(x)
        # N x 192 x 56 x 56
        if self.lrn2 is not None:
            x = self.lrn2(x)
        x = self.maxpool2(x)
        # N x 192 x 28 x 28
        x = self.inception3a(x)
        # N x 256 x 28 x 28
        x = self.inception3b(x)
        # N x 480 x 28 x 28
        x = self.maxpool3(x)
        # N x 480 x 14 x 14
        x = self.inception4a(x)
        # N x 512 x 14 x 14
        aux1: Optional[Tensor] = None
        if with_aux and self.aux1 is not None:
            aux1 = self.aux1(x)
        x = self.inception4b(x)
        # N x 512 x 14 x 14
        x = self.inception4c(x)
        # N x 512 x 14 x 14
        x = self.inception4d(x)
        # N x 528 x 14 x 14
        aux2: Optional[Tensor] = None
        if with_aux and self.aux2 is not None:
            aux2 = self.aux2(x)
        x = self.inception4e(x)
        # N x 832 x 14 x 14
        x = self.maxpool4(x)
        # N x 832 x 7 x 7
        x = self.inception5a(x)
        # N x 832 x 7 x 7
        x = self.inception5b(x)
        # N x 1024 x 7 x 7
        return x, aux2, aux1

    def forward_features(self, x: Tensor) -> Tensor:
        """Everything up to and including inception5b (the aux heads are not run).

        Args:
            x: ``N x 3 x H x W`` with ``H, W >= min_input_size``.

        Returns:
            ``N x 1024 x H/32 x W/32`` (``N x 1024 x 7 x 7`` for 224 x 224 input).

        Raises:
            ValueError: if ``x`` is not such a batch.
        """
        return self._features(x, False)[0]

    def forward_head(self, x: Tensor) -> Tensor:
        """Global average pool, dropout and the linear classifier.

        Args:
            x: the output of :meth:`forward_features`, ``N x 1024 x h x w``.

        Returns:
            ``N x num_classes`` logits.
        """
        x = self.avgpool(x)
        # N x 1024 x 1 x 1
        x = torch.flatten(x, 1)
        # N x 1024
        x = self.dropout(x)
        x = self.fc(x)
        # N x num_classes
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Main logits, in training and in eval mode: ``forward_head(forward_features(x))``.

        Args:
            x: ``N x 3 x H x W``.

        Returns:
            ``N x num_classes`` logits. For the auxiliary logits use :meth:`forward_with_aux`.
        """
        return self.forward_head(self.forward_features(x))

    def forward_with_aux(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Main and auxiliary logits, for training (torchvision's order).

        The paper adds the auxiliary losses with weight 0.3 during training:
        ``loss = ce(logits) + 0.3 * (ce(aux1) + ce(aux2))``.

        Args:
            x: ``N x 3 x H x W`` (``paper=True``: about 224 x 224, see :class:`InceptionAux`).

        Returns:
            ``(logits, aux2, aux1)``, each ``N x num_classes``: the main classifier, the head
            on inception4d and the head on inception4a.

        Raises:
            RuntimeError: if the model has no auxiliary heads (``aux_logits=False``) or is
                not in training mode (the heads are a training device only; call
                ``model.train()``; in eval mode use ``forward``).
            ValueError: on a bad input shape.
        """
        if self.aux1 is None or self.aux2 is None:
            raise RuntimeError("this GoogLeNet has no auxiliary heads (built with aux_logits=False)")
        if not self.training:
            raise RuntimeError(
                "forward_with_aux is for training: call model.train() first (in eval mode use model(x); "
                "the auxiliary heads are discarded at inference)"
            )
        x, aux2, aux1 = self._features(x, True)
        assert aux1 is not None and aux2 is not None
        return self.forward_head(x), aux2, aux1


@register_model
def googlenet(
    *,
    num_classes: int = 1000,
    aux_logits: bool = True,
    paper: bool = False,
    transform_input: bool = False,
    dropout: Optional[float] = None,
) -> GoogLeNet:
    """GoogLeNet: torchvision's (6.6 M parameters) or, with ``paper=True``, the 2014 paper's.

    Args:
        num_classes: outputs of the classifiers.
        aux_logits: build the auxiliary heads (used only by ``forward_with_aux`` in training).
        paper: the network as published (5x5 branches, no BatchNorm, LRN, published aux
            heads); see the module docstring for every difference.
        transform_input: re-normalise ImageNet-normalised input as torchvision's pretrained
            GoogLeNet expects (torchvision's default without weights is ``False``, too).
        dropout: dropout before the classifier; ``None``: 0.2 (torchvision) or 0.4 (paper).

    Returns:
        The model, randomly initialised.
    """
    if dropout is None:
        dropout = 0.4 if paper else 0.2
    model = GoogLeNet(
        num_classes=num_classes, aux_logits=aux_logits, transform_input=transform_input, dropout=dropout, paper=paper
    )
    model.pretrained_name = "googlenet_paper" if paper else "googlenet"
    return model


@register_model
def googlenet_paper(
    *, num_classes: int = 1000, aux_logits: bool = True, transform_input: bool = False, dropout: float = 0.4
) -> GoogLeNet:
    """``googlenet(paper=True)``: GoogLeNet as published in 2014."""
    return googlenet(
        num_classes=num_classes, aux_logits=aux_logits, paper=True, transform_input=transform_input, dropout=dropout
    )
