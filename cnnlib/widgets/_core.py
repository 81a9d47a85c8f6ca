"""One mechanism for every interactive view in the book, in all three hosts.

The same chapter is read in three places:

* **Jupyter** (ipywidgets 8) and **Colab** (ipywidgets 7.7.1): a kernel is running, so the controls are real
  ipywidgets and every change re-renders the view in Python.
* **The static HTML book**: no kernel. Widgets there could only draw a frozen snapshot, so each
  :class:`Explorer` also writes a self-contained ``text/html`` version of itself: plain HTML controls
  (``<select>``, ``<input type="range">``, checkbox) plus every view pre-rendered for a fixed grid of control
  values, and twenty lines of inline JavaScript that show the view matching the controls. The book's
  ``_config.yml`` tells myst-nb to prefer ``text/html`` over the widget view for the HTML builder
  (``nb_mime_priority_overrides``), so the page needs no widget manager, no require.js and no CDN.

An explorer is a function ``render(**values)`` plus a dict of controls::

    from cnnlib.widgets import Explorer, Choice, Slider, Toggle

    def render(layers, kernel):
        return f"<b>{layers} layers of {kernel}x{kernel}</b>"   # or a matplotlib Figure, or a list of both

    Explorer(render, {"layers": Slider("layers", 1, 5, value=2),
                      "kernel": Choice("kernel", [3, 5, 7])})

``render`` may return an HTML string, an object with ``_repr_html_`` (tables), a matplotlib ``Figure``
(shown as a PNG and closed), or a list/tuple of those (stacked). Rendered views are cached by control values,
so moving back to a setting already seen costs nothing. Only ipywidgets APIs present in both 7.7 and 8 are used.

In quick mode (``CNNLIB_QUICK=1``, the tests) only the current view is pre-rendered for the static HTML, to keep
the tests fast; the committed notebooks come from full runs and hold every view.
"""

from __future__ import annotations

import base64
import html as _html
import io
import itertools
import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..notebook import is_quick

__all__ = ["Choice", "Slider", "Toggle", "Explorer", "to_html", "figure_to_html"]

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


# --------------------------------------------------------------------------------------------- controls
@dataclass
class Choice:
    """A drop-down list.

    Args:
        label: text shown beside the control.
        options: the values to choose from, or ``(text, value)`` pairs.
        value: the initial value (default: the first option).
        static: the values pre-rendered for the static book (default: all options).
    """

    label: str
    options: Sequence[Any]
    value: Any = None
    static: Sequence[Any] | None = None

    def __post_init__(self) -> None:
        pairs = [o if isinstance(o, tuple) and len(o) == 2 else (str(o), o) for o in self.options]
        if not pairs:
            raise ValueError(f"Choice {self.label!r} needs at least one option")
        self._pairs: list[tuple[str, Any]] = [(str(t), v) for t, v in pairs]
        values = [v for _, v in self._pairs]
        if self.value is None:
            self.value = values[0]
        if self.value not in values:
            raise ValueError(f"Choice {self.label!r}: initial value {self.value!r} is not one of {values}")

    def values(self) -> list[Any]:
        """Every value the control can take."""
        return [v for _, v in self._pairs]

    def text(self, value: Any) -> str:
        """The label the reader sees for ``value``."""
        return next(t for t, v in self._pairs if v == value)

    def static_values(self) -> list[Any]:
        """The values pre-rendered for the static book."""
        return _check_static(self, self.values() if self.static is None else list(self.static))

    def make_widget(self) -> Any:
        import ipywidgets as w

        index = self.values().index(self.value)
        return w.Dropdown(
            options=[(t, i) for i, (t, _) in enumerate(self._pairs)],
            value=index,
            description=self.label,
            style={"description_width": "initial"},
        )

    def widget_value(self, raw: Any) -> Any:
        return self._pairs[raw][1]

    def set_widget(self, widget: Any, value: Any) -> None:
        widget.value = self.values().index(value)


@dataclass
class Slider:
    """An integer slider.

    Args:
        label: text shown beside the control.
        min, max, step: the range, as in ``range(min, max + 1, step)``.
        value: the initial value (default ``min``).
        static: the values pre-rendered for the static book (default: every value, at most 32).
    """

    label: str
    min: int
    max: int
    step: int = 1
    value: int | None = None
    static: Sequence[int] | None = None

    def __post_init__(self) -> None:
        if self.step <= 0 or self.max < self.min:
            raise ValueError(f"Slider {self.label!r}: need min <= max and step > 0, got {self.min}, {self.max}, {self.step}")
        if self.value is None:
            self.value = self.min
        if self.value not in self.values():
            raise ValueError(f"Slider {self.label!r}: initial value {self.value!r} is not in {self.values()}")

    def values(self) -> list[int]:
        """Every value the slider can take."""
        return list(range(self.min, self.max + 1, self.step))

    def text(self, value: Any) -> str:
        return str(value)

    def static_values(self) -> list[int]:
        if self.static is None and len(self.values()) > 32:
            raise ValueError(f"Slider {self.label!r} has {len(self.values())} values; give `static=` for the book")
        return _check_static(self, self.values() if self.static is None else list(self.static))

    def make_widget(self) -> Any:
        import ipywidgets as w

        return w.IntSlider(
            min=self.min, max=self.max, step=self.step, value=self.value,
            description=self.label, continuous_update=False, style={"description_width": "initial"},
        )

    def widget_value(self, raw: Any) -> Any:
        return int(raw)

    def set_widget(self, widget: Any, value: Any) -> None:
        widget.value = value


@dataclass
class Toggle:
    """A check box (``True``/``False``); both values are pre-rendered for the static book."""

    label: str
    value: bool = False
    static: Sequence[bool] | None = None

    def values(self) -> list[bool]:
        return [False, True]

    def text(self, value: Any) -> str:
        return "on" if value else "off"

    def static_values(self) -> list[bool]:
        return _check_static(self, [False, True] if self.static is None else list(self.static))

    def make_widget(self) -> Any:
        import ipywidgets as w

        return w.Checkbox(value=bool(self.value), description=self.label, indent=False)

    def widget_value(self, raw: Any) -> Any:
        return bool(raw)

    def set_widget(self, widget: Any, value: Any) -> None:
        widget.value = bool(value)


Control = Choice | Slider | Toggle


def _check_static(control: Any, values: list[Any]) -> list[Any]:
    allowed = control.values()
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"{type(control).__name__} {control.label!r}: static values {bad} are not among {allowed}")
    if control.value not in values:
        values = [control.value] + values
    return values


# --------------------------------------------------------------------------------------------- rendering
def figure_to_html(fig: Any, *, dpi: float | None = None, scale: int = 2, alt: str = "figure") -> str:
    """A matplotlib figure as an inline ``<img>`` (PNG, base64), sharp on HiDPI screens; the figure is closed.

    The PNG holds ``scale`` image pixels per CSS pixel, and the ``<img>`` declares its size in CSS pixels (half
    the PNG's at the default 2x), so text keeps the size it was drawn at and stays sharp. It is never wider than
    its box (``max-width:100%``, height following). It is stored with a palette of 256 colours, which keeps
    pages of pre-rendered views light.

    Args:
        fig: a matplotlib ``Figure``.
        dpi: CSS pixels per inch at which the figure is shown (default ``cnnlib.style.DPI``).
        scale: image pixels per CSS pixel (2: HiDPI).
        alt: the image's alternative text.

    Returns:
        An ``<img>`` element.
    """
    import matplotlib.pyplot as plt

    from .. import style

    dpi = style.DPI if dpi is None else dpi
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi * scale, bbox_inches="tight")
    plt.close(fig)
    png = _palette_png(buf.getvalue())
    width, height = _png_size(png)
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<img class="cnnlib-figure" alt="{_html.escape(alt)}" width="{round(width / scale)}" '
        f'height="{round(height / scale)}" '
        f'style="max-width:100%;height:auto" src="data:image/png;base64,{data}"/>'
    )


def _palette_png(png: bytes) -> bytes:
    """The PNG with at most 256 colours (transparency kept): a figure's flat colours and anti-aliased edges need no
    more, and an explorer pre-renders dozens of them at 2x; it is about a third of the size (and smaller than the
    same figure at 1x in full colour)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    if image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 255:
        image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA"):
        return png
    out = io.BytesIO()
    image.quantize(256, method=Image.Quantize.FASTOCTREE).save(out, format="PNG")
    return out.getvalue()


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels of a PNG (from its IHDR chunk)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def to_html(obj: Any, *, dpi: float | None = None) -> str:
    """Turn what a render function returned into an HTML fragment.

    Args:
        obj: an HTML string, an object with ``_repr_html_``, a matplotlib Figure, or a list/tuple of those.
        dpi: CSS pixels per inch of figures (default ``cnnlib.style.DPI``); they are stored at 2x.

    Returns:
        An HTML string.
    """
    if obj is None:
        return ""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, (list, tuple)):
        return "".join(f"<div>{to_html(o, dpi=dpi)}</div>" for o in obj)
    if hasattr(obj, "savefig"):
        return figure_to_html(obj, dpi=dpi)
    if hasattr(obj, "_repr_html_"):
        return obj._repr_html_() or ""
    return f"<pre>{_html.escape(str(obj))}</pre>"


def error_html(err: BaseException, values: Mapping[str, Any] | None = None) -> str:
    """What a view shows when its render failed: the error in one line, and the settings that caused it."""
    where = ", ".join(f"{k}={v!r}" for k, v in (values or {}).items())
    return (
        '<div class="cnnlib-error" style="color:#a00;padding:8px;border:1px solid #e4b4b4">'
        f"<b>This view could not be drawn</b> ({_html.escape(where)}): "
        f"{_html.escape(type(err).__name__)}: {_html.escape(str(err))}</div>"
    )


# --------------------------------------------------------------------------------------------- explorer
_JS = """
(function(){
  var root = document.getElementById(%(id)s);
  if (!root || root.dataset.ready) return; root.dataset.ready = "1";
  var inputs = root.querySelectorAll("[data-control]");
  function update(){
    var key = [];
    inputs.forEach(function(el){
      var v = el.type === "checkbox" ? (el.checked ? "1" : "0") : el.value;
      key.push(v);
      var out = root.querySelector("[data-shows='" + el.dataset.control + "']");
      if (out && el.dataset.labels) out.textContent = JSON.parse(el.dataset.labels)[+el.value];
    });
    key = key.join("|");
    var found = false;
    root.querySelectorAll(".cnnlib-view").forEach(function(v){
      var on = v.dataset.key === key; found = found || on;
      v.style.visibility = on ? "" : "hidden"; v.setAttribute("aria-hidden", on ? "false" : "true");
    });
    root.querySelector(".cnnlib-missing").style.display = found ? "none" : "";
  }
  inputs.forEach(function(el){ el.addEventListener("input", update); el.addEventListener("change", update); });
  update();
})();
"""

# The views are stacked in one grid cell and the hidden ones are only invisible (visibility), so the box is as tall
# and as wide as its largest view: it keeps its size when a control changes, with no script measuring anything.
# Colours come from the book theme's variables where there are any (light and dark mode), with fallbacks that read
# on white for Jupyter and Colab.
_CSS = (
    ".cnnlib-explorer{border:1px solid var(--pst-color-border,#ccc);border-radius:6px;padding:8px;margin:8px 0;"
    "max-width:100%;box-sizing:border-box}"
    ".cnnlib-controls{display:flex;flex-wrap:wrap;gap:6px 16px;align-items:center;margin-bottom:6px;font-size:0.9em}"
    ".cnnlib-controls label,.cnnlib-fixed{display:flex;gap:6px;align-items:center}"
    ".cnnlib-views{display:grid;grid-template-columns:minmax(0,1fr)}"
    ".cnnlib-view{grid-area:1/1;min-width:0;overflow-x:auto}"
    ".cnnlib-view img{max-width:100%;height:auto}"
    ".cnnlib-view td,.cnnlib-view th{padding:2px 8px}"
    ".cnnlib-note{color:var(--pst-color-text-muted,#595959);font-size:0.8em}"
)


class Explorer:
    """An interactive view: controls, a render function, and a static HTML twin for the book.

    Args:
        render: called as ``render(**values)`` with one keyword per control; returns what :func:`to_html` accepts.
        controls: control name -> :class:`Choice`, :class:`Slider` or :class:`Toggle`. The names are the
            keyword arguments of ``render``.
        title: optional heading shown above the controls.
        static: pre-render views for the static book (the product of every control's ``static_values``);
            ``False`` to skip (then the book shows only the current view).
        max_static_views: refuse to pre-render more views than this (each costs page weight).
        dpi: CSS pixels per inch of figures (default ``cnnlib.style.DPI``); they are stored at 2x for HiDPI
            screens (see :func:`figure_to_html`).

    Attributes:
        controls: name -> the live ipywidgets control, for code and tests (``ex.controls["k"].value = 5``); a
            control with a single value is shown as text and has no entry.
        widget: the ipywidgets box that Jupyter and Colab display.
        render_count: how many times ``render`` has run (the cache avoids repeats).
        last_error: the exception of the latest live render that failed (shown in the view), or ``None``.
    """

    def __init__(
        self,
        render: Callable[..., Any],
        controls: Mapping[str, Control],
        *,
        title: str | None = None,
        static: bool = True,
        max_static_views: int = 400,
        dpi: float | None = None,
    ) -> None:
        if not controls:
            raise ValueError("an Explorer needs at least one control")
        self._render = render
        self._specs: dict[str, Control] = dict(controls)
        self.title = title
        self.static = static
        self.max_static_views = max_static_views
        self.dpi = dpi
        self.render_count = 0
        self._cache: dict[tuple, str] = {}
        self._values: dict[str, Any] = {name: spec.value for name, spec in self._specs.items()}
        self._id = "cnnlib-" + uuid.uuid4().hex[:12]
        self._widget: Any = None
        self.controls: dict[str, Any] = {}
        self._output: Any = None
        self._holding = False  # set(): move several live controls, then render once
        self.last_error: BaseException | None = None

    # -- state ---------------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        """The current control values (a copy)."""
        return dict(self._values)

    def set(self, **values: Any) -> "Explorer":
        """Set control values from code (also moves the live controls). Returns ``self``."""
        for name, value in values.items():
            if name not in self._specs:
                raise ValueError(f"unknown control {name!r}; controls are {sorted(self._specs)}")
            if value not in self._specs[name].values():
                raise ValueError(f"control {name!r} cannot take {value!r}; choose from {self._specs[name].values()}")
        self._holding = True  # the live controls' observers update the values but do not render
        try:
            for name, value in values.items():
                if self._widget is not None and name in self.controls:
                    self._specs[name].set_widget(self.controls[name], value)  # triggers _on_change
                self._values[name] = value
        finally:
            self._holding = False
        self._refresh()  # one render for all the values
        return self

    def html_for(self, **values: Any) -> str:
        """The rendered HTML of the view for ``values`` (missing controls take their current value); cached."""
        full = {**self._values, **values}
        key = tuple(full[name] for name in self._specs)
        if key not in self._cache:
            self.render_count += 1
            self._cache[key] = to_html(self._render(**full), dpi=self.dpi)
        return self._cache[key]

    def forget(self, **values: Any) -> int:
        """Drop cached views whose controls have these values (all views if none given), e.g. after the data
        behind them changed. Returns how many were dropped."""
        unknown = set(values) - set(self._specs)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; controls are {sorted(self._specs)}")
        names = list(self._specs)
        stale = [k for k in self._cache if all(k[names.index(n)] == v for n, v in values.items())]
        for key in stale:
            del self._cache[key]
        return len(stale)

    @property
    def current_html(self) -> str:
        """The HTML of the view for the current control values."""
        return self.html_for()

    # -- live widget ---------------------------------------------------------------------------
    @property
    def widget(self) -> Any:
        """The ipywidgets view (built on first use)."""
        if self._widget is None:
            import ipywidgets as w

            shown = []
            for name, spec in self._specs.items():
                if len(spec.values()) < 2:
                    # A control with one value offers no choice: its value is shown as text, not as a dead control.
                    value = _html.escape(spec.text(self._values[name]))
                    shown.append(w.HTML(f"{_html.escape(spec.label)}: <b>{value}</b>"))
                    continue
                control = spec.make_widget()
                control.observe(self._on_change(name), names="value")
                self.controls[name] = control
                shown.append(control)
            self._output = w.Output()
            children = []
            if self.title:
                children.append(w.HTML(f"<b>{_html.escape(self.title)}</b>"))
            children += [w.HBox(shown, layout=w.Layout(flex_flow="row wrap")), self._output]
            self._widget = w.VBox(children)
            self._refresh()
        return self._widget

    def _on_change(self, name: str) -> Callable[[dict], None]:
        def handler(change: dict) -> None:
            self._values[name] = self._specs[name].widget_value(change["new"])
            if not self._holding:
                self._refresh()

        return handler

    def _refresh(self) -> None:
        if self._output is None:
            return
        from IPython.display import HTML

        # A render that fails here runs inside a widget callback, where an exception would be lost and the view
        # would keep showing the previous setting: show the error in the view instead (it is not cached).
        try:
            html = self.current_html
            self.last_error = None
        except Exception as err:  # noqa: BLE001 - any failure of a user's render function
            self.last_error = err
            html = error_html(err, self._values)
        # Output.outputs is set directly (not `with out:`) so that updates work without a kernel too (tests).
        self._output.outputs = ()
        self._output.append_display_data(HTML(html))

    # -- static twin ---------------------------------------------------------------------------
    def static_html(self) -> str:
        """The self-contained HTML version: controls, pre-rendered views, inline script."""
        names = list(self._specs)
        if self.static and not is_quick():
            grids = [self._specs[n].static_values() for n in names]
        else:
            grids = [[self._values[n]] for n in names]
        count = 1
        for g in grids:
            count *= len(g)
        if count > self.max_static_views:
            raise ValueError(
                f"{count} static views is more than max_static_views={self.max_static_views}; "
                "narrow the controls' `static=` values"
            )
        parts = [f'<div class="cnnlib-explorer" id="{self._id}"><style>{_CSS}</style>']
        if self.title:
            parts.append(f"<div><b>{_html.escape(self.title)}</b></div>")
        parts.append('<div class="cnnlib-controls">')
        for name, grid in zip(names, grids):
            spec = self._specs[name]
            label = _html.escape(spec.label)
            current = grid.index(self._values[name])
            if len(grid) == 1:
                # One pre-rendered value: no dead control in the book, the value as text (live in the notebook).
                parts.append(
                    f'<span class="cnnlib-fixed">{label}: <b>{_html.escape(spec.text(grid[0]))}</b>'
                    f'<input type="hidden" data-control="{name}" value="0"></span>'
                )
            elif isinstance(spec, Toggle) and sorted(grid) == [False, True]:
                checked = " checked" if self._values[name] else ""
                parts.append(f'<label>{label} <input type="checkbox" data-control="{name}"{checked}></label>')
            elif isinstance(spec, Slider):
                labels = _html.escape(json.dumps([spec.text(v) for v in grid]))
                parts.append(
                    f'<label>{label} <input type="range" min="0" max="{len(grid) - 1}" step="1" value="{current}" '
                    f'data-control="{name}" data-labels="{labels}"><span data-shows="{name}">'
                    f"{_html.escape(spec.text(grid[current]))}</span></label>"
                )
            else:
                opts = "".join(
                    f'<option value="{i}"{" selected" if i == current else ""}>{_html.escape(spec.text(v))}</option>'
                    for i, v in enumerate(grid)
                )
                parts.append(f'<label>{label} <select data-control="{name}">{opts}</select></label>')
        parts.append('</div><div class="cnnlib-views">')
        for combo in itertools.product(*[range(len(g)) for g in grids]):
            values = {n: grids[k][i] for k, (n, i) in enumerate(zip(names, combo))}
            key = "|".join(
                ("1" if values[n] else "0")
                if len(grids[k]) > 1 and isinstance(self._specs[n], Toggle) and sorted(grids[k]) == [False, True]
                else str(i)
                for k, (n, i) in enumerate(zip(names, combo))
            )
            shown = all(values[n] == self._values[n] for n in names)
            hidden = "" if shown else ' style="visibility:hidden" aria-hidden="true"'
            parts.append(f'<div class="cnnlib-view" data-key="{key}"{hidden}>{self.html_for(**values)}</div>')
        parts.append("</div>")
        parts.append(
            '<div class="cnnlib-missing cnnlib-note" style="display:none">This combination was not pre-computed '
            "for the online book; open the chapter in Colab or Jupyter to explore it live.</div>"
        )
        parts.append(
            '<div class="cnnlib-note">Static view: every setting above was computed when the chapter was run; '
            "run the notebook for the live version.</div>"
        )
        parts.append(f"<script>{_JS % {'id': json.dumps(self._id)}}</script></div>")
        return "".join(parts)

    # -- display -------------------------------------------------------------------------------
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        widget = self.widget
        return {
            WIDGET_VIEW_MIME: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id},
            "text/html": self.static_html(),
            "text/plain": repr(self),
        }

    def __repr__(self) -> str:
        settings = ", ".join(f"{n}={v!r}" for n, v in self._values.items())
        return f"Explorer({self.title or self._render.__name__}: {settings})"
