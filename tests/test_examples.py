"""examples/ run as a user runs them: each script, in quick mode, in a process of its own."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_train_minimal_runs_and_learns_nothing_hidden(tmp_path):
    """The flat loop trains on the demo set and prints an epoch line: the loop on the public
    API is complete (data, network, train_step, evaluation)."""
    script = ROOT / "examples" / "train_minimal.py"
    assert len(script.read_text().splitlines()) <= 100, "examples/train_minimal.py: keep it short"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "epoch 1: train loss" in result.stdout and "val loss" in result.stdout
    assert (tmp_path / "demo").is_dir() and (tmp_path / "cache").is_dir()
