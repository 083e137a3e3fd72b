"""Run reports: files written, run.json life cycle, embedded images, HTML escaping."""

from __future__ import annotations

import base64
import json
import re

import matplotlib.pyplot as plt
import pytest

from neuralab.report import Report, read_status
from neuralab.train.trainer import History

EVIL = "<script>alert('x')</script>"


def _report(tmp_path) -> Report:
    rep = Report(tmp_path / "run", title="Test <run>", task="unit")
    rep.heading("Results")
    rep.text(f"plain {EVIL} with `code & more`")
    rep.table(["metric", "value"], [["accuracy", 0.91234567], ["note", EVIL], ["tiny", 1.5e-7], ["pipe", "a|b"]],
              caption="Scores")
    rep.code("print('<hi>')\n")
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    rep.figure(fig, "line", caption="A line")
    rep.history(History([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2},
                         {"epoch": 2, "train_loss": 0.5, "val_loss": 0.7}]))
    rep.add_metrics(accuracy=0.91234567, n=10)
    rep.say(f"summary line {EVIL}")
    return rep


def test_report_files_and_status_life_cycle(tmp_path):
    rep = _report(tmp_path)
    run = tmp_path / "run"
    status = read_status(run)
    assert status["status"] == "running" and status["task"] == "unit" and "started" in status
    assert "ended" not in status

    html_path = rep.finish()
    assert html_path == run / "report.html"
    for name in ("metrics.json", "report.md", "report.html", "history.csv", "plots/line.png",
                 "plots/history_curves.png"):
        assert (run / name).is_file(), name
    assert json.loads((run / "metrics.json").read_text()) == {"accuracy": 0.91234567, "n": 10}
    done = read_status(run)
    assert done["status"] == "done" and done["started"] == status["started"] and "ended" in done
    assert not [p for p in run.rglob("*.tmp")]

    md = (run / "report.md").read_text()
    assert md.startswith("# Test <run>")
    assert "| metric | value |" in md and "| accuracy | 0.9123 |" in md and "| tiny | 1.500e-07 |" in md
    assert "| pipe | a\\|b |" in md  # a pipe in a cell does not split it
    assert "![A line](plots/line.png)" in md
    assert (run / "history.csv").read_text().splitlines()[0] == "epoch,train_loss,val_loss"


def test_html_embeds_png_and_escapes_text(tmp_path):
    html = _report(tmp_path).to_html()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) == 2
    assert all(base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n") for data in images)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "<td>&lt;script&gt;" in html  # table cell escaped too
    assert "<title>Test &lt;run&gt;</title>" in html
    assert "<code>code &amp; more</code>" in html  # backticks become <code>, contents escaped
    assert "<pre>print(&#x27;&lt;hi&gt;&#x27;)\n</pre>" in html
    assert "<caption>Scores</caption>" in html
    assert "<li>summary line &lt;script&gt;" in html


def test_fail_marks_run_failed(tmp_path):
    rep = Report(tmp_path / "run", title="t", task="unit", info={"seed": 3})
    rep.fail("ValueError: boom")
    status = read_status(tmp_path / "run")
    assert status["status"] == "failed" and status["error"] == "ValueError: boom" and status["seed"] == 3
    assert "ended" in status
    assert not (tmp_path / "run" / "report.html").exists()


def test_read_status_of_missing_or_broken_run(tmp_path):
    assert read_status(tmp_path / "nothing") == {}
    (tmp_path / "run.json").write_text("{broken")
    assert read_status(tmp_path) == {}


@pytest.mark.parametrize(("value", "text"), [(0.0, "0"), (100.0, "100"), (0.5, "0.5"), (float("nan"), "nan"),
                                             (2.5e7, "2.500e+07"), (3, "3"), ("x", "x")])
def test_table_number_format(tmp_path, value, text):
    rep = Report(tmp_path / "run", title="t")
    rep.table(["v"], [[value]])
    assert f"| {text} |" in rep.to_markdown()


def test_metrics_json_is_standard_json_with_nan_as_null(tmp_path):
    import math

    r = Report(tmp_path / "run", "t", task="t")
    r.add_metrics(auc=float("nan"), nested={"x": [1.0, float("inf")]}, ok=0.5)
    r.finish()
    text = (tmp_path / "run" / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text, parse_constant=lambda c: math.nan)
    assert data == {"auc": None, "nested": {"x": [1.0, None]}, "ok": 0.5}


def test_a_resumed_run_loses_the_old_error(tmp_path):
    r = Report(tmp_path / "run", "t", task="t")
    r.fail("RuntimeError: boom")
    assert read_status(tmp_path / "run")["error"] == "RuntimeError: boom"
    r2 = Report(tmp_path / "run", "t", task="t")
    assert "error" not in read_status(tmp_path / "run")
    assert read_status(tmp_path / "run")["status"] == "running"
    r2.finish()
    assert "error" not in read_status(tmp_path / "run")
