"""`neuralab forecast`: read a CSV series, fit a forecaster, write the forecast with intervals (CSV + plot).

    forecast_file(path, column, horizon=12, model="auto"|"ar"|"arima"|"lstm"|"gru"|"mlp", out=DIR)
        -> DIR/forecast.csv   step, time, mean, lower_80, upper_80, lower_95, upper_95
           DIR/forecast.png   the series' tail, the forecast and its 80%/95% bands

`auto` holds out the last 20% of the series, fits AR, ARIMA and an LSTM on the rest, keeps the one with the
lowest one-step RMSE on the held-out part and refits it on the whole series. Both files are written
atomically (a temporary file renamed into place).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuralab.data.series import Series, check_length, read_series
from neuralab.errors import ConfigError, DataError
from neuralab.forecast.base import Forecast, Forecaster, chronological_split, rolling_errors
from neuralab.utils import atomic_path, atomic_write_text

MODELS = ("auto", "ar", "arima", "lstm", "gru", "mlp")


@dataclass
class ForecastResult:
    model: str
    forecast: Forecast
    times: list[str]
    csv_path: Path
    png_path: Path
    detail: str


def _build(name: str, window: int, seed: int, device: str, epochs: int) -> Forecaster:
    from neuralab.forecast.neural import NeuralForecaster
    from neuralab.forecast.stats import StatsAR, StatsARIMA

    if name == "ar":
        return StatsAR(maxlag=max(1, min(24, window)))
    if name == "arima":
        return StatsARIMA()
    return NeuralForecaster(name, window=window, seed=seed, device=device, epochs=epochs, patience=20)


def _future_times(series: Series, horizon: int) -> list[str]:
    """Time labels of the forecast steps: extrapolated from the time column when it is regular."""
    if not series.times or len(series.times) < 2:
        return [f"+{k}" for k in range(1, horizon + 1)]
    try:
        t = np.array([float(x) for x in series.times])
        step = t[-1] - t[-2]
        return [f"{t[-1] + k * step:g}" for k in range(1, horizon + 1)]
    except ValueError:
        pass
    import pandas as pd

    idx = pd.DatetimeIndex(pd.to_datetime(pd.Series(series.times[-6:]), format="mixed"))
    freq = pd.infer_freq(idx) if len(idx) >= 3 else None
    if freq is None:
        return [f"+{k}" for k in range(1, horizon + 1)]
    fut = pd.date_range(idx[-1], periods=horizon + 1, freq=freq)[1:]
    fmt = "%Y-%m" if len(series.times[-1]) == 7 else "%Y-%m-%d"
    return [d.strftime(fmt) for d in fut]


def forecast_file(path: str | Path, column: str, horizon: int = 12, model: str = "auto",
                  time_column: str | None = None, out: str | Path = "forecast", window: int = 10,
                  seed: int = 0, device: str = "cpu", epochs: int = 300) -> ForecastResult:
    """Forecast `horizon` values after the end of the CSV column and write forecast.csv/png into `out`."""
    import torch

    if model not in MODELS:
        raise ConfigError(f"--model {model!r}: expected one of {', '.join(MODELS)}")
    if horizon < 1:
        raise ConfigError(f"--horizon must be >= 1, got {horizon}")
    if epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, got {epochs}")
    if window < 1:
        raise ConfigError(f"--window must be >= 1, got {window}")
    series = read_series(path, column, time_column)
    y = series.values
    if model in ("lstm", "gru", "mlp", "auto"):
        check_length(len(y), window + 1, 1, what=f"{path}: column {series.name!r}")
    elif len(y) < 10:
        raise DataError(f"{path}: column {series.name!r} has {len(y)} points; {model} needs at least 10")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only add hand-offs (see tasks/ar_vs_lstm.py)
    try:
        detail = ""
        chosen = model
        if model == "auto":
            n_train = chronological_split(len(y), 0.2)
            scores = {}
            for name in ("ar", "arima", "lstm"):
                try:
                    f = _build(name, window, seed, device, epochs).fit(y[:n_train])
                    scores[name] = rolling_errors(f, y, n_train, 1).one_step["rmse"]
                except (DataError, ConfigError):
                    continue
            if not scores:
                raise DataError(f"{path}: no forecaster could be fitted to the first 80% of the series")
            chosen = min(scores, key=scores.get)
            detail = "held-out one-step RMSE: " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items())
        fitted = _build(chosen, window, seed, device, epochs).fit(y)
        fc = fitted.forecast(y, horizon)
    finally:
        torch.set_num_threads(threads)
    times = _future_times(series, horizon)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "time", "mean", "lower_80", "upper_80", "lower_95", "upper_95"])
    for k in range(horizon):
        w.writerow([k + 1, times[k], f"{fc.mean[k]:.6g}", f"{fc.lower[0.8][k]:.6g}", f"{fc.upper[0.8][k]:.6g}",
                    f"{fc.lower[0.95][k]:.6g}", f"{fc.upper[0.95][k]:.6g}"])
    csv_path = out / "forecast.csv"
    atomic_write_text(csv_path, buf.getvalue())
    png_path = out / "forecast.png"
    _plot(series, fc, chosen, png_path)
    return ForecastResult(chosen, fc, times, csv_path, png_path, detail)


def _plot(series: Series, fc: Forecast, model: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = series.values
    h = len(fc.mean)
    tail = min(len(y), max(4 * h, 48))
    fig, ax = plt.subplots(figsize=(7, 3.4))
    t_past = np.arange(len(y) - tail, len(y))
    t_fut = np.arange(len(y), len(y) + h)
    ax.plot(t_past, y[-tail:], color="0.25", lw=1.2, label=series.name)
    ax.fill_between(t_fut, fc.lower[0.95], fc.upper[0.95], color="tab:blue", alpha=0.15, label="95%")
    ax.fill_between(t_fut, fc.lower[0.8], fc.upper[0.8], color="tab:blue", alpha=0.3, label="80%")
    ax.plot(t_fut, fc.mean, color="tab:blue", lw=1.5, label=f"{model} forecast")
    ax.set_xlabel("step")
    ax.set_title(f"{Path(series.source).name}: {h}-step forecast ({model})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def describe(result: ForecastResult) -> list[str]:
    """Lines the CLI prints."""
    fc = result.forecast
    lines = [f"model: {result.model}" + (f" ({result.detail})" if result.detail else "")]
    lines += [f"  {t}: {m:.4g}  80% [{lo:.4g}, {hi:.4g}]" for t, m, lo, hi in
              zip(result.times, fc.mean, fc.lower[0.8], fc.upper[0.8], strict=True)][:12]
    lines.append(f"wrote {result.csv_path} and {result.png_path}")
    return lines


__all__: list[Any] = ["MODELS", "ForecastResult", "describe", "forecast_file"]
