"""statsmodels ARIMA behind the interface, and the naive baselines."""

import numpy as np
import pytest

from neuralab.errors import ConfigError, DataError
from neuralab.forecast import Naive, SeasonalNaive, StatsARIMA, make_forecaster, regression_errors
from neuralab.tasks.ar_vs_lstm import ar2


def test_arima_forecasts_from_each_origin_use_only_the_past():
    y = ar2(160, np.random.default_rng(0))
    m = StatsARIMA(max_p=1, max_q=1, d=0).fit(y[:120])
    mean, std = m.predict(y, np.array([125, 140]), 4)
    for i, o in enumerate((125, 140)):  # the same as filtering y[:o] alone with the fitted parameters
        ref = m.result.apply(y[:o]).get_forecast(4)
        np.testing.assert_allclose(mean[i], ref.predicted_mean, atol=1e-8)
        np.testing.assert_allclose(std[i], np.sqrt(ref.var_pred_mean), atol=1e-8)
    changed = y.copy()
    changed[125:] += 100.0
    np.testing.assert_allclose(m.predict(changed, np.array([125]), 4)[0], mean[:1], atol=1e-8)


def test_arima_differences_a_random_walk():
    y = np.cumsum(np.random.default_rng(1).standard_normal(150))
    assert StatsARIMA(max_p=1, max_q=0).fit(y).order[1] == 1


def test_naive_and_seasonal_naive():
    y = np.arange(1.0, 25.0)
    n = Naive().fit(y)
    mean, std = n.predict(y, np.array([10]), 3)
    np.testing.assert_allclose(mean, [[10, 10, 10]])
    np.testing.assert_allclose(std[0], n.sigma * np.sqrt([1, 2, 3]))
    s = SeasonalNaive(4).fit(y)
    mean, _ = s.predict(y, np.array([12]), 6)  # y[8..11] = 9..12, then again
    np.testing.assert_allclose(mean, [[9, 10, 11, 12, 9, 10]])


def test_regression_errors():
    e = regression_errors(np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 2.0]))
    assert e["mae"] == pytest.approx(1.0)
    assert e["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert e["mape"] == pytest.approx(100 * (1 + 0 + 0.5) / 3)


def test_factory_errors():
    with pytest.raises(ConfigError, match="unknown forecaster 'prophet'"):
        make_forecaster("prophet")
    with pytest.raises(ConfigError, match="forecaster 'ar'"):
        make_forecaster("ar", nope=1)
    with pytest.raises(DataError, match="seasonal-naive \\(m=12\\): needs at least 25 points"):
        SeasonalNaive(12).fit(np.arange(10.0))
