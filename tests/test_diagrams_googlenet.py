"""The GoogLeNet diagram follows the model: layers, widths, shapes and aux attachments read from it.

References nobody here wrote: torchvision's GoogLeNet (the order of its layers and where its auxiliary heads run)
and the paper's Table 1 (Szegedy et al. 2014, arXiv:1409.4842): the nine modules' output depths.
"""

import matplotlib
import pytest
import torch
import torchvision

matplotlib.use("Agg")

import cnnlib  # noqa: E402
from cnnlib.analysis import paper_modules  # noqa: E402
from cnnlib.diagrams.googlenet import draw_googlenet, draw_module_pair, googlenet_layout  # noqa: E402

# Table 1: output depth of each Inception module
TABLE1_OUT = {"inception3a": 256, "inception3b": 480, "inception4a": 512, "inception4b": 512, "inception4c": 512,
              "inception4d": 528, "inception4e": 832, "inception5a": 832, "inception5b": 1024}


@pytest.fixture(scope="module")
def paper_net():
    torch.manual_seed(0)
    return cnnlib.googlenet(paper=True)


def test_layout_follows_the_model(paper_net):
    blocks = googlenet_layout(paper_net)
    inception = [b for b in blocks if b.kind == "inception"]
    assert {b.name: b.out_shape[0] for b in inception} == TABLE1_OUT
    assert [b.out_shape[1] for b in inception] == [28, 28, 14, 14, 14, 14, 14, 7, 7]
    # widths in the boxes are the model's, e.g. (4e): 256 | 160->320 | 32->128 | 128 (5x5 in the paper's network)
    label = next(b.label for b in blocks if b.name == "inception4e")
    assert label == "inception (4e)\n256 | 160\u2192320 | 32\u2192128 | 128"
    aux = {b.name: b.attaches_to for b in blocks if b.kind == "aux"}
    assert aux == {"aux1": "inception4a", "aux2": "inception4d"}
    assert blocks[0].name == "conv1" and blocks[-1].name == "fc" and blocks[-1].out_shape == (1000,)
    assert paper_net.training  # the model itself was not touched (a copy ran on the meta device)
    assert not any(p.is_meta for p in paper_net.parameters())


def test_layout_is_read_not_typed():
    """A change to the model shows in the diagram: torchvision's order, and a network without aux heads."""
    tv = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    main_order = [n for n, _ in tv.named_children() if not n.startswith("aux")]
    with torch.device("meta"):  # the configuration only; the layout runs on the meta device anyway
        lib = cnnlib.googlenet()
        small = cnnlib.googlenet(aux_logits=False, num_classes=10)
    blocks = googlenet_layout(lib)
    assert [b.name for b in blocks if b.kind != "aux"] == main_order
    assert next(b for b in blocks if b.name == "maxpool4").label == "max pool 2x2/2"  # torchvision's, not 3x3
    blocks = googlenet_layout(small, input_size=96)
    assert not [b for b in blocks if b.kind == "aux"] and blocks[-1].label == "linear 1024\u219210"
    assert next(b for b in blocks if b.name == "inception5b").out_shape == (1024, 3, 3)
    with pytest.raises(ValueError, match="Inception"):
        googlenet_layout(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3)))


def _texts_inside_boxes(fig):
    """Every text drawn inside a box (FancyBboxPatch) lies within it, measured by the renderer."""
    from matplotlib.patches import FancyBboxPatch

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        boxes = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, FancyBboxPatch)]
        for t in ax.texts:
            tb = t.get_window_extent(renderer)
            centre = ((tb.x0 + tb.x1) / 2, (tb.y0 + tb.y1) / 2)
            owners = [b for b in boxes if b.contains(*centre)]
            if owners and not any(b.x0 <= tb.x0 and tb.x1 <= b.x1 and b.y0 <= tb.y0 and tb.y1 <= b.y1 for b in owners):
                bad.append(t.get_text())
    return bad


def test_drawings_keep_their_text_inside_the_boxes(paper_net):
    import matplotlib.pyplot as plt

    from cnnlib import style

    style.apply()
    fig = draw_googlenet(paper_net)
    assert _texts_inside_boxes(fig) == []
    assert style.small_texts(fig, column_px=358) == []  # >= 10 px even in a phone's 358-px column
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    for name, out in TABLE1_OUT.items():
        assert f"inception ({name.removeprefix('inception')})" in texts and f"x{out}" in texts
    plt.close(fig)
    for name in ("inception3a", "inception5b"):
        fig = draw_module_pair(paper_modules()[name])
        assert _texts_inside_boxes(fig) == [], name
        assert style.small_texts(fig, column_px=358) == [], name
        assert len(fig.axes) == 2
        plt.close(fig)
