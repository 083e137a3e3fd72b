"""The AR + network hybrid (Zhang 2003): its linear part is the AR, its network learns what the AR leaves."""

import numpy as np
import pytest

from neuralab.errors import ConfigError, DataError
from neuralab.forecast import HandAR, HybridForecaster, NeuralEnsemble, make_forecaster, rolling_errors
from neuralab.forecast.hybrid import choose_differencing, difference_filter, seasonal_strength, select_ar
from neuralab.tasks.ar_vs_lstm import ar2, setar

FAST = {"epochs": 30, "patience": 5, "hidden_size": 16}


def test_difference_filter_is_the_product_of_the_operators():
    np.testing.assert_array_equal(difference_filter(0, 0, 12), [1.0])
    np.testing.assert_array_equal(difference_filter(1, 0, 12), [1.0, -1.0])
    np.testing.assert_array_equal(difference_filter(0, 1, 4), [1.0, 0, 0, 0, -1.0])
    np.testing.assert_array_equal(difference_filter(1, 1, 4), [1.0, -1.0, 0, 0, -1.0, 1.0])  # (1 − B)(1 − B⁴)


def test_the_linear_part_is_the_least_squares_ar_and_alpha_zero_gives_its_forecasts():
    y = ar2(400, np.random.default_rng(0))
    m = HybridForecaster("mlp", window=6, max_p=6, seed=0, **FAST).fit(y[:320])
    assert m.p == 2  # AIC finds the true order of the AR(2)
    ref = HandAR(2).fit(y[:320])
    np.testing.assert_allclose(m.ar.params, ref.fit_.params, atol=1e-10)
    m.alpha = 0.0
    origins = np.arange(320, 390)
    np.testing.assert_allclose(m.predict_mean(y, origins, 5), ref.predict(y, origins, 5)[0], atol=1e-9)


def test_on_a_linear_process_the_hybrid_stays_close_to_the_ar():
    y = ar2(500, np.random.default_rng(1))
    hyb = HybridForecaster("mlp", window=6, max_p=6, seed=1, **FAST).fit(y[:400])
    ar = HandAR(2).fit(y[:400])
    rh, ra = rolling_errors(hyb, y, 400, 3), rolling_errors(ar, y, 400, 3)
    assert 0.0 <= hyb.alpha <= 1.0
    assert rh.one_step["rmse"] < 1.03 * ra.one_step["rmse"]  # nothing non-linear to learn: no harm done
    assert rh.multi_step["rmse"] < 1.03 * ra.multi_step["rmse"]


def test_on_a_threshold_process_the_network_improves_on_the_ar():
    y = setar(1500, np.random.default_rng(2))
    hyb = HybridForecaster("mlp", window=4, max_p=4, seed=0, epochs=60, patience=10, hidden_size=16).fit(y[:1200])
    ar = HandAR(hyb.p).fit(y[:1200])
    assert hyb.alpha > 0.5
    assert rolling_errors(hyb, y, 1200, 1).one_step["rmse"] < 0.95 * rolling_errors(ar, y, 1200, 1).one_step["rmse"]


def test_auto_differencing_follows_the_training_part():
    rng = np.random.default_rng(9)
    t = np.arange(240)
    noise = rng.standard_normal(240)
    assert choose_differencing(noise, 12, "auto", "auto") == (0, 0)
    assert choose_differencing(np.cumsum(noise), 12, "auto", "auto") == (1, 0)  # a unit root: d = 1
    seasonal = 10 * np.sin(2 * np.pi * t / 12) + 0.5 * noise
    assert seasonal_strength(seasonal, 12) > 0.9 and choose_differencing(seasonal, 12, "auto", "auto")[1] == 1
    assert choose_differencing(seasonal, 12, 1, 0) == (1, 0)  # fixed values are kept
    m = HybridForecaster(window=12, season=12, seasonal_diff="auto", diff="auto", max_p=2, **FAST)
    m.fit(seasonal[:200] + 0.05 * t[:200])
    assert m.D == 1 and len(m.c) - 1 == 12 + m.d


def test_differencing_is_undone_exactly():
    t = np.arange(120, dtype=np.float64)
    y = 10 + 0.5 * t + 3 * np.sin(2 * np.pi * t / 12)  # trend + season, no noise
    y = y + 0.01 * np.random.default_rng(3).standard_normal(120)
    m = HybridForecaster("mlp", window=12, season=12, seasonal_diff=1, max_p=2, seed=0, **FAST).fit(y[:96])
    m.alpha = 0.0  # the seasonal-difference AR alone: Δ12 y is a constant 6 plus noise
    mean = m.predict_mean(y, np.array([96]), 24)[0]
    np.testing.assert_allclose(mean, y[96:], atol=0.1)
    log = HybridForecaster("mlp", window=12, season=12, seasonal_diff=1, diff=1, log=True, max_p=2, seed=0,
                           **FAST).fit(np.exp(y[:96] / 20))
    log.alpha = 0.0
    np.testing.assert_allclose(log.predict_mean(np.exp(y / 20), np.array([96]), 24)[0], np.exp(y[96:] / 20),
                               rtol=0.02)
    assert log.mode.startswith("AR(") and "log Δ Δ12" in log.mode


def test_without_an_ar_the_network_is_the_whole_forecaster():
    y = setar(600, np.random.default_rng(8))
    m = HybridForecaster("mlp", window=4, max_p=0, seed=0, epochs=60, patience=10, hidden_size=16).fit(y[:480])
    assert m.p == 0 and m.ar.const == pytest.approx(y[:480].mean()) and m.mode.startswith("mean on levels")
    assert rolling_errors(m, y, 480, 1).one_step["rmse"] < 0.8 * y[480:].std()  # it learnt the dynamics
    m.alpha = 0.0  # the network off: the training mean, from every origin and at every step
    np.testing.assert_allclose(m.predict_mean(y, np.array([500, 550]), 3), y[:480].mean())


def test_no_leakage_the_forecast_uses_the_past_only():
    y = setar(400, np.random.default_rng(4))
    m = HybridForecaster("lstm", window=5, max_p=3, seed=0, epochs=5, patience=2, hidden_size=8).fit(y[:320])
    origins = np.arange(320, 400)
    mean, std = m.predict(y, origins, 4)
    assert mean.shape == std.shape == (80, 4) and (std > 0).all()
    for o in (330, 360):  # change everything from the origin on: that origin's forecast is the same
        other = y.copy()
        other[o:] += 100.0
        np.testing.assert_array_equal(m.predict_mean(other, np.array([o]), 4), mean[o - 320][None])
    # the fit sees the training part only: another future gives the same model and the same forecast
    other = y.copy()
    other[320:] *= -3
    again = HybridForecaster("lstm", window=5, max_p=3, seed=0, epochs=5, patience=2, hidden_size=8).fit(other[:320])
    np.testing.assert_array_equal(again.predict_mean(y, origins, 4), mean)


def test_hybrid_ensembles_average_their_members_and_choose_on_validation():
    y = np.exp(0.01 * np.arange(300) + 0.1 * ar2(300, np.random.default_rng(5)))
    grid = {"log": (False, True), "seasonal_diff": (0, 1)}
    ens = NeuralEnsemble("mlp", seeds=(0, 1), member="hybrid", grid=grid, select_metric="mae", season=12,
                         window=6, **FAST).fit(y[:240])
    assert ens.name == "hybrid-mlp-ens" and len(ens.selection) == 4 and ens.config in [s for s, _ in ens.selection]
    best = min(ens.selection, key=lambda sc: sc[1])[0]
    assert ens.config == best
    assert all(isinstance(m, HybridForecaster) and m.log == best["log"] for m in ens.members)
    origins = np.arange(240, 300)
    np.testing.assert_array_equal(ens.predict_mean(y, origins, 2),
                                  np.mean([m.predict_mean(y, origins, 2) for m in ens.members], axis=0))
    built = make_forecaster("hybrid-mlp", window=6, season=12, seasonal_diff=1)
    assert isinstance(built, HybridForecaster) and built.D == 1
    assert isinstance(make_forecaster("hybrid-lstm-ens", seeds=(0,)), NeuralEnsemble)


def test_select_ar_picks_the_order_statsmodels_picks():
    from statsmodels.tsa.ar_model import ar_select_order

    rng = np.random.default_rng(6)
    for y in (ar2(300, rng), setar(200, rng), np.cumsum(rng.standard_normal(150))):
        want = max(ar_select_order(y, maxlag=8, ic="aic", trend="c").ar_lags)
        assert len(select_ar(y, 8).phi) == want  # both score every order on the targets y[8:]
    assert len(select_ar(y[:20], 30).phi) <= 4  # the order is capped by the length


def test_bad_settings_and_inputs_are_refused():
    with pytest.raises(ConfigError, match="kind"):
        HybridForecaster("rnn")
    with pytest.raises(ConfigError, match="season length"):
        HybridForecaster(seasonal_diff=1)
    with pytest.raises(ConfigError, match="0, 1 or 'auto'"):
        HybridForecaster(diff=2)
    with pytest.raises(ConfigError, match="max_p must be an integer ≥ 0"):
        HybridForecaster(max_p=-1)
    with pytest.raises(ConfigError, match="window must be a positive integer"):
        HybridForecaster(window=0)
    with pytest.raises(ConfigError, match="call fit"):
        HybridForecaster().predict(np.zeros(50), np.array([40]), 1)
    y = ar2(200, np.random.default_rng(7))
    with pytest.raises(DataError, match="log needs a positive series"):
        HybridForecaster(log=True, **FAST).fit(y - y.min())
    with pytest.raises(ConfigError, match="training windows"):
        HybridForecaster(window=30, **FAST).fit(y[:40])
    with pytest.raises(ConfigError, match="select_metric"):
        NeuralEnsemble("mlp", member="hybrid", select_metric="mse")
    with pytest.raises(ConfigError, match="ensemble member"):
        NeuralEnsemble("mlp", member="arima")
    with pytest.raises(ConfigError, match="hybrid ensemble"):
        NeuralEnsemble("mlp", member="hybrid", transform="diff")  # a NeuralForecaster option
