"""The book's sources: table of contents, chapter conventions (CHAPTERS.md), setup cells, API reference.

Fast checks on the files themselves; the build (`jupyter-book build -W -n`) and the browser tests
(tests/browser) check the rendered site.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS_DIR = ROOT / "chapters"
MAX_NOTEBOOK_BYTES = 8 * 1024 * 1024
# Paths of the machine that ran a chapter must not leak into its committed outputs.
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|tmp|root|home)/|site-packages")
DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]*")
GLUE_CALL = re.compile(r"(?<![\w.])glue\s*\(")


def _load_tool(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync = _load_tool("sync_setup_cells")


def _toc_files(entries: list[dict[str, Any]]) -> list[str]:
    """The documents an entry list names: ``file`` entries as written, ``glob`` entries expanded like Sphinx."""
    files = []
    for entry in entries or []:
        if "file" in entry:
            files.append(entry["file"])
        if "glob" in entry:
            found = [p for p in ROOT.glob(entry["glob"]) if p.suffix in (".md", ".ipynb") and p.is_file()]
            files += sorted(str(p.relative_to(ROOT).with_suffix("")) for p in found if ".ipynb_checkpoints" not in p.parts)
        for key in ("chapters", "sections", "parts"):
            files += _toc_files(entry.get(key, []))
    return files


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"], *_toc_files(toc.get("chapters", []) + toc.get("parts", []))]


def source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


CHAPTERS = sorted(CHAPTERS_DIR.glob("*.ipynb"))
chapter_param = pytest.mark.parametrize(
    "path", CHAPTERS or [pytest.param(None, marks=pytest.mark.skip("no chapters yet"))], ids=lambda p: p and p.stem
)


# ----------------------------------------------------------------------------------------------- table of contents
def test_every_toc_entry_exists() -> None:
    missing = [f for f in toc_files() if not any((ROOT / (f + ext)).exists() for ext in ("", ".md", ".ipynb"))]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_chapter_is_in_the_toc() -> None:
    """only_build_toc_files: a chapter missing from _toc.yml would silently be left out of the book."""
    listed = {f.removesuffix(".ipynb") for f in toc_files()}
    unlisted = [p.name for p in CHAPTERS if f"chapters/{p.stem}" not in listed]
    assert not unlisted, f"chapters not in _toc.yml: {unlisted}"


def test_book_pages_cite_known_keys() -> None:
    keys = set(re.findall(r"@\w+\{([^,\s]+),", (ROOT / "references.bib").read_text()))
    required = {"lecun1998gradient", "krizhevsky2012imagenet", "simonyan2014vgg", "szegedy2015going",
                "ioffe2015batch", "lin2013network", "he2016deep"}
    assert required <= keys
    pages = [ROOT / "intro.md", *CHAPTERS]
    cited = set()
    for page in pages:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", page.read_text(encoding="utf-8")):
            cited |= {k.strip() for k in group.split(",")}
    assert cited and cited <= keys, f"unknown citation keys: {sorted(cited - keys)}"


# ----------------------------------------------------------------------------------------------- setup cells
def test_setup_cells_agree_with_config() -> None:
    assert sync.main(["--check"]) == 0, "run `python tools/sync_setup_cells.py`"


def test_setup_cell_source_is_derived_from_config() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"].rstrip("/")
    assert f"git clone -q --depth 1 {url} /content/stacks-and-branches" in sync.setup_source(sync.repository_url())
    assert "%pip install -q /content/stacks-and-branches" in sync.setup_source(url)
    assert sync.setup_source(url).splitlines()[2:4] == ["import sys", 'if "google.colab" in sys.modules:']


def test_repository_url_is_single_sourced() -> None:
    """Only _config.yml names the repository (chapters and cnnlib/shipped.py get it through tools/sync_setup_cells.py)."""
    url = sync.repository_url()
    skip = {".venv", ".w7", ".whl", ".data", ".git", "node_modules", "_build", "chapters"}
    others = [
        str(p.relative_to(ROOT))
        for ext in ("*.py", "*.md", "*.toml", "*.yml", "*.yaml", "*.cfg", "*.txt", "*.json", "Makefile")
        for p in ROOT.rglob(ext)
        if not skip & set(p.relative_to(ROOT).parts) and p.name != "_config.yml" and p.relative_to(ROOT) != sync.LIBRARY_COPY
        and url in p.read_text(errors="ignore")
    ]
    assert not others, f"the repository URL is repeated outside _config.yml: {others}"


def _notebook(tmp_path: Path, cells: list[dict[str, Any]]) -> Path:
    path = tmp_path / "chapters" / "01_x.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, indent=1))
    return path


def test_sync_tool_detects_and_rewrites(tmp_path: Path) -> None:
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/someone/elsewhere/\n")
    stale = sync.setup_source("https://github.com/old-owner/old-name")
    path = _notebook(tmp_path, [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# T"},
        {"cell_type": "code", "id": "b", "metadata": {"tags": ["colab-setup"]}, "source": stale,
         "outputs": [], "execution_count": 1},
    ])
    assert sync.main(["--check", "--root", str(tmp_path)]) == 1
    assert sync.main(["--root", str(tmp_path)]) == 0
    assert sync.main(["--check", "--root", str(tmp_path)]) == 0
    cell = load(path)["cells"][1]
    assert "git clone -q --depth 1 https://github.com/someone/elsewhere " in source(cell) and cell["execution_count"] == 1


def test_sync_tool_inserts_missing_cell(tmp_path: Path) -> None:
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/a/b\n")
    path = _notebook(tmp_path, [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# T"},
        {"cell_type": "code", "id": "b", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": None},
    ])
    assert sync.main(["--check", "--root", str(tmp_path)]) == 1
    assert sync.main(["--root", str(tmp_path)]) == 0
    cells = load(path)["cells"]
    assert [c["cell_type"] for c in cells] == ["markdown", "code", "code"]
    assert cells[1]["metadata"]["tags"] == ["colab-setup", "remove-cell"] and source(cells[2]) == "x = 1"


# ----------------------------------------------------------------------------------------------- chapters
@chapter_param
def test_chapter_structure(path: Path) -> None:
    nb = load(path)
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown" and source(cells[0]).lstrip().startswith("# "), "first cell: # title"
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and "colab-setup" in code[0].get("metadata", {}).get("tags", []), "first code cell: colab-setup"
    assert nb.get("metadata", {}).get("kernelspec", {}).get("name") == "python3"


@chapter_param
def test_chapter_size(path: Path) -> None:
    size = path.stat().st_size
    assert size < MAX_NOTEBOOK_BYTES, f"{path.name} is {size / 2**20:.1f} MB (limit 8 MB)"


@chapter_param
def test_no_machine_paths_in_outputs(path: Path) -> None:
    leaks = []
    for i, cell in enumerate(load(path)["cells"]):
        for out in cell.get("outputs", []):
            texts = [out.get("text", "")] + list(out.get("traceback", []))
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    texts.append(value if isinstance(value, str) else json.dumps(value))
            for text in texts:
                text = DATA_URI.sub("", "".join(text) if isinstance(text, list) else str(text))
                for m in MACHINE_PATH.finditer(text):
                    leaks.append(f"cell {i}: ...{text[max(0, m.start() - 40):m.end() + 40]!r}...")
    assert not leaks, f"{path.name}: machine paths in outputs:\n" + "\n".join(leaks[:10])


@chapter_param
def test_no_partial_widget_state(path: Path) -> None:
    """metadata.widgets without its state breaks GitHub's and nbviewer's renderers (the book ignores it)."""
    widgets = load(path).get("metadata", {}).get("widgets")
    if widgets is None:
        return
    state = widgets.get("application/vnd.jupyter.widget-state+json", {})
    assert isinstance(state, dict) and "state" in state, f"{path.name}: metadata.widgets without state; delete the key"


@chapter_param
def test_checked_outputs_and_glued_numbers(path: Path) -> None:
    cells = [c for c in load(path)["cells"] if c["cell_type"] == "code"]
    code = [source(c) for c in cells]
    # nbval reads the marker from a comment or, invisible on the page, from the cell tag nbval-check-output
    checked = sum("# NBVAL_CHECK_OUTPUT" in source(c) or "nbval-check-output" in c["metadata"].get("tags", [])
                  for c in cells)
    glued = sum(len(GLUE_CALL.findall(s)) for s in code)
    assert checked >= 3, f"{path.name}: {checked} cells checked by nbval (need >= 3)"
    assert glued >= 3, f"{path.name}: {glued} glue(...) calls (need >= 3)"


# ----------------------------------------------------------------------------------------------- API reference
def _api_modules() -> list[str]:
    return re.findall(r"^\.\. automodule:: ([\w.]+)", (ROOT / "api.md").read_text(), flags=re.M)


def test_api_reference_modules_import() -> None:
    modules = _api_modules()
    assert "cnnlib" in modules and len(modules) >= 5
    for name in modules:
        importlib.import_module(name)


def test_api_reference_covers_every_public_module() -> None:
    import cnnlib

    public = {f"cnnlib.{m.name}" for m in pkgutil.iter_modules(cnnlib.__path__) if not m.name.startswith("_")}
    missing = sorted(public - set(_api_modules()))
    assert not missing, f"add these modules to api.md: {missing}"


def test_sync_tool_rewrites_the_library_copy_of_the_url(tmp_path: Path) -> None:
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/someone/elsewhere/\n")
    (tmp_path / "chapters").mkdir()
    lib = tmp_path / "cnnlib" / "shipped.py"
    lib.parent.mkdir()
    lib.write_text('x = 1\nREPOSITORY_URL = "https://github.com/old/place"\ny = 2\n')
    assert sync.main(["--check", "--root", str(tmp_path)]) == 1
    assert sync.main(["--root", str(tmp_path)]) == 0
    assert lib.read_text() == 'x = 1\nREPOSITORY_URL = "https://github.com/someone/elsewhere"\ny = 2\n'
    assert sync.main(["--check", "--root", str(tmp_path)]) == 0
