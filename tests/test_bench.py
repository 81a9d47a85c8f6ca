"""The bench scripts run end to end (smoke tests on tiny data; the real figures come from full runs)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cifar_data import REPO, TARBALL, needs_tarball


@pytest.mark.slow
@needs_tarball
def test_experiments_run_in_quick_mode():
    # all three experiments on 512/256 images, a few steps each; quick mode writes nothing
    out = subprocess.run([sys.executable, str(REPO / "bench" / "experiments.py"), "all", "--quick", "--data",
                          str(TARBALL)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stdout.splitlines() if line.split()[:1] and line.split()[0] in
             ("kernels", "depth", "aux")]
    assert len(lines) == 2 + 6 + 2, out.stdout


@pytest.mark.slow
def test_cpu_precision_bench_runs_in_quick_mode():
    out = subprocess.run([sys.executable, str(REPO / "bench" / "cpu_precision.py"), "--quick", "--models",
                          "vgg_cifar"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("images/s") == 4 and "<- amp/channels_last auto" in out.stdout, out.stdout


def test_time_to_accuracy_rows_of_other_processes_survive_a_write(tmp_path):
    # bench/googlenet_tuning.sh runs two time_to_accuracy.py processes on one results file: each write re-reads the
    # file and replaces only the writer's own rows (by id), so neither process drops the other's rows
    import importlib.util

    spec = importlib.util.spec_from_file_location("tta", REPO / "bench" / "time_to_accuracy.py")
    tta = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tta)
    out = tmp_path / "rows.json"
    out.write_text('[{"label": "committed earlier, no id"}]')
    tta._write_rows(out, [{"id": "a", "runs": 1}])
    tta._write_rows(out, [{"id": "b", "runs": 1}])
    tta._write_rows(out, [{"id": "a", "runs": 2}])  # process a's row after its second run
    rows = __import__("json").loads(out.read_text())
    assert [r.get("id") for r in rows] == [None, "b", "a"] and rows[2]["runs"] == 2
    assert not list(tmp_path.glob("*.tmp"))
