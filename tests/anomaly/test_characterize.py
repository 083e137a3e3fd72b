"""Event kinds, sources and attribution against the simulator's truth (segmentation given by the truth spans,
so this measures the characterisation alone; the detector's segmentation is measured in the analysis tests)."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from neuralab.anomaly.characterize import characterize, night_mask, time_label
from neuralab.anomaly.knowledge import baseline_of
from neuralab.data.vitals_sim import simulate


def characterized(seed: int, hours: float = 24):
    rec = simulate(hours=hours, rate_hz=1, seed=seed)
    busy = rec.truth.label.astype(bool)
    base = baseline_of(rec.values, rec.channels, ~busy)
    night = night_mask(rec)
    for ev in rec.truth.events():
        yield rec, ev, characterize(rec, ev["start"], ev["end"], base, night=night, busy=busy)


def test_kind_source_and_top_channel_are_right_for_90_percent_of_events():
    score = collections.Counter()
    for seed in (11, 12):
        for _rec, ev, f in characterized(seed):
            score["n"] += 1
            score["kind"] += f.kind == ev["kind"]
            score["source"] += f.source == ev["source"]
            score["channel"] += f.channels[0] in ev["channels"]
    assert score["n"] >= 40
    for key in ("kind", "source", "channel"):
        assert score[key] / score["n"] >= 0.9, (key, score)


def test_each_event_carries_reasons_evidence_and_findings():
    for rec, ev, f in characterized(3, hours=12):
        d = f.as_dict(rec, score=1.5)
        assert d["kind_reason"] and d["source_reason"] and d["evidence"]
        assert d["start"] == time_label(rec, ev["start"]) and d["duration_s"] > 0
        assert abs(sum(f.contributions.values()) - 1.0) < 1e-6
        cause = ev["cause"].split(":")[0]
        patterns = {x.pattern for x in f.findings}
        if cause == "flatline":
            assert "flatline" in patterns and "froze" in f.source_reason
        if cause == "night_tachycardia":
            assert "at night" in f.kind_reason or "at rest" in f.kind_reason
        if cause == "desaturation":
            assert "hypoxaemia" in patterns or "SpO2" in f.kind_reason


def test_detector_scores_drive_attribution():
    rec = simulate(hours=4, rate_hz=1, seed=5)
    ev = rec.truth.events()[0]
    scores = np.zeros(rec.values.shape)
    scores[:, rec.channels.index("temperature_c")] = 1.0
    base = baseline_of(rec.values, rec.channels)
    f = characterize(rec, ev["start"], ev["end"], base, channel_scores=scores)
    assert f.channels == ["temperature_c"] and f.contributions["temperature_c"] == pytest.approx(1.0)


def test_an_event_whose_neighbourhood_has_no_readings_is_still_characterized():
    # A sparse hospital record (PhysioNet-like): readings around the event are missing in every channel, so the
    # local reference is empty and the rest of the record has to serve (this crashed with a ValueError before).
    rec = simulate(hours=1, rate_hz=1, seed=2, anomalies=False)
    start, end = 1800, 1830
    rec.values[start - 400:start] = np.nan
    rec.values[end + 1:end + 400] = np.nan
    hr = rec.channels.index("heart_rate")
    rec.values[start:end + 1, hr] += 40.0  # a sustained rise
    base = baseline_of(rec.values, rec.channels)
    f = characterize(rec, start, end, base)
    assert f.channels[0] == "heart_rate" and f.kind in ("contextual", "collective")
    d = f.as_dict(rec, score=2.0)
    assert d["kind_reason"] and "nan" not in d["kind_reason"].lower()
    none = rec.copy()
    none.values[:] = np.nan  # nothing to compare at all: still an answer, not a crash
    none.values[start:end + 1, hr] = 120.0
    g = characterize(none, start, end, baseline_of(rec.values, rec.channels))
    assert g.kind in ("point", "contextual", "collective")
