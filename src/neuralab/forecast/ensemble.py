"""Seed ensembles of neural forecasters, their settings chosen on a validation split of the training part.

    fit(y_train):
      1. selection (when a grid is given): y_train = [ fit part | validation part (last `select_fraction`) ];
         every grid setting (transform, log, window, ...) is trained on the fit part (one member per seed)
         and scored by the rolling-origin RMSE (or MAE) of the *ensemble* on the validation part, `select_h` steps
         ahead; settings the fit part is too short for (or a log of a non-positive series) are skipped
      2. the best setting's members are trained again on the whole of y_train, one per seed
    members: `NeuralForecaster`s (`member="neural"`) or AR + network hybrids (`member="hybrid"`,
             `neuralab.forecast.hybrid`)
    predict: the members' forecasts averaged (mean of means); the std is the mixture's,
             sqrt(mean(σ_i² + μ_i²) − μ²): the members' own spread plus their disagreement

Averaging the forecasts of networks that differ only in their initialisation and shuffling is the standard
variance-reduction ensemble (Hansen & Salamon 1990; Lakshminarayanan et al. 2017, "deep ensembles"); the
test part is never seen by the selection (it only ever receives y_train).

Shape legend: members' means (S, k, h) -> ensemble mean (k, h); S = number of seeds, k origins, h steps.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from neuralab.errors import ConfigError, DataError
from neuralab.forecast.base import Forecaster, chronological_split, rolling_errors
from neuralab.forecast.hybrid import HybridForecaster
from neuralab.forecast.neural import NeuralForecaster

MEMBERS: dict[str, type[NeuralForecaster] | type[HybridForecaster]] = {"neural": NeuralForecaster,
                                                                        "hybrid": HybridForecaster}
METRICS = ("rmse", "mae")


class NeuralEnsemble(Forecaster):
    """The average of neural forecasters trained with different seeds, optionally with settings chosen on
    a chronological validation split of the training part.

    Args:
        kind: `lstm`, `gru` or `mlp` (the network of every member).
        seeds: one member per seed.
        grid: {option: candidate values} of `NeuralForecaster` options to choose from (every combination is
            tried), e.g. {"transform": ("level", "diff"), "log": (False, True), "window": (10, 20)}; None or
            one combination: no selection.
        select_fraction: the last share of the training part used to score the settings.
        select_h: the horizon whose rolling error picks the setting (1: one step ahead; h: steps 1..h pooled).
        select_metric: `rmse` or `mae`, the rolling error that picks the setting.
        member: `neural` (`NeuralForecaster`) or `hybrid` (`HybridForecaster`: AR + network on its residuals).
        **options: the member class's options shared by every member (window, epochs, patience, ...).
    """

    def __init__(self, kind: str = "lstm", seeds: Sequence[int] = (0, 1, 2),
                 grid: dict[str, Sequence[Any]] | None = None, select_fraction: float = 0.2, select_h: int = 1,
                 select_metric: str = "rmse", member: str = "neural", **options: Any) -> None:
        if member not in MEMBERS:
            raise ConfigError(f"ensemble member {member!r}: expected one of {', '.join(MEMBERS)}")
        if select_metric not in METRICS:
            raise ConfigError(f"select_metric {select_metric!r}: expected one of {', '.join(METRICS)}")
        if len(seeds) < 1:
            raise ConfigError("an ensemble needs at least one seed")
        if select_h < 1:
            raise ConfigError(f"select_h must be ≥ 1, got {select_h}")
        for key in grid or {}:
            if key in ("kind", "seed"):
                raise ConfigError(f"grid option {key!r}: the kind and the seeds are fixed per ensemble")
            if not grid[key]:
                raise ConfigError(f"grid option {key!r} has no candidate values")
        self.kind, self.seeds, self.grid = kind, tuple(int(s) for s in seeds), dict(grid or {})
        self.select_fraction, self.select_h, self.options = select_fraction, select_h, options
        self.select_metric, self.member, self.cls = select_metric, member, MEMBERS[member]
        try:  # validates the shared options now, not after a long selection
            self.cls(kind, **options)
        except TypeError as exc:
            raise ConfigError(f"{member} ensemble: {exc}") from None
        self.name = f"{kind}-ens" if member == "neural" else f"hybrid-{kind}-ens"
        self.members: list[Any] = []
        self.config: dict[str, Any] = {}
        self.selection: list[tuple[dict[str, Any], float]] = []  # (setting, validation error), tried order
        self.skipped: list[tuple[dict[str, Any], str]] = []  # (setting, why)
        self.train_seconds = 0.0

    @classmethod
    def from_members(cls, members: Sequence[NeuralForecaster | HybridForecaster]) -> NeuralEnsemble:
        """The ensemble of already-fitted forecasters of one kind (no selection, no further training)."""
        if not members or any(m.model is None for m in members):
            raise ConfigError("from_members needs at least one fitted NeuralForecaster or HybridForecaster")
        kinds = {(type(m).__name__, m.kind) for m in members}
        if len(kinds) > 1:
            raise ConfigError(f"from_members: one kind per ensemble, got {sorted(kinds)}")
        member = "hybrid" if isinstance(members[0], HybridForecaster) else "neural"
        ens = cls(members[0].kind, [m.seed for m in members], member=member)
        ens.members = list(members)
        ens.train_seconds = float(sum(m.train_seconds for m in members))
        return ens

    def candidates(self) -> list[dict[str, Any]]:
        """Every combination of the grid's values (one empty setting without a grid)."""
        keys = list(self.grid)
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*self.grid.values())]

    def _members(self, setting: dict[str, Any]) -> list[Any]:
        return [self.cls(self.kind, seed=s, **{**self.options, **setting}) for s in self.seeds]

    @property
    def min_history(self) -> int:  # type: ignore[override]
        if self.members:
            return max(m.min_history for m in self.members)
        return self.cls(self.kind, **{**self.options, **self.config}).min_history

    @property
    def mode(self) -> str | None:
        """The first member's `mode`: its input transform (`level` or `diff`), or a hybrid's description."""
        return self.members[0].mode if self.members else None

    # --------------------------------------------------------------------------------------------- fit
    def fit(self, y: np.ndarray) -> NeuralEnsemble:
        """Choose the setting on the validation part of y (when a grid is given), then train every member on y."""
        y = np.asarray(y, dtype=np.float64)
        t0 = time.perf_counter()
        cands = self.candidates()
        self.selection, self.skipped = [], []
        if len(cands) > 1:
            n_fit = chronological_split(len(y), self.select_fraction)
            h = min(self.select_h, len(y) - n_fit)
            for setting in cands:
                try:
                    trial = NeuralEnsemble(self.kind, self.seeds, member=self.member, **{**self.options, **setting})
                    trial.fit(y[:n_fit])
                    r = rolling_errors(trial, y, n_fit, h)  # origins inside y (the training part) only
                except (ConfigError, DataError) as exc:
                    self.skipped.append((setting, str(exc)))
                    continue
                self.selection.append((setting, (r.one_step if h == 1 else r.multi_step)[self.select_metric]))
            if not self.selection:
                raise ConfigError(f"{self.name}: no grid setting could be trained on {n_fit} points: "
                                  + "; ".join(why for _, why in self.skipped))
            self.config = dict(min(self.selection, key=lambda sc: sc[1])[0])
        else:
            self.config = dict(cands[0]) if cands else {}
        self.members = [m.fit(y) for m in self._members(self.config)]
        self.train_seconds = time.perf_counter() - t0  # the selection included
        return self

    # ------------------------------------------------------------------------------------------ predict
    def _fitted(self) -> None:
        if not self.members:
            raise ConfigError(f"{self.name}: call fit() before forecasting")

    def predict_mean(self, y: np.ndarray, origins: np.ndarray, h: int) -> np.ndarray:
        self._fitted()
        return np.mean([m.predict_mean(y, origins, h) for m in self.members], axis=0)  # (S, k, h) -> (k, h)

    def predict(self, y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        self._fitted()
        outs = [m.predict(y, origins, h) for m in self.members]
        means = np.stack([mu for mu, _ in outs])  # (S, k, h)
        second = np.mean([sd ** 2 + mu ** 2 for mu, sd in outs], axis=0)  # E[y²] of the equal-weight mixture
        mean = means.mean(axis=0)
        return mean, np.sqrt(np.maximum(second - mean ** 2, 0.0))
