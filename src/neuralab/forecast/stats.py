"""statsmodels' AR and ARIMA (orders chosen by AIC/BIC) and the naive baselines, behind the one interface.

- `StatsAR`: `ar_select_order` picks p ≤ maxlag by AIC or BIC, then `AutoReg(trend='c')`; forecasts and
  intervals from the fitted equation (the ψ-weight variance of `neuralab.forecast.ar`).
- `StatsARIMA`: d from the augmented Dickey–Fuller test (d = 1 when a unit root is not rejected at 5%), then
  the (p, q) on a small grid with the lowest AIC/BIC; forecasts from every origin by the Kalman filter with
  the parameters fixed (`results.apply`).
- `Naive` (ŷ_{t+k} = y_t, σ_k = σ·√k) and `SeasonalNaive` (ŷ_{t+k} = y_{t+k−m·⌈k/m⌉}, σ_k = σ·√⌈k/m⌉), σ
  from the training part's one-step (or one-season) changes.

statsmodels is the extra `ts` (`pip install neuralab[ts]`), imported when a model is fitted.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from neuralab.errors import ConfigError, DataError
from neuralab.forecast.ar import ARFit, LinearAR
from neuralab.forecast.base import Forecaster, check_origins


def _statsmodels() -> Any:
    try:
        import statsmodels.api as sm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("statsmodels is needed for AR/ARIMA forecasting: pip install 'neuralab[ts]'") from exc
    return sm


def _one_thread() -> Any:
    """Single-threaded BLAS: statsmodels' small state-space fits run ~25x slower with threads on a busy CPU."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def unit_root(y: np.ndarray, alpha: float = 0.05) -> tuple[bool, float]:
    """(True if the ADF test does not reject a unit root at `alpha`, its p-value)."""
    _statsmodels()
    from statsmodels.tsa.stattools import adfuller

    with warnings.catch_warnings(), _one_thread():
        warnings.simplefilter("ignore")
        p = float(adfuller(np.asarray(y, dtype=np.float64), autolag="AIC")[1])
    return p > alpha, p


class StatsAR(LinearAR):
    """statsmodels `AutoReg(trend='c')` with p chosen by an information criterion."""

    name = "ar"

    def __init__(self, maxlag: int = 12, ic: str = "aic", p: int | None = None) -> None:
        super().__init__()
        if ic not in ("aic", "bic"):
            raise ConfigError(f"ic must be 'aic' or 'bic', got {ic!r}")
        self.maxlag, self.ic, self.p = maxlag, ic, p
        self.result: Any = None

    def fit(self, y: np.ndarray) -> StatsAR:
        _statsmodels()
        y = np.asarray(y, dtype=np.float64)
        p = self.p
        with _one_thread():
            return self._fit(y, p)

    def _fit(self, y: np.ndarray, p: int | None) -> StatsAR:
        from statsmodels.tsa.ar_model import AutoReg, ar_select_order

        if p is None:
            maxlag = max(1, min(self.maxlag, len(y) // 4))
            sel = ar_select_order(y, maxlag=maxlag, ic=self.ic, trend="c")
            p = max(sel.ar_lags) if sel.ar_lags else 1
        if len(y) < 2 * p + 2:
            raise DataError(f"AR({p}) needs at least {2 * p + 2} points, got {len(y)}")
        res = AutoReg(y, lags=p, trend="c").fit()
        self.result, self.order = res, p
        params, bse = np.asarray(res.params), np.asarray(res.bse)
        self.fit_ = ARFit(float(params[0]), params[1:], float(res.sigma2), bse, int(res.nobs))
        return self

    def summary_rows(self) -> list[list[Any]]:
        """[name, coefficient, standard error] for Φ0..Φp."""
        f = self._fitted()
        names = ["Φ0 (const)"] + [f"Φ{i}" for i in range(1, len(f.phi) + 1)]
        return [[n, float(c), float(s)] for n, c, s in zip(names, f.params, f.bse, strict=True)]


class StatsARIMA(Forecaster):
    """statsmodels ARIMA(p, d, q): d by the ADF test, (p, q) by AIC/BIC on a grid."""

    name = "arima"

    def __init__(self, max_p: int = 3, max_q: int = 2, d: int | None = None, ic: str = "aic") -> None:
        if ic not in ("aic", "bic"):
            raise ConfigError(f"ic must be 'aic' or 'bic', got {ic!r}")
        self.max_p, self.max_q, self.d, self.ic = max_p, max_q, d, ic
        self.result: Any = None
        self.order: tuple[int, int, int] | None = None

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return 2

    def fit(self, y: np.ndarray) -> StatsARIMA:
        _statsmodels()
        from statsmodels.tsa.arima.model import ARIMA

        y = np.asarray(y, dtype=np.float64)
        if len(y) < 10:
            raise DataError(f"ARIMA needs at least 10 points, got {len(y)}")
        d = self.d if self.d is not None else int(unit_root(y)[0])
        best = None
        with warnings.catch_warnings(), _one_thread():
            warnings.simplefilter("ignore")  # convergence chatter of the grid's poorer orders
            for p in range(self.max_p + 1):
                for q in range(self.max_q + 1):
                    try:
                        res = ARIMA(y, order=(p, d, q), trend="c" if d == 0 else "t").fit()
                    except (ValueError, np.linalg.LinAlgError):
                        continue
                    score = getattr(res, self.ic)
                    if np.isfinite(score) and (best is None or score < best[0]):
                        best = (score, (p, d, q), res)
        if best is None:
            raise DataError("ARIMA: no order of the grid could be fitted to this series")
        _, self.order, self.result = best
        return self

    def summary_rows(self) -> list[list[Any]]:
        res = self.result
        return [[n, float(c), float(s)] for n, c, s in zip(res.model.param_names, res.params, res.bse, strict=True)]

    def predict(self, y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        if self.result is None:
            raise ConfigError("arima: call fit() before forecasting")
        y = np.asarray(y, dtype=np.float64)
        origins = check_origins(y, origins, self.min_history, self.name)
        means, stds = np.empty((len(origins), h)), np.empty((len(origins), h))
        with warnings.catch_warnings(), _one_thread():
            warnings.simplefilter("ignore")
            full = self.result.apply(y)  # the fitted parameters, filtered over this history
            for i, o in enumerate(origins):
                # dynamic=True: from `o` on, the filter uses its own forecasts, i.e. only y[:o]
                fc = full.get_forecast(h) if o == len(y) else \
                    full.get_prediction(start=int(o), end=int(o) + h - 1, dynamic=True)
                means[i] = fc.predicted_mean
                stds[i] = np.sqrt(np.asarray(fc.var_pred_mean))
        return means, stds


class Naive(Forecaster):
    """ŷ_{t+k} = y_t: the random-walk forecast, σ_k = σ·√k."""

    name = "naive"

    def __init__(self) -> None:
        self.sigma: float | None = None

    def fit(self, y: np.ndarray) -> Naive:
        y = np.asarray(y, dtype=np.float64)
        if len(y) < 3:
            raise DataError(f"naive: needs at least 3 points, got {len(y)}")
        self.sigma = float(np.sqrt(np.mean(np.diff(y) ** 2)))
        return self

    def predict(self, y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        if self.sigma is None:
            raise ConfigError("naive: call fit() before forecasting")
        origins = check_origins(y, origins, 1, self.name)
        mean = np.repeat(np.asarray(y, dtype=np.float64)[origins - 1][:, None], h, axis=1)
        std = self.sigma * np.sqrt(np.arange(1, h + 1))
        return mean, np.broadcast_to(std, mean.shape).copy()


class SeasonalNaive(Forecaster):
    """ŷ_{t+k} = the value one season (m steps) before, σ_k = σ·√⌈k/m⌉."""

    name = "seasonal-naive"

    def __init__(self, m: int = 12) -> None:
        if m < 1:
            raise ConfigError(f"season length m must be >= 1, got {m}")
        self.m = m
        self.sigma: float | None = None

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return self.m

    def fit(self, y: np.ndarray) -> SeasonalNaive:
        y = np.asarray(y, dtype=np.float64)
        if len(y) < 2 * self.m + 1:
            raise DataError(f"seasonal-naive (m={self.m}): needs at least {2 * self.m + 1} points, got {len(y)}")
        self.sigma = float(np.sqrt(np.mean((y[self.m:] - y[:-self.m]) ** 2)))
        return self

    def predict(self, y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        if self.sigma is None:
            raise ConfigError("seasonal-naive: call fit() before forecasting")
        y = np.asarray(y, dtype=np.float64)
        origins = check_origins(y, origins, self.m, self.name)
        k = np.arange(1, h + 1)
        back = self.m * np.ceil(k / self.m).astype(np.int64)  # how far back the copied value lies
        mean = y[origins[:, None] + k[None, :] - 1 - back[None, :]]
        std = self.sigma * np.sqrt(np.ceil(k / self.m))
        return mean, np.broadcast_to(std, mean.shape).copy()


def seasonal_period(freq_hint: int | None, n: int) -> int:
    """A season length to use (the hint if the series holds at least two seasons of it, else 1)."""
    if freq_hint and n >= 2 * freq_hint + 1:
        return int(freq_hint)
    return 1 if n < 3 else min(max(1, math.floor(n / 3)), 1)
