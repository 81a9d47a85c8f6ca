"""How a training run looks while it runs: :class:`LivePlot` (loss and accuracy per epoch, redrawn in place in a
notebook) and :class:`ProgressBar` (tqdm over the optimiser steps, saved as its final line in a notebook).

The presentation layer: they show what :func:`cnnlib.train.fit` computes and compute nothing themselves.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

from cnnlib.train import Callback, TrainConfig

__all__ = ["LivePlot", "ProgressBar"]


class LivePlot(Callback):
    """A live plot of loss and accuracy per epoch in a notebook (a PNG redrawn in place).

    The figure is drawn with matplotlib's object API (no pyplot, so no duplicate figure at the end of the cell)
    and shown through an IPython display handle, which works in Jupyter, Colab and under nbconvert. Outside
    IPython nothing is shown; the last figure stays in :attr:`figure`.

    The figure follows the book's style (:mod:`cnnlib.style`'s sizes, set by ``cnnlib.notebook.setup``): column
    wide, legends above the panels (never over the curves), and saved at twice its resolution with its 1x size
    declared, so that it is sharp on HiDPI screens and its text keeps its size.

    Args:
        title: text above the plot.
        figsize: figure size in inches (default: the column's width).
    """

    def __init__(self, *, title: str = "", figsize: tuple[float, float] | None = None) -> None:
        from cnnlib import style

        self.title = title
        self.figsize = style.figsize(1.0, 0.42) if figsize is None else figsize
        self.figure: Any = None
        self._handle: Any = None
        self._total_epochs = 1

    def on_train_begin(self, config: TrainConfig, *, total_epochs: int) -> None:
        self._total_epochs = total_epochs
        self._handle = None

    def draw(self, history: Sequence[dict[str, Any]]) -> Any:
        """Draw ``history`` into a new figure and return it."""
        from matplotlib.figure import Figure

        from cnnlib import style

        fig = Figure(figsize=self.figsize, layout="constrained")
        ax_loss, ax_acc = fig.subplots(1, 2)
        epochs = [r["epoch"] for r in history]
        ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train (smoothed labels)")
        tested = [r for r in history if r.get("test_loss") is not None]
        ax_loss.plot([r["epoch"] for r in tested], [r["test_loss"] for r in tested], "s-", label="test")
        ax_loss.set(xlabel="epoch", ylabel="cross-entropy", xlim=(0.5, self._total_epochs + 0.5))
        style.legend_outside(ax_loss, where="top")
        ax_acc.plot(epochs, [100 * r["train_acc"] for r in history], "o-", label="train (augmented)")
        ax_acc.plot([r["epoch"] for r in tested], [100 * r["test_acc"] for r in tested], "s-", label="test")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", xlim=(0.5, self._total_epochs + 0.5))
        style.legend_outside(ax_acc, where="top")
        if self.title:
            fig.suptitle(self.title)
        self.figure = fig
        return fig

    def on_epoch_end(self, record: dict[str, Any], history: list[dict[str, Any]]) -> None:
        fig = self.draw(history)
        try:
            from IPython import get_ipython
            from IPython.display import Image, display
        except ImportError:  # pragma: no cover - plain Python without IPython
            return
        if get_ipython() is None:
            return
        from cnnlib import style

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=2 * style.DPI)
        image = Image(data=buf.getvalue(), format="png", retina=True)  # declares half the PNG's size: HiDPI
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)



class ProgressBar:
    """A ``tqdm.auto`` bar over the optimiser steps (:func:`cnnlib.train.fit` makes one when
    ``TrainConfig.progress`` is on).

    In a notebook tqdm draws an ipywidgets bar, and a saved notebook (or the static book built from it) keeps only
    that widget's first frame, "0%". So there the bar is displayed with a display id, and when it closes it is
    replaced by its final text line (steps, time, the last postfix), which is what a saved page then shows.

    Args:
        total: steps of the whole run.
        initial: steps already taken (a resumed run).
        desc: the bar's label.
    """

    def __init__(self, total: int, initial: int, desc: str) -> None:
        from tqdm import notebook as tqdm_notebook
        from tqdm.auto import tqdm

        self._handle: Any = None
        if issubclass(tqdm, tqdm_notebook.tqdm):
            from IPython.display import display

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", leave=True, display=False)
            self._handle = display(self.bar.container, display_id=True)
        else:
            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", leave=True)

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps."""
        self.bar.update(n)

    def set_postfix(self, postfix: dict[str, str]) -> None:
        """Show ``postfix`` (e.g. ``{"loss": "1.234"}``) after the bar."""
        self.bar.set_postfix(postfix)

    def final_line(self) -> str:
        """The bar as one line of text, e.g. ``VGGCifar: 100%|##########| 16/16 [00:12<00:00, ...]``."""
        return self.bar.format_meter(**{**self.bar.format_dict, "bar_format": None, "ncols": None})

    def close(self) -> None:
        """Finish the bar (in a notebook: replace the widget by its final text line)."""
        if self._handle is None:
            self.bar.close()
            return
        from IPython.display import Pretty

        line = self.final_line()
        self.bar.close()
        self._handle.update(Pretty(line))

