"""experiments/gpu_check.sh --smoke: every step of the GPU check end to end on the CPU, at toy sizes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from formats import write_jpeg_tree


@pytest.mark.slow
def test_the_gpu_check_runs_end_to_end_on_the_cpu(tmp_path: Path) -> None:
    tree, out = tmp_path / "CIFAR-10-images", tmp_path / "out"
    write_jpeg_tree(tree, train=40, test=5)  # room for n_max 20 and a 5x pool at n_max 10 (rho 10)
    env = {**os.environ, "OUT": str(out), "WORK": str(tmp_path / "work"), "PYTHON": sys.executable}
    done = subprocess.run(["bash", "experiments/gpu_check.sh", "--smoke", "--data", str(tree)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    summary = (out / "summary.txt").read_text().strip()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert summary == done.stdout.strip().splitlines()[-1]
    fields = dict(field.split("=", 1) for field in summary.split()[1:])
    assert summary.startswith("GPU_CHECK ") and fields["device"] == "cpu" and fields["failed"] == "none"
    assert "skipped" in fields["tests"] and "failed" not in fields["tests"]  # no CUDA: every gpu test skips
    assert fields["table"].startswith("finished=12/12,cells=9/9,")
    assert fields["concurrency"].startswith("img_s_1=") and "scaling_2=" in fields["concurrency"]
    assert "data_speedup=" in fields["throughput"]
    assert sorted(path.name for path in out.iterdir()) == [
        "bench_concurrency.md", "bench_throughput.txt", "gpu_check.log", "paper_cifar10_gpu.md", "pytest_gpu.txt",
        "summary.txt"]
    table = (out / "paper_cifar10_gpu.md").read_text()
    assert "| CE + D_U@5x | §10.1 [secondary]; 50: [README] |" in table and "Not finished" not in table
