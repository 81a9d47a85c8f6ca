"""cnnlib.analysis.top_images: the ranking against brute force, the crops against the pixels they must hold."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlib.analysis.top_images import chance_purity, class_purity, rf_crops, top_activating

MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


def _picker() -> nn.Module:
    """One 3x3 convolution (no padding) whose channel 0 is the red pixel at the centre, channel 1 minus green."""
    conv = nn.Conv2d(3, 2, kernel_size=3, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 1.0
        conv.weight[1, 1, 1, 1] = -1.0
    return nn.Sequential(conv).eval()


def test_top_image_and_crop_are_the_brightest_pixel_and_its_neighbourhood() -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 200, (20, 3, 8, 8), dtype=torch.uint8, generator=gen)
    images[13, 0, 5, 2] = 255  # the reddest pixel of the set, inside the valid region
    images[:, 1] = images[:, 1].clamp(min=10)
    images[4, 1, :, :] = 0  # the only greenless image
    tops = top_activating(_picker(), images, ["0"], mean=MEAN, std=STD, k=3, batch_size=6)["0"]
    assert tops.rf.size == (3, 3)
    assert tops.images[0, 0] == 13
    assert tops.positions[0, 0].tolist() == [4, 1]  # the map is 6 x 6: pixel (5, 2) is its (4, 1)
    assert tops.values[0, 0] == pytest.approx(1.0)
    assert tops.images[1, 0] == 4 and tops.values[1, 0] == pytest.approx(0.0)
    crop = rf_crops(images, tops, 0)
    assert crop.shape == (3, 3, 3, 3)
    assert torch.equal(crop[0], images[13, :, 4:7, 1:4])


def test_ranking_equals_brute_force() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 5, 3, padding=1))
    model.eval()
    images = torch.randint(0, 256, (30, 3, 12, 12), dtype=torch.uint8)
    tops = top_activating(model, images, ["1", "3"], mean=(0.5,) * 3, std=(0.25,) * 3, k=4, batch_size=7)
    with torch.no_grad():
        x = (images.float() / 255 - 0.5) / 0.25
        deep = model(x)  # N x 5 x 6 x 6
    best = deep.flatten(2).max(dim=2).values.T  # 5 x N
    want_v, want_i = best.topk(4, dim=1)
    torch.testing.assert_close(tops["3"].values, want_v)
    assert torch.equal(tops["3"].images, want_i)
    assert tops["3"].rf.size[0] > tops["1"].rf.size[0]


def test_crops_outside_the_image_are_padding() -> None:
    images = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    images[1] = 200
    model = nn.Sequential(nn.Conv2d(3, 1, 5, padding=2, bias=False)).eval()
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    tops = top_activating(model, images, ["0"], mean=MEAN, std=STD, k=1)["0"]
    crop = rf_crops(images, tops, 0, fill=7)[0]  # 5 x 5 around the brightest image's maximum
    inside = crop != 7
    assert inside.any() and crop[inside].eq(255).all()


def test_purity_and_chance() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 4, 5, 6])
    tops = top_activating(_picker(), torch.randint(0, 255, (10, 3, 5, 5), dtype=torch.uint8), ["0"],
                          mean=MEAN, std=STD, k=3)["0"]
    tops.images = torch.tensor([[0, 1, 2], [0, 3, 5]])
    assert class_purity(tops, labels).tolist() == pytest.approx([1.0, 1 / 3])
    assert 1 / 3 <= chance_purity(labels, k=3) < 1.0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="uint8"):
        top_activating(_picker(), torch.zeros(4, 3, 8, 8), ["0"], mean=MEAN, std=STD)
    with pytest.raises(ValueError, match="k must be"):
        top_activating(_picker(), torch.zeros(4, 3, 8, 8, dtype=torch.uint8), ["0"], mean=MEAN, std=STD, k=5)
