"""The VGG diagram is read from the models: its boxes follow the configuration table, not typed labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from cnnlib import VGG_CONFIGS, alexnet, style
from cnnlib.diagrams.vgg import draw_columns, network_column, vgg_column, vgg_configs_figure

# The paper's Table 1, column D, typed from the paper (Simonyan & Zisserman 2014): the reference for the reader.
TABLE1_D = [
    ["conv3-64", "conv3-64"],
    ["conv3-128", "conv3-128"],
    ["conv3-256", "conv3-256", "conv3-256"],
    ["conv3-512", "conv3-512", "conv3-512"],
    ["conv3-512", "conv3-512", "conv3-512"],
]


def labels(column):
    return [[b.label for b in st.boxes] for st in column.stages]


def test_config_d_matches_the_papers_table_1():
    col = vgg_column("vgg16")
    assert col.name == "D"
    assert labels(col) == TABLE1_D
    assert [b.label for b in col.head] == ["FC-4096", "FC-4096", "FC-1000"]
    assert [st.out_size for st in col.stages] == [112, 56, 28, 14, 7]
    assert (col.weight_layers, col.params) == (16, 138_357_544)


def test_configurations_c_and_a_lrn():
    c = vgg_column("vgg16_c")
    assert [st.boxes[-1].label for st in c.stages[2:]] == ["conv1-256", "conv1-512", "conv1-512"]
    assert {st.boxes[-1].kind for st in c.stages[2:]} == {"conv1"}
    lrn = vgg_column("vgg11_lrn")
    assert lrn.name == "A-LRN" and labels(lrn)[0] == ["conv3-64", "LRN"]
    assert lrn.weight_layers == vgg_column("vgg11").weight_layers == 11


def test_a_changed_configuration_changes_the_drawing():
    configs = dict(VGG_CONFIGS, mine=[32, "M", 48, 48, "M", ("1x1", 512), "M"])
    col = vgg_column("mine", configs=configs)
    assert col.name == "mine"
    assert labels(col) == [["conv3-32"], ["conv3-48", "conv3-48"], ["conv1-512"]]
    assert [st.out_size for st in col.stages] == [112, 56, 28]
    fig = draw_columns([col])
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"conv3-32", "conv3-48", "conv1-512", "pool → 28"} <= texts
    assert not {"conv3-64", "conv3-512", "conv3-128"} & texts
    plt.close(fig)


def test_alexnet_column_is_read_from_its_modules():
    with torch.device("meta"):
        col = network_column(alexnet(), "AlexNet")
    assert labels(col) == [["conv11-64 /4"], ["conv5-192"], ["conv3-384", "conv3-256", "conv3-256"]]
    assert [st.out_size for st in col.stages] == [27, 13, 6]
    assert col.weight_layers == 8


def test_whole_figure_has_one_column_per_network():
    fig = vgg_configs_figure()
    headings = [t.get_text() for t in fig.axes[0].texts if t.get_fontweight() == "bold"]
    assert headings == ["AlexNet", "A", "A-LRN", "B", "C", "D", "E"]
    assert style.small_texts(fig) == []  # every label >= 10 px at the column's width
    plt.close(fig)


def test_bad_model_fails_at_the_door():
    with pytest.raises(ValueError, match="features"):
        network_column(nn.Linear(2, 2), "x")
