"""`neuralab vitals watch` and `anomaly.stream`: incremental AR scores equal the batch ones, alerts name the right
channel, range alerts, malformed lines skipped with their line numbers, follow mode, Ctrl-C, latency summary."""

from __future__ import annotations

import _thread
import io
import json
import signal
import threading
import time

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from neuralab.anomaly.analysis import default_detector, robust_scores
from neuralab.anomaly.detectors import make_detector
from neuralab.anomaly.stream import ARStream, StreamConfig, WindowStream, watch
from neuralab.cli_watch import register
from neuralab.data.vitals import read_vitals
from neuralab.data.vitals_sim import simulate, write_vitals_csv
from neuralab.data.vitals_stream import LineParser

CH = ["temperature_c", "heart_rate", "pulse_rate", "spo2", "ecg"]  # the course's five
runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """A stand-in for `neuralab vitals`."""

    register(app)
    return app


APP = _app()


@pytest.fixture(scope="module")
def det():
    return default_detector(CH, 1.0, hours=1.0)


@pytest.fixture(scope="module")
def model_dir(det, tmp_path_factory):
    return str(det.save(tmp_path_factory.mktemp("model") / "ar"))


def _normal(minutes: float, seed: int):
    return simulate(minutes / 60.0, 1.0, seed, anomalies=False, channels=CH)


def _alerts(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_incremental_ar_equals_batch_residuals(det):
    rec = simulate(0.5, 1.0, 11, channels=CH)  # with injected anomalies
    x, _ = det.scaler.transform(rec)
    batch = det.residuals(x)
    fixed = ARStream(det, StreamConfig(min_spread=10**9))  # never leaves det.sigma: the detector's own scores
    rows = [fixed.update(v) for v in rec.values]
    np.testing.assert_allclose(np.array([r for _, _, r in rows]), batch, rtol=0, atol=1e-9)
    _, channel = det._score(x)
    np.testing.assert_allclose(np.array([z for _, z, _ in rows]), channel, rtol=0, atol=1e-9)
    # the running robust spread lands near the batch one (1.4826·MAD over the whole normal record)
    normal = _normal(30, 12)
    running = ARStream(det)
    for v in normal.values:
        running.update(v)
    r = det.residuals(det.scaler.transform(normal)[0])[5:]
    whole = 1.4826 * np.median(np.abs(r - np.median(r, axis=0)), axis=0)
    np.testing.assert_allclose(running.sigma, whole, rtol=0.25)
    sample, channel = robust_scores(det, normal)  # same yardstick, same order of magnitude of scores
    assert np.nanmax(channel) < 10


def test_stream_parser_reads_like_the_batch_reader(tmp_path):
    rec = _normal(3, 1)
    path = write_vitals_csv(rec, tmp_path / "course.csv", style="course")  # Body_Temperature in °F
    lines = path.read_text().splitlines()
    parser = LineParser(lines[0], 1, str(path), None)
    got = np.array([parser.parse(line, i + 2).values for i, line in enumerate(lines[1:])])
    batch = read_vitals(path)
    assert parser.channels == batch.channels
    np.testing.assert_allclose(got, batch.values, rtol=0, atol=1e-9)
    assert any("°F" in n for n in parser.notes)


def test_spike_alert_names_the_channel(model_dir, tmp_path):
    rec = _normal(8, 2)
    hr = rec.channels.index("heart_rate")
    rec.values[300, hr] += 60.0  # one reading 60 bpm above its neighbours, pulse unmoved
    path = write_vitals_csv(rec, tmp_path / "spike.csv")
    r = runner.invoke(APP, ["watch", str(path), "--model", model_dir, "--format", "json"])
    assert r.exit_code == 0, r.output
    hits = [a for a in _alerts(r.stdout) if a["type"] == "anomaly" and a["start_s"] <= 300 <= a["end_s"]]
    assert len(hits) == 1, r.stdout
    a = hits[0]
    assert a["channels"][0] == "heart_rate" and "pulse_rate" not in a["channels"]
    assert a["kind"] == "point" and a["peak"] > 10 * a["threshold"]
    assert "heart rate" in a["explanation"] and "jumped to" in a["explanation"]
    assert "480 samples read, 0 malformed line(s) skipped" in r.stderr
    assert "per-sample latency mean" in r.stderr and "p99" in r.stderr


def test_sustained_tachycardia_at_rest_raises_a_range_alert(det, tmp_path):
    rec = _normal(10, 3)
    rng = np.random.default_rng(0)
    hr, pr = rec.channels.index("heart_rate"), rec.channels.index("pulse_rate")
    rec.values[200:400, hr] = 120.0 + rng.normal(0, 1.5, 200)
    rec.values[200:400, pr] = rec.values[200:400, hr] + rng.normal(0, 0.5, 200)
    path = write_vitals_csv(rec, tmp_path / "hr120.csv")
    out, err = io.StringIO(), io.StringIO()
    summary = watch(str(path), detector=det, fmt="json", out=out, err=err)
    ranges = [a for a in _alerts(out.getvalue()) if a["type"] == "range"]
    first = next(a for a in ranges if a["channels"] == ["heart_rate"])
    assert first["status"] == "ongoing" and first["duration_s"] >= 60 and 200 < first["start_s"] < 260
    assert abs(first["value"] - 120) < 3 and "> 100 bpm at rest" in first["explanation"]
    assert any(f in first["findings"] for f in ("tachycardia", "nocturnal_tachycardia"))
    assert any(a["channels"] == ["heart_rate"] and a["status"] == "ended" for a in ranges)
    assert {c for a in ranges for c in a["channels"]} <= {"heart_rate", "pulse_rate"}
    assert summary.range_alerts == 2  # heart rate and pulse rate, once each (the ongoing lines are updates)


def test_malformed_lines_are_reported_skipped_and_scoring_goes_on(model_dir, tmp_path):
    rec = _normal(8, 4)
    rec.values[400, rec.channels.index("spo2")] -= 15.0  # a spike after the bad lines
    lines = write_vitals_csv(rec, tmp_path / "r.csv").read_text().splitlines()
    lines[50] = lines[50].rsplit(",", 2)[0]  # line 51: fields missing
    cols = lines[80].split(",")
    cols[2] = "abc"  # line 81: not a number
    lines[80] = ",".join(cols)
    lines[120] = "08:xx," + lines[120].split(",", 1)[1]  # line 121: not a time
    lines[150] = lines[149]  # line 151: the same time as line 150
    r = runner.invoke(APP, ["watch", "--model", model_dir, "--format", "json"], input="\n".join(lines) + "\n")
    assert r.exit_code == 0, r.output
    for no, what in ((51, "field(s), the header has"), (81, "'abc' is not a number"),
                     (121, "'08:xx' is not a time"), (151, "is not after the previous sample's (line 150)")):
        assert f"line {no}: " in r.stderr and what in r.stderr, r.stderr
    assert "476 samples read, 4 malformed line(s) skipped" in r.stderr
    hits = [a for a in _alerts(r.stdout) if a["start_s"] <= 400 <= a["end_s"]]
    assert hits and hits[0]["channels"][0] == "spo2"


@pytest.fixture
def sigint_raises():
    """Python's own SIGINT handler for the test: `_thread.interrupt_main` does nothing while SIGINT is ignored,
    which it is in a process started in the background (`pytest &` from a script), and the test would hang."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_follow_a_growing_file_until_max_samples(model_dir, tmp_path, sigint_raises):
    lines = write_vitals_csv(_normal(3, 5), tmp_path / "src.csv").read_text().splitlines(keepends=True)
    path = tmp_path / "live.csv"
    path.write_text("".join(lines[:41]))  # header + 40 samples

    def grow() -> None:
        for i in range(41, len(lines), 20):
            time.sleep(0.05)
            chunk = "".join(lines[i:i + 20])
            with open(path, "a") as fh:  # a line written in two halves waits for its newline
                fh.write(chunk[:-30])
                fh.flush()
                time.sleep(0.03)
                fh.write(chunk[-30:])

    writer = threading.Thread(target=grow)
    watchdog = threading.Timer(30.0, _thread.interrupt_main)  # a hang fails the test instead of blocking it
    writer.start()
    watchdog.start()
    try:
        r = runner.invoke(APP, ["watch", str(path), "--follow", "--max-samples", "150", "--poll-interval", "0.02",
                                "--model", model_dir])
    finally:
        watchdog.cancel()
        writer.join()
    assert r.exit_code == 0, r.output
    assert "150 samples read, 0 malformed line(s) skipped" in r.stderr


def test_ctrl_c_prints_the_summary_and_exits_130(model_dir, tmp_path, sigint_raises):
    path = write_vitals_csv(_normal(1, 6), tmp_path / "live.csv")
    threading.Timer(1.0, _thread.interrupt_main).start()
    r = runner.invoke(APP, ["watch", str(path), "--follow", "--poll-interval", "0.05", "--model", model_dir])
    assert r.exit_code == 130, r.output
    assert "60 samples read" in r.stderr and "(interrupted)" in r.stderr


def test_user_errors_exit_2(model_dir, tmp_path):
    r = runner.invoke(APP, ["watch", "--model", model_dir], input="time,Heart_Rate\n0,70\n")
    assert r.exit_code == 2 and "error: <stdin>: the stream lacks channel(s) temperature_c" in r.stderr
    r = runner.invoke(APP, ["watch", "--model", model_dir], input="a,b\n1,2\n")
    assert r.exit_code == 2 and "no vital-sign column among the headers 'a', 'b'" in r.stderr
    r = runner.invoke(APP, ["watch", str(tmp_path / "missing.csv"), "--model", model_dir])
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = runner.invoke(APP, ["watch", "--model", model_dir, "--format", "xml"], input="HR\n70\n")
    assert r.exit_code == 2 and "--format must be one of text, json" in r.stderr


def test_window_scorer_equals_batch_scores_of_its_window():
    train = [_normal(20, 7)]
    det = make_detector("iforest", {"n_estimators": 10, "max_rows": 500, "roll": 10}, CH).fit(train)
    rec = simulate(0.1, 1.0, 8, channels=CH)
    stream = WindowStream(det)
    got = np.array([stream.update(v)[0] for v in rec.values])
    assert np.isnan(got[:9]).all()
    sample, _ = det._score(det.scaler.transform(rec)[0])
    np.testing.assert_allclose(got[9:], sample[9:], rtol=0, atol=1e-6)


def test_a_frozen_sensor_raises_a_flatline_alert(det, tmp_path):
    rec = _normal(6, 5)
    sp = rec.channels.index("spo2")
    rec.values[120:200, sp] = rec.values[120, sp]  # the oximeter freezes for 80 s
    path = write_vitals_csv(rec, tmp_path / "frozen.csv")
    out, err = io.StringIO(), io.StringIO()
    summary = watch(str(path), detector=det, fmt="json", out=out, err=err)
    flat = [a for a in _alerts(out.getvalue()) if a["type"] == "flatline"]
    assert [a["status"] for a in flat] == ["ongoing", "ended"], flat
    assert flat[0]["channels"] == ["spo2"] and flat[0]["kind"] == "collective"
    assert 119 <= flat[0]["start_s"] <= 121 and 75 <= flat[1]["duration_s"] <= 81
    assert "sensor fault" in flat[0]["explanation"] and "kept varying" in flat[0]["explanation"]
    assert summary.flatline_alerts == 1 and "1 flatline" in err.getvalue()
