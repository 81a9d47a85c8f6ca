"""The book's one figure style: sizes, fonts and colours every figure in the chapters and in :mod:`cnnlib.widgets`
uses, set in this one place.

Figures are drawn at the width of the book's text column (about 740 px on a laptop, shown scaled down on a phone)
and rendered at twice their nominal resolution, so that they stay sharp on HiDPI screens. Fonts are sized so that
text is at least 10 px where the figure is shown. Colours read on white and on the dark theme's light output card.

Use::

    from cnnlib import style
    style.apply()                       # once per notebook (notebook.setup does it)
    fig, ax = plt.subplots(figsize=style.figsize(1.0, 0.45))
    style.legend_outside(ax)            # the legend beside the axes, off the data
    assert not style.small_texts(fig)   # every text >= 10 px as the book shows it

A figure wider than the column is shown scaled down to it, and its text with it: :func:`small_texts` takes that
into account. On a 390-px phone the column is about half as wide as on a laptop, so a column-wide figure's text
is shown at about half its size there; figures meant to be read on a phone are drawn narrower (``figsize(0.6)``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COLUMN_INCHES", "COLUMN_PX", "DPI", "FONT_SIZE", "MIN_TEXT_PX", "PALETTE", "SMALL_FONT_SIZE",
    "apply", "figsize", "legend_outside", "rc", "small_texts",
]

#: Width of the book's text column in inches at :data:`DPI` (about 740 px).
COLUMN_INCHES = 7.4
#: Nominal resolution of a figure (pixels per inch at 1x); images are written at 2x this.
DPI = 100
#: Base font size in points (at DPI 100 a point is 1.39 px: 10 pt is 14 px at full column width).
FONT_SIZE = 10.0
#: Smallest font any figure uses (tick labels, annotations inside diagrams).
SMALL_FONT_SIZE = 9.0
#: Width of the column in CSS pixels: a figure wider than this is shown scaled down.
COLUMN_PX = round(COLUMN_INCHES * DPI)
#: The smallest text a reader should meet, in CSS pixels at the size the figure is shown.
MIN_TEXT_PX = 10.0
#: Colour cycle: colour-blind-safe (Okabe & Ito), each readable on white and on the dark theme's card.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


def rc() -> dict[str, Any]:
    """The matplotlib rcParams of the house style."""
    from cycler import cycler

    return {
        "figure.dpi": DPI,
        "savefig.dpi": 2 * DPI,
        "figure.figsize": (COLUMN_INCHES, COLUMN_INCHES * 0.45),
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
        "savefig.bbox": "tight",
        "font.size": FONT_SIZE,
        "axes.titlesize": FONT_SIZE + 1,
        "axes.labelsize": FONT_SIZE,
        "xtick.labelsize": SMALL_FONT_SIZE,
        "ytick.labelsize": SMALL_FONT_SIZE,
        "legend.fontsize": SMALL_FONT_SIZE,
        "legend.frameon": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": False,
        "axes.prop_cycle": cycler(color=list(PALETTE)),
        "image.cmap": "viridis",
    }


def figsize(width: float = 1.0, aspect: float = 0.45) -> tuple[float, float]:
    """A figure size in inches: ``width`` as a fraction of the column, height ``aspect`` times the width."""
    w = COLUMN_INCHES * width
    return (w, w * aspect)


def apply() -> None:
    """Set the house style for matplotlib and, inside IPython, show inline figures at 2x (HiDPI)."""
    import matplotlib as mpl

    mpl.rcParams.update(rc())
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # pragma: no cover - only outside notebooks
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def legend_outside(ax: Any, *, where: str = "right", **kwargs: Any) -> Any:
    """Put ``ax``'s legend outside the axes, where it cannot cover the data.

    Args:
        ax: a matplotlib ``Axes`` with labelled artists.
        where: ``"right"`` (beside the axes, one entry a line) or ``"top"`` (above the axes, entries in a row).
        **kwargs: passed on to ``ax.legend`` (e.g. ``ncols``, ``title``).

    Returns:
        The ``Legend``.

    Raises:
        ValueError: an unknown ``where``.
    """
    if where == "right":
        place = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0)}
    elif where == "top":
        handles, _ = ax.get_legend_handles_labels()
        place = {"loc": "lower left", "bbox_to_anchor": (0.0, 1.02), "ncols": max(1, len(handles))}
    else:
        raise ValueError(f"where must be 'right' or 'top', got {where!r}")
    return ax.legend(**{**place, "borderaxespad": 0.0, **kwargs})


def small_texts(
    fig: Any, *, dpi: float = DPI, column_px: float = COLUMN_PX, minimum: float = MIN_TEXT_PX
) -> list[tuple[str, float]]:
    """The texts of ``fig`` smaller than ``minimum`` CSS pixels where the book shows the figure.

    The figure is shown at ``dpi`` CSS pixels per inch, cropped as it is saved (``bbox_inches="tight"``) and
    scaled down to ``column_px`` when wider.

    Args:
        fig: a matplotlib ``Figure`` (drawn here to lay out its text).
        dpi: CSS pixels per inch of the figure as shown.
        column_px: the width it may take, in CSS pixels.
        minimum: the smallest acceptable font size in CSS pixels.

    Returns:
        ``(text, size in px)`` for each visible, non-empty text below ``minimum``, smallest first.
    """
    import matplotlib as mpl
    from matplotlib.text import Text

    if not hasattr(fig.canvas, "get_renderer"):  # a bare Figure (no pyplot): give it the Agg canvas to lay out
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    drawn: list[Any] = []
    original = Text.draw

    def spy(self: Any, renderer: Any) -> Any:  # records the texts a draw really draws (not hidden tick labels)
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return original(self, renderer)

    Text.draw = spy  # type: ignore[method-assign]
    try:
        fig.draw_without_rendering()
    finally:
        Text.draw = original  # type: ignore[method-assign]
    renderer = fig.canvas.get_renderer()
    pad = mpl.rcParams["savefig.pad_inches"]
    shown_width = (fig.get_tightbbox(renderer).width + 2 * pad) * dpi
    shrink = min(1.0, column_px / shown_width) if shown_width > 0 else 1.0
    found = []
    for text in dict.fromkeys(drawn):
        px = text.get_fontsize() * dpi / 72 * shrink
        if px < minimum:
            found.append((text.get_text().strip(), round(float(px), 1)))
    return sorted(found, key=lambda t: t[1])
