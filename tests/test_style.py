"""The book's one figure style (cnnlib.style): sizes, legends off the data, and the legibility measure."""

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from cnnlib import style  # noqa: E402


@pytest.fixture(autouse=True)
def house_style():
    with matplotlib.rc_context():
        style.apply()
        yield
    plt.close("all")


def test_house_style_text_is_legible_at_column_width():
    """Every text the style itself sets is >= 10 px in a column-wide figure (fonts in points at DPI 100)."""
    fig, ax = plt.subplots(figsize=style.figsize(1.0))
    ax.plot([0, 1, 2], [3, 1, 2], label="train")
    ax.set(title="loss", xlabel="epoch", ylabel="cross-entropy")
    style.legend_outside(ax)
    assert style.small_texts(fig) == []
    assert style.COLUMN_PX == round(style.COLUMN_INCHES * style.DPI)
    assert matplotlib.rcParams["savefig.dpi"] == 2 * style.DPI  # HiDPI images


def test_small_texts_finds_small_text_and_figures_shrunk_into_the_column():
    fig, ax = plt.subplots(figsize=style.figsize(1.0))
    ax.plot([0, 1])
    ax.text(0.5, 0.5, "tiny", fontsize=5)  # 5 pt at 100 px per inch: 6.9 px
    assert style.small_texts(fig) == [("tiny", 6.9)]

    import io

    from PIL import Image

    wide, ax = plt.subplots(figsize=(2 * style.COLUMN_INCHES, 3))  # shown scaled down into the column
    ax.set_xlabel("epoch")
    found = dict(style.small_texts(wide))
    buf = io.BytesIO()
    wide.savefig(buf, format="png", dpi=style.DPI)  # the image as saved (cropped): its width in CSS px
    shown = Image.open(buf).size[0]
    assert shown > 1.5 * style.COLUMN_PX
    expected = style.FONT_SIZE * style.DPI / 72 * style.COLUMN_PX / shown
    assert found["epoch"] == pytest.approx(expected, abs=0.15)


def test_small_texts_ignores_what_is_not_drawn():
    fig, ax = plt.subplots(figsize=style.figsize(0.5))
    hidden = ax.text(0.5, 0.5, "hidden", fontsize=4)
    hidden.set_visible(False)
    ax.set_xticks([0.0, 0.5, 1.0], ["a", "b", "c"])
    ax.set_xlim(0.2, 0.8)  # ticks "a" and "c" fall outside the axes and are not drawn
    ax.tick_params(axis="x", labelsize=6)
    assert style.small_texts(fig) == [("b", 8.3)]  # 6 pt at 100 px per inch


@pytest.mark.parametrize("where", ["right", "top"])
def test_legend_outside_does_not_cover_the_axes(where):
    fig, ax = plt.subplots(figsize=style.figsize(1.0))
    for k in range(3):
        ax.plot([0, 1], [k, k + 1], label=f"line {k}")
    legend = style.legend_outside(ax, where=where)
    fig.draw_without_rendering()
    box, axes = legend.get_window_extent(), ax.get_window_extent()
    assert box.x0 >= axes.x1 - 1 if where == "right" else box.y0 >= axes.y1 - 1
    with pytest.raises(ValueError, match="right.*top"):
        style.legend_outside(ax, where="inside")
