"""The bibliography's style: author-year labels that match the author-year citations in the text.

The chapters cite with sphinxcontrib-bibtex's ``author_year`` reference style ("Simonyan and Zisserman, 2014",
"Szegedy et al., 2015"), but pybtex's bibliography styles label the list with ``[SZ14]`` (alpha) or ``[1]``
(plain), so a reader could not find the cited entry by its name. This Sphinx extension registers the pybtex
formatting style ``stacks_author_year`` (selected by ``bibtex_default_style`` in ``_config.yml``): pybtex's
``plain`` style (entries sorted by author, year, title), labelled exactly as the citations read, with a DOI,
arXiv or URL link after each entry and the URL shown by its host name (a full URL would run out of a phone's
column).

Loaded from ``_config.yml`` (``sphinx: local_extensions``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Iterator
from urllib.parse import urlparse

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.template import href, words
from sphinx.application import Sphinx

STYLE_NAME = "stacks_author_year"


def _plain(latex: str) -> str:
    return Text.from_latex(latex).render_as("text")


def author_year(entry: Any) -> str:
    """``"Lin et al., 2013"``: the text sphinxcontrib-bibtex's ``author_year`` style cites the entry with."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    last = [_plain(" ".join(p.prelast_names + p.last_names)) for p in persons]
    if not last:
        who = _plain(entry.fields.get("title", entry.key))
    elif len(last) == 1:
        who = last[0]
    elif len(last) == 2:
        who = f"{last[0]} and {last[1]}"
    else:
        who = f"{last[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels ``Author, Year`` (``Author and Other, Year``, ``Author et al., Year``); ``2015a``/``2015b`` on a tie."""

    def format_labels(self, sorted_entries: Iterable[Any]) -> Iterator[str]:
        entries = list(sorted_entries)
        labels = [author_year(e) for e in entries]
        counts = Counter(labels)
        seen: Counter[str] = Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                label = label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            yield label


class AuthorYearStyle(PlainStyle):
    """pybtex's ``plain`` (sorted by author, year, title) with author-year labels and short URL links."""

    default_label_style = STYLE_NAME

    def format_url(self, e: Any) -> Any:
        url = e.fields.get("url")
        if not url:
            return super().format_url(e)  # raises FieldIsMissing inside the caller's optional[...]
        return words["Online:", href(url)[urlparse(url).netloc]]


def setup(app: Sphinx) -> dict[str, Any]:
    register_plugin("pybtex.style.labels", STYLE_NAME, AuthorYearLabelStyle)
    register_plugin("pybtex.style.formatting", STYLE_NAME, AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
