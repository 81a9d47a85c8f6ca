"""The book's one figure style: sizes, fonts and colours every figure in the chapters and in :mod:`cnnlib.widgets`
uses, set in this one place.

Figures are drawn at the width of the book's text column (about 740 px on a laptop, shown scaled down on a phone)
and rendered at twice their nominal resolution, so that they stay sharp on HiDPI screens. Fonts are sized so that
text is at least 10 px where the figure is shown. Colours read on white and on the dark theme's light output card.

Use::

    from cnnlib import style
    style.apply()                          # once per notebook (cnnlib.notebook.setup does it)
    fig, ax = plt.subplots(figsize=style.figsize(1.0, 0.45))
"""

from __future__ import annotations

from typing import Any

__all__ = ["COLUMN_INCHES", "DPI", "FONT_SIZE", "PALETTE", "SMALL_FONT_SIZE", "apply", "figsize", "rc"]

#: Width of the book's text column in inches at :data:`DPI` (about 740 px).
COLUMN_INCHES = 7.4
#: Nominal resolution of a figure (pixels per inch at 1x); images are written at 2x this.
DPI = 100
#: Base font size in points (at DPI 100 a point is 1.39 px: 10 pt is 14 px at full column width).
FONT_SIZE = 10.0
#: Smallest font any figure uses (tick labels, annotations inside diagrams).
SMALL_FONT_SIZE = 9.0
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
