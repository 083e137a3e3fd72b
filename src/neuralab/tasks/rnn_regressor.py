"""One-to-one recurrent regression: a window of a series in, its next value out (course topic "RNN
architectures: one-to-one").

The model is the registry's `rnn-regressor` (SimpleRNN(50, tanh) over the window, last state -> Dense(1),
MSE). The embedded problem has a known right answer: a sum of two sinusoids plus Gaussian noise of standard
deviation σ = 0.1, so the next value is predictable up to the noise, and no predictor can have an RMSE below
σ; the RNN is compared with that floor and with three baselines measured on the same test windows:
persistence (ŷ = last value of the window, the naive forecast), the training mean, and a linear
autoregression on the window fitted by least squares (the "AR" of the course's forecasting topic).

`--data series.csv` runs on a column of the user's CSV (`--set column=NAME` or a 1-based index; default the
last column), in file order. Windows are split in time: the first 70% train, the next 15% validate (early
stopping), the last 15% test; the series is standardised with the training part's mean and deviation.

Metrics (metrics.json): `test_mae_<m>`, `test_rmse_<m>` for m in rnn/persistence/mean/linear_ar (in the
series' units), `rmse_ratio_rnn_to_persistence`, `noise_std` (generated data), `n_train/n_val/n_test`,
`window`, `epochs_run`, `best_epoch`, `train_seconds`.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import neuralab
from neuralab.errors import ConfigError, DataError
from neuralab.metrics import regression_metrics
from neuralab.tasks.base import TaskContext, register_task
from neuralab.train import make_loader
from neuralab.train.callbacks import EarlyStopping
from neuralab.utils import cpu_threads

NOISE_STD = 0.1
PERIODS = (25.0, 9.0)
FRACTIONS = (0.7, 0.15)  # train, validation; the rest is the test part


# ------------------------------------------------------------------------------------------------ data
def generated_series(n: int, seed: int, noise: float = NOISE_STD) -> np.ndarray:
    """x_t = sin(2πt/25) + 0.5·sin(2πt/9 + 1) + ε_t, ε_t ~ N(0, noise²): predictable up to the noise."""
    t = np.arange(n, dtype=np.float64)
    clean = np.sin(2 * np.pi * t / PERIODS[0]) + 0.5 * np.sin(2 * np.pi * t / PERIODS[1] + 1.0)
    return clean + noise * np.random.default_rng(seed).standard_normal(n)


def read_series_csv(path: str | Path, column: str | None = None) -> tuple[np.ndarray, str]:
    """One numeric column of a CSV, in file order, and its name.

    Args:
        path: a comma-separated UTF-8 file; a first row without any number is a header.
        column: a header name or a 1-based column number (default: the last column).

    Raises:
        DataError: unreadable or empty file, unknown column, a row without that column, or a value that is not
            a finite number -- naming the file, the line and the column.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    rows = [(i, r) for i, r in enumerate(csv.reader(text.splitlines()), start=1)
            if r and any(f.strip() for f in r) and not r[0].lstrip().startswith("#")]
    if not rows:
        raise DataError(f"{path}: the file is empty; expected a CSV with a numeric column")
    first = [f.strip() for f in rows[0][1]]
    header = first if all(_number(f) is None for f in first) else None  # e.g. "Date,Passengers"
    if header is not None:
        rows = rows[1:]
    if column is None:
        idx = len(first) - 1
    elif column.isdigit():
        idx = int(column) - 1
        if not 0 <= idx < len(first):
            raise DataError(f"{path}: column={column} but the first row has {len(first)} column(s)")
    elif header is not None and column in header:
        idx = header.index(column)
    else:
        names = ", ".join(header) if header else "none (no header row)"
        raise DataError(f"{path}: no column named {column!r}; the header's columns are {names}")
    name = header[idx] if header else f"column {idx + 1}"
    values = []
    for line, r in rows:
        if idx >= len(r):
            raise DataError(f"{path}, line {line}: {len(r)} field(s), no column {idx + 1} ({name!r})")
        v = _number(r[idx].strip())
        if v is None:
            raise DataError(f"{path}, line {line}, column {idx + 1} ({name!r}): {r[idx].strip()!r} is not a "
                            "finite number")
        values.append(v)
    if not values:
        raise DataError(f"{path}: a header row but no data rows")
    return np.asarray(values, dtype=np.float64), name


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


@dataclass
class Windows:
    """Standardised windows of a series, split in time. x (N, window, 1), y (N, 1); `t` the target index."""

    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    t: dict[str, np.ndarray]
    mean: float
    std: float
    series: np.ndarray
    name: str

    def to_units(self, z: torch.Tensor | np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float64).reshape(-1) * self.std + self.mean


def make_windows(series: np.ndarray, window: int, name: str) -> Windows:
    """Every (series[t−window : t], series[t]) pair, split 70/15/15 in time, standardised on the train part."""
    n_pairs = len(series) - window
    n_train = int(FRACTIONS[0] * n_pairs)
    n_val = int(FRACTIONS[1] * n_pairs)
    if n_train < 8 or n_val < 2 or n_pairs - n_train - n_val < 2:
        raise DataError(f"{name}: {len(series)} values give {n_pairs} windows of {window}; need at least "
                        f"{window + 40} values for a 70/15/15 split (or a smaller --set window=...)")
    train_end = n_train + window  # the train part's targets are series[window : train_end]
    mean, std = float(series[:train_end].mean()), float(series[:train_end].std())
    if std == 0:
        raise DataError(f"{name}: the series is constant over its training part; nothing to predict")
    z = (series - mean) / std
    idx = np.arange(window)[None, :] + np.arange(n_pairs)[:, None]  # (n_pairs, window) window positions
    x_all = torch.as_tensor(z[idx], dtype=torch.float32).unsqueeze(-1)  # (n_pairs, window, 1)
    y_all = torch.as_tensor(z[window:], dtype=torch.float32).unsqueeze(-1)  # (n_pairs, 1)
    t_all = np.arange(window, len(series))
    cuts = {"train": slice(0, n_train), "val": slice(n_train, n_train + n_val), "test": slice(n_train + n_val, None)}
    return Windows({k: x_all[s] for k, s in cuts.items()}, {k: y_all[s] for k, s in cuts.items()},
                   {k: t_all[s] for k, s in cuts.items()}, mean, std, series, name)


def linear_ar(w: Windows) -> np.ndarray:
    """Least-squares linear autoregression on the window (with intercept): test predictions, standardised."""
    def design(x: torch.Tensor) -> np.ndarray:
        a = x.squeeze(-1).numpy().astype(np.float64)
        return np.hstack([a, np.ones((len(a), 1))])

    coef, *_ = np.linalg.lstsq(design(w.x["train"]), w.y["train"].numpy().astype(np.float64).ravel(), rcond=None)
    return design(w.x["test"]) @ coef


# ------------------------------------------------------------------------------------------------ task
@register_task("rnn-regressor", "one-to-one recurrent regression: SimpleRNN(50) over a window predicts the next "
               "value; MAE/RMSE vs persistence, mean and linear-AR baselines and the noise floor",
               default_data="two noisy sinusoids (generated; σ = 0.1)",
               title="One-to-one RNN: next-value regression",
               options={"column": "CSV column (name or 1-based index) with --data; default: the last column",
                        "window": "time steps per input window (default 20)",
                        "cell": "rnn (SimpleRNN, default), lstm or gru",
                        "hidden": "recurrent units (default 50)"})
def run(ctx: TaskContext) -> None:
    # A 50-unit RNN gains nothing from intra-op threads: on the busy 2-core machine one training step took 11 ms
    # with one thread and ~200 ms with two (measured).
    with cpu_threads(1, ctx.device):
        _run(ctx)


def _run(ctx: TaskContext) -> None:
    window = ctx.option("window", 20, int)
    hidden = ctx.option("hidden", 50, int)
    cell = ctx.option("cell", "rnn")
    if window < 1 or hidden < 1:
        raise ConfigError(f"options window={window}, hidden={hidden}: both must be positive integers")
    path = ctx.data_path(".csv", ".txt")
    if path is None:
        n = 800 if ctx.quick else 3000
        series, name = generated_series(n, ctx.seed_for("series")), "generated: two noisy sinusoids"
    else:
        series, col = read_series_csv(path, ctx.option("column"))
        name = f"{path.name}, column {col!r}"
    w = make_windows(series, window, name)

    ctx.seed("rnn")
    model = neuralab.get_model("rnn-regressor", window=window, hidden_size=hidden, cell=cell)
    epochs = ctx.epochs(80, 6)
    stopper = EarlyStopping(patience=10)
    trainer = ctx.trainer("rnn", model, F.mse_loss, lr=3e-3, callbacks=[stopper], clip_norm=1.0)
    train = make_loader(w.x["train"], w.y["train"], batch_size=32, shuffle=True)
    val = make_loader(w.x["val"], w.y["val"], batch_size=512)
    t0 = time.perf_counter()
    history = ctx.fit(trainer, train, val, epochs=epochs)
    seconds = time.perf_counter() - t0
    pred_z, _ = trainer.predict(make_loader(w.x["test"], w.y["test"], batch_size=512))

    truth = w.to_units(w.y["test"])
    preds = {"rnn": w.to_units(pred_z),
             "persistence": w.to_units(w.x["test"][:, -1, 0]),
             "mean": np.full_like(truth, w.mean),
             "linear_ar": w.to_units(linear_ar(w))}
    scores = {k: regression_metrics(truth, p) for k, p in preds.items()}
    m: dict = {"dataset": name, "window": window, "cell": cell, "hidden_size": hidden,
               "n_train": len(w.y["train"]), "n_val": len(w.y["val"]), "n_test": len(w.y["test"]),
               "epochs_run": len(history), "best_epoch": (stopper.best_epoch or 0) + 1,
               "train_seconds": seconds,
               "parameters": sum(p.numel() for p in model.parameters())}
    for k, s in scores.items():
        m[f"test_mae_{k}"], m[f"test_rmse_{k}"], m[f"test_r2_{k}"] = s["mae"], s["rmse"], s["r2"]
    m["rmse_ratio_rnn_to_persistence"] = m["test_rmse_rnn"] / m["test_rmse_persistence"]
    if path is None:
        m["noise_std"] = NOISE_STD
        m["rmse_ratio_rnn_to_noise_floor"] = m["test_rmse_rnn"] / NOISE_STD
    ctx.report.add_metrics(**m)
    _report(ctx, w, preds, history, m)
    neuralab.save_model(model, ctx.run_dir / "model", extra={"mean": w.mean, "std": w.std, "window": window})


LABELS = {"rnn": "RNN", "persistence": "persistence (last value)", "mean": "training mean",
          "linear_ar": "linear AR(window), least squares"}


def _report(ctx: TaskContext, w: Windows, preds: dict[str, np.ndarray], history, m: dict) -> None:
    import matplotlib.pyplot as plt

    r = ctx.report
    cell_name = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}[m["cell"]]
    r.heading("1. Problem and model")
    floor = (f" The series is a sum of two sinusoids (periods {PERIODS[0]:g} and {PERIODS[1]:g} steps) plus "
             f"Gaussian noise of σ = {NOISE_STD}: the next value is predictable except for its noise, so the "
             f"lowest RMSE any predictor can reach is σ = {NOISE_STD}.") if "noise_std" in m else ""
    r.text(f"Data: {m['dataset']} ({len(w.series)} values). Each input is a window of {m['window']} consecutive "
           f"values, the target is the value that follows; windows are split in time into {m['n_train']} "
           f"training, {m['n_val']} validation and {m['n_test']} test windows, standardised with the training "
           f"part's mean and deviation.{floor}")
    r.text(f"Model: `rnn-regressor` — {cell_name}({m['hidden_size']}, tanh) over the window, its last state → "
           f"Dense(1), {m['parameters']} parameters; Adam (lr 3e-3), MSE, batches of 32, gradient norm clipped "
           f"at 1, early stopping on the validation loss (patience 10, best weights restored). It trained "
           f"{m['epochs_run']} epochs in {m['train_seconds']:.1f} s; the best epoch was {m['best_epoch']}.")
    r.heading("2. Test error vs baselines")
    r.table(["predictor", "MAE", "RMSE", "R²"],
            [[LABELS[k], f"{m[f'test_mae_{k}']:.4g}", f"{m[f'test_rmse_{k}']:.4g}", f"{m[f'test_r2_{k}']:.3f}"]
             for k in preds], caption=f"On the {m['n_test']} test windows, in the series' units.")
    better = "lower" if m["rmse_ratio_rnn_to_persistence"] < 1 else "higher"
    text = (f"The RNN's test RMSE is {m['test_rmse_rnn']:.4g}, {m['rmse_ratio_rnn_to_persistence']:.2f}× that of "
            f"the naive persistence forecast ({m['test_rmse_persistence']:.4g}, {better}), against "
            f"{m['test_rmse_linear_ar']:.4g} for the linear autoregression and {m['test_rmse_mean']:.4g} for the "
            f"training mean.")
    if "noise_std" in m:
        text += (f" It is {m['rmse_ratio_rnn_to_noise_floor']:.2f}× the noise floor σ = {NOISE_STD} (1.00 would "
                 "be a perfect predictor).")
    r.text(text)
    r.say(f"test RMSE: RNN {m['test_rmse_rnn']:.4g}, persistence {m['test_rmse_persistence']:.4g}, "
          f"linear AR {m['test_rmse_linear_ar']:.4g}")

    r.heading("3. Predictions")
    fig, (ax_t, ax_s) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [2.2, 1]})
    t, truth = w.t["test"], w.to_units(w.y["test"])
    show = slice(0, min(len(t), 150))
    ax_t.plot(t[show], truth[show], "k.-", lw=0.8, ms=3, label="true")
    ax_t.plot(t[show], preds["rnn"][show], "-", color="tab:red", label="RNN")
    ax_t.plot(t[show], preds["persistence"][show], ":", color="tab:blue", label="persistence")
    ax_t.set_xlabel("time step")
    ax_t.set_title("test part: next-value predictions")
    ax_t.legend(fontsize="small")
    lo, hi = float(truth.min()), float(truth.max())
    ax_s.plot([lo, hi], [lo, hi], color="0.6", lw=0.8)
    ax_s.scatter(truth, preds["rnn"], s=6, color="tab:red", label="RNN")
    ax_s.set_xlabel("true")
    ax_s.set_ylabel("predicted")
    ax_s.set_title("RNN, all test windows")
    r.figure(fig, "predictions", f"Left: the first {show.stop} test steps, true values and one-step predictions. "
             "Right: predicted vs true on every test window (the diagonal is perfect).")
    r.heading("4. Learning curves")
    r.history(history, title="training and validation MSE (standardised units)")
    r.text(f"The training MSE went from {history['train_loss'][0]:.4g} after epoch 1 to "
           f"{history['train_loss'][-1]:.4g}; the validation MSE from {history['val_loss'][0]:.4g} to "
           f"{min(history['val_loss']):.4g} at best. The model is saved in `model/` (config.json's `extra` holds "
           "the standardisation mean and deviation and the window).")
