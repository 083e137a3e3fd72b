"""`neuralab vitals analyze` / `ask`: the analysis of one recording, its files, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neuralab.anomaly.analysis import SCHEMA_VERSION, analyze, analyze_record, label_of, monitors, write_outputs
from neuralab.anomaly.evaluate import events_from_mask
from neuralab.cli import app
from neuralab.data.vitals_sim import simulate, write_vitals_csv
from neuralab.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "test-data.csv"
runner = CliRunner()


@pytest.fixture(scope="module")
def example_result():
    return analyze(EXAMPLE)


def test_example_is_a_contextual_anomaly_with_a_complete_schema(example_result):
    a = example_result.analysis
    assert a["schema_version"] == SCHEMA_VERSION and a["file"] == "test-data.csv"
    assert a["label"].startswith("contextual anomaly") and "Contextual Anomaly" in a["headline"]
    assert a["counts"]["contextual"] >= 1 and set(a["counts"]) == {"point", "contextual", "collective"}
    for ev in a["events"]:
        for key in ("start", "end", "kind", "source", "channels", "score", "evidence", "explanation"):
            assert key in ev, key
        assert ev["kind"] in ("point", "contextual", "collective")
        assert ev["source"] in ("sensor_fault", "physiological")
        assert abs(sum(ev["contributions"].values()) - 1.0) < 0.01
    # both labelled events are found and attributed to a truly affected channel
    rec = example_result.record
    truths = events_from_mask(rec.truth.label.astype(bool))
    for ts, te in truths:
        hit = [ev for ev, (s, e) in zip(a["events"], example_result.spans, strict=True) if s <= te and ts <= e]
        assert hit, (ts, te)
        assert hit[0]["kind"] == rec.truth.kind[ts]
        assert hit[0]["channels"][0] in rec.truth.channels[ts]
    tachy = [ev for ev in a["events"] if any(f["pattern"] == "tachycardia" for f in ev["findings"])]
    assert tachy, "the night/rest tachycardia is explained as tachycardia"
    assert "108 bpm" in tachy[0]["explanation"] or "bpm" in tachy[0]["explanation"]


def test_kinds_sources_and_channels_on_a_simulated_day_with_known_causes():
    rec = simulate(8.0, 1.0, 3)
    res = analyze_record(rec)
    tr = rec.truth
    truths = events_from_mask(tr.label.astype(bool))
    right = {"kind": 0, "source": 0, "channel": 0}
    matched = 0
    for ev, (s, e) in zip(res.analysis["events"], res.spans, strict=True):
        over = [(min(e, te) - max(s, ts), ts) for ts, te in truths if s <= te and ts <= e]
        if not over:
            continue
        ts = max(over)[1]
        matched += 1
        right["kind"] += ev["kind"] == tr.kind[ts]
        right["source"] += ev["source"] == tr.source[ts]
        right["channel"] += max(ev["contributions"], key=ev["contributions"].get) in tr.channels[ts]
    assert matched >= 0.8 * len(truths)
    for k, v in right.items():
        assert v / matched >= 0.8, (k, right, matched)


def test_outputs_are_written_with_analysis_json_last(example_result, tmp_path):
    files = write_outputs(example_result, tmp_path / "out")
    assert [p.name for p in files] == ["chart.svg", "report.html", "analysis.json"]
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html and "Event 1" in html and "not a diagnosis" in html
    data = json.loads((tmp_path / "out" / "analysis.json").read_text(encoding="utf-8"))
    assert data["events"] == json.loads(json.dumps(example_result.analysis["events"]))
    assert not list((tmp_path / "out").glob("*.tmp*"))


def test_monitors_fire_on_rest_tachycardia_and_frozen_sensor_not_on_normal_data():
    rec = simulate(2.0, 1.0, 11, anomalies=False)
    assert monitors(rec, 1.0).max() == 0.0
    sick = rec.copy()
    hr, pr = sick.channels.index("heart_rate"), sick.channels.index("spo2")
    sick.values[1000:1400, hr] = 125.0 + np.random.default_rng(0).normal(0, 1, 400)
    sick.values[3000:3100, pr] = sick.values[3000, pr]
    m = monitors(sick, 1.0)
    assert m[1100:1300, hr].min() >= 1.0 and m[3010:3090, pr].min() >= 1.0
    assert m[5000:6000].max() == 0.0


def test_a_recording_without_time_uses_seconds(tmp_path):
    rec = simulate(1.0, 1.0, 5, anomalies=False, channels=["heart_rate", "pulse_rate", "spo2"])
    rec.values[1800, 0] = 190.0
    p = tmp_path / "no_time.csv"
    lines = ["Heart_Rate,Pulse_Rate,SpO2"] + [",".join(f"{v:.2f}" for v in row) for row in rec.values]
    p.write_text("\n".join(lines) + "\n")
    a = analyze(p).analysis
    assert a["recording"]["start"] is None
    spike = [ev for ev in a["events"] if ev["kind"] == "point" and ev["channels"][0] == "heart_rate"]
    assert spike and isinstance(spike[0]["start"], float) and abs(spike[0]["start"] - 1800.0) <= 2


def test_label_wording():
    assert label_of({"point": 0, "contextual": 0, "collective": 0}) == "no anomaly found"
    assert label_of({"point": 2, "contextual": 1, "collective": 0}) == "contextual anomaly and point anomaly present"


@pytest.mark.parametrize("content, expected", [
    (b"", "empty"),
    (b"\x00\x01\x02\xff" * 200, "binary"),
    (b"time;Heart_Rate;Pulse_Rate\n0;70;71\n1;71;70\n", ""),
    (b"time,Heart_Rate,SpO2\n" + b"".join(f"{i},,\n".encode() for i in range(50)), "empty"),
])
def test_bad_files_get_a_clear_message_and_exit_2(tmp_path, content, expected):
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    out = tmp_path / "out"
    r = runner.invoke(app, ["vitals", "analyze", str(p), "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "error:" in r.output and "bad.csv" in r.output and "Traceback" not in r.output
    assert expected in r.output.lower()
    assert not (out / "analysis.json").exists()


def test_too_many_rows_is_refused_before_reading_it_all(tmp_path):
    p = tmp_path / "long.csv"
    write_vitals_csv(simulate(0.5, 1.0, 1, anomalies=False, channels=["heart_rate", "pulse_rate"]), p)
    with pytest.raises(DataError, match="more than 1,000 rows"):
        analyze(p, max_rows=1000)


def test_cli_analyze_then_ask(tmp_path):
    out = tmp_path / "a"
    r = runner.invoke(app, ["vitals", "analyze", str(EXAMPLE), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "Analyzing WBAN Sensor Data from file: test-data.csv" in r.output and "contextual" in r.output
    assert (out / "report.html").is_file() and (out / "analysis.json").is_file()
    r = runner.invoke(app, ["vitals", "ask", str(out), "Why is this a context anomaly and what could cause it?"])
    assert r.exit_code == 0, r.output
    facts = json.loads((out / "analysis.json").read_text())
    ev = next(e for e in facts["events"] if e["kind"] == "contextual")
    assert ev["kind_reason"][:40] in r.output and "not a diagnosis" in r.output
    r = runner.invoke(app, ["vitals", "ask", str(tmp_path / "nothing"), "why?"])
    assert r.exit_code == 2 and "no analysis.json" in r.output
    r = runner.invoke(app, ["vitals", "analyze", str(EXAMPLE), "--out", str(out), "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.output)["schema_version"] == SCHEMA_VERSION


def test_a_trained_detector_directory_can_be_used(tmp_path):
    from neuralab.anomaly.run import train

    normal = simulate(2.0, 1.0, 2, anomalies=False, channels=["temperature_c", "heart_rate", "pulse_rate", "spo2",
                                                               "ecg"])
    train([], "ar", tmp_path / "det", records=[normal])
    res = analyze(EXAMPLE, model_dir=tmp_path / "det")
    assert res.analysis["detector"].startswith("ar from") and res.analysis["counts"]["contextual"] >= 1
    with pytest.raises(Exception, match="either --detector or --model"):
        analyze(EXAMPLE, model_dir=tmp_path / "det", detector="ar")


def _hourly_stay(seed: int = 4):
    """Two days on an hourly grid (an ICU stay's shape), no anomaly."""
    return simulate(48.0, 1.0 / 3600.0, seed, anomalies=False, channels=["temperature_c", "heart_rate",
                                                                       "systolic_bp", "diastolic_bp"])


def test_on_an_hourly_grid_runs_one_quiet_reading_apart_are_one_event():
    from neuralab.anomaly.analysis import _event_spans, merge_gap

    assert merge_gap(1.0) == 30 and merge_gap(1.0 / 3600.0) == 1 and merge_gap(1.0 / 3600.0, 7200.0) == 2
    flag = np.zeros(48, bool)
    flag[[20, 22, 36]] = True  # one quiet hour between 20 and 22; 36 is far
    assert _event_spans(flag, merge_gap(1.0 / 3600.0)) == [(20, 22), (36, 36)]


def test_alarm_z_and_merge_s_override_and_are_checked():
    rec = _hourly_stay()
    res = analyze_record(rec, alarm_z=1e6)
    assert res.threshold == 1e6 and res.analysis["threshold"] == 1e6
    assert all(ev["detected_by"] == "rule monitors" for ev in res.analysis["events"])
    from neuralab.errors import ConfigError

    with pytest.raises(ConfigError, match="alarm_z must be > 0"):
        analyze_record(rec, alarm_z=0.0)
    with pytest.raises(ConfigError, match="merge_s must be >= 0"):
        analyze_record(rec, merge_s=-1.0)
