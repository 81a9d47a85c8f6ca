"""Navigation as a reader uses it, on a phone (390x844) and on a laptop (1366x900).

On a phone the chapter list lives in a drawer that the ☰ button opens; the page's own table of contents in a
second drawer behind the "contents" button. On a laptop the ☰ button collapses and restores the sidebar. With
sphinx-book-theme 1.3 and pydata-sphinx-theme 0.17 the buttons only showed a tooltip, because the theme's scripts
were bound to a second, hidden set of buttons in an otherwise empty 64-px navbar (see
``_templates/sections/header.html``). These tests click the buttons a reader sees.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import DESKTOP, PHONE, site_pages, toc_chapters

pytestmark = pytest.mark.browser

CHAPTERS = toc_chapters()
# A chapter (the toggles' page), the introduction and an appendix page: the navigation is the same template on all.
NAV_PAGES = [c + ".html" for c in CHAPTERS[:1]] + ["intro.html", "how_this_book_is_built.html"]
PRIMARY_DRAWER = "dialog#pst-primary-sidebar-modal"
SECONDARY_DRAWER = "dialog#pst-secondary-sidebar-modal"


def _visible_toggle(page: Any, kind: str) -> Any:
    """The one visible ``primary``/``secondary`` sidebar button: a second one, visible or bound, was the bug."""
    toggles = page.locator(f".{kind}-toggle:visible")
    assert toggles.count() == 1, f"{toggles.count()} visible {kind} sidebar buttons, expected exactly one"
    return toggles.first


def _chapter_links(scope: Any) -> dict[str, Any]:
    """The chapter links inside ``scope``, by chapter (``chapters/NN_x``)."""
    # Resolved URLs: the current page's own entry is a link to "#".
    urls = scope.locator("a").evaluate_all("links => links.map(a => a.href.split('#')[0])")
    found = {}
    for chapter in CHAPTERS:
        hits = [i for i, url in enumerate(urls) if url.endswith("/" + chapter + ".html")]
        if hits:
            found[chapter] = scope.locator("a").nth(hits[0])
    return found


def _in_viewport(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    return bool(box) and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= width + 1 and box["y"] < height


def _require_site() -> None:
    if not site_pages():
        pytest.skip("site not built")


@pytest.mark.parametrize("rel", NAV_PAGES)
def test_phone_menu_button_opens_and_closes_the_chapter_drawer(open_page: Any, rel: str) -> None:
    _require_site()
    page, visit = open_page(rel, viewport=PHONE)
    drawer = page.locator(PRIMARY_DRAWER)
    assert not drawer.is_visible(), "the drawer is open before the reader asks for it"
    assert not any(link.is_visible() for link in _chapter_links(page.locator("#pst-primary-sidebar")).values()), (
        "on a phone the sidebar should be folded away until the menu button opens it"
    )

    _visible_toggle(page, "primary").click()
    drawer.wait_for(state="visible", timeout=3_000)
    links = _chapter_links(drawer)
    assert set(links) == set(CHAPTERS), f"the drawer lists {sorted(links)}, not every chapter {CHAPTERS}"
    assert _in_viewport(page, links[CHAPTERS[0]]), "the first chapter link is not on the phone's screen"
    for chapter, link in links.items():
        link.scroll_into_view_if_needed()
        assert link.is_visible() and _in_viewport(page, link), f"{chapter}: its link cannot be brought onto the screen"

    page.keyboard.press("Escape")
    drawer.wait_for(state="hidden", timeout=3_000)

    # Tapping beside the drawer closes it too.
    _visible_toggle(page, "primary").click()
    drawer.wait_for(state="visible", timeout=3_000)
    right = drawer.evaluate("d => d.getBoundingClientRect().right")
    assert 100 < right < PHONE[0] - 20, f"the drawer ends at {right:.0f} px: nowhere beside it to tap to close it"
    page.mouse.click(PHONE[0] - 10, PHONE[1] // 2)
    drawer.wait_for(state="hidden", timeout=3_000)
    assert not visit.problems(), "; ".join(visit.problems())


def test_phone_reader_reaches_every_chapter_from_the_drawer(open_page: Any) -> None:
    """From the introduction, each chapter is two taps away: ☰, then the chapter's name."""
    _require_site()
    if not CHAPTERS:
        pytest.skip("no chapters in _toc.yml yet")
    for chapter in CHAPTERS:
        page, visit = open_page("intro.html", viewport=PHONE)
        _visible_toggle(page, "primary").click()
        drawer = page.locator(PRIMARY_DRAWER)
        drawer.wait_for(state="visible", timeout=3_000)
        link = _chapter_links(drawer)[chapter]
        link.scroll_into_view_if_needed()
        start = page.url
        link.click()
        # The tap's navigation is what is tested; that each chapter then loads without errors is
        # test_site's (waiting here for every heavy chapter to load took most of this test's time).
        page.wait_for_url(lambda url, start=start: url != start, wait_until="commit")
        assert page.url.endswith(chapter + ".html"), f"tapping {chapter} in the drawer opened {page.url}"
        assert not visit.problems(), "; ".join(visit.problems())
        page.context.close()


def test_phone_contents_button_opens_the_page_outline(open_page: Any) -> None:
    _require_site()
    if not CHAPTERS:
        pytest.skip("no chapters in _toc.yml yet")
    page, visit = open_page(CHAPTERS[0] + ".html", viewport=PHONE)
    drawer = page.locator(SECONDARY_DRAWER)
    _visible_toggle(page, "secondary").click()
    drawer.wait_for(state="visible", timeout=3_000)
    headings = drawer.locator("nav a[href^='#']")
    assert headings.count() >= 2, "the contents drawer does not list the page's sections"
    assert _in_viewport(page, headings.first)
    page.keyboard.press("Escape")
    drawer.wait_for(state="hidden", timeout=3_000)
    assert not visit.problems(), "; ".join(visit.problems())


@pytest.mark.parametrize("rel", NAV_PAGES)
def test_desktop_menu_button_collapses_and_restores_the_sidebar(open_page: Any, rel: str) -> None:
    _require_site()
    page, visit = open_page(rel, viewport=DESKTOP)
    sidebar = page.locator("#pst-primary-sidebar")
    links = _chapter_links(sidebar)
    assert set(links) == set(CHAPTERS), f"the sidebar lists {sorted(links)}, not every chapter"
    assert all(link.is_visible() for link in links.values()), "the chapter list is not shown on a laptop"
    article = page.locator(".bd-article-container")
    left_before = article.bounding_box()["x"]

    toggle = _visible_toggle(page, "primary")
    toggle.click()
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('#pst-primary-sidebar')).visibility === 'hidden'",
        timeout=3_000,
    )
    page.wait_for_timeout(600)  # the theme slides the sidebar away
    assert page.locator("dialog[open]").count() == 0, "on a laptop the button should collapse the sidebar, not open a drawer"
    assert not any(link.is_visible() for link in links.values())
    assert article.bounding_box()["x"] < left_before - 100, "the article did not take the sidebar's room"

    toggle.click()
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('#pst-primary-sidebar')).visibility === 'visible'",
        timeout=3_000,
    )
    page.wait_for_timeout(600)
    assert all(link.is_visible() for link in links.values()), "the sidebar did not come back"
    assert abs(article.bounding_box()["x"] - left_before) < 2
    assert not visit.problems(), "; ".join(visit.problems())


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("rel", NAV_PAGES)
def test_no_empty_band_at_the_top(shared_page: Any, rel: str, viewport: tuple[int, int]) -> None:
    """The page starts with its own header (the buttons) and sidebar, not with a band holding a second search box."""
    _require_site()
    page, _ = shared_page(rel, viewport=viewport)
    top = page.evaluate(
        """() => {
          const box = el => el ? el.getBoundingClientRect() : null;
          const header = box(document.querySelector('#pst-header'));
          const article = box(document.querySelector('.bd-header-article'));
          const sidebar = document.querySelector('#pst-primary-sidebar');
          const shown = sidebar && getComputedStyle(sidebar).display !== 'none' && box(sidebar).width > 0;
          return {header: header ? header.height : 0, article: article ? article.top : null,
                  sidebar: shown ? box(sidebar).top : null,
                  searches: [...document.querySelectorAll('.search-button-field')]
                              .filter(e => e.getBoundingClientRect().width > 0).length};
        }"""
    )
    assert top["header"] == 0, f"the theme's navbar takes {top['header']} px at the top of the page"
    assert top["article"] is not None and top["article"] < 8, f"the article's header starts {top['article']} px down"
    if top["sidebar"] is not None:
        assert top["sidebar"] < 8, f"the sidebar starts {top['sidebar']} px down"
    assert top["searches"] <= 1, f"{top['searches']} search boxes on the page"
