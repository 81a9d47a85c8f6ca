"""What a channel looks for: the images of a data set that excite it most, cropped to its receptive field.

Zeiler & Fergus (2014, "Visualizing and understanding convolutional networks", arXiv:1311.2901) show, for a
channel of a trained network, the dataset patches that give its strongest activations. A late map of a 32-pixel
network is 3 x 3 pixels, too coarse to look at; its top patches say what it answers to. This module runs a model
over a set of images, keeps each channel's strongest response per image (the spatial maximum and where it is),
and returns the top images per channel with the input box that the maximum's receptive field covers
(:meth:`cnnlib.analysis.receptive_field.ReceptiveField.input_box`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from .features import capture_features
from .receptive_field import ReceptiveField, receptive_field_details

__all__ = ["ChannelTops", "top_activating", "rf_crops", "class_purity", "chance_purity"]


@dataclass
class ChannelTops:
    """The strongest responses of every channel of one layer over a set of images.

    Attributes:
        layer: the module name.
        rf: its receptive field (size, jump and start, in input pixels).
        values: ``C x k`` the channel's ``k`` largest spatial maxima, strongest first.
        images: ``C x k`` the indices of those images.
        positions: ``C x k x 2`` the ``(row, col)`` of each maximum in the map.
    """

    layer: str
    rf: ReceptiveField
    values: Tensor
    images: Tensor
    positions: Tensor


@torch.no_grad()
def top_activating(
    model: nn.Module,
    images: Tensor,
    layers: Sequence[str],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    k: int = 9,
    batch_size: int = 500,
) -> dict[str, ChannelTops]:
    """Each channel's ``k`` most exciting images (by the spatial maximum of its map) for every layer.

    Args:
        model: the network, in eval mode.
        images: ``N x 3 x S x S`` ``uint8`` images at the model's input size.
        layers: module names whose maps to rank (e.g. the ``feature_info`` modules).
        mean, std: the input normalisation.
        k: images kept per channel.
        batch_size: images per forward pass.

    Returns:
        Per layer, a :class:`ChannelTops`.

    Raises:
        ValueError: ``images`` is not an ``N x 3 x S x S`` ``uint8`` batch, or ``k`` exceeds ``N``.
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected N x 3 x S x S uint8 images, got {images.dtype} {tuple(images.shape)}")
    if not 1 <= k <= len(images):
        raise ValueError(f"k must be between 1 and the number of images ({len(images)}), got {k}")
    device = next(model.parameters()).device
    m = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=device).view(1, 3, 1, 1)
    maxima: dict[str, list[Tensor]] = {n: [] for n in layers}
    where: dict[str, list[Tensor]] = {n: [] for n in layers}
    widths: dict[str, int] = {}
    for start in range(0, len(images), batch_size):
        x = (images[start:start + batch_size].to(device).float() / 255 - m) / s
        with capture_features(model, list(layers)) as feats:
            model(x)
        for n in layers:
            f = feats[n].float().flatten(2)  # B x C x (h*w)
            widths[n] = feats[n].shape[-1]
            v, i = f.max(dim=2)
            maxima[n].append(v.cpu())
            where[n].append(i.cpu())
    size = images.shape[-1]
    rfs = receptive_field_details(model, size, names=layers)
    out = {}
    for n in layers:
        v = torch.cat(maxima[n]).T  # C x N
        i = torch.cat(where[n]).T
        top_v, top_idx = v.topk(k, dim=1)
        flat = i.gather(1, top_idx)
        pos = torch.stack([flat // widths[n], flat % widths[n]], dim=-1)
        out[n] = ChannelTops(layer=n, rf=rfs[n], values=top_v, images=top_idx, positions=pos)
    return out


def rf_crops(images: Tensor, tops: ChannelTops, channel: int, *, fill: int = 128) -> Tensor:
    """The receptive-field boxes of one channel's top images, padded with ``fill`` where they leave the image.

    Args:
        images: the ``N x 3 x S x S`` ``uint8`` images :func:`top_activating` ranked.
        tops: that function's result for one layer.
        channel: the channel.
        fill: grey level of the parts of a box outside the image (the padding the network saw as zeros).

    Returns:
        ``k x 3 x R x R`` ``uint8``, ``R`` the receptive field's size.
    """
    size = images.shape[-1]
    r = tops.rf.size[0]
    crops = []
    for img_idx, (row, col) in zip(tops.images[channel].tolist(), tops.positions[channel].tolist()):
        (y0, y1), (x0, x1) = tops.rf.input_box(row, col)
        crop = torch.full((3, r, r), fill, dtype=torch.uint8)
        cy0, cy1, cx0, cx1 = max(y0, 0), min(y1, size), max(x0, 0), min(x1, size)
        if cy1 > cy0 and cx1 > cx0:
            crop[:, cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = images[img_idx, :, cy0:cy1, cx0:cx1]
        crops.append(crop)
    return torch.stack(crops)


def class_purity(tops: ChannelTops, labels: Tensor) -> Tensor:
    """Per channel, the share of its top images that belong to their most common class (``C`` floats).

    With ten balanced classes, chance is about ``1/10`` (a little more for small ``k``); a channel whose top
    images are all cars has purity 1.
    """
    lab = labels[tops.images]  # C x k
    return torch.tensor([Counter(row.tolist()).most_common(1)[0][1] / lab.shape[1] for row in lab])


def chance_purity(labels: Tensor, k: int = 9, *, draws: int = 2000, seed: int = 0) -> float:
    """The mean :func:`class_purity` of ``k`` images drawn at random from ``labels`` (what no selectivity gives)."""
    gen = torch.Generator().manual_seed(seed)
    rows = labels[torch.randint(len(labels), (draws, k), generator=gen)].tolist()
    return sum(Counter(r).most_common(1)[0][1] for r in rows) / (draws * k)
