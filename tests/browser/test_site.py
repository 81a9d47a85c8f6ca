"""The built book in a real browser: offline, no JS errors, working interactive views, MathJax, Colab links.

Pages and chapters are discovered from the built site and from ``_toc.yml``, so the tests keep covering the book
as chapters are added.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import book_config, site_html, site_pages, toc_chapters

pytestmark = pytest.mark.browser

# Chapters that must have interactive views, and how many at least (issues 3, 5, 6, 8). A chapter not listed
# here may have none.
MIN_EXPLORERS = {"01_cost": 1, "02_vgg": 2, "03_inception": 2, "05_feature_maps": 1}

PAGES = site_pages()
CHAPTERS = toc_chapters()
# Sphinx wraps every formula in an element of class "math" for MathJax to typeset.
MATH_RE = re.compile(r'class="math[ "]')


def _id(p: Any) -> str:
    return str(p)


@pytest.mark.parametrize("rel", PAGES or [pytest.param(None, marks=pytest.mark.skip("site not built"))], ids=_id)
def test_page_is_self_contained_and_error_free(shared_page: Any, rel: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page, visit = shared_page(rel)
    if MATH_RE.search(site_html(rel)):
        # MathJax (served from _static/mathjax) typesets every formula; none fails.
        try:
            page.wait_for_function(
                "() => document.querySelector('mjx-container') && !document.querySelector('.math:not(:has(mjx-container))')",
                timeout=15_000,
            )
        except PlaywrightTimeout:
            pytest.fail(f"{rel}: MathJax did not typeset the formulas; " + "; ".join(visit.problems()), pytrace=False)
        assert page.locator("mjx-merror").count() == 0, f"{rel}: MathJax could not typeset a formula"
    page.wait_for_timeout(300)
    assert not visit.problems(), f"{rel}: " + "; ".join(visit.problems())


def test_some_page_has_math() -> None:
    """The MathJax check above is not vacuous: the intro has a formula."""
    if not PAGES:
        pytest.skip("site not built")
    with_math = [p for p in PAGES if MATH_RE.search(site_html(p))]
    assert Path("intro.html") in with_math


def test_every_toc_chapter_is_built() -> None:
    if not PAGES:
        pytest.skip("site not built")
    missing = [c for c in CHAPTERS if Path(c + ".html") not in PAGES]
    assert not missing, f"chapters in _toc.yml without a page: {missing}"


def test_min_explorer_table_names_real_chapters() -> None:
    """A typo in MIN_EXPLORERS must not silently skip a chapter's check."""
    assert set(MIN_EXPLORERS) <= {"01_cost", "02_vgg", "03_inception", "04_training", "05_feature_maps"}


# ----------------------------------------------------------------------------------------------- explorers
_STATE_JS = """
root => {
  // A view is hidden with display: none (older outputs) or, stacked in one grid cell, with visibility: hidden.
  const views = [...root.querySelectorAll('.cnnlib-view')].filter(v => {
    const s = getComputedStyle(v); return s.display !== 'none' && s.visibility !== 'hidden'; });
  const missing = root.querySelector('.cnnlib-missing');
  return {
    keys: views.map(v => v.dataset.key),
    html: views.map(v => v.innerHTML).join(''),
    missing: !!missing && getComputedStyle(missing).display !== 'none',
  };
}
"""


def _state(explorer: Any) -> dict[str, Any]:
    state = explorer.evaluate(_STATE_JS)
    state["digest"] = hashlib.sha1(state.pop("html").encode()).hexdigest()
    return state


def _change(control: Any) -> bool:
    """Move one control to another value the way a reader would; False when it has only one value."""
    tag = control.evaluate("el => el.tagName.toLowerCase() + ':' + (el.type || '')")
    if tag.startswith("select"):
        options = control.locator("option")
        if options.count() < 2:
            return False
        current = control.evaluate("el => el.selectedIndex")
        control.select_option(index=(current + 1) % options.count())
    elif tag == "input:checkbox":
        control.click()
    elif tag == "input:hidden":
        return False  # a value the book shows as text: one pre-computed value, nothing to move
    elif tag == "input:range":
        lo, hi, value = control.evaluate("el => [+el.min, +el.max, +el.value]")
        if hi <= lo:
            return False
        control.focus()
        control.press("ArrowRight" if value < hi else "ArrowLeft")
    else:
        raise AssertionError(f"unknown control {tag}")
    return True


def _chapter_params() -> list[Any]:
    if not CHAPTERS:
        return [pytest.param(None, marks=pytest.mark.skip("no chapters in _toc.yml yet"))]
    return CHAPTERS


@pytest.mark.parametrize("chapter", _chapter_params())
def test_interactive_views_respond_to_controls(open_page: Any, chapter: str) -> None:
    page, visit = open_page(chapter + ".html")
    name = Path(chapter).name
    explorers = page.locator(".cnnlib-explorer")
    count = explorers.count()
    assert count >= MIN_EXPLORERS.get(name, 0), f"{name}: {count} interactive views, expected at least {MIN_EXPLORERS[name]}"
    ids = page.evaluate("() => [...document.querySelectorAll('.cnnlib-explorer')].map(e => e.id)")
    assert len(set(ids)) == len(ids), f"{name}: explorers share an id: {ids}"
    for i in range(count):
        explorer = explorers.nth(i)
        explorer.scroll_into_view_if_needed()
        state = _state(explorer)
        assert len(state["keys"]) == 1 and not state["missing"], f"{name} explorer {i}: initial state {state}"
        controls = explorer.locator("[data-control]")
        assert controls.count() >= 1, f"{name} explorer {i}: no controls"
        new_views = 0
        for j in range(controls.count()):
            if not _change(controls.nth(j)):
                continue
            after = _state(explorer)
            label = f"{name} explorer {i} control {j}"
            assert after["keys"] != state["keys"] or after["missing"] != state["missing"], f"{label}: nothing changed"
            assert len(after["keys"]) + after["missing"] == 1, f"{label}: shows {after} (one view or the note)"
            if after["keys"] and after["digest"] != state["digest"]:
                new_views += 1
            state = after
        assert new_views >= 1, f"{name} explorer {i}: no control showed a different pre-computed view"
    assert not visit.problems(), f"{name}: " + "; ".join(visit.problems())


# ----------------------------------------------------------------------------------------------- launch links
def _expected_colab(chapter: str) -> str:
    repo = book_config()["repository"]
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?", repo["url"])
    assert match, f"repository.url in _config.yml is not a GitHub repository: {repo['url']}"
    owner, name = match.groups()
    path = "/".join(p for p in [repo.get("path_to_book", "").strip("/"), chapter + ".ipynb"] if p)
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{repo.get('branch', 'main')}/{path}"


@pytest.mark.parametrize("chapter", _chapter_params())
def test_colab_link_points_at_the_chapter(shared_page: Any, chapter: str) -> None:
    page, _ = shared_page(chapter + ".html")
    hrefs = page.evaluate(
        "() => [...document.querySelectorAll('a[href*=\"colab.research.google.com\"]')].map(a => a.href)"
    )
    assert hrefs, f"{chapter}: no Colab launch link"
    assert set(hrefs) == {_expected_colab(chapter)}, hrefs


def test_expected_colab_url_shape() -> None:
    """The helper above, on the config's own repository: owner/repo/blob/branch/chapters/NN_x.ipynb."""
    url = _expected_colab("chapters/02_vgg")
    assert re.fullmatch(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w.-]+/chapters/02_vgg\.ipynb", url)


def test_checks_of_one_page_are_scheduled_together() -> None:
    """The scheduler's grouping (conftest.py): a page's checks share a group whatever their other parameters; a
    check that names no page is its own group; a page whose name starts another's is not confused with it."""
    from .conftest import _page_scope

    pages = ["chapters/01_cost", "chapters/01", "intro"]
    test = "tests/browser/test_x.py::test_y"
    assert _page_scope(f"{test}[chapters/01_cost.html-dark]", pages) == "chapters/01_cost"
    assert _page_scope(f"{test}[chapters/01_cost]", pages) == "chapters/01_cost"
    assert _page_scope(f"{test}[chapters/01.html]", pages) == "chapters/01"
    assert _page_scope(f"{test}[intro.html-phone]", pages) == "intro"
    assert _page_scope(f"{test}[vgg_cifar]", pages) == f"{test}[vgg_cifar]"
    assert _page_scope(test, pages) == test
