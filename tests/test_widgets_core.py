"""The interactive-view mechanism: live controls, caching, and the static HTML twin."""

import re

import pytest

import ipywidgets
from cnnlib.widgets import Choice, Explorer, Slider, Toggle


def make(calls):
    def render(layers, kernel, bn):
        calls.append((layers, kernel, bn))
        return f"<p>rf={1 + layers * (kernel - 1)} bn={bn}</p>"

    return Explorer(
        render,
        {"layers": Slider("layers", 1, 4, value=2), "kernel": Choice("kernel", [3, 5, 7]), "bn": Toggle("BN")},
        title="demo",
    )


def test_live_controls_rerender_and_cache():
    calls = []
    ex = make(calls)
    box = ex.widget
    assert isinstance(box, ipywidgets.VBox)
    assert "rf=5" in ex.current_html
    ex.controls["kernel"].value = 2  # index of 7 in the drop-down
    assert ex.values["kernel"] == 7
    out = ex._output.outputs[-1]["data"]["text/html"]
    assert "rf=13" in out
    ex.controls["layers"].value = 4
    assert "rf=25" in ex._output.outputs[-1]["data"]["text/html"]
    n = ex.render_count
    ex.controls["layers"].value = 2  # a view seen before: served from the cache
    assert ex.render_count == n
    assert "rf=13" in ex._output.outputs[-1]["data"]["text/html"]
    ex.controls["bn"].value = True
    assert "bn=True" in ex._output.outputs[-1]["data"]["text/html"]


def test_set_from_code_moves_widget_and_validates():
    ex = make([])
    _ = ex.widget
    ex.set(kernel=5, layers=3)
    assert ex.controls["kernel"].value == 1 and ex.controls["layers"].value == 3
    assert "rf=13" in ex.current_html
    with pytest.raises(ValueError, match="cannot take"):
        ex.set(kernel=4)
    with pytest.raises(ValueError, match="unknown control"):
        ex.set(depth=3)


def test_static_html_holds_every_view(monkeypatch):
    monkeypatch.delenv("CNNLIB_QUICK", raising=False)
    calls = []
    ex = make(calls)
    html = ex.static_html()
    keys = re.findall(r'class="cnnlib-view" data-key="([^"]+)"', html)
    assert len(keys) == 4 * 3 * 2 == len(set(keys))
    assert len(set(calls)) == 24
    # exactly the current view is visible
    assert html.count('class="cnnlib-view" data-key="1|0|0">') == 1  # layers=2 is index 1
    assert "<script>" in html and 'type="range"' in html and "<select" in html and 'type="checkbox"' in html


def test_static_html_quick_mode_renders_only_current(monkeypatch):
    monkeypatch.setenv("CNNLIB_QUICK", "1")
    calls = []
    html = make(calls).static_html()
    assert len(re.findall('class="cnnlib-view"', html)) == 1 and len(calls) == 1


def test_mimebundle_has_widget_and_static_html():
    ex = make([])
    bundle = ex._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id
    assert "cnnlib-explorer" in bundle["text/html"]


def test_bad_controls():
    with pytest.raises(ValueError):
        Choice("k", [3, 5], value=4)
    with pytest.raises(ValueError):
        Slider("n", 5, 1)
    with pytest.raises(ValueError, match="static"):
        Explorer(lambda n: str(n), {"n": Slider("n", 1, 100)}).static_html()
    ex = Explorer(lambda n: str(n), {"n": Slider("n", 1, 100, static=[1, 50])})
    assert "cnnlib-view" in ex.static_html()
    with pytest.raises(ValueError, match="max_static_views"):
        Explorer(lambda a, b: "", {"a": Slider("a", 1, 30), "b": Slider("b", 1, 30)}, max_static_views=100).static_html()


def test_figures_become_images():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def render(n):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot(range(n))
        return [fig, "<p>caption</p>"]

    ex = Explorer(render, {"n": Slider("n", 2, 3)})
    html = ex.current_html
    assert html.count("data:image/png;base64,") == 1 and "caption" in html
    assert plt.get_fignums() == []  # figures are closed after rendering


def test_forget_drops_only_matching_views():
    calls = []
    ex = make(calls)
    ex.html_for(kernel=3)
    ex.html_for(kernel=5)
    n = ex.render_count
    assert ex.forget(kernel=5) == 1
    ex.html_for(kernel=3)
    assert ex.render_count == n  # still cached
    ex.html_for(kernel=5)
    assert ex.render_count == n + 1  # rendered again
    with pytest.raises(ValueError, match="unknown control"):
        ex.forget(depth=1)


def test_set_of_several_controls_renders_once():
    calls = []
    ex = make(calls)
    _ = ex.widget
    n = len(calls)
    ex.set(kernel=7, layers=4, bn=True)  # three live controls move: one render, of the final setting
    assert calls[n:] == [(4, 7, True)]
    assert "rf=25 bn=True" in ex._output.outputs[-1]["data"]["text/html"]
    ex.controls["layers"].value = 3  # a reader's change still renders at once
    assert calls[-1] == (3, 7, True)


def test_a_failing_live_render_shows_its_error_in_the_view():
    def render(k):
        if k == 5:
            raise ZeroDivisionError("k=5 is not drawable")
        return f"<p>k={k}</p>"

    ex = Explorer(render, {"k": Choice("k", [3, 5, 7])})
    _ = ex.widget
    ex.controls["k"].value = 1  # the reader picks 5: the render fails inside the widget's callback
    out = ex._output.outputs[-1]["data"]["text/html"]
    assert "could not be drawn" in out and "ZeroDivisionError: k=5 is not drawable" in out and "k=3" not in out
    assert isinstance(ex.last_error, ZeroDivisionError)
    ex.controls["k"].value = 2  # and the view recovers
    assert "k=7" in ex._output.outputs[-1]["data"]["text/html"] and ex.last_error is None
    with pytest.raises(ZeroDivisionError):  # from code, the error is raised as usual
        ex.html_for(k=5)


@pytest.mark.parametrize("raw, quick", [("1", True), ("true", True), (" YES ", True), ("on", True), ("0", False),
                                        ("false", False), ("No", False), ("", False), (None, False)])
def test_quick_mode_values(monkeypatch, raw, quick):
    from cnnlib.notebook import is_quick

    if raw is None:
        monkeypatch.delenv("CNNLIB_QUICK", raising=False)
    else:
        monkeypatch.setenv("CNNLIB_QUICK", raw)
    assert is_quick() is quick


def test_quick_mode_garbage_is_an_error_not_full_mode(monkeypatch):
    from cnnlib.notebook import is_quick

    monkeypatch.setenv("CNNLIB_QUICK", "garbage")
    with pytest.raises(ValueError, match="CNNLIB_QUICK='garbage'.*1/true/yes/on or 0/false/no/off"):
        is_quick()


def test_one_html_table_helper():
    from cnnlib.widgets._html import html_table

    html = html_table([["a", "1"], ["b", "2"]], header=["name", "n"], footer=["total", "3"], align="lr",
                      row_styles=["", "font-weight:bold"])
    assert html.startswith("<table><thead><tr>") and html.count("<tr") == 4
    assert '<td style="text-align:right">2</td>' in html and '<tr style="font-weight:bold">' in html
    assert "<tfoot><tr><th" in html
    with pytest.raises(ValueError, match="same number of cells"):
        html_table([["a"], ["b", "c"]])
    with pytest.raises(ValueError, match="align"):
        html_table([["a", "b"]], align="lx")


def test_figures_are_stored_at_twice_the_size_they_declare():
    """HiDPI: the PNG holds 2 image pixels per CSS pixel; the <img> declares the 1x size, and never overflows."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from PIL import Image

    from cnnlib import style
    from cnnlib.widgets import figure_to_html

    fig = Figure(figsize=(3.0, 1.5))
    fig.add_axes((0, 0, 1, 1)).axis("off")
    html = figure_to_html(fig, dpi=80)
    png = Image.open(io.BytesIO(base64.b64decode(re.search(r'base64,([^"]+)"', html).group(1))))
    width, height = (int(re.search(rf'{k}="(\d+)"', html).group(1)) for k in ("width", "height"))
    assert png.size == (2 * width, 2 * height)
    assert png.mode == "P"  # a palette of at most 256 colours keeps pages of pre-rendered views light
    pad = 2 * matplotlib.rcParams["savefig.pad_inches"]  # bbox "tight" keeps the figure and adds its padding
    assert abs(width - (3.0 + pad) * 80) <= 1 and abs(height - (1.5 + pad) * 80) <= 1  # 80 CSS px per inch
    assert "max-width:100%" in html and "height:auto" in html and html.startswith('<img class="cnnlib-figure"')

    fig = Figure(figsize=(2.0, 1.0))
    fig.add_axes((0, 0, 1, 1)).axis("off")
    html = figure_to_html(fig)  # the house style's resolution by default
    assert abs(int(re.search(r'width="(\d+)"', html).group(1)) - (2.0 + pad) * style.DPI) <= 1


def test_static_views_share_one_box_so_its_size_never_jumps(monkeypatch):
    """Every view sits in the same grid cell; the hidden ones are invisible but keep their room."""
    monkeypatch.delenv("CNNLIB_QUICK", raising=False)
    ex = Explorer(lambda n: "<p>x</p>" * n, {"n": Slider("n", 1, 3)})
    html = ex.static_html()
    views = re.findall(r'<div class="cnnlib-view"[^>]*>', html)
    assert len(views) == 3
    assert sum('style="visibility:hidden"' in v for v in views) == 2 and "display:none" not in "".join(views)
    assert ".cnnlib-view{grid-area:1/1" in html and ".cnnlib-views{display:grid" in html
    assert 'v.style.visibility = on ? "" : "hidden"' in html  # the script only toggles visibility


def test_a_control_with_one_value_is_text_not_a_dead_control(monkeypatch):
    monkeypatch.delenv("CNNLIB_QUICK", raising=False)

    def render(k, cmap):
        return f"<p>{k} {cmap}</p>"

    ex = Explorer(render, {"k": Choice("k", [3, 5], static=[3]), "cmap": Choice("colour map", ["viridis"])})
    html = ex.static_html()
    assert "<select" not in html and 'type="range"' not in html  # neither offers a choice in the book
    assert 'colour map: <b>viridis</b>' in html and "k: <b>3</b>" in html
    assert len(re.findall('class="cnnlib-view"', html)) == 1
    box = ex.widget  # live: k is a real control (two values), the colour map is text
    assert set(ex.controls) == {"k"}
    assert any("colour map: <b>viridis</b>" in str(getattr(c, "value", "")) for c in box.children[0].children)
    ex.set(k=5, cmap="viridis")
    assert "5 viridis" in ex.current_html


def test_static_twin_colours_follow_the_theme():
    """No hard-coded grey text: the note and border take the book theme's variables (with fallbacks for Jupyter)."""
    html = Explorer(lambda k: str(k), {"k": Choice("k", [1, 2])}).static_html()
    assert "var(--pst-color-text-muted," in html and "var(--pst-color-border," in html
    assert "#777" not in html


def test_tile_grids_wrap_in_a_narrow_box_and_hold_at_most_their_columns():
    import numpy as np

    from cnnlib.widgets._tiles import grid, tile

    tiles = [tile(np.full((4, 4), float(i)), f"ch {i}", "viridis", width=84, max_px=16) for i in range(16)]
    html = grid(tiles, 8)
    assert "grid-template-columns:repeat(auto-fill,84px)" in html  # as many 84-px columns as the box has room for
    assert f"max-width:{8 * 84 + 7 * 6}px" in html  # ... and never more than 8
    assert html.count("<figure") == 16 and "max-width:100%" in tiles[0]  # images never overflow their tile
    assert "repeat(3,minmax(0,max-content))" in grid(["<b>x</b>"], 3)  # tiles of unknown width shrink together
