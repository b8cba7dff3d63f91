"""benchmarks/: the training-step benchmark and the GPU check start, explain themselves and run a
smallest case (each in a subprocess, as users run them)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TRAIN_STEP = REPO / "benchmarks" / "train_step.py"
GPU_CHECK = REPO / "benchmarks" / "gpu_check.py"


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_train_step_help():
    done = run(str(TRAIN_STEP), "--help")
    assert done.returncode == 0, done.stderr
    for flag in ("--calibrated", "--memory-sweep", "--plot", "--variants", "--vision-heavy", "10-15%"):
        assert flag in done.stdout
    assert "FLOP" in done.stdout  # the module docstring's arithmetic is the description


def test_train_step_smoke(tmp_path):
    """One plain variant, 2 steps (the first a warm-up): the tables, exact token counts, and the
    goals that cannot be computed said so instead of failing the run."""
    out = tmp_path / "result.json"
    done = run(str(TRAIN_STEP), "--variants", "plain", "--steps", "2", "--batch", "1", "--json", str(out), timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "language-model tokens per example" in done.stdout
    assert "n/a (panodpo shared-prefix not run" in done.stdout
    result = json.loads(out.read_text())["results"]["plain"]
    work = result["work"]
    # One policy and one reference forward over the 4 sequences of the example; padding excluded
    # from the second count, the same positions in both forwards.
    assert work["policy_calls"] == work["reference_calls"] == 1
    assert work["policy_padded"] == work["reference_padded"] >= work["policy_real"] > 0
    # The frozen tower runs once per video, in the reference forward; the policy forward replays it.
    assert work.get("reference_patches", 0) > 0 and work.get("policy_patches", 0) == 0
    assert result["step_s"] > 0 and result["probe"]["visual_tokens_per_video"] > 0


def test_gpu_check_help_and_script_parse():
    done = run(str(GPU_CHECK), "--help")
    assert done.returncode == 0, done.stderr
    assert "--dry-run" in done.stdout and "989e12" in done.stdout
    if shutil.which("bash"):
        parsed = subprocess.run(["bash", "-n", str(REPO / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True)
        assert parsed.returncode == 0, parsed.stderr


@pytest.mark.slow
def test_gpu_check_dry_run(tmp_path):
    """The GPU check's whole pipeline on CPU with tiny sizes (about a minute on 2 cores)."""
    out = tmp_path / "gpu.json"
    done = run(str(GPU_CHECK), "--dry-run", "--json", str(out), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    assert "step_times" in results["plain"] and "shared prefix" in results["eval"]
