"""Detectors: learns-something floors on simulated data, save/load round trips, AR against statsmodels, errors."""

from __future__ import annotations

import numpy as np
import pytest

from neuralab.anomaly import evaluate_detector, load_detector, make_detector
from neuralab.data.vitals_sim import simulate
from neuralab.errors import ConfigError, DataError

CH = ["heart_rate", "pulse_rate", "spo2", "systolic_bp"]


@pytest.fixture(scope="module")
def data():
    train = [simulate(0.6, 1.0, s, anomalies=False) for s in range(2)]
    test = simulate(1.0, 1.0, 11, n_events=6, kinds=["spike", "dropout"])
    return train, test


def test_ar_coefficients_match_statsmodels_autoreg():
    from statsmodels.tsa.ar_model import AutoReg

    rec = simulate(0.5, 1.0, 3, anomalies=False)
    det = make_detector("ar", {"order": 3, "val_fraction": 0.0}, ["heart_rate"])
    det.scaler = None
    from neuralab.anomaly.windows import Scaler

    det.scaler = Scaler.fit([rec], ["heart_rate"])
    x = det.scaler.transform(rec)[0]
    det._fit([x], epochs=1, device="cpu", seed=0, progress=False)
    ref = AutoReg(x[:, 0].astype(np.float64), lags=3, trend="c").fit()
    assert np.allclose(det.coef[0], ref.params, atol=1e-4)


@pytest.mark.parametrize("name,params", [
    ("ar", {}), ("iforest", {"n_estimators": 30, "max_rows": 2000}),
    ("lstm-autoencoder", {"window": 10, "stride": 10, "units": [8, 4], "max_windows": 200}),
    ("convlstm-detector", {"scales": [2, 5], "step": 5, "frames": 3, "filters": 4, "max_windows": 300}),
    ("convlstm-detector", {"scales": [2, 5], "step": 5, "frames": 3, "filters": 4, "max_windows": 300,
                           "mode": "reconstruct"}),
])
def test_detectors_find_spikes_and_round_trip(name, params, data, tmp_path):
    train, test = data
    det = make_detector(name, params, CH).fit(train, epochs=1, seed=0)
    m = evaluate_detector(det, [test])
    floor = 0.7 if name in ("ar", "iforest") else 0.55
    assert m["roc_auc"] > floor, m
    loaded = load_detector(det.save(tmp_path / name))
    a, b = det.score(test), loaded.score(test)
    assert np.allclose(a.sample, b.sample, atol=1e-5, equal_nan=True)
    assert loaded.threshold.value == pytest.approx(det.threshold.value) and loaded.channels == CH
    assert a.channel.shape == (len(test), len(CH))
    assert not any(p.suffix in (".pkl", ".pt") for p in (tmp_path / name).iterdir())


def test_detector_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown detector 'knn'"):
        make_detector("knn")
    with pytest.raises(ConfigError, match="does not take parameter\\(s\\) windw"):
        make_detector("lstm-autoencoder", {"windw": 3})
    with pytest.raises(DataError, match="not a detector directory"):
        load_detector(tmp_path)
    with pytest.raises(ConfigError, match="is not trained"):
        make_detector("ar").score(simulate(0.05, 1.0, 0))


def test_smoothing_averages_scores(data):
    train, test = data
    raw = make_detector("ar", {}, CH).fit(train)
    smooth = make_detector("ar", {"smooth": 5}, CH).fit(train)
    a, b = raw.score(test).sample, smooth.score(test).sample
    assert np.allclose(b[10:-10], np.convolve(a, np.ones(5) / 5, mode="same")[10:-10])
    assert smooth.threshold.value < raw.threshold.value
