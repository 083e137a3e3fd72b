"""The knowledge base: each pattern is found from the numbers, with its evidence, and nothing on normal data."""

from __future__ import annotations

import numpy as np
import pytest

from neuralab.anomaly.knowledge import DISCLAIMER, PATTERNS, baseline_of, findings

CH = ["temperature_c", "heart_rate", "pulse_rate", "spo2", "systolic_bp", "diastolic_bp", "respiration_rate"]
NORMAL = np.array([36.8, 72.0, 73.0, 97.5, 118.0, 76.0, 14.0])


def normal_rows(n=600, seed=0):
    rng = np.random.default_rng(seed)
    noise = np.array([0.1, 2.0, 2.0, 0.6, 3.0, 2.0, 1.0])
    return NORMAL + noise * rng.standard_normal((n, len(CH)))


def window(rows):
    return {c: rows[:, i] for i, c in enumerate(CH)}


@pytest.fixture
def base():
    return baseline_of(normal_rows(), CH)


def keys(fs):
    return [f.pattern for f in fs]


def test_normal_values_show_no_pattern(base):
    assert findings(window(normal_rows(60, seed=1)), base) == []


def test_tachycardia_with_numbers_and_causes(base):
    rows = normal_rows(60, seed=2)
    rows[:, 1] += 50
    rows[:, 2] += 50
    rows[:, 4] += 25
    rows[:, 6] += 8
    fs = findings(window(rows), base)
    tachy = fs[keys(fs).index("tachycardia")]
    assert "heart rate (ECG) median 12" in tachy.evidence and "adult reference 60–100 bpm" in tachy.evidence
    assert "this patient's usual 72 bpm" in tachy.evidence
    assert any("thyroid" in c for c in tachy.causes) and any("electrolyte" in c for c in tachy.causes)
    assert "hr_without_partners" not in keys(fs)  # pulse, BP and breathing moved with it


def test_night_tachycardia_and_heart_rate_moving_alone(base):
    rows = normal_rows(300, seed=3)
    rows[:, 1] += 35  # ECG heart rate up, every partner still
    fs = findings(window(rows), base, night=True)
    assert "nocturnal_tachycardia" in keys(fs)
    assert "hr_without_partners" in keys(fs)
    assert "pulse_deficit" in keys(fs)  # the oximeter no longer agrees with the ECG


def test_sensor_patterns(base):
    rows = normal_rows(120, seed=4)
    rows[:, 3] = 97.0  # SpO2 frozen
    rows[10:12, 1] = 0.0  # HR dropout
    fs = findings(window(rows), base, faults={"heart_rate": 2})
    assert "flatline" in keys(fs)
    flat = fs[keys(fs).index("flatline")]
    assert flat.channels == ["spo2"] and "120 consecutive readings" in flat.evidence
    assert "signal_loss" in keys(fs)


def test_irregular_rhythm_hypoxaemia_fever_pressure_breathing(base):
    rng = np.random.default_rng(5)
    rows = normal_rows(200, seed=5)
    rows[:, 1] += rng.choice([-15.0, 15.0], 200)
    rows[:, 3] -= 9
    rows[:, 0] += 1.6
    rows[:, 4] += 35
    rows[:, 6] += 10
    got = keys(findings(window(rows), base))
    for k in ("irregular_rhythm", "hypoxaemia", "fever", "hypertension", "tachypnoea"):
        assert k in got


def test_every_pattern_has_causes_and_the_disclaimer_says_not_a_diagnosis():
    assert all(p.causes and p.title for p in PATTERNS.values())
    assert "not a diagnosis" in DISCLAIMER
