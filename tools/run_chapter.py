"""Execute chapters in full mode and write their outputs in place: the committed outputs come from this.

    python tools/run_chapter.py chapters/05_feature_maps.ipynb [more.ipynb ...] [--timeout SECONDS]

Each notebook runs on a fresh kernel (the ``python3`` kernel of the environment that runs this script) from the
``chapters/`` folder, as Jupyter would run it. The widget state that Jupyter saves is dropped: the book shows the
interactive views through their pre-rendered HTML twins (see ``cnnlib.widgets``), and the state of every slider
would only bloat the file. The chapter's own first output (``cnnlib.notebook.setup``) names the device and time.

Quick mode is refused (``CNNLIB_QUICK`` set): quick-mode outputs are for the tests, not for the book. Environment
variables pass through, e.g. ``CNNLIB_CACHE`` (where trained weights are cached) and ``CNNLIB_CIFAR10``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def run(path: Path, *, timeout: int) -> float:
    """Execute ``path`` in place; returns the seconds it took. Raises on the first failing cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.resolve().parent)}})
    client.execute()
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell (default 3600)")
    args = parser.parse_args(argv)
    if os.environ.get("CNNLIB_QUICK"):
        parser.error("CNNLIB_QUICK is set: committed outputs must come from a full run; unset it")
    for path in args.notebooks:
        if not path.is_file() or path.suffix != ".ipynb":
            parser.error(f"{path}: not a notebook file")
    for path in args.notebooks:
        seconds = run(path, timeout=args.timeout)
        sys.stdout.write(f"{path}: executed in {seconds:.0f} s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
