"""The bench scripts run end to end (smoke tests on tiny data; the real figures come from full runs)."""

from __future__ import annotations

import subprocess
import sys

from cifar_data import REPO, TARBALL, needs_tarball


@needs_tarball
def test_experiments_run_in_quick_mode():
    # all three experiments on 512/256 images, a few steps each; quick mode writes nothing
    out = subprocess.run([sys.executable, str(REPO / "bench" / "experiments.py"), "all", "--quick", "--data",
                          str(TARBALL)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stdout.splitlines() if line.split()[:1] and line.split()[0] in
             ("kernels", "depth", "aux")]
    assert len(lines) == 2 + 6 + 2, out.stdout


def test_cpu_precision_bench_runs_in_quick_mode():
    out = subprocess.run([sys.executable, str(REPO / "bench" / "cpu_precision.py"), "--quick", "--models",
                          "vgg_cifar"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("images/s") == 4 and "<- amp/channels_last auto" in out.stdout, out.stdout
