#!/usr/bin/env python3
"""Rewrite every chapter's "colab-setup" cell from the repository URL in ``_config.yml``.

The repository URL lives in one place, ``_config.yml`` (``repository.url``): the Colab launch buttons derive from
it when the book is built, and the first code cell of every chapter (tagged ``colab-setup``, and ``remove-cell`` so
that the rendered page does not show it) clones the repository inside Colab and installs ``cnnlib`` from it, so
that the chapters find the trained weights in ``weights/`` and the committed results in ``bench/results/`` there
too. This script writes that cell, and the one copy the library needs (``REPOSITORY_URL`` in ``cnnlib/shipped.py``,
where a pip install downloads the trained weights from), so they never disagree::

    python tools/sync_setup_cells.py            # rewrite the chapters that disagree
    python tools/sync_setup_cells.py --check    # exit 1 (and list them) when a chapter disagrees

A chapter without a ``colab-setup`` cell gets one, inserted before its first code cell. Only the cell's source
is touched (and its outputs cleared: outside Colab it prints nothing); the rest of the notebook is left as is.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TAG = "colab-setup"

TEMPLATE = """\
# Set-up for Colab, Jupyter and the tests alike: only inside Colab, fetch the book (cnnlib, the trained weights
# and the committed results), install cnnlib from it and work in its chapters folder.
import sys
if "google.colab" in sys.modules:
    !test -d /content/stacks-and-branches || git clone -q --depth 1 {url} /content/stacks-and-branches
    %pip install -q /content/stacks-and-branches
    %cd /content/stacks-and-branches/chapters"""
#: The rendered book does not show the set-up cell (it does nothing outside Colab); the notebook keeps it.
HIDE_TAG = "remove-cell"


def repository_url(root: Path = ROOT) -> str:
    """``repository.url`` from ``_config.yml``, without a trailing slash."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    url = (config.get("repository") or {}).get("url", "").rstrip("/")
    if not url.startswith("https://"):
        raise SystemExit(f"sync_setup_cells: _config.yml has no https repository.url (got {url!r})")
    return url


def setup_source(url: str) -> str:
    """The exact source of the colab-setup cell for repository ``url``."""
    return TEMPLATE.format(url=url)


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tags(cell: dict[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def sync_notebook(path: Path, url: str, *, write: bool) -> str | None:
    """Bring one notebook's colab-setup cell in line. Returns what was (or would be) changed, or None."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    cells = nb.get("cells", [])
    expected = setup_source(url)
    setup = [c for c in cells if TAG in _tags(c)]
    if len(setup) > 1:
        raise ValueError(f"{len(setup)} cells tagged {TAG!r} (expected one); remove the extra tags by hand")
    if setup:
        cell = setup[0]
        if cell.get("cell_type") == "code" and _source(cell) == expected and HIDE_TAG in _tags(cell):
            return None
        change = ("colab-setup cell differs from _config.yml's repository" if _source(cell) != expected
                  else f"colab-setup cell is not tagged {HIDE_TAG!r}")
        cell.setdefault("metadata", {})["tags"] = [*dict.fromkeys([*_tags(cell), HIDE_TAG])]
        cell["cell_type"] = "code"
        cell["source"] = expected.splitlines(keepends=True)
        cell["outputs"] = []
    else:
        change = "no colab-setup cell"
        first_code = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"), len(cells))
        new: dict[str, Any] = {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {"tags": [TAG, HIDE_TAG]},
            "outputs": [],
            "source": expected.splitlines(keepends=True),
        }
        if nb.get("nbformat", 4) >= 4 and nb.get("nbformat_minor", 0) >= 5:
            new["id"] = "colab-setup"
        cells.insert(first_code, new)
    if write:
        # Same layout as nbformat/Jupyter write it (indent 1, keys sorted, non-ASCII kept), so diffs stay small.
        path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return change


#: The library's copy of the URL (a pip install has no _config.yml): cnnlib.shipped downloads the weights from it.
LIBRARY_COPY = Path("cnnlib") / "shipped.py"
_URL_LINE = re.compile(r'^REPOSITORY_URL = "[^"]*"$', re.M)


def sync_library(root: Path, url: str, *, write: bool) -> str | None:
    """Bring ``cnnlib/shipped.py``'s ``REPOSITORY_URL`` in line. Returns what was (or would be) changed, or None."""
    path = root / LIBRARY_COPY
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    new = _URL_LINE.sub(f'REPOSITORY_URL = "{url}"', text)
    if not _URL_LINE.search(text):
        raise ValueError(f"{LIBRARY_COPY} has no REPOSITORY_URL line")
    if new == text:
        return None
    if write:
        path.write_text(new, encoding="utf-8")
    return "REPOSITORY_URL differs from _config.yml's repository"


def chapter_paths(root: Path = ROOT) -> list[Path]:
    return sorted((root / "chapters").glob("*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a chapter disagrees")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's root folder (holds _config.yml)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: chapters/*.ipynb")
    args = parser.parse_args(argv)
    url = repository_url(args.root)
    paths = args.notebooks or chapter_paths(args.root)
    problems, errors = [], []
    for path in paths:
        try:
            change = sync_notebook(path, url, write=not args.check)
        except ValueError as exc:
            errors.append(f"{path.name}: {exc}")
            continue
        if change:
            problems.append(f"{path.name}: {change}")
    try:
        change = sync_library(args.root, url, write=not args.check)
        if change:
            problems.append(f"{LIBRARY_COPY}: {change}")
    except ValueError as exc:
        errors.append(str(exc))
    for line in problems:
        print(("" if args.check else "rewrote ") + line, file=sys.stderr if args.check else sys.stdout)
    for line in errors:
        print(line, file=sys.stderr)
    if args.check and problems:
        print(f"run `python tools/sync_setup_cells.py` to rewrite them from {url}", file=sys.stderr)
    return 1 if errors or (args.check and problems) else 0


if __name__ == "__main__":
    sys.exit(main())
