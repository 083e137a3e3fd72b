"""`neuralab demo`: runs every task in quick mode and links their reports and plots from one index.html."""

from typer.testing import CliRunner

import neuralab.tasks.base as base
from neuralab.cli import app


def test_demo_collects_reports_into_index(tmp_path, monkeypatch):
    # The full demo runs every task (timed in the closing note); here one fast task checks the plumbing.
    every = base.list_tasks()
    monkeypatch.setattr(base, "list_tasks", lambda: {"backprop": every["backprop"]})
    out = tmp_path / "demo"
    r = CliRunner().invoke(app, ["demo", "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    index = (out / "index.html").read_text()
    assert "backprop/report.html" in index
    assert "backprop/plots/error_curve.png" in index
    assert (out / "backprop" / "plots" / "error_curve.png").is_file()
    # the vital-sign application runs after the tasks: its report and chart are linked too
    assert "vitals/report.html" in index and "vitals/chart.svg" in index
    assert (out / "vitals" / "analysis.json").is_file()
    assert "2/2 tasks done" in r.output and "Contextual Anomaly" in r.output


def test_demo_rerun_replaces_the_old_runs(tmp_path, monkeypatch):
    every = base.list_tasks()
    monkeypatch.setattr(base, "list_tasks", lambda: {"backprop": every["backprop"]})
    out = tmp_path / "demo"
    (out / "backprop" / "stale").mkdir(parents=True)
    r = CliRunner().invoke(app, ["demo", "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert not (out / "backprop" / "stale").exists()
