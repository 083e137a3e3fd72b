"""Neural forecasters: windows, no leakage, strategies, the Gaussian head, learning floors, determinism."""

import numpy as np
import pytest
import torch

from neuralab.errors import ConfigError
from neuralab.forecast import NeuralForecaster, StatsAR, rolling_errors
from neuralab.forecast.neural import context_windows
from neuralab.tasks.ar_vs_lstm import ar2, logistic_map


def test_windows_put_targets_after_their_context():
    y = np.arange(10.0)
    ctx, tgt = context_windows(y, 3, 2)
    assert ctx.shape == (5, 4) and tgt.shape == (5, 2)
    np.testing.assert_array_equal(ctx[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(tgt[0], [4, 5])
    assert (tgt.min(axis=1) > ctx.max(axis=1)).all()


@pytest.mark.parametrize("transform", ["level", "diff"])
def test_no_leakage_test_values_never_reach_the_fit(transform):
    y = ar2(200, np.random.default_rng(0)) + np.linspace(0, 5, 200)
    n_train = 160
    changed = y.copy()
    changed[n_train:] = 1e3 * np.random.default_rng(1).standard_normal(40)  # wildly different test part

    def fitted(series):
        m = NeuralForecaster("mlp", window=8, epochs=3, patience=3, transform=transform, seed=0)
        return m.fit(series[:n_train])

    a, b = fitted(y), fitted(changed)
    assert a.scaler == b.scaler
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    np.testing.assert_array_equal(a.resid_rmse, b.resid_rmse)
    # the first test point's forecast uses only points before it
    np.testing.assert_allclose(a.predict(y, np.array([n_train]), 1)[0], b.predict(changed, np.array([n_train]), 1)[0])


def test_direct_strategy_and_its_limits():
    y = ar2(300, np.random.default_rng(2))
    m = NeuralForecaster("gru", window=8, strategy="direct", horizon=4, epochs=2, hidden_size=8).fit(y[:240])
    mean, std = m.predict(y, np.arange(240, 250), 4)
    assert mean.shape == std.shape == (10, 4) and (std > 0).all()
    with pytest.raises(ConfigError, match="trained for 4 steps ahead, asked for 6"):
        m.predict(y, np.array([240]), 6)


def test_same_seed_same_forecast_other_seed_other():
    y = ar2(200, np.random.default_rng(3))

    def fc(seed):
        return NeuralForecaster("lstm", window=6, epochs=2, hidden_size=8, seed=seed).fit(y).forecast(y, 3).mean

    np.testing.assert_array_equal(fc(0), fc(0))
    assert not np.allclose(fc(0), fc(1))


def test_mlp_learns_the_logistic_map_better_than_ar():
    y = logistic_map(600, np.random.default_rng(0))
    n_train = 480
    nn_rmse = rolling_errors(NeuralForecaster("mlp", window=4, epochs=60, patience=60, transform="level",
                                              hidden_size=32).fit(y[:n_train]), y, n_train, 1).one_step["rmse"]
    ar_rmse = rolling_errors(StatsAR(maxlag=6).fit(y[:n_train]), y, n_train, 1).one_step["rmse"]
    assert nn_rmse < 0.5 * ar_rmse, (nn_rmse, ar_rmse)


def test_gaussian_head_intervals_cover_the_linear_process():
    y = ar2(1200, np.random.default_rng(4))
    n_train = 960
    m = NeuralForecaster("mlp", window=6, gaussian=True, epochs=20, patience=8, transform="level",
                         hidden_size=16).fit(y[:n_train])
    r = rolling_errors(m, y, n_train, 1)
    assert 0.85 <= r.coverage[0.95] <= 0.99, r.coverage  # target 0.90-0.98; a looser floor for a short fit
    paths = m.sample_paths(y, 4, 300, seed=0)
    assert paths.shape == (300, 4)
    assert 0.6 < paths[:, 0].std() < 1.5  # the noise σ is 1


def test_bad_options():
    with pytest.raises(ConfigError, match="kind 'rnn'"):
        NeuralForecaster("rnn")
    with pytest.raises(ConfigError, match="strategy 'both'"):
        NeuralForecaster("lstm", strategy="both")
    with pytest.raises(ConfigError, match="call fit"):
        NeuralForecaster("lstm").predict(np.zeros(30), np.array([20]), 1)


def test_direct_and_recursive_agree_on_a_deterministic_linear_series():
    # trend + a 12-period sinusoid: a noiseless linear recurrence that both strategies can learn exactly
    t = np.arange(200.0)
    y = 3 + 0.1 * t + np.sin(2 * np.pi * t / 12)
    origins = np.arange(160, 189)
    truth = np.stack([y[o:o + 12] for o in origins])
    means = {}
    for strategy in ("recursive", "direct"):
        m = NeuralForecaster("mlp", window=12, strategy=strategy, horizon=12, transform="diff", epochs=200,
                             patience=30, hidden_size=32, seed=0).fit(y[:160])
        means[strategy] = m.predict_mean(y, origins, 12)
        assert np.abs(means[strategy] - truth).max() < 0.05, strategy
    np.testing.assert_allclose(means["recursive"], means["direct"], atol=0.08)
