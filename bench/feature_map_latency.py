"""How long the feature-map explorer takes to answer a control change, on the CPU, for VGG-16 at 224 px.

The budget (issue 8): at most 100 ms per control change after the image's first forward pass. The explorer's live
widget is built (so every change also goes through the ipywidgets Output, as in Jupyter), then every combination
of layer x channel mode x colour map is visited once, each a *new* view (nothing served from the view cache), and
the time from setting the control to having the new HTML is recorded. Changing the image to one not seen before
costs a forward pass; that is measured separately. The weights are random: latency does not depend on them.

    python bench/feature_map_latency.py            # VGG-16, 224 px, CPU
    python bench/feature_map_latency.py --model googlenet --csv bench/results/feature_map_latency.csv

Prints one line per layer (median / 90th percentile / max in ms) and a summary against the budget.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import time

import torch

BUDGET_MS = 100.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="vgg16", choices=["vgg16", "googlenet"])
    p.add_argument("--size", type=int, default=224, help="input side in pixels")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--csv", default=None, help="also write every measurement to this CSV file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from cnnlib.registry import create_model
    from cnnlib.widgets.feature_maps import COLOUR_MAPS, FILTERS, feature_map_explorer

    torch.manual_seed(0)
    model = create_model(args.model, **({"aux_logits": False} if args.model == "googlenet" else {})).eval()
    t0 = time.perf_counter()
    ex = feature_map_explorer(model, weights="random weights (latency benchmark)", input_size=args.size)
    _ = ex.widget  # the live widget: each change re-renders into its Output, as in Jupyter
    first_ms = (time.perf_counter() - t0) * 1000
    forward_ms = ex.activations().seconds * 1000
    forwards = ex.cache.forward_count

    rows: list[dict[str, object]] = []
    layers = [FILTERS] + [s.module for s in ex.layers]
    for layer in layers:
        for show in ("top", "index"):
            for cmap in COLOUR_MAPS:
                start = time.perf_counter()
                ex.set(layer=layer, show=show, cmap=cmap)
                html = ex._output.outputs[-1]["data"]["text/html"]
                ms = (time.perf_counter() - start) * 1000
                rows.append({"layer": layer, "show": show, "cmap": cmap, "ms": ms, "kb": len(html) / 1024})
    assert ex.cache.forward_count == forwards, "a control change ran a forward pass"

    start = time.perf_counter()
    ex.set(image="astronaut")
    new_image_ms = (time.perf_counter() - start) * 1000

    out = sys.stdout
    out.write(
        f"feature_map_explorer latency: {args.model} at {args.size} px on {platform.machine()} CPU, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
        f"{os.getloadavg()[0]:.1f}\n"
    )
    out.write(f"  first view (load photos, one forward pass, render): {first_ms:8.1f} ms\n")
    out.write(f"  of which the forward pass:                           {forward_ms:8.1f} ms\n")
    out.write(f"  switching to a photo not seen before:                {new_image_ms:8.1f} ms\n")
    out.write(f"  control changes (new views, no forward pass), {len(rows)} in all:\n")
    out.write(f"  {'layer':14s} {'median':>8s} {'p90':>8s} {'max':>8s} {'view KB':>8s}\n")
    for layer in layers:
        ms = sorted(r["ms"] for r in rows if r["layer"] == layer)  # type: ignore[misc]
        kb = statistics.mean(r["kb"] for r in rows if r["layer"] == layer)  # type: ignore[misc]
        name = "filters" if layer == FILTERS else layer
        out.write(
            f"  {name:14s} {statistics.median(ms):8.1f} {ms[int(0.9 * (len(ms) - 1))]:8.1f} {ms[-1]:8.1f} {kb:8.1f}\n"
        )
    all_ms = sorted(r["ms"] for r in rows)  # type: ignore[misc]
    over = sum(m > BUDGET_MS for m in all_ms)
    out.write(
        f"  all: median {statistics.median(all_ms):.1f} ms, p90 {all_ms[int(0.9 * (len(all_ms) - 1))]:.1f} ms, "
        f"max {all_ms[-1]:.1f} ms; {over} of {len(all_ms)} over the {BUDGET_MS:.0f} ms budget\n"
    )
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["layer", "show", "cmap", "ms", "kb"])
            writer.writeheader()
            writer.writerows(rows)
    return 0 if statistics.median(all_ms) <= BUDGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
