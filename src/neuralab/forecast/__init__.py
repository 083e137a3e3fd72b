"""Forecasting (course topic "Autoregressive models vs LSTM"): one interface, statistical and neural models.

    base      Forecaster (fit / predict from any history / sample_paths / forecast), Forecast, intervals,
              chronological split, rolling-origin errors (MAE, RMSE, MAPE, coverage)
    ar        AR(p) by least squares from the course's equation (checked against statsmodels), ψ-weight
              intervals, path sampling from p(x_t | x_<t)
    stats     statsmodels AR and ARIMA (orders by AIC/BIC), naive and seasonal-naive baselines
    neural    registry window models (LSTM, GRU, MLP), recursive or direct multi-step, Gaussian head or
              residual intervals, scaling and windows from the training part only
    hybrid    the ARIMA–ANN hybrid (Zhang 2003): an AR on the (log, differenced, seasonally differenced)
              series plus a network forecasting the AR's residual
    ensemble  seed ensembles of the neural forecasters or hybrids (forecasts averaged), settings chosen on a
              chronological validation split of the training part

`make_forecaster(name, **options)` builds any of them by name (the CLI's `--model`).
"""

from __future__ import annotations

from typing import Any

from neuralab.errors import ConfigError
from neuralab.forecast.ar import ARFit, HandAR, fit_ar
from neuralab.forecast.base import (
    LEVELS,
    Forecast,
    Forecaster,
    RollingResult,
    chronological_split,
    mean_ci,
    regression_errors,
    rolling_errors,
)
from neuralab.forecast.ensemble import NeuralEnsemble
from neuralab.forecast.hybrid import HybridForecaster
from neuralab.forecast.neural import NeuralForecaster
from neuralab.forecast.stats import Naive, SeasonalNaive, StatsAR, StatsARIMA, unit_root

FORECASTERS = ("naive", "seasonal-naive", "ar-hand", "ar", "arima", "lstm", "gru", "mlp", "lstm-ens", "gru-ens",
               "mlp-ens", "hybrid-mlp", "hybrid-lstm", "hybrid-gru", "hybrid-mlp-ens", "hybrid-lstm-ens",
               "hybrid-gru-ens")


def make_forecaster(name: str, **options: Any) -> Forecaster:
    """A forecaster by name: naive, seasonal-naive (m=), ar-hand (p=), ar (maxlag=, ic=), arima (max_p=,
    max_q=, ic=), lstm / gru / mlp (the options of `NeuralForecaster`), lstm-ens / gru-ens / mlp-ens (seeds=,
    grid=, select_fraction=, select_h=, select_metric= and the options of `NeuralForecaster`), hybrid-mlp /
    hybrid-lstm / hybrid-gru (the options of `HybridForecaster`), hybrid-<kind>-ens (the ensemble options and
    those of `HybridForecaster`)."""
    if name in ("hybrid-mlp", "hybrid-lstm", "hybrid-gru"):
        try:
            return HybridForecaster(kind=name.split("-")[1], **options)
        except TypeError as exc:
            raise ConfigError(f"forecaster {name!r}: {exc}") from None
    if name in ("hybrid-mlp-ens", "hybrid-lstm-ens", "hybrid-gru-ens"):
        return NeuralEnsemble(kind=name.split("-")[1], member="hybrid", **options)
    if name in ("lstm", "gru", "mlp"):
        return NeuralForecaster(kind=name, **options)
    if name in ("lstm-ens", "gru-ens", "mlp-ens"):
        return NeuralEnsemble(kind=name.split("-")[0], **options)
    builders = {"naive": Naive, "seasonal-naive": SeasonalNaive, "ar-hand": HandAR, "ar": StatsAR,
                "arima": StatsARIMA}
    if name not in builders:
        raise ConfigError(f"unknown forecaster {name!r}; expected one of {', '.join(FORECASTERS)}")
    try:
        return builders[name](**options)
    except TypeError as exc:
        raise ConfigError(f"forecaster {name!r}: {exc}") from None


__all__ = ["FORECASTERS", "LEVELS", "ARFit", "Forecast", "Forecaster", "HandAR", "HybridForecaster", "Naive",
           "NeuralEnsemble", "NeuralForecaster", "RollingResult", "SeasonalNaive", "StatsAR", "StatsARIMA",
           "chronological_split", "fit_ar", "make_forecaster", "mean_ci", "regression_errors", "rolling_errors",
           "unit_root"]
