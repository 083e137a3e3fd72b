"""Seed ensembles: the forecast is the members' mean, the std the mixture's, settings chosen on validation."""

import numpy as np
import pytest

from neuralab.errors import ConfigError, DataError
from neuralab.forecast import NeuralEnsemble, NeuralForecaster, make_forecaster, rolling_errors
from neuralab.tasks.ar_vs_lstm import ar2


def _members(y, seeds=(0, 1, 2), **kw):
    return [NeuralForecaster("mlp", window=6, epochs=3, patience=3, hidden_size=8, seed=s, **kw).fit(y)
            for s in seeds]


def test_ensemble_forecast_is_exactly_the_mean_of_its_members():
    y = ar2(200, np.random.default_rng(0))
    members = _members(y[:160])
    ens = NeuralEnsemble.from_members(members)
    origins = np.arange(160, 190)
    mean, std = ens.predict(y, origins, 4)
    assert mean.shape == std.shape == (30, 4)
    outs = [m.predict(y, origins, 4) for m in members]
    np.testing.assert_array_equal(mean, np.mean([mu for mu, _ in outs], axis=0))
    np.testing.assert_array_equal(ens.predict_mean(y, origins, 4), mean)
    # the mixture's std: the members' own variance plus their spread around the ensemble mean
    want = np.sqrt(np.mean([sd ** 2 for _, sd in outs], axis=0) + np.var([mu for mu, _ in outs], axis=0))
    np.testing.assert_allclose(std, want, rtol=1e-9)
    fc = ens.forecast(y, 3)
    assert fc.mean.shape == (3,) and (fc.upper[0.95] > fc.lower[0.95]).all()
    assert ens.name == "mlp-ens" and ens.seeds == (0, 1, 2) and ens.min_history == 7


def test_fitted_ensemble_equals_the_ensemble_of_separately_fitted_members():
    y = ar2(200, np.random.default_rng(1))
    ens = NeuralEnsemble("mlp", seeds=(3, 4), window=6, epochs=3, patience=3, hidden_size=8).fit(y[:160])
    ref = NeuralEnsemble.from_members(_members(y[:160], seeds=(3, 4)))
    origins = np.arange(160, 200)
    np.testing.assert_array_equal(ens.predict_mean(y, origins, 2), ref.predict_mean(y, origins, 2))
    assert ens.selection == [] and ens.config == {}
    built = make_forecaster("mlp-ens", seeds=(3, 4), window=6, epochs=3, patience=3, hidden_size=8)
    assert isinstance(built, NeuralEnsemble) and built.kind == "mlp" and built.seeds == (3, 4)


def test_grid_setting_is_chosen_on_the_validation_split_only():
    rng = np.random.default_rng(2)
    y = np.exp(0.02 * np.arange(240) + 0.05 * ar2(240, rng))  # positive, trending
    n_train = 192
    kw = {"seeds": (0, 1), "window": 6, "epochs": 3, "patience": 3, "hidden_size": 8}
    grid = {"transform": ("level", "diff"), "log": (False, True), "window": (4, 200)}
    ens = NeuralEnsemble("mlp", grid=grid, **kw).fit(y[:n_train])
    assert len(ens.selection) == 4 and len(ens.skipped) == 4  # a window of 200 cannot be trained on 154 points
    assert all(s["window"] == 200 for s, _ in ens.skipped)
    best, score = min(ens.selection, key=lambda sc: sc[1])
    assert ens.config == best and ens.members[0].window == 4
    # the score is the rolling one-step RMSE of that setting's ensemble trained on the first 80%, on the last 20%
    n_fit = 154
    trial = NeuralEnsemble("mlp", **{**kw, **best}).fit(y[:n_fit])
    assert score == pytest.approx(rolling_errors(trial, y[:n_train], n_fit, 1).one_step["rmse"])
    # the test part never reaches the fit: another future, the same choice and the same forecast at the origin
    other = y.copy()
    other[n_train:] *= 10
    again = NeuralEnsemble("mlp", grid=grid, **kw).fit(other[:n_train])
    assert again.config == ens.config
    np.testing.assert_array_equal(again.predict_mean(other, np.array([n_train]), 1),
                                  ens.predict_mean(y, np.array([n_train]), 1))


def test_log_needs_a_positive_series_and_forecasts_stay_positive():
    y = np.exp(0.5 * ar2(200, np.random.default_rng(3)))
    m = NeuralForecaster("mlp", window=6, epochs=3, patience=3, hidden_size=8, log=True).fit(y[:160])
    mean, std = m.predict(y, np.arange(160, 200), 3)
    assert mean.shape == std.shape == (40, 3) and (mean > 0).all() and (std > 0).all()
    assert m.name == "mlp-log"
    with pytest.raises(DataError, match="log needs a positive series"):
        NeuralForecaster("mlp", window=6, epochs=1, log=True).fit(y - y.min())
    grid = {"log": (True,)}
    with pytest.raises(DataError, match="log needs a positive series"):
        NeuralEnsemble("mlp", seeds=(0,), grid=grid, window=6, epochs=1).fit(y - y.min())
    with pytest.raises(ConfigError, match="no grid setting"):
        NeuralEnsemble("mlp", seeds=(0,), grid={"log": (True, True)}, window=6, epochs=1).fit(y - y.min())


def test_bad_ensembles_are_refused():
    with pytest.raises(ConfigError, match="at least one seed"):
        NeuralEnsemble("mlp", seeds=())
    with pytest.raises(ConfigError, match="fixed per ensemble"):
        NeuralEnsemble("mlp", grid={"seed": (1, 2)})
    with pytest.raises(ConfigError, match="no candidate values"):
        NeuralEnsemble("mlp", grid={"window": ()})
    with pytest.raises(ConfigError, match="kind"):
        NeuralEnsemble("rnn")
    with pytest.raises(ConfigError, match="call fit"):
        NeuralEnsemble("mlp").predict(np.zeros(20), np.array([15]), 1)
    y = ar2(100, np.random.default_rng(4))
    with pytest.raises(ConfigError, match="one kind per ensemble"):
        NeuralEnsemble.from_members([NeuralForecaster("mlp", window=4, epochs=1).fit(y),
                                     NeuralForecaster("gru", window=4, epochs=1, hidden_size=4).fit(y)])


def test_direct_ensemble_chosen_for_twelve_steps_on_the_validation_split_only():
    rng = np.random.default_rng(5)
    y = 0.05 * np.arange(240) + ar2(240, rng)
    n_train = 192
    kw = {"seeds": (0, 1), "window": 6, "epochs": 3, "patience": 3, "hidden_size": 8, "strategy": "direct",
          "horizon": 12}
    grid = {"transform": ("level", "diff")}
    ens = NeuralEnsemble("mlp", grid=grid, select_h=12, select_metric="mae", **kw).fit(y[:n_train])
    assert all(m.strategy == "direct" and m.H == 12 for m in ens.members)
    best, score = min(ens.selection, key=lambda sc: sc[1])
    assert ens.config == best
    # the score: MAE of steps 1..12 pooled over the validation origins, the trial trained on the first 80%
    n_fit = 154
    trial = NeuralEnsemble("mlp", **{**kw, **best}).fit(y[:n_fit])
    assert score == pytest.approx(rolling_errors(trial, y[:n_train], n_fit, 12).multi_step["mae"])
    other = y.copy()
    other[n_train:] = -100.0  # another future: the same choice, the same 12-step forecast from the first origin
    again = NeuralEnsemble("mlp", grid=grid, select_h=12, select_metric="mae", **kw).fit(other[:n_train])
    assert again.config == ens.config and again.selection == ens.selection
    np.testing.assert_array_equal(again.predict_mean(other, np.array([n_train]), 12),
                                  ens.predict_mean(y, np.array([n_train]), 12))
