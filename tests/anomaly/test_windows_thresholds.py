"""Scaling, windows, correlation maps, thresholds and events against brute force and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from neuralab.anomaly.thresholds import Threshold, merge_events
from neuralab.anomaly.windows import Scaler, fill_gaps, map_sequences, signature_maps, sliding_windows, tiling_windows
from neuralab.data.vitals_sim import simulate
from neuralab.errors import ConfigError, DataError


def test_signature_maps_match_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(23, 3))
    maps, ends = signature_maps(x, [4, 10], step=5)
    assert maps.shape == (5, 2, 3, 3) and ends.tolist() == [4, 9, 14, 19, 22]
    for j, t in enumerate(ends):
        for s, w in enumerate([4, 10]):
            seg = x[max(0, t - w + 1):t + 1]
            assert np.allclose(maps[j, s], seg.T @ seg / len(seg), atol=1e-5)


def test_map_sequences_hold_the_maps_before():
    maps = np.arange(5, dtype=np.float32).reshape(5, 1, 1, 1)
    seq = map_sequences(maps, 2)
    assert seq.shape == (5, 2, 1, 1, 1)
    assert seq[:, :, 0, 0, 0].tolist() == [[0, 0], [0, 0], [0, 1], [1, 2], [2, 3]]
    cur = map_sequences(maps, 2, include_current=True)  # the K maps ending at j (MSCRED's reconstruction input)
    assert cur[:, :, 0, 0, 0].tolist() == [[0, 0], [0, 1], [1, 2], [2, 3], [3, 4]]


def test_windows_and_gap_filling():
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    assert sliding_windows(x, 3, 2).shape == (3, 3, 2)
    assert np.array_equal(sliding_windows(x, 3, 2)[1], x[2:5])
    tiles, T = tiling_windows(x, 3)
    assert tiles.shape == (3, 3, 2) and T == 7 and np.array_equal(tiles[2, 1], x[6])
    g = fill_gaps(np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [5.0, 3.0]]))
    assert g.tolist() == [[0.0, 1.0], [2.0, 1.0], [2.0, 1.0], [5.0, 3.0]]


def test_scaler_is_robust_and_names_missing_channels():
    rec = simulate(0.2, 1.0, 0, anomalies=False)
    sc = Scaler.fit([rec], ["heart_rate", "spo2"])
    x, gap = sc.transform(rec)
    assert abs(np.median(x[:, 0])) < 1e-6 and x.dtype == np.float32 and not gap.any()
    other = rec.copy()
    other.channels = [c if c != "spo2" else "ecg" for c in other.channels]
    with pytest.raises(DataError, match="missing channel\\(s\\) spo2; the detector was trained on heart_rate, spo2"):
        sc.transform(other)


def test_thresholds():
    s = np.array([1.0, 2.0, 3.0, np.nan])
    assert Threshold("dynamic", k=2).fit(s).value == pytest.approx(2.0 + 2 * np.std([1, 2, 3]))
    assert Threshold("percentile", q=50).fit(s).value == pytest.approx(2.0)
    assert Threshold("fixed", value=7.0).fit(s).value == 7.0
    with pytest.raises(ConfigError, match="threshold method 'mean' unknown"):
        Threshold("mean")


def test_merge_events():
    s = np.array([0, 5, 6, 0, 0, 4, 0, 0, 0, 9], float)
    ch = np.zeros((10, 2))
    ch[1:3, 1] = 5
    ev = merge_events(s, 3.0, ch, np.array([1.0, 1.0]), ["a", "b"], max_gap=2)
    assert [(e["start"], e["end"], e["peak"], e["channels"]) for e in ev] == [(1, 5, 6.0, ["b"]), (9, 9, 9.0, ["a"])]
    assert merge_events(s, 3.0, max_gap=0)[0]["end"] == 2
    assert merge_events(s, 100.0) == []
