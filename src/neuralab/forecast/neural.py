"""Neural forecasters: registry window models (LSTM, GRU, MLP) trained on windows of a series.

    windows:  context y[t−w−1 .. t−1] (w + 1 levels)  ->  targets y[t .. t+H−1]
    level mode (stationary series): inputs (y − μ)/σ,           targets (y − μ)/σ
    diff mode (unit root, by the ADF test on the training part):
              inputs (Δy − μ_Δ)/σ_Δ,                            targets (y_{t+k} − y_{t−1})/σ_Δ
    log (positive series, option `log`): the same on log y, forecasts mapped back by exp (the median of a
              log-normal forecast; multiplicative seasonality and growth become additive)
    μ, σ (μ_Δ, σ_Δ) come from the training part only; the last `val_fraction` of the training windows
    (chronologically) is held out for early stopping and the residual intervals.

Multi-step: *recursive* (H = 1, the forecast fed back as the next input) or *direct* (H outputs at once).
Intervals: a Gaussian head (mean, variance; trained by Gaussian NLL) gives them directly one step ahead and,
recursively, by sampling paths; without it they come from the validation residuals at each horizon
(mean ± z·RMSE_k).

Shape legend: context (k, w + 1) levels -> model input (k, w, 1) -> output (k, H) [+ variance (k, H)].
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from neuralab.data.series import check_length
from neuralab.errors import ConfigError
from neuralab.forecast.base import Forecaster, check_origins, horizon_rmse, log_series
from neuralab.models.forecasters import gaussian_nll, point_mse
from neuralab.models.registry import get_model
from neuralab.train.callbacks import EarlyStopping
from neuralab.train.trainer import Trainer, make_loader
from neuralab.utils import resolve_device

KINDS = ("lstm", "gru", "mlp")
RESID_HORIZONS = 24  # horizons whose residual RMSE is measured on the validation part


def context_windows(y: np.ndarray, w: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """All (context (w + 1,), targets (horizon,)) pairs of y, as (m, w + 1) and (m, horizon) arrays.

    Window j's context is y[j .. j+w] and its targets y[j+w+1 .. j+w+horizon]: a target never precedes or
    overlaps its inputs.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    full = sliding_window_view(y, w + 1 + horizon)  # (m, w + 1 + horizon)
    return full[:, :w + 1].copy(), full[:, w + 1:].copy()


class NeuralForecaster(Forecaster):
    """A registry window model (`lstm-forecaster`, `gru-forecaster`, `mlp-forecaster`) as a forecaster.

    Args:
        kind: `lstm`, `gru` or `mlp`.
        window: past values per input (w).
        strategy: `recursive` (one output, fed back) or `direct` (`horizon` outputs).
        horizon: outputs of the direct strategy (ignored by the recursive one).
        gaussian: train a Gaussian head (mean, variance) by NLL instead of a point head by MSE.
        transform: `auto` (diff when the ADF test keeps a unit root), `level` or `diff`.
        log: model log y (the series must be positive); forecasts and intervals are mapped back by exp.
        hidden_size: units (None: the model's default, 50 for LSTM/GRU).
        epochs, batch_size, lr, patience: training (Adam, early stopping on the validation loss).
        val_fraction: the last share of training windows held out.
        seed: seeds the initial weights and the shuffling.
        device: `cpu`, `cuda`, `auto`, ...
        n_paths: sampled paths for recursive Gaussian intervals.
    """

    def __init__(self, kind: str = "lstm", window: int = 10, strategy: str = "recursive", horizon: int = 12,
                 gaussian: bool = False, transform: str = "auto", log: bool = False, hidden_size: int | None = None,
                 epochs: int = 200, batch_size: int = 32, lr: float = 2e-3, patience: int = 20,
                 val_fraction: float = 0.15, seed: int = 0, device: str = "cpu", n_paths: int = 200) -> None:
        if kind not in KINDS:
            raise ConfigError(f"neural forecaster kind {kind!r}: expected one of {', '.join(KINDS)}")
        if strategy not in ("recursive", "direct"):
            raise ConfigError(f"strategy {strategy!r}: expected 'recursive' or 'direct'")
        if transform not in ("auto", "level", "diff"):
            raise ConfigError(f"transform {transform!r}: expected 'auto', 'level' or 'diff'")
        if not 0 < val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {val_fraction}")
        self.kind, self.window, self.strategy, self.gaussian = kind, window, strategy, gaussian
        self.H = horizon if strategy == "direct" else 1
        self.transform, self.log = transform, log
        self.hidden_size, self.epochs, self.batch_size, self.lr = hidden_size, epochs, batch_size, lr
        self.patience, self.val_fraction, self.seed, self.n_paths = patience, val_fraction, seed, n_paths
        self.device = resolve_device(device)
        self.name = (f"{kind}" + ("-direct" if strategy == "direct" else "") + ("-gauss" if gaussian else "")
                     + ("-log" if log else ""))
        self.model: torch.nn.Module | None = None
        self.mode: str | None = None
        self.scaler: dict[str, float] = {}
        self.resid_rmse: np.ndarray | None = None
        self.history: Any = None
        self.train_seconds = 0.0

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return self.window + 1

    # ----------------------------------------------------------------------------------- encode/decode
    def _encode(self, ctx: np.ndarray) -> tuple[torch.Tensor, np.ndarray, float]:
        """Level contexts (k, w + 1) -> model inputs (k, w, 1), anchors (k,), target scale."""
        s = self.scaler
        if self.mode == "diff":
            x = (np.diff(ctx, axis=1) - s["mu"]) / s["sd"]  # (k, w)
            anchor = ctx[:, -1]
        else:
            x = (ctx[:, 1:] - s["mu"]) / s["sd"]  # (k, w)
            anchor = np.full(len(ctx), s["mu"])
        return torch.as_tensor(x[..., None], dtype=torch.float32), anchor, s["sd"]  # (k, w, 1)

    def _run(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """Model outputs in target units: mean (k, H) and variance (k, H) or None."""
        assert self.model is not None
        means, vars_ = [], []
        with torch.no_grad():
            for chunk in torch.split(x, 4096):
                out = self.model(chunk.to(self.device))
                if out.ndim == 3:  # Gaussian head: (k, H, 2) = mean, variance
                    means.append(out[..., 0].float().cpu())
                    vars_.append(out[..., 1].float().cpu())
                else:
                    means.append(out.float().cpu())
        mean = torch.cat(means).double().numpy()
        return mean, (torch.cat(vars_).double().numpy() if vars_ else None)

    # --------------------------------------------------------------------------------------------- fit
    def fit(self, y: np.ndarray) -> NeuralForecaster:
        """Train on y (the training part only: scaling, windows and validation all come from it)."""
        y = np.asarray(y, dtype=np.float64)
        w, H = self.window, self.H
        check_length(len(y), w + 1, H, what="the training series")
        z = self._to_model(y, "the training series")  # log y or y
        if self.transform == "auto":
            from neuralab.forecast.stats import unit_root

            self.mode = "diff" if unit_root(z)[0] else "level"
        else:
            self.mode = self.transform
        if self.mode == "diff":
            d = np.diff(z)
            self.scaler = {"mu": float(d.mean()), "sd": float(d.std()) or 1.0}
        else:
            self.scaler = {"mu": float(z.mean()), "sd": float(z.std()) or 1.0}
        ctx, tgt = context_windows(z, w, H)
        x, anchor, scale = self._encode(ctx)
        t = torch.as_tensor((tgt - anchor[:, None]) / scale, dtype=torch.float32)  # (m, H)
        m = len(x)
        n_val = max(1, int(round(m * self.val_fraction)))
        # the validation windows' targets come after every training window's targets (no overlap in time)
        n_tr = m - n_val - (H - 1)
        if n_tr < 4:
            raise ConfigError(f"{self.name}: only {n_tr} training windows; use a shorter window/horizon")
        torch.manual_seed(self.seed)
        kw: dict[str, Any] = {"window": w, "horizon": H, "gaussian": self.gaussian}
        if self.hidden_size is not None:
            kw["hidden_size"] = self.hidden_size
        self.model = get_model(f"{self.kind}-forecaster", **kw)
        stop = EarlyStopping(patience=self.patience, restore_best=True)
        trainer = Trainer(self.model, gaussian_nll if self.gaussian else point_mse, lr=self.lr, device=self.device,
                          progress=False, clip_norm=1.0, callbacks=[stop], seed=self.seed, amp=False)
        t0 = time.perf_counter()
        self.history = trainer.fit(make_loader(x[:n_tr], t[:n_tr], batch_size=self.batch_size, shuffle=True),
                                   make_loader(x[m - n_val:], t[m - n_val:], batch_size=4096), epochs=self.epochs)
        self.train_seconds = time.perf_counter() - t0
        self.model.eval()
        self.best_epoch = stop.best_epoch
        # residual RMSE per horizon from validation origins (targets inside the training series)
        first = w + 1 + (m - n_val)  # index of the first validation target
        R = RESID_HORIZONS if self.strategy == "recursive" else H
        origins = np.arange(first, len(y))
        mean, _ = self._mean_paths(y, origins, R)
        self.resid_rmse = horizon_rmse(y, origins, mean, fallback=float(np.std(np.diff(y))))
        return self

    # ------------------------------------------------------------------------------------------ predict
    def _to_model(self, y: np.ndarray, what: str = "the series") -> np.ndarray:
        """The values the network models: log y (option `log`) or y itself."""
        if not self.log:
            return y
        return log_series(y, self.name, what)

    def _fitted(self) -> None:
        if self.model is None:
            raise ConfigError(f"{self.name}: call fit() before forecasting")

    def _mean_paths(self, y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean forecasts (k, h) and, for a Gaussian head, their one-step/direct variances (k, h), in y's units.

        With `log`, the network's forecast m (variance v) of log y maps back to exp(m) (the log-normal median)
        and, to first order, variance exp(2m)·v.
        """
        mean, var = self._model_paths(self._to_model(y), origins, h)
        if not self.log:
            return mean, var
        back = np.exp(mean)
        return back, (back[:, :var.shape[1]] ** 2 * var if var is not None else None)

    def _model_paths(self, y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray | None]:
        w = self.window
        ctx = np.stack([y[o - w - 1:o] for o in origins])  # (k, w + 1) levels before each origin
        if self.strategy == "direct":
            if h > self.H:
                raise ConfigError(f"{self.name}: trained for {self.H} steps ahead, asked for {h}; use the "
                                  "recursive strategy or a larger horizon")
            x, anchor, scale = self._encode(ctx)
            mean, var = self._run(x)
            return anchor[:, None] + scale * mean[:, :h], (scale ** 2 * var[:, :h] if var is not None else None)
        out = np.empty((len(origins), h))
        var1 = None
        for j in range(h):
            x, anchor, scale = self._encode(ctx)
            mean, var = self._run(x)
            out[:, j] = anchor + scale * mean[:, 0]
            if j == 0 and var is not None:
                var1 = scale ** 2 * var[:, :1]
            ctx = np.concatenate([ctx[:, 1:], out[:, j:j + 1]], axis=1)  # feed the forecast back
        return out, var1

    def predict_mean(self, y: np.ndarray, origins: np.ndarray, h: int) -> np.ndarray:
        self._fitted()
        y = np.asarray(y, dtype=np.float64)
        return self._mean_paths(y, check_origins(y, origins, self.min_history, self.name), h)[0]

    def predict(self, y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        self._fitted()
        y = np.asarray(y, dtype=np.float64)
        origins = check_origins(y, origins, self.min_history, self.name)
        mean, var = self._mean_paths(y, origins, h)
        if self.gaussian and self.strategy == "direct":
            return mean, np.sqrt(var)
        if self.gaussian and h == 1:
            return mean, np.sqrt(var)
        if self.gaussian:
            paths = self._sample(y, origins, h, self.n_paths, seed=self.seed)  # (n, k, h)
            return mean, paths.std(axis=0)
        assert self.resid_rmse is not None
        R = len(self.resid_rmse)
        k = np.arange(1, h + 1)
        std = np.where(k <= R, self.resid_rmse[np.minimum(k, R) - 1], self.resid_rmse[-1] * np.sqrt(k / R))
        return mean, np.broadcast_to(std, mean.shape).copy()

    def _sample(self, y: np.ndarray, origins: np.ndarray, h: int, n: int, seed: int) -> np.ndarray:
        """(n, k, h) paths drawn step by step from the Gaussian head's N(mean, variance), fed back."""
        rng = np.random.default_rng(seed)
        w = self.window
        y = self._to_model(y)
        ctx = np.stack([y[o - w - 1:o] for o in origins])
        k = len(ctx)
        ctx = np.repeat(ctx[None], n, axis=0).reshape(n * k, w + 1)  # (n·k, w + 1)
        out = np.empty((n * k, h))
        for j in range(h):
            x, anchor, scale = self._encode(ctx)
            mean, var = self._run(x)
            out[:, j] = anchor + scale * (mean[:, 0] + np.sqrt(var[:, 0]) * rng.standard_normal(n * k))
            ctx = np.concatenate([ctx[:, 1:], out[:, j:j + 1]], axis=1)
        out = out.reshape(n, k, h)
        return np.exp(out) if self.log else out

    def sample_paths(self, y: np.ndarray, h: int, n: int, seed: int = 0) -> np.ndarray:
        """n futures after y: sampled from the Gaussian head (recursively), else Gaussian residual noise."""
        self._fitted()
        y = np.asarray(y, dtype=np.float64)
        if self.gaussian and self.strategy == "recursive":
            return self._sample(y, np.array([len(y)]), h, n, seed)[:, 0]
        return super().sample_paths(y, h, n, seed)
