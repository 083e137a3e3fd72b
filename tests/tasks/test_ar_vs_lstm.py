"""The ar-vs-lstm task's parts: the generated processes, the verdicts, the real series."""

import math

import numpy as np
import pytest

from neuralab.tasks import list_tasks
from neuralab.tasks.ar_vs_lstm import ClaimRow, _judge, ar2, logistic_map, long_memory, real_series, setar


def test_processes_have_the_advertised_structure():
    rng = np.random.default_rng(0)
    y = long_memory(3000, rng)
    r30 = np.corrcoef(y[30:], y[:-30])[0, 1]
    r5 = np.corrcoef(y[5:], y[:-5])[0, 1]
    assert r30 > 0.6 and abs(r5) < 0.1  # dependence only at lag 30 (and its multiples)
    x = logistic_map(500, rng)
    assert 0 < x.min() and x.max() < 1
    a = ar2(4000, rng)
    assert a.mean() == pytest.approx(0.5 / (1 - 0.6 + 0.3), abs=0.1)  # Φ0/(1 − Φ1 − Φ2)
    s = setar(4000, rng)
    assert np.isfinite(s).all() and s.std() < 2


def _row(expect, ar, nn, floor=math.nan):
    return ClaimRow("k", "c", "e", "AR", "LSTM", ar, nn, [0.1] * len(ar), [1.0] * len(ar), expect, floor)


def test_verdicts():
    assert _judge(_row("ar", [1.0, 1.1, 1.0], [1.2, 1.3, 1.1]))["held"]
    assert not _judge(_row("ar", [1.2, 1.3, 1.2], [1.0, 1.1, 1.0]))["held"]
    j = _judge(_row("nn", [1.0, 1.1, 1.05], [0.5, 0.6, 0.55]))
    assert j["held"] and j["winner"] == "LSTM" and j["diff"] == pytest.approx(-0.5)
    assert not _judge(_row("nn", [1.0, 1.1, 0.5], [0.9, 0.6, 1.0]))["held"]  # CI of the difference spans 0
    assert _judge(_row("both", [1.02, 1.05], [1.04, 1.08], floor=1.0))["held"]
    assert not _judge(_row("both", [1.02, 1.05], [1.5, 1.4], floor=1.0))["held"]


def test_real_series_without_the_shared_folder(tmp_path):
    series, notes = real_series(tmp_path)
    assert set(series) == {"sunspots", "co2", "nile"}
    assert len(notes) == 2 and all("not found" in n for n in notes)
    co2 = series["co2"]["y"]
    assert np.isfinite(co2).all() and len(co2) == 526  # monthly means, gaps filled


def test_real_series_with_the_shared_folder(shared_data):
    series, notes = real_series(shared_data / "univariate_ts")
    assert not notes
    assert len(series["airline"]["y"]) == 144 and len(series["lynx"]["y"]) == 114


def test_task_is_registered_with_its_options():
    entry = list_tasks()["ar-vs-lstm"]
    assert set(entry.options) == {"series_dir", "seeds", "part"}


def test_part_option_is_checked_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from neuralab.cli import app

    r = CliRunner().invoke(app, ["run", "ar-vs-lstm", "--quick", "--set", "part=tables", "--out", str(tmp_path),
                                 "--device", "cpu"])
    assert r.exit_code == 2 and "expected all, claims or real" in r.output
