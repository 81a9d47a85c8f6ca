"""Real-browser tests of the built book: headless Chromium opens the pages from disk with the network off.

The site must be built first (``make book``, or ``jupyter-book build .``). ``make test`` sets
``CNNLIB_BROWSER_TESTS=required``: a missing site or browser then fails the run instead of skipping.

Environment:
    CNNLIB_BOOK_ROOT: the book whose built site (``_build/html``) is tested (default: this repository).
    CNNLIB_SITE: the built site itself, when it was built elsewhere (``jupyter-book build . --path-output DIR``
        writes ``DIR/_build/html``); default ``CNNLIB_BOOK_ROOT/_build/html``. The book's sources (``_toc.yml``,
        ``_config.yml``) are still read from ``CNNLIB_BOOK_ROOT``.
    CNNLIB_CHROMIUM: the browser executable (default ``/usr/bin/chromium``, Debian's package).

Loading a chapter is most of a check's time (about 3 s on an idle 2-core machine: the theme's scripts and MathJax),
so checks that only read a page share one load of it (``shared_page``, one per worker): the page as it opens, or
with every dropdown open and every view shown (``revealed``). Checks that click, type or add to the page open their
own (``open_page``). Under pytest-xdist the checks of one page go to one worker
(``pytest_xdist_make_scheduler`` below), where they find it loaded.
"""

from __future__ import annotations

import os
import shutil
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOK_ROOT = Path(os.environ.get("CNNLIB_BOOK_ROOT", ROOT)).resolve()
SITE = Path(os.environ.get("CNNLIB_SITE") or BOOK_ROOT / "_build" / "html").resolve()
CHROMIUM = os.environ.get("CNNLIB_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("CNNLIB_BROWSER_TESTS", "") == "required"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# The reader's screens: a laptop, and a phone (CSS pixels of an iPhone 12-15).
DESKTOP = (1366, 900)
PHONE = (390, 844)
# Schemes a page may load from: its own files and inline data. Anything else (http, https, ws...) is another host.
LOCAL_SCHEMES = {"file", "data", "blob", "about"}


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def site_html(rel: Path | str) -> str:
    """The built page ``rel`` (relative to the site) as text, as the server sends it, before any script runs."""
    return (SITE / rel).read_text(encoding="utf-8")


def site_pages() -> list[Path]:
    """Every HTML page of the built site (relative paths), theme/static folders excluded."""
    if not (SITE / "index.html").exists():
        return []
    skip = {"_static", "_sources", "_images"}
    return sorted(p.relative_to(SITE) for p in SITE.rglob("*.html") if not skip & set(p.relative_to(SITE).parts))


def _toc_files(entries: list[dict[str, Any]], root: Path) -> Iterator[str]:
    """The documents an entry list names: ``file`` entries as written, ``glob`` entries expanded like Sphinx."""
    for entry in entries or []:
        if "file" in entry:
            yield entry["file"]
        if "glob" in entry:
            found = [p for p in root.glob(entry["glob"]) if p.suffix in (".md", ".ipynb") and p.is_file()]
            yield from sorted(str(p.relative_to(root).with_suffix("")) for p in found if ".ipynb_checkpoints" not in p.parts)
        for key in ("chapters", "sections", "parts"):
            yield from _toc_files(entry.get(key, []), root)


def toc_chapters(book_root: Path = BOOK_ROOT) -> list[str]:
    """The chapter notebooks listed in ``_toc.yml`` (``chapters/NN_x`` without suffix), in order."""
    toc = yaml.safe_load((book_root / "_toc.yml").read_text())
    files = list(_toc_files([toc], book_root))
    return [f.removesuffix(".ipynb") for f in files if f.startswith("chapters/")]


def book_config(book_root: Path = BOOK_ROOT) -> dict[str, Any]:
    return yaml.safe_load((book_root / "_config.yml").read_text())


@dataclass
class PageVisit:
    """What happened while a page was open: requests to other hosts (blocked), JS errors, console errors."""

    external: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return (
            [f"request to another host: {u}" for u in self.external]
            + [f"JS error: {e}" for e in self.page_errors]
            + [f"console error: {e}" for e in self.console_errors]
        )


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / "index.html").exists():
        _unavailable(f"no built book at {SITE}; run `make book` first")
    return SITE


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None:
        _unavailable(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("python playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


# Open every dropdown and show every pre-rendered explorer view (and the explorers' "not pre-computed" note).
REVEAL_JS = """
() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const style = document.createElement('style');
  style.textContent = '.cnnlib-view, .cnnlib-missing { display: block !important; visibility: visible !important; '
    + 'grid-area: auto !important; }';
  document.head.appendChild(style);
}
"""


def _load(
    browser: Any, site: Path, rel: Path | str, viewport: tuple[int, int], theme: str | None
) -> tuple[Any, Any, PageVisit]:
    """A new browser context at ``viewport`` with the reader's ``theme``, every other host blocked, and ``rel``
    loaded in it: ``(context, page, visit)``."""
    visit = PageVisit()
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
    if theme is not None:
        # The theme reads the reader's choice from localStorage before it draws the page (layout.html).
        assert theme in ("light", "dark"), theme
        context.add_init_script(f"localStorage.setItem('mode', '{theme}'); localStorage.setItem('theme', '{theme}')")

    def route(r: Any) -> None:
        if urlparse(r.request.url).scheme in LOCAL_SCHEMES:
            r.continue_()
        else:
            _record(r.request.url)
            r.abort("blockedbyclient")

    def _record(url: str) -> None:
        if url not in visit.external:
            visit.external.append(url)

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda req: urlparse(req.url).scheme not in LOCAL_SCHEMES and _record(req.url))
    page.on("pageerror", lambda exc: visit.page_errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and visit.console_errors.append(msg.text))
    page.goto((site / rel).as_uri(), wait_until="load")
    page.wait_for_timeout(150)  # let deferred scripts (theme, explorers) run
    return context, page, visit


@pytest.fixture
def open_page(browser: Any, site: Path) -> Iterator[Any]:
    """``open_page(relative_path, viewport=DESKTOP, theme=None) -> (page, visit)``: the page loaded from disk, every
    other host blocked; ``viewport`` is ``(width, height)`` in CSS pixels, ``theme`` ``"light"``/``"dark"`` (the
    reader's choice, as the theme's switch stores it) or ``None`` for the book's default. A fresh load, for checks
    that change the page."""
    contexts = []

    def _open(
        rel: Path | str, *, viewport: tuple[int, int] = DESKTOP, theme: str | None = None
    ) -> tuple[Any, PageVisit]:
        context, page, visit = _load(browser, site, rel, viewport, theme)
        contexts.append(context)
        return page, visit

    yield _open
    for context in contexts:
        context.close()


# Loaded pages kept per worker: the checks of one page run one after another (see the scheduler below), in up to
# six variants (viewport, theme, revealed).
_SHARED_KEEP = 6


@pytest.fixture(scope="session")
def shared_page(browser: Any, site: Path) -> Iterator[Any]:
    """``shared_page(relative_path, viewport=DESKTOP, theme=None, revealed=False) -> (page, visit)``: like
    ``open_page``, but one load serves every check that asks for the same page, viewport, theme and ``revealed``
    (every dropdown open and every pre-rendered view shown, ``REVEAL_JS``). The checks must only read the page;
    ``visit`` collects what happened since the load."""
    cache: OrderedDict[tuple[str, tuple[int, int], str | None, bool], tuple[Any, Any, PageVisit]] = OrderedDict()

    def _get(
        rel: Path | str, *, viewport: tuple[int, int] = DESKTOP, theme: str | None = None, revealed: bool = False
    ) -> tuple[Any, PageVisit]:
        key = (str(rel), tuple(viewport), theme, revealed)
        if key not in cache:
            context, page, visit = _load(browser, site, rel, viewport, theme)
            if revealed:
                page.evaluate(REVEAL_JS)
                page.wait_for_timeout(100)  # the shown views' images decode
            cache[key] = (context, page, visit)
            while len(cache) > _SHARED_KEEP:
                cache.popitem(last=False)[1][0].close()
        cache.move_to_end(key)
        return cache[key][1], cache[key][2]

    yield _get
    for context, _, _ in cache.values():
        context.close()


def _page_scope(nodeid: str, pages: list[str]) -> str:
    """The page a check is about, from its parameters' id (``test_x[chapters/02_vgg.html-dark]``:
    ``chapters/02_vgg``), or the check's own id when it names no page."""
    params = nodeid.rpartition("[")[2].rstrip("]") if nodeid.endswith("]") else ""
    for page in pages:  # longest first: "chapters/01_cost" before a page named "chapters/01"
        if params == page or params.startswith((page + ".html", page + "-")):
            return page
    return nodeid


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: without xdist, nothing to schedule
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The checks of one page go to one worker, which loads the page once for all of them (``shared_page``).

    pytest-xdist's own ``--dist loadgroup`` would do it with marks, but its marks do not reach the scheduler with
    pytest 9 (it renames ``item._nodeid``, which pytest 9 no longer reads), so the page is read from the checks'
    ids here. Groups are handed out largest first, as ``--dist loadscope`` does.
    """
    if config.getvalue("dist") not in ("load", "loadgroup", "loadscope"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    pages = sorted({str(p.with_suffix("")) for p in site_pages()}, key=len, reverse=True)

    class PageScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _page_scope(nodeid, pages)

    return PageScheduling(config, log)
