"""Duck-typed training callbacks: early stopping, checkpoint-best/last, LR schedules.

A callback is any object with some of these methods; the Trainer calls those that exist:

    on_fit_start(trainer)                  on_epoch_start(trainer, epoch)
    on_before_optimizer_step(trainer)      (gradients final: after unscaling and clipping)
    on_batch_end(trainer, step, logs)      on_epoch_end(trainer, epoch, logs)
    on_fit_end(trainer)                    state_dict() / load_state_dict(state)  (saved in checkpoints)

A callback stops training by setting `trainer.stop_training = True`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from neuralab.errors import ConfigError


def _mode_for(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ConfigError(f"mode must be auto|min|max, got {mode!r}")
    if mode != "auto":
        return mode
    lowered = monitor.lower()
    return "min" if any(k in lowered for k in ("loss", "error", "mae", "mse", "rmse", "mape")) else "max"


class _Monitor:
    """Tracks the best value of a logged quantity with a minimum improvement."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        self.min_delta = abs(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def value(self, logs: dict[str, Any]) -> float:
        if self.monitor not in logs:
            raise ConfigError(f"monitored metric {self.monitor!r} is not logged; logged: {', '.join(logs)}")
        return float(logs[self.monitor])

    def improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping:
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    With `restore_best=True` (the default) the model ends with the weights of its best epoch, not its last.
    After fit: `best_epoch` (0-based), `best_value`, `stopped_epoch` (None if it ran to the end).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best: bool = True) -> None:
        if patience < 0:
            raise ConfigError(f"patience must be >= 0, got {patience}")
        self._m = _Monitor(monitor, mode, min_delta)
        self.patience = patience
        self.restore_best = restore_best
        self.wait = 0
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self._best_state: dict[str, torch.Tensor] | None = None

    @property
    def monitor(self) -> str:
        return self._m.monitor

    @property
    def best_value(self) -> float:
        return self._m.best

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, Any]) -> None:
        value = self._m.value(logs)
        if self._m.improved(value):
            self._m.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best:
                self._best_state = {k: v.detach().to("cpu", copy=True) for k, v in trainer.model.state_dict().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                trainer.stop_training = True

    def on_fit_end(self, trainer) -> None:
        if self.restore_best and self._best_state is not None:
            trainer.model.load_state_dict(self._best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self._m.best, "wait": self.wait, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "best_state": self._best_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._m.best = state["best"]
        self.wait = state["wait"]
        self.best_epoch = state["best_epoch"]
        self.stopped_epoch = state["stopped_epoch"]
        self._best_state = state["best_state"]


class ModelCheckpoint:
    """Save the model (config.json + model.safetensors) to `dirpath/best` when `monitor` improves, and to
    `dirpath/last` after every epoch (if `save_last`). Needs a model built by `neuralab.get_model`."""

    def __init__(self, dirpath: str | os.PathLike[str], monitor: str = "val_loss", mode: str = "auto",
                 save_last: bool = True, extra: dict[str, Any] | None = None) -> None:
        self.dirpath = Path(dirpath)
        self._m = _Monitor(monitor, mode, 0.0)
        self.save_last = save_last
        self.extra = extra
        self.best_epoch: int | None = None

    @property
    def best_path(self) -> Path:
        return self.dirpath / "best"

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last"

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, Any]) -> None:
        from neuralab.train.checkpoint import save_model

        value = self._m.value(logs)
        if self._m.improved(value):
            self._m.best = value
            self.best_epoch = epoch
            save_model(trainer.model, self.best_path, extra=self.extra)
        if self.save_last:
            save_model(trainer.model, self.last_path, extra=self.extra)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self._m.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._m.best = state["best"]
        self.best_epoch = state["best_epoch"]


class LRScheduler:
    """Step a torch LR scheduler every epoch or every optimizer step.

    `ReduceLROnPlateau` is stepped with the monitored value (`monitor`, default "val_loss").
    """

    def __init__(self, scheduler: Any, interval: str = "epoch", monitor: str = "val_loss") -> None:
        if interval not in ("epoch", "step"):
            raise ConfigError(f"scheduler interval must be 'epoch' or 'step', got {interval!r}")
        self.scheduler = scheduler
        self.interval = interval
        self.monitor = monitor
        self._plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        if self._plateau and interval != "epoch":
            raise ConfigError("ReduceLROnPlateau needs a monitored value once per epoch: use interval='epoch'")

    def on_batch_end(self, trainer, step: int, logs: dict[str, Any]) -> None:
        if self.interval == "step" and not self._plateau:
            self.scheduler.step()

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.interval != "epoch":
            return
        if self._plateau:
            if self.monitor not in logs:
                raise ConfigError(f"ReduceLROnPlateau monitors {self.monitor!r}, which is not logged")
            self.scheduler.step(float(logs[self.monitor]))
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)
