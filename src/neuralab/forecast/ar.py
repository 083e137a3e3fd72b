"""AR(p) by least squares, written from the course's equation, and the forecasts it implies.

    Y_t = Φ0 + Φ1·Y_{t−1} + ... + Φp·Y_{t−p} + ξ_t,    ξ_t ~ N(0, σ²)

Stacking the equation for t = p..n−1 gives y = X·Φ + ξ with the rows X_t = [1, Y_{t−1}, ..., Y_{t−p}]; least
squares Φ̂ = argmin ‖y − XΦ‖² is the conditional maximum-likelihood estimate (statsmodels' `AutoReg(trend='c')`
computes the same numbers: a test checks them to 1e-6). σ̂² = RSS / (n − p) (the MLE, as AutoReg), and the
standard errors are sqrt(diag(σ̂²·(XᵀX)⁻¹)).

Forecasts recurse the equation with ξ = 0; the h-step variance is σ²·Σ_{j<h} ψ_j², with the ψ weights of the
MA(∞) form (ψ_0 = 1, ψ_j = Σ_i Φ_i·ψ_{j−i}). The probabilistic form p(x) = ∏ p(x_t | x_<t) is sampled by
recursing with ξ_t drawn from N(0, σ̂²): `sample_paths`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuralab.errors import ConfigError, DataError
from neuralab.forecast.base import Forecaster, check_origins


@dataclass
class ARFit:
    """A fitted AR(p): intercept Φ0, lag coefficients Φ1..Φp, noise variance σ², standard errors."""

    const: float
    phi: np.ndarray
    sigma2: float
    bse: np.ndarray  # standard errors of [Φ0, Φ1, ..., Φp]
    nobs: int

    @property
    def params(self) -> np.ndarray:
        return np.concatenate([[self.const], self.phi])


def lag_matrix(y: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """X (n−p, 1+p) with rows [1, y_{t−1}, ..., y_{t−p}] and the targets y_t (n−p,), for t = p..n−1."""
    n = len(y)
    cols = [np.ones(n - p)] + [y[p - i:n - i] for i in range(1, p + 1)]  # column i: y_{t−i}
    return np.column_stack(cols), y[p:]


def fit_ar(y: np.ndarray, p: int) -> ARFit:
    """Least-squares AR(p) with an intercept (see the module docstring)."""
    y = np.asarray(y, dtype=np.float64)
    if p < 1:
        raise ConfigError(f"AR order p must be >= 1, got {p}")
    if len(y) < 2 * p + 2:
        raise DataError(f"AR({p}) needs at least {2 * p + 2} points, got {len(y)}")
    X, t = lag_matrix(y, p)
    coef, *_ = np.linalg.lstsq(X, t, rcond=None)
    resid = t - X @ coef
    nobs = len(t)
    sigma2 = float(resid @ resid / nobs)
    cov = sigma2 * np.linalg.inv(X.T @ X)
    return ARFit(float(coef[0]), coef[1:], sigma2, np.sqrt(np.diag(cov)), nobs)


def psi_weights(phi: np.ndarray, h: int) -> np.ndarray:
    """ψ_0..ψ_{h−1} of the MA(∞) form of an AR with coefficients phi."""
    psi = np.zeros(h)
    psi[0] = 1.0
    for j in range(1, h):
        psi[j] = sum(phi[i - 1] * psi[j - i] for i in range(1, min(j, len(phi)) + 1))
    return psi


def recurse(const: float, phi: np.ndarray, context: np.ndarray, h: int,
            noise: np.ndarray | None = None) -> np.ndarray:
    """Run the AR equation h steps from each row of `context` (k, p) (oldest first); (k, h).

    `noise` (k, h) adds ξ_t at each step (path sampling); None gives the mean forecast.
    """
    p = len(phi)
    buf = np.concatenate([context, np.zeros((len(context), h))], axis=1)  # (k, p + h)
    for j in range(h):
        lags = buf[:, p + j - 1::-1][:, :p] if p + j - 1 >= 0 else buf[:, :0]  # y_{t−1}, ..., y_{t−p}
        buf[:, p + j] = const + lags @ phi + (noise[:, j] if noise is not None else 0.0)
    return buf[:, p:]


class LinearAR(Forecaster):
    """Forecasts of a fitted AR (intercept + p lags), vectorised over origins; subclasses set the fit."""

    name = "ar"

    def __init__(self) -> None:
        self.fit_: ARFit | None = None

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return len(self.fit_.phi) if self.fit_ is not None else 1

    def _fitted(self) -> ARFit:
        if self.fit_ is None:
            raise ConfigError(f"{self.name}: call fit() before forecasting")
        return self.fit_

    def predict(self, y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        f = self._fitted()
        p = len(f.phi)
        y = np.asarray(y, dtype=np.float64)
        origins = check_origins(y, origins, p, self.name)
        context = np.stack([y[o - p:o] for o in origins])  # (k, p), oldest first
        mean = recurse(f.const, f.phi, context, h)
        std = np.sqrt(f.sigma2 * np.cumsum(psi_weights(f.phi, h) ** 2))
        return mean, np.broadcast_to(std, mean.shape).copy()

    def sample_paths(self, y: np.ndarray, h: int, n: int, seed: int = 0) -> np.ndarray:
        """n futures after y drawn from p(x_t | x_<t) = N(Φ0 + Σ Φi·x_{t−i}, σ²), one step at a time."""
        f = self._fitted()
        p = len(f.phi)
        rng = np.random.default_rng(seed)
        context = np.repeat(np.asarray(y, dtype=np.float64)[-p:][None], n, axis=0)
        return recurse(f.const, f.phi, context, h, noise=np.sqrt(f.sigma2) * rng.standard_normal((n, h)))


class HandAR(LinearAR):
    """The teaching AR(p): the least squares of `fit_ar`, order given."""

    name = "ar-hand"

    def __init__(self, p: int = 2) -> None:
        super().__init__()
        self.p = p

    def fit(self, y: np.ndarray) -> HandAR:
        self.fit_ = fit_ar(y, self.p)
        return self
