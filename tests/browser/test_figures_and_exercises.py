"""What a reader sees of figures, interactive views and exercises: sharp figures, views that keep their size and
offer real choices, explorer text readable in dark mode, and answers that stay hidden until the reader asks.

Failures caused by a chapter's content (not by the site or by cnnlib) are listed in ``CONTENT_KNOWN`` in
``tests/browser/test_reader.py`` as strict xfails, each with its reason; fixing the chapter turns the xfail into a
failure that says which entry to remove.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import DESKTOP, site_html, site_pages
from .test_reader import _CONTRAST_JS, MIN_CONTRAST, _report, _verdict

pytestmark = pytest.mark.browser

PAGES = site_pages()
CHAPTERS = [p for p in PAGES if str(p).startswith("chapters/")]
# Image pixels per CSS pixel a figure needs to be sharp on a HiDPI (2x) screen; 1 px of rounding is allowed.
MIN_SCALE = 2.0
# Smaller images are icons or colour keys, not figures.
MIN_FIGURE_PX = 48


def _id(p: Any) -> str:
    return str(p)


def _params(pages: list[Path]) -> list[Any]:
    return pages or [pytest.param(None, marks=pytest.mark.skip("site not built"))]


def _with_explorers(rel: Path) -> bool:
    return 'class="cnnlib-explorer"' in site_html(rel)


def _with_figures(rel: Path) -> bool:
    html = site_html(rel)
    return 'class="bd-article"' in html and any(s in html for s in ("_images/", "cnnlib-figure", 'alt="figure"'))


# ----------------------------------------------------------------------------------------------- exercises
# In the page as it opens (nothing expanded): the code and output of every cell in the Exercises section, and every
# paragraph that starts a solution, must be out of sight, inside a dropdown (a {dropdown}, or a cell tagged
# hide-cell / remove-cell). A hide-input cell hides its code but shows its output: that is an answer in sight.
_EXERCISES_JS = """
() => {
  const heading = [...document.querySelectorAll('.bd-article section > :is(h1, h2, h3)')]
    .find(h => /^exercises\\b/i.test(h.textContent.trim()));
  if (!heading) return null;
  const section = heading.parentElement;
  const seen = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const text = el => (el.innerText || '').trim().split('\\n')[0].slice(0, 50);
  const shown = [];
  for (const part of section.querySelectorAll('.cell .cell_input, .cell .cell_output')) {
    if (!part.innerText.trim() && !part.querySelector('img, svg, table')) continue;
    if (part.closest('details:not([open])') || !seen(part)) continue;
    shown.push(`${part.classList.contains('cell_input') ? 'code' : 'output'} "${text(part)}"`);
  }
  for (const p of section.querySelectorAll('p, li > strong, dt')) {
    if (!/^(solution|answer)\\b/i.test(p.textContent.trim())) continue;
    if (p.closest('details:not([open]), summary') || !seen(p)) continue;
    shown.push(`text "${text(p)}"`);
  }
  return {cells: section.querySelectorAll('.cell').length, shown};
}
"""


@pytest.mark.parametrize("rel", _params(CHAPTERS), ids=_id)
def test_exercise_solutions_stay_in_their_dropdowns(shared_page: Any, rel: Path) -> None:
    """Each chapter ends with Exercises; no solution's code, output or text is in sight before the reader opens
    its Solution dropdown."""
    page, _ = shared_page(rel)
    found = page.evaluate(_EXERCISES_JS)
    problems = ["no Exercises section"] if found is None else found["shown"]
    _verdict("solutions", rel, problems, f"{rel}: in sight without opening a dropdown: {_report(problems)}")


def test_exercise_check_sees_what_it_should(open_page: Any) -> None:
    """The check is not vacuous: an output and a solution paragraph added outside any dropdown are found, the same
    inside a closed dropdown are not."""
    if not CHAPTERS:
        pytest.skip("site not built")
    page, _ = open_page(CHAPTERS[0])
    before = page.evaluate(_EXERCISES_JS)
    if before is None:
        pytest.skip(f"{CHAPTERS[0]} has no Exercises section")
    page.evaluate(
        """() => { const h = [...document.querySelectorAll('.bd-article section > :is(h1, h2, h3)')]
                     .find(h => /^exercises/i.test(h.textContent.trim()));
                   const add = html => { const d = document.createElement('div'); d.innerHTML = html;
                                         h.parentElement.appendChild(d); };
                   add('<div class="cell"><div class="cell_output"><pre>42 in sight</pre></div></div>');
                   add('<p>Solution: in sight too</p>');
                   add('<details><summary>Solution</summary><div class="cell"><div class="cell_output">'
                       + '<pre>hidden</pre></div></div><p>Solution: hidden</p></details>'); }"""
    )
    after = page.evaluate(_EXERCISES_JS)
    new = [s for s in after["shown"] if s not in before["shown"]]
    assert new == ['output "42 in sight"', 'text "Solution: in sight too"'], new


# ----------------------------------------------------------------------------------------------- figures
# Figures: images written by the notebooks (myst-nb copies them to _images/) and the explorers' figures
# (cnnlib.widgets.figure_to_html: class cnnlib-figure; alt "figure" in outputs written before it had the class). Maps and photos drawn with hard pixel edges on purpose
# (image-rendering: pixelated) are data, not figures, and are left out.
_SHARPNESS_JS = """
([minScale, minPx]) => {
  const bad = []; let checked = 0;
  for (const img of document.querySelectorAll('.bd-article img')) {
    const src = img.getAttribute('src') || '';
    if (!(src.includes('_images/') || img.classList.contains('cnnlib-figure') || img.alt === 'figure')) continue;
    if (/\\.svg($|\\?)|^data:image\\/svg/.test(src)) continue;
    if (['pixelated', 'crisp-edges'].includes(getComputedStyle(img).imageRendering)) continue;
    const w = img.getBoundingClientRect().width;
    if (w < minPx || !img.naturalWidth) continue;
    checked += 1;
    const scale = img.naturalWidth / w;
    if (scale < minScale - 1 / w - 0.01) {
      const name = src.startsWith('data:') ? 'explorer figure' : src.split('/').pop().slice(0, 16);
      bad.push(`${name}: ${img.naturalWidth} px drawn ${Math.round(w)} px wide (${scale.toFixed(2)}x)`);
    }
  }
  return {checked, bad};
}
"""


@pytest.mark.parametrize("rel", _params([p for p in PAGES if _with_figures(p)]), ids=_id)
def test_figures_are_sharp_on_hidpi_screens(shared_page: Any, rel: Path) -> None:
    """Every figure (PNG) holds at least 2 image pixels per CSS pixel it is drawn at, at 1366x900: sharp on a
    HiDPI screen (``cnnlib.style``: 2x PNGs that declare their 1x size). Every pre-rendered view is shown."""
    page, _ = shared_page(rel, viewport=DESKTOP, revealed=True)
    found = page.evaluate(_SHARPNESS_JS, [MIN_SCALE, MIN_FIGURE_PX])
    bad = found["bad"]
    _verdict("sharpness", rel, bad, f"{rel}: {len(bad)} of {found['checked']} figures below {MIN_SCALE}x: {_report(bad)}")


def test_sharpness_check_sees_what_it_should(open_page: Any) -> None:
    """A 1x image fails, a 2x image and a pixelated map pass."""
    if not PAGES:
        pytest.skip("site not built")
    page, _ = open_page("intro.html")
    page.evaluate(
        """() => new Promise(done => {
             const c = document.createElement('canvas'); c.width = 400; c.height = 100;
             const uri = c.toDataURL('image/png'); const a = document.querySelector('.bd-article'); let n = 0;
             for (const [w, style] of [[400, ''], [200, ''], [100, 'image-rendering: pixelated']]) {
               const img = new Image(); img.alt = 'figure'; img.style.cssText = `width:${w}px;${style}`;
               img.onload = () => { if (++n === 3) done(); }; img.src = uri; a.appendChild(img);
             } })"""
    )
    found = page.evaluate(_SHARPNESS_JS, [MIN_SCALE, MIN_FIGURE_PX])
    assert found["checked"] == 2 and len(found["bad"]) == 1 and "400 px drawn 400 px wide (1.00x)" in found["bad"][0]


# ----------------------------------------------------------------------------------------------- explorers
_CONTROLS_JS = """
() => [...document.querySelectorAll('.cnnlib-explorer')].flatMap((ex, i) =>
  [...ex.querySelectorAll('select[data-control], input[type=range][data-control]')].filter(el =>
    el.tagName === 'SELECT' ? el.options.length < 2 : +el.max <= +el.min
  ).map(el => `explorer ${i}: "${(el.closest('label') || el).innerText.trim().split('\\n')[0].slice(0, 30)}"`
    + ` offers ${el.tagName === 'SELECT' ? el.options.length : 1} choice`))
"""


@pytest.mark.parametrize("rel", _params([p for p in PAGES if _with_explorers(p)]), ids=_id)
def test_explorer_controls_offer_a_choice(shared_page: Any, rel: Path) -> None:
    """No drop-down with one option, no slider with one position: a value the book cannot change is text."""
    page, _ = shared_page(rel)
    bad = page.evaluate(_CONTROLS_JS)
    _verdict("choices", rel, bad, f"{rel}: {len(bad)} controls without a choice: {_report(bad)}")


_HEIGHTS_JS = """
async () => {
  const out = [];
  const explorers = [...document.querySelectorAll('.cnnlib-explorer')];
  for (const [i, ex] of explorers.entries()) {
    const heights = [ex.getBoundingClientRect().height];
    for (const el of ex.querySelectorAll('select[data-control], input[type=range][data-control], '
                                         + 'input[type=checkbox][data-control]')) {
      const n = el.tagName === 'SELECT' ? el.options.length : el.type === 'checkbox' ? 2 : +el.max - +el.min + 1;
      const start = el.type === 'checkbox' ? el.checked : el.value;
      for (let k = 0; k < n; k++) {
        if (el.type === 'checkbox') el.checked = !el.checked;
        else if (el.tagName === 'SELECT') el.selectedIndex = k;
        else el.value = +el.min + k;
        el.dispatchEvent(new Event('change'));
        heights.push(ex.getBoundingClientRect().height);
      }
      if (el.type === 'checkbox') el.checked = start; else el.value = start;
      el.dispatchEvent(new Event('change'));
    }
    const jump = Math.max(...heights) - Math.min(...heights);
    if (jump > 2) out.push(`explorer ${i}: height from ${Math.round(Math.min(...heights))} to `
                           + `${Math.round(Math.max(...heights))} px`);
  }
  return out;
}
"""


@pytest.mark.parametrize("rel", _params([p for p in PAGES if _with_explorers(p)]), ids=_id)
def test_explorers_keep_their_size_when_a_control_changes(open_page: Any, rel: Path) -> None:
    """Moving any control through all its values never changes an explorer's height (the page does not jump)."""
    page, _ = open_page(rel, viewport=DESKTOP)
    bad = page.evaluate(_HEIGHTS_JS)
    _verdict("stable height", rel, bad, f"{rel}: explorers change height: {_report(bad)}")


@pytest.mark.parametrize("rel", _params([p for p in PAGES if _with_explorers(p)]), ids=_id)
def test_explorer_text_is_readable_in_dark_mode(shared_page: Any, rel: Path) -> None:
    """Every text of every pre-rendered view, the controls and the notes: contrast >= 4.5:1 on the dark theme's
    output card, and the check reads the explorers' text (it is not vacuous)."""
    page, _ = shared_page(rel, theme="dark", revealed=True)
    texts = page.evaluate(
        "() => [...document.querySelectorAll('.cnnlib-explorer')].map(e => e.innerText.trim().length)"
    )
    assert texts and all(n > 0 for n in texts), f"{rel}: an explorer without text: {texts}"
    bad = page.evaluate(_CONTRAST_JS, [".cnnlib-explorer", MIN_CONTRAST, ""])
    _verdict("explorer contrast", rel, bad, f"{rel} (dark): {len(bad)} explorer texts below {MIN_CONTRAST}:1: "
             f"{_report(bad)}")
