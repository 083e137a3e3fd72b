"""The ARIMA–ANN hybrid (Zhang 2003): a linear AR for the linear part, a network for what the AR leaves.

    y_t = L_t + N_t:   L_t linear (an AR on the log / differenced / seasonally differenced series),
                       N_t the non-linear rest, learnt by a network from the AR's recent residuals

    z_t = log y_t (option `log`) or y_t
    w_t = (1 − B)^d (1 − B^m)^D z_t                          differencing (d, D ∈ {0, 1}; m = `season`);
                                                             `auto`: D = 1 when the STL seasonal strength of
                                                             z is above 0.64, then d = 1 when the ADF test
                                                             keeps a unit root in (1 − B^m)^D z
    w_t = Φ0 + Φ1·w_{t−1} + ... + Φp·w_{t−p} + e_t          AR(p), least squares, p ≤ max_p by AIC
    e_t ≈ α·f([w, e]_{t−window .. t−1})                      registry window model (MLP, LSTM, GRU) on two
                                                             channels: the recent values w and residuals e
    ŵ_t = AR(w_{<t}) + α·f(...),  ẑ_t = ŵ_t − Σ_{k≥1} c_k z_{t−k},  ŷ_t = exp(ẑ_t) or ẑ_t

c are the coefficients of (1 − B)^d (1 − B^m)^D (c_0 = 1). The network's output layer starts at zero, so an
untrained hybrid *is* its AR; early stopping on the last `val_fraction` of the training windows (in time)
keeps the best epoch, and α ∈ [0, 1] (the least-squares weight of the network's output on the validation
residuals, clipped) shrinks a network that does not help there towards the AR alone. Multi-step forecasts are
recursive: each forecast is fed back as a value, and its predicted residual α·f as the residual.

Everything (log, differences, AR, scaling, the network) is fitted on the training series only; forecasts from
an origin o use y[:o] alone (the residuals e_t are computed point by point with the parameters fixed).
Intervals: the RMSE per horizon of the forecasts from the validation origins, mean ± z·RMSE_k.

Shape legend: k origins; contexts z (k, q), w (k, L), e (k, window); network input (k, window, 2) -> (k, 1).

References:
    G. P. Zhang, "Time series forecasting using a hybrid ARIMA and neural network model", Neurocomputing 50
    (2003) 159–175 (the hybrid, on sunspots, lynx and exchange rates); G. Box, G. Jenkins, "Time Series
    Analysis" (differencing and seasonal differencing); X. Wang, K. Smith, R. Hyndman, "Characteristic-based
    clustering for time series data", Data Mining and Knowledge Discovery 13 (2006) (the seasonal strength,
    and its 0.64 threshold as in R forecast's `nsdiffs`); course topic "Autoregressive models vs LSTM".
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from neuralab.errors import ConfigError, DataError
from neuralab.forecast.ar import ARFit, fit_ar
from neuralab.forecast.base import Forecaster, check_origins, horizon_rmse, log_series
from neuralab.models.forecasters import point_mse
from neuralab.models.registry import get_model
from neuralab.train.callbacks import EarlyStopping
from neuralab.train.trainer import Trainer, make_loader
from neuralab.utils import resolve_device

KINDS = ("lstm", "gru", "mlp")
RESID_HORIZONS = 24


def difference_filter(d: int, D: int, m: int) -> np.ndarray:
    """The coefficients c_0..c_q of (1 − B)^d (1 − B^m)^D (c_0 = 1): w_t = Σ_k c_k z_{t−k}."""
    c = np.array([1.0])
    for _ in range(d):
        c = np.convolve(c, [1.0, -1.0])
    for _ in range(D):
        c = np.convolve(c, np.r_[1.0, np.zeros(m - 1), -1.0])
    return c


def seasonal_strength(z: np.ndarray, m: int) -> float:
    """F_s = max(0, 1 − Var(R)/Var(S + R)) of an STL decomposition (0: no season, 1: season only)."""
    from statsmodels.tsa.seasonal import STL

    if m < 2 or len(z) < 2 * m + 1:
        return 0.0
    fit = STL(z, period=m, robust=True).fit()
    return float(max(0.0, 1.0 - np.var(fit.resid) / np.var(fit.resid + fit.seasonal)))


def choose_differencing(z: np.ndarray, m: int, d: int | str, D: int | str) -> tuple[int, int]:
    """(d, D), resolving `auto`: D = 1 when the seasonal strength exceeds 0.64, d = 1 when the ADF test on
    the seasonally differenced series does not reject a unit root at 5%."""
    from neuralab.forecast.stats import unit_root

    if D == "auto":
        D = int(m >= 2 and seasonal_strength(z, m) > 0.64)
    if d == "auto":
        w = z[m:] - z[:-m] if D else z
        d = int(unit_root(w)[0])
    return int(d), int(D)


def select_ar(w: np.ndarray, max_p: int) -> ARFit:
    """AR(p) by least squares with p ∈ 1..max_p of the lowest AIC, every order scored on the same targets.

    max_p = 0: no lags, the mean alone (Φ0 = mean of w, σ² its variance): the network is then the whole
    forecaster of w.
    """
    if max_p == 0:
        sd = float(np.std(w))
        return ARFit(float(np.mean(w)), np.zeros(0), sd ** 2, np.array([sd / math.sqrt(len(w))]), len(w))
    max_p = max(1, min(max_p, (len(w) - 2) // 4))
    best: tuple[float, int] | None = None
    for p in range(1, max_p + 1):
        f = fit_ar(w[max_p - p:], p)  # targets w[max_p:] for every p
        aic = f.nobs * math.log(max(f.sigma2, 1e-300)) + 2 * (p + 1)
        if best is None or aic < best[0]:
            best = (aic, p)
    assert best is not None
    return fit_ar(w, best[1])


class HybridForecaster(Forecaster):
    """AR + network on the AR's residuals (Zhang 2003), with log, difference and seasonal difference options.

    Args:
        kind: the residual network, `mlp`, `lstm` or `gru` (registry `<kind>-forecaster`).
        window: past steps of (w, e) the network sees; two seasons is a good default for seasonal series.
        season: the season length m (1: none).
        seasonal_diff: D, 0, 1 (needs `season` ≥ 2) or `auto` (the seasonal strength of the training part).
        diff: d, 0, 1 or `auto` (the ADF test on the seasonally differenced training part).
        log: model log y (the series must be positive); forecasts are mapped back by exp (the median).
        max_p: the largest AR order tried (None: 2·season + 2 for a seasonal series, else 12; 0: no AR, the
            network alone forecasts w from its window, starting from the mean forecast).
        hidden_size: the network's units (None: the model's default).
        epochs, batch_size, lr, weight_decay, patience: training (Adam, early stopping on the validation loss).
        val_fraction: the last share of the training windows held out (early stopping, α, intervals).
        shrink: fit α on the validation part (False: α = 1, the plain Zhang hybrid).
        seed: seeds the initial weights and the shuffling.
        device: `cpu`, `cuda`, `auto`, ...

    After fit: `ar` (the ARFit of w), `alpha`, `mode` (a short description), `train_seconds`, `history`.
    """

    def __init__(self, kind: str = "mlp", window: int = 12, season: int = 1, seasonal_diff: int | str = 0,
                 diff: int | str = 0,
                 log: bool = False, max_p: int | None = None, hidden_size: int | None = None, epochs: int = 200,
                 batch_size: int = 32, lr: float = 2e-3, weight_decay: float = 0.0, patience: int = 20,
                 val_fraction: float = 0.2, shrink: bool = True, seed: int = 0, device: str = "cpu") -> None:
        if kind not in KINDS:
            raise ConfigError(f"hybrid network kind {kind!r}: expected one of {', '.join(KINDS)}")
        for name, v in (("window", window), ("season", season), ("epochs", epochs), ("batch_size", batch_size)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"hybrid: {name} must be a positive integer, got {v!r}")
        if diff not in (0, 1, "auto") or seasonal_diff not in (0, 1, "auto"):
            raise ConfigError(f"hybrid: diff and seasonal_diff must be 0, 1 or 'auto', got {diff!r} and "
                              f"{seasonal_diff!r}")
        if seasonal_diff == 1 and season < 2:
            raise ConfigError(f"hybrid: seasonal_diff=1 needs a season length ≥ 2, got season={season}")
        if max_p is not None and (not isinstance(max_p, int) or max_p < 0):
            raise ConfigError(f"hybrid: max_p must be an integer ≥ 0 (0: no AR, the network alone), got {max_p!r}")
        if not 0 < val_fraction < 0.5:
            raise ConfigError(f"hybrid: val_fraction must be in (0, 0.5), got {val_fraction}")
        self.kind, self.window, self.season, self.log = kind, window, season, log
        self.diff_opt, self.seasonal_diff_opt = diff, seasonal_diff
        self.d, self.D = (0 if diff == "auto" else diff), (0 if seasonal_diff == "auto" else seasonal_diff)
        self.max_p = max_p if max_p is not None else (min(2 * season + 2, 30) if season > 1 else 12)
        self.hidden_size, self.epochs, self.batch_size, self.lr = hidden_size, epochs, batch_size, lr
        self.weight_decay, self.patience, self.val_fraction = weight_decay, patience, val_fraction
        self.shrink, self.seed, self.device = shrink, seed, resolve_device(device)
        self.c = difference_filter(self.d, self.D, season)
        self.name = f"hybrid-{kind}"
        self.model: torch.nn.Module | None = None
        self.ar: ARFit | None = None
        self.alpha = 1.0
        self.scaler: dict[str, float] = {}
        self.resid_rmse: np.ndarray | None = None
        self.history: Any = None
        self.train_seconds = 0.0

    @property
    def q(self) -> int:
        return len(self.c) - 1

    @property
    def p(self) -> int:
        return len(self.ar.phi) if self.ar is not None else self.max_p

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return self.q + self.p + self.window

    @property
    def mode(self) -> str:
        parts = (["log"] if self.log else []) + (["Δ"] if self.d else []) + ([f"Δ{self.season}"] if self.D else [])
        lin = f"AR({self.p})" if self.p else "mean"
        return f"{lin} on {' '.join(parts) or 'levels'} + {self.kind} (α {self.alpha:.2f})"

    # ------------------------------------------------------------------------------------------- series
    def _z(self, y: np.ndarray, what: str) -> np.ndarray:
        if not self.log:
            return y
        return log_series(y, self.name, what)

    def _we(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """w_t and the AR residuals e_t for every t of z (NaN where not defined), each from z[:t+1] alone."""
        assert self.ar is not None
        n, q, p = len(z), self.q, len(self.ar.phi)
        w = np.full(n, np.nan)
        w[q:] = np.convolve(z, self.c, mode="valid")  # w[t] = Σ_k c_k z[t−k]
        e = np.full(n, np.nan)
        if n > q + p:
            lags = np.column_stack([w[q + p - i:n - i] for i in range(1, p + 1)] or [np.zeros(n - q - p)])
            e[q + p:] = w[q + p:] - (self.ar.const + (lags @ self.ar.phi if p else 0.0))  # column i−1: w_{t−i}
        return w, e

    def _inputs(self, w: np.ndarray, e: np.ndarray) -> torch.Tensor:
        """(k, window) values and residuals -> the network's scaled input (k, window, 2)."""
        s = self.scaler
        x = np.stack([(w - s["mu"]) / s["sd"], e / s["se"]], axis=-1)
        return torch.as_tensor(x, dtype=torch.float32)

    def _net(self, x: torch.Tensor) -> np.ndarray:
        assert self.model is not None
        with torch.no_grad():
            out = torch.cat([self.model(c.to(self.device)).float().cpu() for c in torch.split(x, 4096)])
        return out[:, 0].double().numpy()

    # --------------------------------------------------------------------------------------------- fit
    def fit(self, y: np.ndarray) -> HybridForecaster:
        """Fit the AR on the training series, then the network on its residuals (see the module docstring)."""
        y = np.asarray(y, dtype=np.float64)
        t0 = time.perf_counter()
        z = self._z(y, "the training series")
        self.d, self.D = choose_differencing(z, self.season, self.diff_opt, self.seasonal_diff_opt)
        self.c = difference_filter(self.d, self.D, self.season)
        n, q, win = len(z), self.q, self.window
        if n - q < 12:
            raise DataError(f"{self.name}: {n} points leave {n - q} after differencing; too few for an AR")
        w_only = np.convolve(z, self.c, mode="valid")
        self.ar = select_ar(w_only, self.max_p)
        p = len(self.ar.phi)
        w, e = self._we(z)
        self.scaler = {"mu": float(np.nanmean(w)), "sd": float(np.nanstd(w)) or 1.0, "se": float(np.nanstd(e)) or 1.0}
        targets = np.arange(q + p + win, n)  # t whose residual window e[t−win..t−1] is fully defined
        m = len(targets)
        n_val = max(2, int(round(m * self.val_fraction)))
        n_tr = m - n_val
        if n_tr < 8:
            raise ConfigError(f"{self.name}: only {n_tr} training windows after the AR({p}) and a window of {win} "
                              f"on {n} points; use a shorter window or a longer series")
        idx = targets[:, None] - win + np.arange(win)[None, :]  # (m, win) the steps before each target
        x = self._inputs(w[idx], e[idx])
        t = torch.as_tensor(e[targets, None] / self.scaler["se"], dtype=torch.float32)  # (m, 1)
        torch.manual_seed(self.seed)
        kw: dict[str, Any] = {"window": win, "horizon": 1, "input_size": 2}
        if self.hidden_size is not None:
            kw["hidden_size"] = self.hidden_size
        self.model = get_model(f"{self.kind}-forecaster", **kw)
        with torch.no_grad():  # an untrained hybrid is its AR
            self.model.mean.weight.zero_()
            self.model.mean.bias.zero_()
        stop = EarlyStopping(patience=self.patience, restore_best=True)
        trainer = Trainer(self.model, point_mse, lr=self.lr, weight_decay=self.weight_decay, device=self.device,
                          progress=False, clip_norm=1.0, callbacks=[stop], seed=self.seed, amp=False)
        self.history = trainer.fit(make_loader(x[:n_tr], t[:n_tr], batch_size=self.batch_size, shuffle=True),
                                   make_loader(x[n_tr:], t[n_tr:], batch_size=4096), epochs=self.epochs)
        self.model.eval()
        self.alpha = 1.0
        if self.shrink:
            f = self._net(x[n_tr:])
            r = t[n_tr:, 0].double().numpy()
            self.alpha = float(np.clip(f @ r / (f @ f), 0.0, 1.0)) if f @ f > 1e-12 else 0.0
        self.resid_rmse = self._horizon_rmse(y, targets[n_tr])
        self.train_seconds = time.perf_counter() - t0
        return self

    def _horizon_rmse(self, y: np.ndarray, first: int) -> np.ndarray:
        """RMSE of the forecasts 1..RESID_HORIZONS steps ahead from the validation origins (inside y)."""
        origins = np.arange(max(first, self.min_history), len(y))
        return horizon_rmse(y, origins, self._paths(y, origins, RESID_HORIZONS), fallback=float(np.std(np.diff(y))))

    # ------------------------------------------------------------------------------------------ predict
    def _paths(self, y: np.ndarray, origins: np.ndarray, h: int) -> np.ndarray:
        """Mean forecasts (k, h) in y's units, recursing AR + α·network from each origin."""
        assert self.ar is not None
        z = self._z(y, "the history")
        w, e = self._we(z)
        q, p, win = self.q, len(self.ar.phi), self.window
        L = max(p, win)
        zc = np.stack([z[o - q:o] for o in origins]) if q else np.zeros((len(origins), 0))  # (k, q)
        wc = np.stack([w[o - L:o] for o in origins])  # (k, L)
        ec = np.stack([e[o - win:o] for o in origins])  # (k, win)
        out = np.empty((len(origins), h))
        for j in range(h):
            lin = self.ar.const + (wc[:, ::-1][:, :p] @ self.ar.phi if p else np.zeros(len(origins)))  # (k,)
            res = self.alpha * self.scaler["se"] * self._net(self._inputs(wc[:, -win:], ec)) if self.alpha else 0.0
            w_hat = lin + res
            z_hat = w_hat - (zc[:, ::-1] @ self.c[1:] if q else 0.0)  # undo the differencing
            out[:, j] = z_hat
            if q:
                zc = np.concatenate([zc[:, 1:], z_hat[:, None]], axis=1)
            wc = np.concatenate([wc[:, 1:], w_hat[:, None]], axis=1)
            ec = np.concatenate([ec[:, 1:], np.broadcast_to(res, (len(origins),))[:, None]], axis=1)
        return np.exp(out) if self.log else out

    def linear_part(self) -> HybridForecaster:
        """A copy with the network switched off (α = 0): the fitted AR on the transformed series alone (its
        intervals stay the hybrid's)."""
        import copy

        twin = copy.copy(self)
        twin.alpha = 0.0
        return twin

    def _fitted(self) -> None:
        if self.model is None or self.ar is None:
            raise ConfigError(f"{self.name}: call fit() before forecasting")

    def predict_mean(self, y: np.ndarray, origins: np.ndarray, h: int) -> np.ndarray:
        self._fitted()
        y = np.asarray(y, dtype=np.float64)
        return self._paths(y, check_origins(y, origins, self.min_history, self.name), h)

    def predict(self, y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        mean = self.predict_mean(y, origins, h)
        assert self.resid_rmse is not None
        R = len(self.resid_rmse)
        k = np.arange(1, h + 1)
        std = np.where(k <= R, self.resid_rmse[np.minimum(k, R) - 1], self.resid_rmse[-1] * np.sqrt(k / R))
        return mean, np.broadcast_to(std, mean.shape).copy()
