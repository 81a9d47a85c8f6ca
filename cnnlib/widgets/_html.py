"""The one HTML-table helper of the presentation layer.

Every table the views show (the cost profile, the VGG stage costs, the receptive-field facts, the Inception
designer's comparison, the feature-map statistics) is built here, so that they share one look and one way of
aligning numbers. Cells are HTML fragments: escape text with :func:`html.escape` before passing it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["html_table"]

_ALIGN = {"l": "left", "r": "right", "c": "center"}


def html_table(
    rows: Sequence[Sequence[str]],
    *,
    header: Sequence[str] | None = None,
    footer: Sequence[str] | None = None,
    align: str | None = None,
    style: str = "",
    row_styles: Sequence[str] | None = None,
    header_style: str = "",
    cell_style: str = "",
) -> str:
    """An HTML ``<table>`` from rows of cells.

    Args:
        rows: the body, one sequence of HTML cell fragments per row (all of the same length).
        header: the column headings (HTML fragments), shown in ``<thead>``.
        footer: a last row of ``<th>`` cells, shown in ``<tfoot>`` (e.g. totals).
        align: one letter per column, ``l`` (left), ``r`` (right) or ``c`` (centre); default all left.
        style: CSS of the ``<table>`` element.
        row_styles: CSS of each body row's ``<tr>`` (``""`` for none), e.g. to highlight one.
        header_style: CSS of the header row.
        cell_style: CSS added to every cell (e.g. padding).

    Returns:
        The table as an HTML string.

    Raises:
        ValueError: rows of different lengths, or ``align`` of the wrong length or with another letter.
    """
    widths = {len(r) for r in rows} | ({len(header)} if header is not None else set())
    widths |= {len(footer)} if footer is not None else set()
    if len(widths) > 1:
        raise ValueError(f"every row of a table needs the same number of cells, got {sorted(widths)}")
    n = widths.pop() if widths else 0
    letters = align or "l" * n
    if len(letters) != n or any(a not in _ALIGN for a in letters):
        raise ValueError(f"align needs one of l/r/c per column ({n}), got {align!r}")
    if row_styles is not None and len(row_styles) != len(rows):
        raise ValueError(f"row_styles needs one entry per row ({len(rows)}), got {len(row_styles)}")

    def line(cells: Sequence[str], tag: str, tr_style: str = "") -> str:
        tr = f' style="{tr_style}"' if tr_style else ""
        return f"<tr{tr}>" + "".join(
            f'<{tag} style="text-align:{_ALIGN[a]}{";" + cell_style if cell_style else ""}">{c}</{tag}>'
            for c, a in zip(cells, letters)
        ) + "</tr>"

    parts = [f'<table style="{style}">' if style else "<table>"]
    if header is not None:
        parts.append("<thead>" + line(header, "th", header_style) + "</thead>")
    styles = row_styles or [""] * len(rows)
    parts.append("<tbody>" + "".join(line(r, "td", s) for r, s in zip(rows, styles)) + "</tbody>")
    if footer is not None:
        parts.append("<tfoot>" + line(footer, "th") + "</tfoot>")
    parts.append("</table>")
    return "".join(parts)
