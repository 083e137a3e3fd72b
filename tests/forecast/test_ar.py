"""Oracles for the hand-written AR(p): statsmodels' AutoReg coefficients, errors, forecasts and intervals."""

import numpy as np
import pytest

from neuralab.errors import ConfigError, DataError
from neuralab.forecast import HandAR, StatsAR, fit_ar, rolling_errors
from neuralab.forecast.ar import psi_weights
from neuralab.tasks.ar_vs_lstm import ar2


@pytest.mark.parametrize("p", [1, 2, 5])
def test_hand_ar_equals_statsmodels_autoreg(p):
    from statsmodels.tsa.ar_model import AutoReg

    y = ar2(400, np.random.default_rng(p))
    mine = fit_ar(y, p)
    ref = AutoReg(y, lags=p, trend="c").fit()
    np.testing.assert_allclose(mine.params, ref.params, atol=1e-6, rtol=0)
    np.testing.assert_allclose(mine.bse, ref.bse, atol=1e-6, rtol=0)
    assert mine.sigma2 == pytest.approx(ref.sigma2, abs=1e-9)


def test_forecasts_and_intervals_equal_statsmodels():
    from statsmodels.tsa.ar_model import AutoReg

    y = ar2(300, np.random.default_rng(0))
    m = HandAR(2).fit(y)
    fc = m.forecast(y, 6)
    pred = AutoReg(y, lags=2, trend="c").fit().get_prediction(300, 305)
    np.testing.assert_allclose(fc.mean, pred.predicted_mean, atol=1e-9)
    np.testing.assert_allclose(fc.std, np.sqrt(pred.var_pred_mean), atol=1e-9)
    lo, hi = pred.conf_int(alpha=0.05).T
    np.testing.assert_allclose(fc.lower[0.95], lo, atol=1e-6)
    np.testing.assert_allclose(fc.upper[0.95], hi, atol=1e-6)


def test_psi_weights_of_ar1_are_powers():
    np.testing.assert_allclose(psi_weights(np.array([0.5]), 4), [1, 0.5, 0.25, 0.125])


def test_sampled_paths_match_the_analytic_mean_and_spread():
    y = ar2(500, np.random.default_rng(1))
    m = HandAR(2).fit(y)
    paths = m.sample_paths(y, 5, 20000, seed=3)
    fc = m.forecast(y, 5)
    np.testing.assert_allclose(paths.mean(axis=0), fc.mean, atol=0.05)
    np.testing.assert_allclose(paths.std(axis=0), fc.std, rtol=0.03)


def test_95_percent_intervals_cover_the_linear_process():
    y = ar2(5000, np.random.default_rng(7))
    m = StatsAR(maxlag=8).fit(y[:4000])
    r = rolling_errors(m, y, 4000, 12)
    assert 0.90 <= r.coverage[0.95] <= 0.98
    assert 0.75 <= r.coverage[0.8] <= 0.85
    assert m.order == 2  # AIC finds the true order on this much data


def test_errors():
    with pytest.raises(ConfigError, match="p must be >= 1"):
        fit_ar(np.arange(10.0), 0)
    with pytest.raises(DataError, match=r"AR\(5\) needs at least 12 points, got 8"):
        fit_ar(np.arange(8.0), 5)
    with pytest.raises(ConfigError, match="call fit"):
        HandAR(2).predict(np.arange(10.0), np.array([5]), 1)
    m = HandAR(2).fit(ar2(50, np.random.default_rng(0)))
    with pytest.raises(DataError, match=r"origins must lie in \[2, 50\]"):
        m.predict(ar2(50, np.random.default_rng(0)), np.array([1]), 1)
