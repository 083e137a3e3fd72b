"""Behaviour of the training engine: determinism, penalties, clipping, callbacks, checkpoints, resume, errors."""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

import neuralab
from neuralab.errors import ConfigError
from neuralab.train import (
    EarlyStopping,
    LRScheduler,
    ModelCheckpoint,
    Trainer,
    load_checkpoint,
    make_loader,
    weight_parameters,
)
from neuralab.train.trainer import amp_dtype
from neuralab.utils import atomic_path, atomic_write_json, atomic_write_text

SRC = Path(neuralab.__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ helpers
def mlp(features: int = 4, hidden: tuple[int, ...] = (16,), dropout: float = 0.0, **kw):
    return neuralab.get_model("mlp", in_features=features, hidden=hidden, out_features=1, dropout=dropout, **kw)


def state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def losses(history) -> list[tuple[float, ...]]:
    keep = ("train_loss", "train_data_loss", "train_penalty", "val_loss", "lr")
    return [tuple(r[k] for k in keep if k in r) for r in history.records]


class Snapshots:
    """Records the weights at the end of every epoch (before any callback restores anything)."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        self.states.append(state_copy(trainer.model))


class GradRecorder:
    """Records the global L2 norm and the largest |component| of the gradients the optimizer is about to use."""

    def __init__(self) -> None:
        self.norms: list[float] = []
        self.max_abs: list[float] = []

    def on_before_optimizer_step(self, trainer) -> None:
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        self.max_abs.append(max(float(g.abs().max()) for g in grads))


class BatchCounter:
    def __init__(self) -> None:
        self.batches = 0

    def on_batch_end(self, trainer, step, logs) -> None:
        self.batches += 1


def overshoot_regression(n: int = 64, features: int = 4):
    """Train targets 3·x·w*, validation targets x·w*: a linear model started at 0 passes through w* (best
    validation loss) on its way to 3·w*, so the validation loss falls, bottoms out, then rises."""
    g = torch.Generator().manual_seed(7)
    w = torch.randn(features, 1, generator=g)
    x, xv = torch.randn(n, features, generator=g), torch.randn(n, features, generator=g)
    return x, 3.0 * (x @ w), xv, xv @ w


def zero_linear(features: int = 4):
    model = mlp(features, hidden=())
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


# ------------------------------------------------------------------------------------------- determinism
def _fit_once(seed: int, data) -> tuple[list, dict[str, torch.Tensor]]:
    x, y, xv, yv = data
    neuralab.seed_everything(seed)
    model = mlp(dropout=0.3)
    trainer = Trainer(model, F.mse_loss, lr=1e-2, device="cpu", progress=False)
    history = trainer.fit(make_loader(x, y, batch_size=16, shuffle=True), make_loader(xv, yv, batch_size=64),
                          epochs=3)
    return losses(history), state_copy(model)


def test_same_seed_same_history_and_weights_different_seed_differs(tiny_regression):
    data = tiny_regression()
    h1, w1 = _fit_once(11, data)
    h2, w2 = _fit_once(11, data)
    h3, w3 = _fit_once(12, data)
    assert h1 == h2  # bit-exact floats, not approx
    assert same_state(w1, w2)
    assert h1 != h3
    assert not same_state(w1, w3)


def test_shuffle_order_depends_on_trainer_seed_not_on_global_rng(tiny_regression):
    """Same initial weights, different Trainer seeds -> different shuffles -> different history."""
    x, y, xv, yv = tiny_regression()
    runs = []
    for seed in (1, 2, 1):
        neuralab.seed_everything(0)
        model = mlp()  # no dropout: only the shuffle differs
        trainer = Trainer(model, F.mse_loss, lr=1e-2, device="cpu", seed=seed, progress=False)
        runs.append(losses(trainer.fit(make_loader(x, y, batch_size=8, shuffle=True), epochs=2)))
    assert runs[0] == runs[2]
    assert runs[0] != runs[1]


# ----------------------------------------------------------------------------------------------- penalties
def test_l1_l2_penalty_logged_and_applied_to_weights_only(tiny_regression):
    x, y, _, _ = tiny_regression()
    neuralab.seed_everything(3)
    model = mlp(hidden=(8, 8))
    before = copy.deepcopy(model)
    l1, l2, lr = 1e-2, 5e-3, 0.1
    weights0 = [w.detach().clone() for w in weight_parameters(model)]
    assert len(weights0) == 3 and all(w.ndim == 2 for w in weights0)
    assert any(p.ndim == 1 for p in model.parameters())  # there are biases to leave out

    trainer = Trainer(model, F.mse_loss, optimizer=torch.optim.SGD(model.parameters(), lr=lr), l1=l1, l2=l2,
                      device="cpu", progress=False)
    row = trainer.fit(make_loader(x, y, batch_size=len(x)), epochs=1).last()  # one batch, one step

    # The penalty is computed from the weights *before* the optimizer step.
    expected_pen = sum(l1 * w.abs().sum() + l2 * w.pow(2).sum() for w in weights0)
    with_biases = expected_pen + sum(l1 * b.detach().abs().sum() + l2 * b.detach().pow(2).sum()
                                     for b in before.parameters() if b.ndim == 1)
    assert row["train_penalty"] == pytest.approx(float(expected_pen), rel=1e-6)
    assert row["train_penalty"] != pytest.approx(float(with_biases), rel=1e-6)
    with torch.no_grad():
        expected_data = F.mse_loss(before(x), y)
    assert row["train_data_loss"] == pytest.approx(float(expected_data), rel=1e-6)
    assert row["train_loss"] == pytest.approx(row["train_data_loss"] + row["train_penalty"], rel=1e-6)

    # The step used d/dθ (data + λ1·Σ|w| + λ2·Σw²): weights get λ1·sign(w) + 2λ2·w extra, biases nothing.
    before.zero_grad()
    F.mse_loss(before(x), y).backward()
    for (name, p0), p1 in zip(before.named_parameters(), model.parameters(), strict=True):
        grad = p0.grad.clone()
        if p0.ndim >= 2:
            grad += l1 * torch.sign(p0.detach()) + 2 * l2 * p0.detach()
        torch.testing.assert_close(p1.detach(), p0.detach() - lr * grad, rtol=1e-5, atol=1e-6, msg=name)


def test_no_penalty_logs_zero(tiny_regression):
    x, y, _, _ = tiny_regression()
    row = Trainer(mlp(), F.mse_loss, device="cpu", progress=False).fit(make_loader(x, y, batch_size=32),
                                                                      epochs=1).last()
    assert row["train_penalty"] == 0.0
    assert row["train_loss"] == row["train_data_loss"]


# ------------------------------------------------------------------------------------------------ clipping
def _clip_run(x, y, batch_size=16, epochs=2, **clip):
    neuralab.seed_everything(5)
    model = mlp()
    rec = GradRecorder()
    trainer = Trainer(model, F.mse_loss, optimizer=torch.optim.SGD(model.parameters(), lr=1e-6), callbacks=[rec],
                      device="cpu", progress=False, **clip)
    history = trainer.fit(make_loader(x, y, batch_size=batch_size), epochs=epochs)
    return rec, history


def test_clip_norm_bounds_global_gradient_norm(tiny_regression):
    x, y, _, _ = tiny_regression()
    y = 1e4 * y  # huge targets -> huge gradients
    free, free_hist = _clip_run(x, y)
    assert min(free.norms) > 100  # clipping will be active on every step
    assert "grad_norm_max_before_clip" not in free_hist.last()

    clipped, hist = _clip_run(x, y, clip_norm=1.0)
    assert len(clipped.norms) == 8
    assert max(clipped.norms) <= 1.0 + 1e-4
    assert min(clipped.norms) == pytest.approx(1.0, rel=1e-4)
    logged = hist["grad_norm_max_before_clip"]
    assert all(v > 100 for v in logged)
    # One full-batch step: the logged pre-clip norm is exactly the norm an unclipped run sees.
    free1, _ = _clip_run(x, y, batch_size=len(x), epochs=1)
    _, hist1 = _clip_run(x, y, batch_size=len(x), epochs=1, clip_norm=1.0)
    assert hist1.last()["grad_norm_max_before_clip"] == pytest.approx(free1.norms[0], rel=1e-5)


def test_clip_value_bounds_every_component(tiny_regression):
    x, y, _, _ = tiny_regression()
    y = 1e4 * y
    free, _ = _clip_run(x, y)
    assert min(free.max_abs) > 1.0
    clipped, _ = _clip_run(x, y, clip_value=0.01)
    assert max(clipped.max_abs) <= 0.01
    assert min(clipped.max_abs) == pytest.approx(0.01)


def test_both_clips_log_the_norm_before_any_clipping(tiny_regression):
    x, y, _, _ = tiny_regression()
    y = 1e4 * y
    free1, _ = _clip_run(x, y, batch_size=len(x), epochs=1)
    both, hist = _clip_run(x, y, batch_size=len(x), epochs=1, clip_norm=1.0, clip_value=0.01)
    assert hist.last()["grad_norm_max_before_clip"] == pytest.approx(free1.norms[0], rel=1e-5)
    assert max(both.max_abs) <= 0.01 and max(both.norms) <= 1.0 + 1e-4


# ------------------------------------------------------------------------------------------ early stopping
def test_early_stopping_restores_best_epoch_weights():
    x, y, xv, yv = overshoot_regression()
    model = zero_linear()
    snaps = Snapshots()
    stopper = EarlyStopping(patience=3)
    trainer = Trainer(model, F.mse_loss, optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
                      callbacks=[snaps, stopper], device="cpu", progress=False)
    history = trainer.fit(make_loader(x, y, batch_size=len(x)), make_loader(xv, yv, batch_size=len(xv)), epochs=60)

    val = history["val_loss"]
    best = min(range(len(val)), key=val.__getitem__)
    assert 2 <= best < len(val) - 1  # a real minimum in the middle, not at either end
    assert stopper.best_epoch == best
    assert stopper.best_value == val[best]
    # patience=3: three epochs without improvement after the best one, then stop.
    assert stopper.stopped_epoch == best + 3
    assert len(history) == best + 4 < 60
    assert all(v >= val[best] for v in val[best + 1:])

    final = state_copy(model)
    assert same_state(final, snaps.states[best])
    assert not same_state(final, snaps.states[-1])


def test_early_stopping_without_restore_keeps_last_weights():
    x, y, xv, yv = overshoot_regression()
    model = zero_linear()
    snaps = Snapshots()
    stopper = EarlyStopping(patience=2, restore_best=False)
    Trainer(model, F.mse_loss, optimizer=torch.optim.SGD(model.parameters(), lr=0.05), callbacks=[snaps, stopper],
            device="cpu", progress=False).fit(make_loader(x, y, batch_size=64), make_loader(xv, yv, batch_size=64),
                                              epochs=60)
    assert same_state(state_copy(model), snaps.states[-1])
    assert stopper.stopped_epoch == stopper.best_epoch + 2


def _feed(stopper: EarlyStopping, values, monitor="val_loss") -> tuple[int | None, int]:
    """Feed monitored values epoch by epoch to a stopper; return (epoch it stopped at, epochs seen)."""
    trainer = SimpleNamespace(model=torch.nn.Linear(1, 1), stop_training=False)
    for epoch, v in enumerate(values):
        stopper.on_epoch_end(trainer, epoch, {monitor: v})
        if trainer.stop_training:
            return epoch, epoch + 1
    return None, len(values)


@pytest.mark.parametrize(("patience", "stop_at"), [(0, 2), (1, 2), (2, 3), (3, 4), (4, None)])
def test_early_stopping_patience_counts_epochs_without_improvement(patience, stop_at):
    # best at epoch 1, then no improvement at epochs 2, 3, 4
    values = [1.0, 0.5, 0.6, 0.7, 0.55]
    stopper = EarlyStopping(patience=patience)
    stopped, _ = _feed(stopper, values)
    assert stopped == stop_at
    assert stopper.best_epoch == 1
    assert stopper.stopped_epoch == stop_at


def test_early_stopping_min_delta_and_mode():
    # improvements smaller than min_delta do not count
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    stopped, _ = _feed(stopper, [1.0, 0.95, 0.91, 0.85, 0.5])
    assert stopper.best_epoch == 0 and stopped == 2
    # ... larger ones do
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    assert _feed(stopper, [1.0, 0.85, 0.7, 0.65, 0.62])[0] == 4
    assert stopper.best_epoch == 2
    # accuracy-like names are maximised ("auto"); NaN is never an improvement
    stopper = EarlyStopping(monitor="val_accuracy", patience=1)
    assert _feed(stopper, [0.5, 0.7, math.nan], monitor="val_accuracy")[0] == 2
    assert stopper.best_epoch == 1 and stopper.best_value == 0.7
    with pytest.raises(ConfigError, match="mode"):
        EarlyStopping(mode="up")
    with pytest.raises(ConfigError, match="patience"):
        EarlyStopping(patience=-1)


def test_early_stopping_unlogged_monitor_names_what_is_logged(tiny_regression):
    x, y, _, _ = tiny_regression()
    trainer = Trainer(mlp(), F.mse_loss, callbacks=[EarlyStopping()], device="cpu", progress=False)
    with pytest.raises(ConfigError, match=r"'val_loss'.*train_loss"):
        trainer.fit(make_loader(x, y, batch_size=32), epochs=2)


# ---------------------------------------------------------------------------------------- ModelCheckpoint
def test_model_checkpoint_writes_loadable_best_and_last(tmp_path):
    x, y, xv, yv = overshoot_regression()
    model = zero_linear()
    snaps = Snapshots()
    ckpt = ModelCheckpoint(tmp_path / "models", extra={"note": "overshoot"})
    history = Trainer(model, F.mse_loss, optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
                      callbacks=[snaps, ckpt], device="cpu", progress=False).fit(
        make_loader(x, y, batch_size=64), make_loader(xv, yv, batch_size=64), epochs=40)

    val = history["val_loss"]
    assert ckpt.best_epoch == min(range(len(val)), key=val.__getitem__) < len(val) - 1
    best = neuralab.load_model(ckpt.best_path)
    last = neuralab.load_model(ckpt.last_path)
    assert best.extra == {"note": "overshoot"}
    assert same_state(state_copy(best), snaps.states[ckpt.best_epoch])
    assert same_state(state_copy(last), snaps.states[-1])
    assert not same_state(state_copy(best), state_copy(last))
    with torch.no_grad():
        assert float(F.mse_loss(best(xv), yv)) == pytest.approx(min(val), rel=1e-6)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["best", "last"]  # no temp dirs left


# ------------------------------------------------------------------------------------------- LR schedules
def test_step_lr_scheduler_changes_logged_lr(tiny_regression):
    x, y, _, _ = tiny_regression()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = Trainer(model, F.mse_loss, optimizer=opt, scheduler=sched, device="cpu", progress=False).fit(
        make_loader(x, y, batch_size=16), epochs=3)
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])


def test_step_interval_scheduler_steps_every_batch(tiny_regression):
    x, y, _, _ = tiny_regression()  # 64 samples / 16 = 4 steps per epoch
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = Trainer(model, F.mse_loss, optimizer=opt, scheduler=sched, scheduler_interval="step", device="cpu",
                      progress=False).fit(make_loader(x, y, batch_size=16), epochs=2)
    assert history["lr"] == pytest.approx([0.1, 0.1 * 0.5**4])  # the rate each epoch starts with
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**8)


def test_reduce_lr_on_plateau_follows_monitor(tiny_regression):
    x, y, xv, yv = overshoot_regression()
    model = zero_linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.02)
    # mode="max" on a falling val_loss: every epoch after the first is a "plateau" -> halve each time
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=0)
    history = Trainer(model, F.mse_loss, optimizer=opt, scheduler=sched, device="cpu", progress=False).fit(
        make_loader(x, y, batch_size=64), make_loader(xv, yv, batch_size=64), epochs=4)
    val = history["val_loss"]
    assert all(b < a for a, b in zip(val, val[1:], strict=False))
    assert history["lr"] == pytest.approx([0.02, 0.02, 0.01, 0.005])

    # another monitor through an explicit LRScheduler callback
    x, y, _, _ = tiny_regression()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0)
    history = Trainer(model, F.mse_loss, optimizer=opt, callbacks=[LRScheduler(sched, monitor="train_loss")],
                      device="cpu", progress=False).fit(make_loader(x, y, batch_size=16), epochs=3)
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.01])


def test_plateau_scheduler_errors(tiny_regression):
    x, y, _, _ = tiny_regression()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(ConfigError, match="val_loss"):  # no validation data -> nothing to monitor
        Trainer(model, F.mse_loss, optimizer=opt, scheduler=sched, device="cpu", progress=False).fit(
            make_loader(x, y, batch_size=32), epochs=1)
    with pytest.raises(ConfigError, match="interval"):  # would silently never step
        LRScheduler(sched, interval="step")
    with pytest.raises(ConfigError, match="interval"):
        LRScheduler(sched, interval="batch")


# ------------------------------------------------------------------------------ history and checkpoints
def test_fit_writes_history_csv_and_weights_only_checkpoint(tmp_path, tiny_regression):
    x, y, xv, yv = tiny_regression()
    neuralab.seed_everything(0)
    model = mlp(dropout=0.1)
    sched = torch.optim.lr_scheduler.StepLR(torch.optim.Adam(model.parameters()), step_size=1)
    trainer = Trainer(model, F.mse_loss, optimizer=sched.optimizer, scheduler=sched,
                      callbacks=[EarlyStopping(patience=50)], device="cpu", out_dir=tmp_path, progress=False)
    history = trainer.fit(make_loader(x, y, batch_size=16, shuffle=True), make_loader(xv, yv), epochs=3)

    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["epoch", "train_loss", "train_data_loss"]
    assert len(rows) == 4
    assert [float(r.split(",")[1]) for r in rows[1:]] == history["train_loss"]  # repr floats: exact

    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    for key in ("model", "optimizer", "callbacks", "epoch", "step", "rng", "history"):
        assert key in state, key
    assert state["epoch"] == 3 and state["step"] == 12 and state["finished"] is True
    assert set(state["callbacks"]) == {"EarlyStopping", "LRScheduler"}
    assert state["callbacks"]["LRScheduler"]["last_epoch"] == 3
    assert set(state["rng"]) >= {"python", "numpy", "torch"}
    assert state["history"] == history.records
    assert same_state(state["model"], state_copy(model))
    assert state["model_name"] == "mlp" and state["model_config"]["dropout"] == 0.1
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["last.pt"]  # no temp files


def test_resume_of_finished_fit_returns_history_without_training(tmp_path, tiny_regression):
    x, y, xv, yv = tiny_regression()
    neuralab.seed_everything(0)
    model = mlp()
    history = Trainer(model, F.mse_loss, device="cpu", out_dir=tmp_path, progress=False).fit(
        make_loader(x, y, batch_size=16), make_loader(xv, yv), epochs=2)

    neuralab.seed_everything(1)
    fresh = mlp()
    counter = BatchCounter()
    again = Trainer(fresh, F.mse_loss, callbacks=[counter], device="cpu", out_dir=tmp_path, progress=False).fit(
        make_loader(x, y, batch_size=16), make_loader(xv, yv), epochs=2, resume=True)
    assert counter.batches == 0
    assert again.records == history.records
    assert same_state(state_copy(fresh), state_copy(model))


def test_resume_in_process_matches_uninterrupted(tmp_path, tiny_regression):
    """Fit 2 epochs, then continue to 4 in a new Trainer (counters, optimizer, scheduler, RNG restored)."""
    x, y, xv, yv = tiny_regression()

    def run(out_dir: Path, epochs: list[int]):
        neuralab.seed_everything(21)
        model = mlp(dropout=0.3)
        for i, e in enumerate(epochs):
            opt = torch.optim.Adam(model.parameters(), lr=1e-2)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.8)
            trainer = Trainer(model, F.mse_loss, optimizer=opt, scheduler=sched, device="cpu", out_dir=out_dir,
                              progress=False)
            if i:  # the checkpoint of a *finished* fit is not resumed; mark it unfinished as a crash would leave it
                state = torch.load(out_dir / "checkpoints" / "last.pt", weights_only=True)
                state["finished"] = False
                torch.save(state, out_dir / "checkpoints" / "last.pt")
                neuralab.seed_everything(999)  # as a new process would be: the RNG must come from the checkpoint
            history = trainer.fit(make_loader(x, y, batch_size=16, shuffle=True), make_loader(xv, yv), epochs=e,
                                  resume=bool(i))
        return losses(history), state_copy(model)

    h_full, w_full = run(tmp_path / "a", [4])
    h_split, w_split = run(tmp_path / "b", [2, 4])
    assert h_split == h_full
    assert same_state(w_split, w_full)


RESUME_SCRIPT = textwrap.dedent('''
    """Train a small MLP with every stateful part the engine checkpoints; print nothing, write a JSON result."""
    import argparse, hashlib, json, os, signal

    import torch
    import torch.nn.functional as F

    import neuralab
    from neuralab.train import EarlyStopping, Trainer, make_loader

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--kill-at-step", type=int, default=0, help="SIGKILL ourselves after this optimizer step")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)


    class KillAt:
        def __init__(self, step):
            self.step = step

        def on_batch_end(self, trainer, step, logs):
            if step == self.step:
                os.kill(os.getpid(), signal.SIGKILL)


    def digest(model):
        h = hashlib.sha256()
        for k, v in model.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()


    class LastEpochWeights:
        def on_epoch_end(self, trainer, epoch, logs):
            self.digest = digest(trainer.model)


    neuralab.seed_everything(1234)
    g = torch.Generator().manual_seed(99)
    x = torch.randn(160, 5, generator=g)
    w = torch.randn(5, 1, generator=g)
    y = torch.sin(x @ w) + 0.1 * torch.randn(160, 1, generator=g)
    train = make_loader(x[:128], y[:128], batch_size=16, shuffle=True)  # 8 steps per epoch
    val = make_loader(x[128:], y[128:], batch_size=32)

    model = neuralab.get_model("mlp", in_features=5, hidden=(32, 16), out_features=1, dropout=0.25)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.7)
    last = LastEpochWeights()
    stopper = EarlyStopping(patience=100)
    callbacks = [last, stopper]
    if args.kill_at_step:
        callbacks.insert(0, KillAt(args.kill_at_step))
    trainer = Trainer(model, F.mse_loss, optimizer=opt, scheduler=sched, callbacks=callbacks, l2=1e-4,
                      clip_norm=5.0, device="cpu", out_dir=args.out, checkpoint_every=1, progress=False)
    history = trainer.fit(train, val, epochs=args.epochs, resume=args.resume)

    result = {
        "val": trainer.evaluate(val, prefix="val_"),
        "weights": digest(model),
        "last_epoch_weights": getattr(last, "digest", None),
        "best_epoch": stopper.best_epoch,
        "history": [{k: v for k, v in r.items() if k != "seconds"} for r in history.records],
        "lr_now": opt.param_groups[0]["lr"],
        "step": trainer.step,
    }
    with open(args.result, "w") as fh:
        json.dump(result, fh)
''')


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    script = tmp_path / "train_script.py"
    script.write_text(RESUME_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}

    def start(name: str, *extra: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(script), "--out", str(tmp_path / name), "--result",
                                 str(tmp_path / f"{name}.json"), *extra], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # The uninterrupted run and the run that is killed in the middle of epoch 4 (step 28 of 8/epoch) in parallel.
    full, killed = start("full"), start("killed", "--kill-at-step", "28")
    out_full, err_full = full.communicate(timeout=180)
    out_killed, err_killed = killed.communicate(timeout=180)
    assert full.returncode == 0, err_full
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, err_killed)
    assert not (tmp_path / "killed.json").exists()

    ckpt = tmp_path / "killed" / "checkpoints" / "last.pt"
    assert ckpt.exists()
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 3 and state["step"] == 24 and not state["finished"]
    assert len((tmp_path / "killed" / "history.csv").read_text().splitlines()) == 1 + 3
    assert [p.name for p in ckpt.parent.iterdir()] == ["last.pt"]  # no temp file from the kill

    resumed = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "killed"), "--result",
                              str(tmp_path / "resumed.json"), "--resume"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr

    a = json.loads((tmp_path / "full.json").read_text())
    b = json.loads((tmp_path / "resumed.json").read_text())
    assert len(a["history"]) == 6 and a["step"] == 48
    assert b["history"] == a["history"]  # every epoch's losses, lr and clip norms, bit for bit
    assert b["val"] == a["val"]
    assert b["weights"] == a["weights"]
    assert b["last_epoch_weights"] == a["last_epoch_weights"]
    assert b["best_epoch"] == a["best_epoch"]
    assert b["lr_now"] == a["lr_now"] and b["step"] == a["step"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_resume_on_cuda(tmp_path, tiny_regression):
    x, y, xv, yv = tiny_regression()
    neuralab.seed_everything(0)
    trainer = Trainer(mlp(dropout=0.2), F.mse_loss, device="cuda", out_dir=tmp_path, progress=False)
    trainer.fit(make_loader(x, y, batch_size=16, shuffle=True), make_loader(xv, yv), epochs=2)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    state["finished"] = False
    torch.save(state, tmp_path / "checkpoints" / "last.pt")
    again = Trainer(mlp(dropout=0.2), F.mse_loss, device="cuda", out_dir=tmp_path, progress=False)
    history = again.fit(make_loader(x, y, batch_size=16, shuffle=True), make_loader(xv, yv), epochs=3, resume=True)
    assert len(history) == 3 and next(again.model.parameters()).device.type == "cuda"


# ----------------------------------------------------------------------------------------------- errors
def test_bad_device_names_it():
    with pytest.raises(ConfigError, match="'tpu'"):
        Trainer(mlp(), F.mse_loss, device="tpu")
    with pytest.raises(ConfigError, match="'cuda:x'"):
        Trainer(mlp(), F.mse_loss, device="cuda:x")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_without_cuda_is_a_config_error():
    with pytest.raises(ConfigError, match=r"'cuda'.*CUDA is not available.*--device cpu"):
        Trainer(mlp(), F.mse_loss, device="cuda")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"l1": -1.0}, "l1=-1.0"),
    ({"clip_norm": 0.0}, "clip_norm"),
    ({"clip_value": -1.0}, "clip_value"),
    ({"checkpoint_every": 0}, "checkpoint_every"),
])
def test_bad_trainer_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Trainer(mlp(), F.mse_loss, device="cpu", **kwargs)


def test_fit_errors(tiny_regression):
    x, y, xv, yv = tiny_regression()
    trainer = Trainer(mlp(), F.mse_loss, device="cpu", progress=False)
    loader = make_loader(x, y, batch_size=16)
    with pytest.raises(ConfigError, match="epochs must be >= 1, got 0"):
        trainer.fit(loader, epochs=0)
    with pytest.raises(ConfigError, match="no batches"):
        trainer.fit(make_loader(x[:0], y[:0], batch_size=16), epochs=1)
    with pytest.raises(ConfigError, match="drop_last"):
        trainer.fit(make_loader(x[:10], y[:10], batch_size=16, drop_last=True), epochs=1)
    with pytest.raises(ConfigError, match="evaluation data produced no batches"):
        trainer.fit(loader, make_loader(xv[:0], yv[:0]), epochs=1)
    with pytest.raises(ConfigError, match="pair"):
        trainer.fit(make_loader(x, batch_size=16), epochs=1)


def test_non_finite_loss_stops_with_advice(tiny_regression):
    x, y, _, _ = tiny_regression()
    y = y.clone()
    y[3] = math.inf
    with pytest.raises(FloatingPointError, match="epoch 1, step 1.*learning rate"):
        Trainer(mlp(), F.mse_loss, device="cpu", progress=False).fit(make_loader(x, y, batch_size=16), epochs=1)


# ------------------------------------------------------------------------------------------ atomic writes
def test_atomic_write_text_replaces_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new ünïcode")
    assert target.read_text(encoding="utf-8") == "new ünïcode"
    atomic_write_json(tmp_path / "sub" / "g.json", {"a": torch.tensor([1.5]), "b": Path("x")})
    assert json.loads((tmp_path / "sub" / "g.json").read_text()) == {"a": [1.5], "b": "x"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt", "g.json"]


def test_atomic_write_keeps_old_content_when_the_writer_fails(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old content")
    real_write_text = Path.write_text

    def half_then_fail(self, data, *args, **kwargs):
        real_write_text(self, data[: len(data) // 2], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        atomic_write_text(target, "new content that never lands")
    monkeypatch.undo()
    assert target.read_text() == "old content"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]

    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert target.read_text() == "old content"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_text(tmp_path / "atomic.txt", "x")
    assert (tmp_path / "atomic.txt").stat().st_mode == plain.stat().st_mode  # not mkstemp's 0600


def test_batch_transform_applies_to_training_batches_only(tiny_classification):
    xtr, ytr, xva, yva = tiny_classification()
    seen: list[str] = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append("t")
            return x + 0.0

    model = torch.nn.Linear(4, 3)
    calls: list[bool] = []
    model.register_forward_pre_hook(lambda m, args: calls.append(m.training))
    trainer = Trainer(model, torch.nn.functional.cross_entropy, device="cpu", progress=False,
                      batch_transform=Probe())
    trainer.fit(make_loader(xtr, ytr, batch_size=32), make_loader(xva, yva, batch_size=48), epochs=2)
    assert len(seen) == 2 * 3  # 96 samples / 32 per batch, two epochs; the validation batches not transformed
    assert calls.count(True) == 6 and calls.count(False) == 2


def test_tensor_loader_shuffles_a_permutation_fixed_by_its_generator():
    x, y = torch.arange(50.0).view(25, 2), torch.arange(25)
    loader = make_loader(x, y, batch_size=8, shuffle=True)

    def epoch(seed):
        loader.generator.manual_seed(seed)
        batches = list(loader)
        for bx, by in batches:
            assert torch.equal(bx, x[by])  # inputs stay paired with their targets
        return torch.cat([by for _, by in batches])

    a, b, c = epoch(0), epoch(0), epoch(1)
    assert sorted(a.tolist()) == list(range(25))  # every sample once
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len(loader) == 4
    assert len(make_loader(x, y, batch_size=8, drop_last=True)) == 3
    assert [len(by) for _, by in make_loader(x, y, batch_size=8)] == [8, 8, 8, 1]


def test_tensor_loader_refuses_mismatched_lengths():
    with pytest.raises(ConfigError, match="tensor 1 has 3 samples, tensor 0 has 4"):
        make_loader(torch.zeros(4, 2), torch.zeros(3))


# ------------------------------------------------------------------------------------------- precision
def test_precision_names_and_their_autocast_dtypes():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert amp_dtype("auto", cpu) is None and amp_dtype("fp32", cpu) is None and amp_dtype("fp32", cuda) is None
    assert amp_dtype("bf16", cpu) == torch.bfloat16 == amp_dtype("bf16", cuda)
    assert amp_dtype("fp16", cuda) == torch.float16 and amp_dtype("auto", cuda, amp=False) is None
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        amp_dtype("fp16", cpu)
    with pytest.raises(ConfigError, match="unknown precision 'half'; expected one of auto, fp32, bf16, fp16"):
        Trainer(mlp(), F.mse_loss, device="cpu", precision="half")


def test_bf16_training_on_the_cpu_keeps_float32_weights_and_learns_like_fp32(tiny_regression, tmp_path):
    x, y, xv, yv = tiny_regression()
    curves, seen = {}, []
    for precision in ("fp32", "bf16"):
        neuralab.seed_everything(0)
        model = mlp()
        hook = model.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        trainer = Trainer(model, F.mse_loss, lr=1e-2, device="cpu", progress=False, precision=precision,
                          out_dir=tmp_path / precision)
        history = trainer.fit(make_loader(x, y, batch_size=16, shuffle=True), make_loader(xv, yv, batch_size=64),
                              epochs=10)
        hook.remove()
        assert all(p.dtype == torch.float32 for p in model.parameters())
        curves[precision] = [r["val_loss"] for r in history.records]
    assert seen[0] == torch.float32 and seen[-1] == torch.bfloat16  # bf16: the forward ran under autocast
    fp32, bf16 = curves["fp32"], curves["bf16"]
    assert all(math.isfinite(v) for v in bf16) and bf16[-1] < 0.6 * bf16[0]
    assert abs(bf16[-1] - fp32[-1]) < 0.05 * fp32[-1], (fp32, bf16)  # the same fit up to bfloat16 rounding
