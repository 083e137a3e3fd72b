"""`neuralab vitals simulate` as a user types it (the detectors' commands are tested beside their code)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from neuralab.cli import app
from neuralab.data.vitals import read_vitals

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["vitals", *map(str, args)])


def test_simulate_writes_a_labelled_course_style_file(tmp_path):
    out = tmp_path / "sim.csv"
    r = invoke("simulate", "--hours", 0.5, "--rate", 1, "--seed", 7, "--out", out)
    assert r.exit_code == 0, r.output
    assert f"wrote {out}: 1,800 rows x 8 channels, 0.5 h at 1 Hz, seed 7" in r.output
    assert "anomaly events:" in r.output and "% of samples labelled" in r.output
    assert out.read_text().startswith("time,Body_Temperature,Heart_Rate,Pulse_Rate,SpO2,ECG,")
    rec = read_vitals(out)
    assert rec.truth is not None and rec.truth.label.sum() > 0 and len(rec) == 1800


def test_simulate_is_deterministic_and_can_be_normal(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path in (a, b):
        assert invoke("simulate", "--hours", 0.2, "--seed", 3, "--out", path).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    normal = tmp_path / "n.csv"
    r = invoke("simulate", "--hours", 0.2, "--no-anomalies", "--style", "canonical", "--out", normal)
    assert r.exit_code == 0 and "anomaly events: 0 " in r.output
    rec = read_vitals(normal)
    assert rec.truth.label.sum() == 0 and normal.read_text().startswith("time,temperature_c,heart_rate,")


def test_simulate_only_some_kinds(tmp_path):
    out = tmp_path / "f.csv"
    r = invoke("simulate", "--hours", 1, "--rate", 0.5, "--kinds", "flatline,spike", "--events", 4, "--out", out)
    assert r.exit_code == 0, r.output
    causes = {c.split(":")[0] for c in read_vitals(out).truth.cause if c}
    assert causes <= {"flatline", "spike"} and causes


def test_simulate_bad_options_exit_2_with_one_line(tmp_path):
    for args, message in ((("--style", "fancy"), "error: --style must be 'course' or 'canonical', got 'fancy'"),
                          (("--hours", 0), "error: hours and rate must be > 0"),
                          (("--kinds", "sneeze"), "error: unknown anomaly injector(s) sneeze"),
                          (("--start", "noon"), "error: --start 'noon' is not an ISO date-time")):
        r = invoke("simulate", "--out", tmp_path / "x.csv", *args)
        assert r.exit_code == 2 and message in r.output, (args, r.output)
        assert "Traceback" not in r.output
    assert not (tmp_path / "x.csv").exists()


def test_example_file_is_what_the_readme_command_writes(tmp_path):
    example = Path(__file__).resolve().parents[1] / "examples" / "test-data.csv"
    assert example.stat().st_size < 1_000_000
    out = tmp_path / "test-data.csv"
    r = invoke("simulate", "--hours", 2, "--rate", 1, "--seed", 7, "--kinds", "hr_rise_at_rest,night_tachycardia",
               "--events", 2, "--channels", "Body_Temperature,Heart_Rate,Pulse_Rate,SpO2,ECG", "--out", out)
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == example.read_bytes()  # regenerated bit for bit
    rec = read_vitals(example)
    assert rec.channels == ["temperature_c", "heart_rate", "pulse_rate", "spo2", "ecg"]
    assert example.read_text().startswith("time,Body_Temperature,Heart_Rate,Pulse_Rate,SpO2,ECG,label,")
    assert {e["kind"] for e in rec.truth.events()} == {"contextual"}
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    assert ("neuralab vitals simulate --hours 2 --rate 1 --seed 7 --kinds hr_rise_at_rest,night_tachycardia "
            "--events 2 --channels Body_Temperature,Heart_Rate,Pulse_Rate,SpO2,ECG --out examples/test-data.csv"
            in readme)
