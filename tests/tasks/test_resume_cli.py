"""`neuralab run TASK --resume` after the process was SIGKILLed mid-run finishes with the same metrics as a
run that was never interrupted (same seed): every fit restarts from its last checkpoint, with its RNG states."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TASK = "regularization"


def neuralab(*args: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "neuralab", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def numbers(metrics: dict, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if any(w in k for w in ("second", "time", "duration")):
            continue  # wall-clock measurements differ between any two runs
        if isinstance(v, dict):
            out.update(numbers(v, key + "."))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[key] = float(v)
    return out


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_uninterrupted_metrics(tmp_path: Path):
    args = ["run", TASK, "--quick", "--seed", "3", "--device", "cpu"]
    full = neuralab(*args, "--out", str(tmp_path / "full"))
    killed = neuralab(*args, "--out", str(tmp_path / "killed"))
    # Kill once at least two fits have written a checkpoint: mid-run, with finished and unfinished fits.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and killed.poll() is None:
        if len(list((tmp_path / "killed").glob(f"{TASK}/*/fits/*/checkpoints/last.pt"))) >= 2:
            break
        time.sleep(0.05)
    if killed.poll() is not None:
        pytest.skip("the run finished before it could be killed (machine too fast for this test)")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    run_dir = next((tmp_path / "killed" / TASK).iterdir())
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # not marked complete

    out, err = full.communicate(timeout=300)
    assert full.returncode == 0, err
    resumed = neuralab(*args, "--out", str(tmp_path / "killed"), "--resume")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err

    want = numbers(json.loads(next((tmp_path / "full" / TASK).glob("*/metrics.json")).read_text()))
    got = numbers(json.loads((run_dir / "metrics.json").read_text()))
    assert want.keys() == got.keys()
    assert len(want) > 5
    for k in want:
        assert math.isclose(got[k], want[k], rel_tol=1e-6, abs_tol=1e-9), (k, got[k], want[k])
