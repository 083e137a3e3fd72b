"""The labelled vital-sign simulator: physiology that hangs together, labelled injections, CSV round trips."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from neuralab.data.vitals import CHANNELS, VitalsRecord, VitalsTruth, flag_faults, read_vitals, read_vitals_many
from neuralab.data.vitals_sim import INJECTORS, describe_events, inject_anomalies, simulate, write_vitals_csv
from neuralab.errors import ConfigError


@pytest.fixture(scope="module")
def day() -> VitalsRecord:
    return simulate(hours=24, rate_hz=0.1, seed=3, anomalies=False)  # 8,640 samples: a day, cheaply


def test_same_seed_same_recording_other_seed_differs():
    a = simulate(hours=1, rate_hz=1, seed=5)
    b = simulate(hours=1, rate_hz=1, seed=5)
    c = simulate(hours=1, rate_hz=1, seed=6)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.truth.label, b.truth.label)
    assert list(a.truth.cause) == list(b.truth.cause)
    assert not np.allclose(a.values, c.values)


def test_normal_physiology(day):
    v = {name: day.values[:, i] for i, name in enumerate(day.channels)}
    assert day.channels == list(CHANNELS) and day.truth.label.sum() == 0 and not day.faults.any()
    clock = (8 + day.seconds / 3600) % 24
    night, afternoon = (clock > 1) & (clock < 5), (clock > 14) & (clock < 18)
    assert v["heart_rate"][night].mean() < v["heart_rate"][afternoon].mean() - 8  # sleep lowers HR
    assert v["temperature_c"][night].mean() < v["temperature_c"][afternoon].mean()
    # activity drives HR, BP and breathing together; pulse is the same beats as HR
    assert np.corrcoef(v["heart_rate"], v["systolic_bp"])[0, 1] > 0.6
    assert np.corrcoef(v["heart_rate"], v["respiration_rate"])[0, 1] > 0.6
    assert np.corrcoef(v["heart_rate"], v["pulse_rate"])[0, 1] > 0.97
    for name, (lo, hi) in {"heart_rate": (45, 140), "spo2": (93, 100.0001), "temperature_c": (36, 37.6),
                           "respiration_rate": (8, 32), "systolic_bp": (85, 165)}.items():
        assert lo < v[name].min() and v[name].max() < hi, name


@pytest.mark.parametrize("name", list(INJECTORS))
def test_each_injector_labels_and_changes_the_data(day, name):
    out = inject_anomalies(day, np.random.default_rng(1), n_events=2, kinds=[name])
    kind, source, _, _ = INJECTORS[name]
    events = out.truth.events()
    assert len(events) == 2 and day.truth.label.sum() == 0  # the input record is not modified
    for ev in events:
        assert ev["kind"] == kind and ev["source"] == source and ev["cause"].startswith(name)
        span = slice(ev["start"], ev["end"] + 1)
        first = ev["channels"][0]
        c = out.channels.index(first)
        before, after = day.values[span, c], out.values[span, c]
        assert not np.allclose(before, after), (name, first)
        if name == "dropout":
            assert (after == 0).all()
        if name == "flatline":
            assert np.ptp(after) == 0 and len(after) >= 4
        if name in ("hr_rise_at_rest", "hr_pulse_mismatch"):  # one sensor departs from its partners
            hr, pr = out.channel("heart_rate")[span], out.channel("pulse_rate")[span]
            assert np.abs(hr - pr).max() > 15 and ev["channels"] == (first,)
        if name == "night_tachycardia":
            assert set(ev["channels"]) >= {"heart_rate", "pulse_rate"}
            dh = out.channel("heart_rate")[span] - day.channel("heart_rate")[span]
            dp = out.channel("pulse_rate")[span] - day.channel("pulse_rate")[span]
            assert dh.max() > 25 and np.corrcoef(dh, dp)[0, 1] > 0.95  # partners move together
    unlabelled = out.truth.label == 0
    assert np.array_equal(out.values[unlabelled], day.values[unlabelled])


def test_simulate_with_anomalies_has_every_kind():
    rec = simulate(hours=8, rate_hz=0.5, seed=2, start=datetime(2026, 1, 5, 22, 0))
    counts = describe_events(rec)
    assert all(counts[k] >= 1 for k in ("point", "contextual", "collective"))
    assert 0.01 < rec.truth.label.mean() < 0.25
    causes = {c.split(":")[0] for c in rec.truth.cause if c}
    assert causes == set(INJECTORS)
    night = [e for e in rec.truth.events() if e["cause"].startswith("night_tachycardia")]
    hours = [(22 + rec.seconds[e["start"]] / 3600) % 24 for e in night]
    assert all(h >= 22.5 or h < 7.5 for h in hours), hours  # placed while asleep


def test_inject_on_a_record_with_few_channels():
    n = 600
    rec = VitalsRecord(values=np.full((n, 1), 70.0), channels=["heart_rate"], seconds=np.arange(n, dtype=float),
                       start=None, rate_hz=1.0, faults=np.zeros((n, 1), bool), truth=None, notes=[], source="hr")
    out = inject_anomalies(rec, 0, n_events=3, kinds=["spike", "desaturation"])  # no SpO2: spikes only
    assert {e["cause"].split(":")[0] for e in out.truth.events()} == {"spike"}
    with pytest.raises(ConfigError, match=r"none of the injectors desaturation fits channels heart_rate"):
        inject_anomalies(rec, 0, kinds=["desaturation"])
    with pytest.raises(ConfigError, match=r"unknown anomaly injector\(s\) sneeze"):
        inject_anomalies(rec, 0, kinds=["sneeze"])


def test_csv_round_trip_course_style(tmp_path):
    rec = simulate(hours=0.5, rate_hz=1, seed=4, n_events=6)
    path = write_vitals_csv(rec, tmp_path / "sim.csv", comment="neuralab vitals simulate --hours 0.5")
    header = path.read_text().splitlines()[1].split(",")
    assert header[:6] == ["time", "Body_Temperature", "Heart_Rate", "Pulse_Rate", "SpO2", "ECG"]
    assert header[-5:] == ["label", "anomaly_kind", "anomaly_source", "anomaly_channels", "anomaly_cause"]
    frame = pd.read_csv(path, comment="#")
    assert 96 < frame["Body_Temperature"].median() < 100  # °F in the course style
    back = read_vitals(path)
    assert back.start == rec.start and back.rate_hz == 1.0 and back.channels == rec.channels
    assert np.abs(back.values - rec.values).max() < 0.01
    for attr in ("label", "kind", "source", "cause", "channels"):
        assert list(getattr(back.truth, attr)) == list(getattr(rec.truth, attr)), attr
    canon = read_vitals(write_vitals_csv(rec, tmp_path / "c.csv", style="canonical"))
    assert np.abs(canon.values - rec.values).max() < 0.001


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "sim.csv"
    path.write_text("old content\n")
    rec = simulate(hours=0.1, rate_hz=1, seed=0)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        write_vitals_csv(rec, path)
    assert path.read_text() == "old content\n" and [p.name for p in tmp_path.iterdir()] == ["sim.csv"]


def test_bad_options():
    with pytest.raises(ConfigError, match=r"hours and rate must be > 0"):
        simulate(hours=0)
    with pytest.raises(ConfigError, match=r"style must be 'course' or 'canonical'"):
        write_vitals_csv(simulate(hours=0.01, rate_hz=1), "x.csv", style="fancy")


def test_truth_helpers():
    tr = VitalsTruth.normal(3)
    assert tr.label.tolist() == [0, 0, 0] and tr.events() == []
    flags = flag_faults(np.array([[0.0, 1.0], [70.0, np.inf], [np.nan, np.nan]]), ["heart_rate", "ecg"])
    assert flags.tolist() == [[True, False], [False, True], [False, False]]


def test_inject_into_a_real_physionet_stay(shared_data):
    archive = shared_data / "physionet_challenge_2012" / "set-a.tar.gz"
    if not archive.exists():
        pytest.skip(f"{archive} not found")
    stay = read_vitals_many(archive, limit=1)[0]
    out = inject_anomalies(stay, np.random.default_rng(0), n_events=4)
    events = out.truth.events()
    assert 1 <= len(events) <= 4 and out.truth.label.mean() <= 0.25
    for ev in events:
        assert set(ev["channels"]) <= set(stay.channels)
        span = slice(ev["start"], ev["end"] + 1)
        c = out.channels.index(ev["channels"][0])
        assert not np.allclose(np.nan_to_num(out.values[span, c]), np.nan_to_num(stay.values[span, c]))


def test_simulate_a_subset_of_channels():
    rec = simulate(hours=1, rate_hz=0.5, seed=1, channels=["Heart_Rate", "spo2", "ECG"])
    assert rec.channels == ["heart_rate", "spo2", "ecg"] and rec.values.shape == (1800, 3)
    for ev in rec.truth.events():  # every labelled event is visible in the kept channels
        assert set(ev["channels"]) <= set(rec.channels)
    with pytest.raises(ConfigError, match=r"unknown channel\(s\) blood"):
        simulate(hours=1, channels=["blood"])


@pytest.mark.parametrize(("phi", "n"), [(0.995, 3000), (0.5, 7), (0.99999, 1500), (1e-9, 20)])
def test_blocked_first_order_scan_matches_the_recursion(phi, n):
    from neuralab.data.vitals_sim import _first_order

    u = np.random.default_rng(0).normal(size=n)
    ref, y = np.empty(n), 0.7
    for i in range(n):  # the recursion itself: y[i] = phi·y[i-1] + u[i]
        y = phi * y + u[i]
        ref[i] = y
    assert np.allclose(_first_order(u, phi, 0.7), ref, rtol=1e-9, atol=1e-8)


def test_sub_second_rates_round_trip_exactly(tmp_path):
    rec = simulate(hours=0.05, rate_hz=4.0, seed=1, anomalies=False)
    back = read_vitals(write_vitals_csv(rec, tmp_path / "fast.csv"))
    assert back.rate_hz == 4.0 and np.array_equal(back.seconds, rec.seconds)
