"""The forecaster interface, intervals, chronological splits and rolling-origin evaluation.

Every forecaster is fitted on a training series and then forecasts from any history with its parameters
fixed:

    f.fit(y_train)                         -> f                      (parameters from y_train only)
    f.predict(y, origins, h)               -> mean (k, h), std (k, h)  row i forecasts y[o_i], ..., y[o_i+h-1]
                                                                      from y[:o_i] alone
    f.predict_mean(y, origins, h)          -> mean (k, h) only
    f.sample_paths(y, h, n, seed)          -> (n, h) simulated futures after y (generative use)
    f.forecast(y, h)                       -> Forecast (mean, std, 80%/95% bounds) after the end of y

Intervals are Gaussian, mean ± z·std, unless a forecaster samples paths, where they are the empirical
quantiles. `rolling_errors` scores a fitted forecaster over every origin of a test part (last 20% by default),
one step and h steps ahead, so every test point is forecast from data strictly before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from neuralab.errors import ConfigError, DataError

LEVELS = (0.8, 0.95)


def z_value(level: float) -> float:
    """The standard normal quantile of (1 + level)/2: 1.2816 for 80%, 1.9600 for 95%."""
    from statistics import NormalDist

    if not 0 < level < 1:
        raise ConfigError(f"interval level must be in (0, 1), got {level}")
    return NormalDist().inv_cdf((1 + level) / 2)


@dataclass
class Forecast:
    """An h-step forecast: the mean path and its prediction intervals.

    Attributes:
        mean: (h,) point forecasts.
        std: (h,) forecast standard deviations.
        lower, upper: {level: (h,)} interval bounds (Gaussian mean ± z·std, or path quantiles).
    """

    mean: np.ndarray
    std: np.ndarray
    lower: dict[float, np.ndarray] = field(default_factory=dict)
    upper: dict[float, np.ndarray] = field(default_factory=dict)


def gaussian_bounds(mean: np.ndarray, std: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    z = z_value(level)
    return mean - z * std, mean + z * std


class Forecaster:
    """Base class: subclasses implement `fit`, `predict` and (for generative use) `sample_paths`."""

    name = "forecaster"
    min_history = 1  # points a forecast needs before its origin

    def fit(self, y: np.ndarray) -> Forecaster:  # pragma: no cover - interface
        raise NotImplementedError

    def predict(self, y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError  # pragma: no cover - interface

    def predict_mean(self, y: np.ndarray, origins: np.ndarray, h: int) -> np.ndarray:
        """Only the mean forecasts (k, h) (cheaper where the std needs sampling)."""
        return self.predict(y, origins, h)[0]

    def sample_paths(self, y: np.ndarray, h: int, n: int, seed: int = 0) -> np.ndarray:
        """(n, h) futures after y: by default Gaussian around the mean with the forecast std per step."""
        mean, std = self.predict(y, np.array([len(y)]), h)
        rng = np.random.default_rng(seed)
        return mean[0] + std[0] * rng.standard_normal((n, h))

    def forecast(self, y: np.ndarray, h: int, levels: tuple[float, ...] = LEVELS) -> Forecast:
        """The h values after the end of `y`, with Gaussian prediction intervals at `levels`."""
        y = np.asarray(y, dtype=np.float64)
        if len(y) < self.min_history:
            raise DataError(f"{self.name}: needs at least {self.min_history} past values, got {len(y)}")
        mean, std = self.predict(y, np.array([len(y)]), h)
        fc = Forecast(mean[0], std[0])
        for lv in levels:
            fc.lower[lv], fc.upper[lv] = gaussian_bounds(fc.mean, fc.std, lv)
        return fc


def check_origins(y: np.ndarray, origins: np.ndarray, need: int, name: str) -> np.ndarray:
    origins = np.asarray(origins, dtype=np.int64)
    if origins.ndim != 1 or len(origins) == 0:
        raise ConfigError(f"{name}: origins must be a non-empty 1-D array")
    if origins.min() < need or origins.max() > len(y):
        raise DataError(f"{name}: forecast origins must lie in [{need}, {len(y)}] (the model needs {need} past "
                        f"values), got {int(origins.min())}..{int(origins.max())}")
    return origins


def log_series(y: np.ndarray, name: str, what: str) -> np.ndarray:
    """log y for a forecaster's `log` option; a clear error naming the forecaster if y has a value <= 0."""
    if not np.all(y > 0):
        raise DataError(f"{name}: log needs a positive series; {what} has a value ≤ 0 (min {float(np.min(y)):.4g})")
    return np.log(y)


def horizon_rmse(y: np.ndarray, origins: np.ndarray, mean: np.ndarray, fallback: float) -> np.ndarray:
    """RMSE (R,) of mean forecasts `mean` (k, R), 1..R steps ahead from `origins` (k,), against y (targets inside y).

    A horizon no origin reaches (the validation part is too short) grows like √h from the last one measured, or
    from `fallback` (one step's spread) when none is: the random-walk rule for forecast errors.
    """
    R = mean.shape[1]
    err = np.full((len(origins), R), np.nan)
    for i, o in enumerate(origins):
        k = min(R, len(y) - o)
        err[i, :k] = y[o:o + k] - mean[i, :k]
    seen = np.isfinite(err).sum(axis=0)
    rmse = np.full(R, np.nan)
    rmse[seen > 0] = np.sqrt(np.nansum(err[:, seen > 0] ** 2, axis=0) / seen[seen > 0])
    last = int(np.flatnonzero(np.isfinite(rmse))[-1]) if np.isfinite(rmse).any() else -1
    base = rmse[last] if last >= 0 else float(fallback)
    for k in range(last + 1, R):
        rmse[k] = base * math.sqrt((k + 1) / (last + 1 if last >= 0 else 1))
    return rmse


def chronological_split(n: int, test_fraction: float = 0.2) -> int:
    """Index of the first test point: the last `test_fraction` of n points is the test part."""
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = max(1, int(round(n * test_fraction)))
    if n - n_test < 2:
        raise DataError(f"a series of {n} points is too short to split off a test part of {n_test}")
    return n - n_test


def regression_errors(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and MAPE (percent, over points whose true value is non-zero)."""
    err = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    nz = np.abs(y_true) > 1e-12
    mape = float(np.mean(np.abs(err[nz] / y_true[nz])) * 100) if nz.any() else math.nan
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))), "mape": mape}


@dataclass
class RollingResult:
    """Forecasts from every origin of the test part: one-step, and h steps (all of 1..h) ahead."""

    one_step: dict[str, float]
    multi_step: dict[str, float]
    coverage: dict[float, float]
    mean1: np.ndarray
    std1: np.ndarray
    truth1: np.ndarray


def rolling_errors(model: Forecaster, y: np.ndarray, n_train: int, h: int = 12,
                   levels: tuple[float, ...] = LEVELS) -> RollingResult:
    """Score a fitted `model` over the test part y[n_train:].

    One-step: every test point forecast from all data before it. h-step: from every origin o in the test part
    with o + h <= len(y), the forecasts of y[o..o+h-1]; errors over all those points (steps 1..h pooled).
    Coverage: the share of test points inside the one-step Gaussian intervals.
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    origins = np.arange(n_train, n)
    mean1, std1 = model.predict(y, origins, 1)
    truth1 = y[n_train:]
    one = regression_errors(truth1, mean1[:, 0])
    cover = {}
    for lv in levels:
        lo, hi = gaussian_bounds(mean1[:, 0], std1[:, 0], lv)
        cover[lv] = float(np.mean((truth1 >= lo) & (truth1 <= hi)))
    h_eff = min(h, n - n_train)
    o_h = np.arange(n_train, n - h_eff + 1)
    mean_h = model.predict_mean(y, o_h, h_eff)
    truth_h = np.stack([y[o:o + h_eff] for o in o_h])
    multi = regression_errors(truth_h.ravel(), mean_h.ravel())
    return RollingResult(one, multi, cover, mean1[:, 0], std1[:, 0], truth1)


def mean_ci(values: np.ndarray | list[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t confidence interval (0 half-width for one value)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return float(v.mean()), math.nan
    half = float(stats.t.ppf((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return float(v.mean()), half
