"""Over-fitting and regularisation on the noisy sinusoid (course topic "Regularization").

The curve-fitting story of the lectures (after Bishop §1.1): a few noisy points of t = sin(2πx) + ε, a one-hidden-
layer tanh MLP with M hidden units, and separate validation and test sets from the same process.

1. Capacity: M = 1, 3, 10, 50. Too few units under-fit (high training error); too many fit the noise (training
   error far below validation error).
2. L2 weight decay on the large net, as the penalty λ·Σw² added to the loss (the Trainer's `l2=`): a λ sweep,
   the best λ on validation, its test error against λ = 0. The best-λ model is the run's saved `model/`.
3. L1 (λ·Σ|w|, `l1=`): a λ sweep and how many weights it drives to (near) zero.
4. Early stopping on the validation loss, restoring the best epoch, against the same net trained to the end.
5. Dropout (inverted, `neuralab.nn.dropout`): stochastic in training mode, deterministic in evaluation mode, and
   its validation error against the same net without it.

Every large-M fit starts from the same initial weights (one seed), so the differences between them come from the
regulariser alone. Every fit uses Adam with a cosine-decayed learning rate on the full training batch; inputs and
targets are standardised with the training set's mean and standard deviation, and every error is reported as an
RMSE in the targets' own units. `--data FILE.csv` (two numeric columns x,y) replaces the sinusoid; the rows are
split 60/20/20 into train/validation/test with a fixed seed.

Metrics (metrics.json): `data`, `n_train`, `n_val`, `n_test`, `noise_sd` and `noise_rmse_val`/`noise_rmse_test`
(sinusoid only: the RMSE of the true curve itself), `epochs`, `lr`, `large_M`; `capacity` (one record per M:
`M`, `params`, `train_rmse`, `val_rmse`, `test_rmse`), `train_rmse_M1`, `val_rmse_M1`, `train_rmse_large`,
`val_rmse_large`, `test_rmse_large`, `overfit_ratio_large` (val / train RMSE), `best_M`; `l2_sweep` (records with
`lambda`, `sum_w2`, the three RMSEs), `l2_best_lambda`, `l2_test_rmse_best`, `l2_test_rmse_none`; `l1_sweep`
(records with `lambda`, `n_zero`, `n_weights`, `active_units`, the three RMSEs), `l1_zero_threshold`,
`l1_n_zero_none`, `l1_n_zero_max`, `l1_best_lambda`; `early_stopping` (`patience`, `max_epochs`, `best_epoch`,
`stop_epoch`, `stopped`, `val_rmse_restored`, `val_rmse_full`, `test_rmse_restored`, `test_rmse_full`);
`dropout` (`p`, `train_mode_max_diff`, `eval_mode_max_diff`, `mc_mean_vs_eval_max_diff`, the RMSEs with and
without dropout, and the measured fraction zeroed / kept scale of `inverted_dropout`); `summary_test_rmse`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import neuralab
from neuralab.data.synthetic import noisy_sinusoid, sinusoid
from neuralab.data.tabular import read_xy_csv, split_xy
from neuralab.nn.dropout import inverted_dropout
from neuralab.tasks.base import TaskContext, register_task
from neuralab.train import EarlyStopping, make_loader, weight_parameters
from neuralab.utils import cpu_threads

N_TRAIN, N_VAL, N_TEST, NOISE = 15, 100, 200, 0.3
LR = 0.03
LARGE_M = 50
HIDDEN_UNITS = {"full": (1, 3, 10, LARGE_M), "quick": (1, 3, LARGE_M)}
L2_LAMBDAS = {"full": (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1), "quick": (0.0, 1e-3, 1e-1)}
L1_LAMBDAS = {"full": (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1), "quick": (0.0, 1e-2, 1e-1)}
ZERO_THRESHOLD = 1e-3  # |w| below this counts as "driven to zero"
DROPOUT_P = 0.1
PATIENCE = {"full": 200, "quick": 30}
SPLITS = ("train", "val", "test")


# ------------------------------------------------------------------------------------------------ data
@dataclass
class CurveData:
    """The three splits in original units, the standardisation, and the true curve (sinusoid only)."""

    raw: dict[str, tuple[torch.Tensor, torch.Tensor]]  # split -> (x (N, 1), t (N, 1))
    source: str
    x_mean: float
    x_std: float
    t_mean: float
    t_std: float
    true_curve: bool

    def x_in(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.x_mean) / self.x_std

    def t_out(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.t_std + self.t_mean

    def loader(self, split: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The split as one full batch (standardised): a list holding the single batch of `make_loader`."""
        x, t = self.raw[split]
        loader = make_loader(self.x_in(x), (t - self.t_mean) / self.t_std, batch_size=max(1, len(x)))
        # Full batch without shuffling gives the same batch every epoch: collate it once. Re-collating 100
        # single rows per epoch cost about a third of each epoch's time here (measured).
        return [next(iter(loader))]

    def grid(self, n: int = 400) -> torch.Tensor:
        xs = torch.cat([self.raw[s][0] for s in SPLITS])
        lo, hi = float(xs.min()), float(xs.max())
        pad = 0.02 * (hi - lo)
        return torch.linspace(lo - pad, hi + pad, n).unsqueeze(1)  # (n, 1)

    def scaling(self) -> dict[str, float]:
        return {"x_mean": self.x_mean, "x_std": self.x_std, "t_mean": self.t_mean, "t_std": self.t_std}


def _load_data(ctx: TaskContext) -> CurveData:
    path = ctx.data_path(".csv")
    if path is None:
        raw = noisy_sinusoid(N_TRAIN, N_VAL, N_TEST, NOISE, seed=ctx.seed_for("data"))
        source, true_curve = f"noisy sinusoid t = sin(2πx) + N(0, {NOISE}²)", True
    else:
        x, y = read_xy_csv(path)
        raw = split_xy(x, y, seed=0, source=str(path))
        source, true_curve = str(path), False
    x_tr, t_tr = raw["train"]
    t_std = float(t_tr.std()) if len(t_tr) > 1 and float(t_tr.std()) > 0 else 1.0
    return CurveData(raw, source, float(x_tr.mean()), float(x_tr.std()), float(t_tr.mean()), t_std, true_curve)


# ------------------------------------------------------------------------------------------------ fits
@dataclass
class Fit:
    model: nn.Module
    history: Any
    rmse: dict[str, float]  # split -> RMSE in the targets' units
    callbacks: Sequence[Any] = ()


def _rmse(model: nn.Module, data: CurveData, split: str) -> float:
    x, t = data.raw[split]
    model.eval()
    with torch.no_grad():
        y = data.t_out(model(data.x_in(x).to(next(model.parameters()).device)).cpu())
    return float(((y - t) ** 2).mean().sqrt())


def _predict(model: nn.Module, data: CurveData, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return data.t_out(model(data.x_in(x).to(next(model.parameters()).device)).cpu()).squeeze(1)


def _fit(ctx: TaskContext, data: CurveData, name: str, hidden: int, epochs: int, *, l1: float = 0.0,
         l2: float = 0.0, dropout: float = 0.0, callbacks: Sequence[Any] = ()) -> Fit:
    ctx.seed(f"init/M{hidden}")  # the same initial weights for every fit of an M: only the regulariser differs
    model = neuralab.get_model("mlp", in_features=1, hidden=(hidden,), out_features=1, activation="tanh",
                               dropout=dropout)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    # the learning rate decays to LR/1000: Adam's steps shrink with it, so weights that L1 pushes to zero
    # settle there instead of jittering around it by ±LR
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=LR * 1e-3)
    trainer = ctx.trainer(name, model, F.mse_loss, optimizer=opt, scheduler=sched, l1=l1, l2=l2,
                          callbacks=list(callbacks), checkpoint_every=max(50, epochs // 5))
    history = ctx.fit(trainer, data.loader("train"), data.loader("val"), epochs=epochs)
    return Fit(model, history, {s: _rmse(model, data, s) for s in SPLITS}, callbacks)


def _weights(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).cpu() for p in weight_parameters(model)])


def _lam(lam: float) -> str:
    return "0" if lam == 0 else f"{lam:.0e}".replace("e-0", "e-")


def _lambda_axis(ax, lambdas: Sequence[float], rows: dict[float, Fit], key: str = "") -> list[float]:
    """Plot train/val RMSE against λ > 0 on a log axis; λ = 0 as dashed horizontal lines."""
    pos = [lam for lam in lambdas if lam > 0]
    for split, color in (("train", "tab:blue"), ("val", "tab:orange")):
        ax.plot(pos, [rows[lam].rmse[split] for lam in pos], "o-", color=color, label=f"{split} RMSE{key}")
        if 0.0 in rows:
            ax.axhline(rows[0.0].rmse[split], color=color, ls="--", lw=1, label=f"{split} RMSE, λ = 0")
    ax.set_xscale("log")
    ax.set_xlabel("λ")
    ax.set_ylabel("RMSE")
    return pos


def _plot_points(ax, data: CurveData) -> None:
    x, t = data.raw["train"]
    ax.plot(x.squeeze(1), t.squeeze(1), "o", mfc="none", color="tab:blue", label="training points")
    if data.true_curve:
        g = data.grid()
        ax.plot(g.squeeze(1), sinusoid(g).squeeze(1), color="tab:green", lw=1.5, label="sin(2πx)")


def _ylim(ax, data: CurveData) -> None:
    t = torch.cat([data.raw[s][1] for s in SPLITS])
    lo, hi = float(t.min()), float(t.max())
    pad = 0.3 * (hi - lo)
    ax.set_ylim(lo - pad, hi + pad)


# -------------------------------------------------------------------------------------------- sections
def _capacity(ctx: TaskContext, data: CurveData, ms: Sequence[int], epochs: int) -> dict[int, Fit]:
    import matplotlib.pyplot as plt

    r = ctx.report
    fits = {m: _fit(ctx, data, f"capacity_M{m}", m, epochs) for m in ms}
    records = [{"M": m, "params": sum(p.numel() for p in f.model.parameters()),
                **{f"{s}_rmse": f.rmse[s] for s in SPLITS}} for m, f in fits.items()]
    big, small = fits[max(ms)], fits[min(ms)]
    best_m = min(ms, key=lambda m: fits[m].rmse["val"])
    ratio = big.rmse["val"] / max(big.rmse["train"], 1e-12)
    r.add_metrics(capacity=records, train_rmse_M1=small.rmse["train"], val_rmse_M1=small.rmse["val"],
                  train_rmse_large=big.rmse["train"], val_rmse_large=big.rmse["val"],
                  test_rmse_large=big.rmse["test"], overfit_ratio_large=ratio, best_M=best_m)

    r.heading("1. Under- and over-fitting: the number of hidden units M")
    r.text(f"The same one-hidden-layer tanh network with M = {', '.join(map(str, ms))} hidden units, each trained "
           f"for {epochs} epochs on the same {len(data.raw['train'][0])} training points. A bigger network can "
           "represent everything a smaller one can, so its training error is expected to be lower; the "
           "validation error, measured on points the network never saw, is what tells how well it generalises.")
    r.table(["M", "parameters", "train RMSE", "validation RMSE", "test RMSE"],
            [[d["M"], d["params"], d["train_rmse"], d["val_rmse"], d["test_rmse"]] for d in records],
            caption="Error against the number of hidden units (RMSE in the targets' units)")
    noise = ""
    if data.true_curve:
        noise = (f" For scale: the true curve sin(2πx) itself has RMSE {ctx.report.metrics['noise_rmse_val']:.3f} "
                 f"on the validation set — that is the noise (σ = {NOISE}), which no model can predict.")
    under = ("the network under-fits — it is too simple to follow the data, and its error stays high even on the "
             "points it was trained on" if small.rmse["train"] > 1.5 * big.rmse["train"] else
             f"in this run that is not much above the M = {max(ms)} network's training error")
    over = (f"{ratio:.1f} times larger: the network has fitted the noise in the training points — it over-fits"
            if ratio > 2 else f"only {ratio:.1f} times larger: this time the large network has not over-fitted much")
    simplest = ""
    if best_m == min(ms) and len(ms) > 1:
        simplest = (" In this draw of the data the smallest network generalises best: with "
                    f"{len(data.raw['train'][0])} noisy points, the extra flexibility of the larger ones goes into "
                    "fitting the noise.")
    r.text(f"With M = {min(ms)} the training RMSE is {small.rmse['train']:.3f} and the validation RMSE "
           f"{small.rmse['val']:.3f}: {under}. With M = {max(ms)} the training RMSE falls to "
           f"{big.rmse['train']:.3g} while the validation RMSE is {big.rmse['val']:.3f}, {over}. The lowest "
           f"validation error is at M = {best_m} ({fits[best_m].rmse['val']:.3f}).{simplest}{noise}")

    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(ms, [fits[m].rmse["train"] for m in ms], "o-", label="train RMSE")
    ax.plot(ms, [fits[m].rmse["val"] for m in ms], "o-", label="validation RMSE")
    if data.true_curve:
        ax.axhline(ctx.report.metrics["noise_rmse_val"], color="0.5", ls=":", label="true curve on validation")
    ax.set_xscale("log")
    ax.set_xticks(list(ms), [str(m) for m in ms])
    ax.set_xlabel("hidden units M")
    ax.set_ylabel("RMSE")
    ax.legend()
    r.figure(fig, "capacity_errors", "Training and validation RMSE against the number of hidden units.")

    g = data.grid()
    fig, axes = plt.subplots(1, len(ms), figsize=(3.2 * len(ms), 3.2), sharey=True)
    for ax, m in zip(axes, ms, strict=True):
        _plot_points(ax, data)
        ax.plot(g.squeeze(1), _predict(fits[m].model, data, g), color="tab:red", label="network")
        ax.set_title(f"M = {m}: train {fits[m].rmse['train']:.2f}, val {fits[m].rmse['val']:.2f}", fontsize=9)
        ax.set_xlabel("x")
        _ylim(ax, data)
    axes[0].legend(fontsize=7)
    r.figure(fig, "capacity_fits", "The fitted curves (red) over the training points"
             + (" and the true curve sin(2πx) (green)." if data.true_curve else "."))
    return fits


def _l2(ctx: TaskContext, data: CurveData, lambdas: Sequence[float], epochs: int, base: Fit) -> Fit:
    import matplotlib.pyplot as plt

    r = ctx.report
    fits = {lam: base if lam == 0 else _fit(ctx, data, f"l2_{_lam(lam)}", LARGE_M, epochs, l2=lam)
            for lam in lambdas}
    records = [{"lambda": lam, "sum_w2": float(_weights(f.model).pow(2).sum()),
                **{f"{s}_rmse": f.rmse[s] for s in SPLITS}} for lam, f in fits.items()]
    best = min(lambdas, key=lambda lam: fits[lam].rmse["val"])
    none = fits[0.0] if 0.0 in fits else base
    r.add_metrics(l2_sweep=records, l2_best_lambda=best, l2_test_rmse_best=fits[best].rmse["test"],
                  l2_val_rmse_best=fits[best].rmse["val"], l2_test_rmse_none=none.rmse["test"])

    r.heading("2. L2 regularisation (weight decay)")
    r.text(f"The M = {LARGE_M} network again, now minimising E(w) + λ·Σw² (the sum runs over the weights, not "
           "the biases). The penalty pulls every weight towards zero in proportion to its size, which keeps the "
           "fitted curve smooth. λ is chosen on the validation set; the test set is used once, to report the "
           "chosen model.")
    r.table(["λ", "Σw²", "train RMSE", "validation RMSE", "test RMSE"],
            [[_lam(d["lambda"]), d["sum_w2"], d["train_rmse"], d["val_rmse"], d["test_rmse"]] for d in records],
            caption=f"L2 sweep (the λ = 0 row is the M = {LARGE_M} network of section 1)")
    largest = max(lambdas)
    better = "lower" if fits[best].rmse["test"] < none.rmse["test"] else "not lower"
    r.text(f"As λ grows the weights shrink (Σw² from {records[0]['sum_w2']:.3g} at λ = {_lam(lambdas[0])} to "
           f"{records[-1]['sum_w2']:.3g} at λ = {_lam(largest)}) and the training error rises from "
           f"{fits[lambdas[0]].rmse['train']:.3g} to {fits[largest].rmse['train']:.3f}. The validation error is "
           f"lowest at λ = {_lam(best)} ({fits[best].rmse['val']:.3f}, against {none.rmse['val']:.3f} at λ = 0). "
           f"On the test set that model's RMSE is {fits[best].rmse['test']:.3f} against "
           f"{none.rmse['test']:.3f} without the penalty: {better}.")

    fig, ax = plt.subplots(figsize=(6, 3.8))
    _lambda_axis(ax, lambdas, fits)
    if best > 0:
        ax.axvline(best, color="0.5", ls=":", label=f"best λ = {_lam(best)}")
    ax.legend(fontsize=8)
    r.figure(fig, "l2_sweep", "Training and validation RMSE against the L2 strength λ (dashed: λ = 0).")

    g = data.grid()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    _plot_points(ax, data)
    shown = {0.0: "tab:red", best: "tab:purple", largest: "tab:brown"}  # λ -> colour; best may be 0 or largest
    for lam, color in shown.items():
        tag = " (best)" if lam == best else ""
        ax.plot(g.squeeze(1), _predict(fits.get(lam, base).model, data, g), color=color,
                label=f"λ = {_lam(lam)}{tag}")
    _ylim(ax, data)
    ax.set_xlabel("x")
    ax.legend(fontsize=8)
    r.figure(fig, "l2_fits", f"The M = {LARGE_M} network's fit without the penalty, at the best λ and at the "
             "largest λ.")
    return fits[best]


def _l1(ctx: TaskContext, data: CurveData, lambdas: Sequence[float], epochs: int, base: Fit) -> None:
    import matplotlib.pyplot as plt

    r = ctx.report
    fits = {lam: base if lam == 0 else _fit(ctx, data, f"l1_{_lam(lam)}", LARGE_M, epochs, l1=lam)
            for lam in lambdas}
    records = []
    for lam, f in fits.items():
        w = _weights(f.model)
        w_out = f.model.linears[-1].weight.detach().reshape(-1).cpu()  # (M,): hidden unit -> output
        records.append({"lambda": lam, "n_zero": int((w.abs() < ZERO_THRESHOLD).sum()), "n_weights": w.numel(),
                        "active_units": int((w_out.abs() >= ZERO_THRESHOLD).sum()),
                        **{f"{s}_rmse": f.rmse[s] for s in SPLITS}})
    best = min(lambdas, key=lambda lam: fits[lam].rmse["val"])
    by_lam = {d["lambda"]: d for d in records}
    first, last = by_lam[min(lambdas)], by_lam[max(lambdas)]
    r.add_metrics(l1_sweep=records, l1_zero_threshold=ZERO_THRESHOLD, l1_n_zero_none=first["n_zero"],
                  l1_n_zero_max=last["n_zero"], l1_best_lambda=best, l1_test_rmse_best=fits[best].rmse["test"])

    r.heading("3. L1 regularisation and sparsity")
    r.text(f"Minimising E(w) + λ·Σ|w| instead. The gradient of λ|w| is λ·sign(w), the same push whatever the "
           f"weight's size, so small weights are driven all the way to zero (L2's push, 2λw, fades as w does). "
           f"A weight counts as zero here when |w| < {ZERO_THRESHOLD:g}; the network has {first['n_weights']} "
           f"weights ({LARGE_M} into the hidden layer, {LARGE_M} out of it). A hidden unit is switched off when "
           "its outgoing weight is zero.")
    r.table(["λ", f"weights with |w| < {ZERO_THRESHOLD:g}", "active hidden units", "train RMSE",
             "validation RMSE", "test RMSE"],
            [[_lam(d["lambda"]), f"{d['n_zero']} / {d['n_weights']}", d["active_units"], d["train_rmse"],
              d["val_rmse"], d["test_rmse"]] for d in records],
            caption=f"L1 sweep (the λ = 0 row is the M = {LARGE_M} network of section 1)")
    pruned = ": L1 has pruned the network by itself" if 2 * last["active_units"] <= first["active_units"] else ""
    r.text(f"At λ = {_lam(first['lambda'])}, {first['n_zero']} of the {first['n_weights']} weights are zero; at "
           f"λ = {_lam(last['lambda'])}, {last['n_zero']} are, and the hidden units still connected to the output "
           f"go from {first['active_units']} to {last['active_units']} of {LARGE_M}{pruned}. The validation "
           f"error is lowest at λ = {_lam(best)} "
           f"({fits[best].rmse['val']:.3f}; test RMSE {fits[best].rmse['test']:.3f}).")

    fig, (ax_n, ax_e) = plt.subplots(1, 2, figsize=(10, 3.8))
    pos = [lam for lam in lambdas if lam > 0]
    ax_n.plot(pos, [by_lam[lam]["n_zero"] for lam in pos], "o-", color="tab:gray", label="weights ≈ 0")
    ax_n.plot(pos, [by_lam[lam]["active_units"] for lam in pos], "s-", color="tab:green",
              label="active hidden units")
    if 0.0 in by_lam:
        ax_n.axhline(by_lam[0.0]["n_zero"], color="tab:gray", ls="--", lw=1, label="weights ≈ 0, λ = 0")
    ax_n.set_xscale("log")
    ax_n.set_xlabel("λ")
    ax_n.set_ylabel("count")
    ax_n.set_title(f"|w| < {ZERO_THRESHOLD:g}")
    ax_n.legend(fontsize=8)
    _lambda_axis(ax_e, lambdas, fits)
    ax_e.legend(fontsize=8)
    r.figure(fig, "l1_sweep", "Left: weights driven to zero and hidden units still in use, against λ. Right: "
             "training and validation RMSE (dashed: λ = 0).")


def _early_stopping(ctx: TaskContext, data: CurveData, epochs: int, patience: int, base: Fit) -> Fit:
    import matplotlib.pyplot as plt

    r = ctx.report
    es = EarlyStopping(monitor="val_loss", patience=patience, restore_best=True)
    fit = _fit(ctx, data, "early_stopping", LARGE_M, epochs, callbacks=[es])
    best_epoch = es.best_epoch + 1 if es.best_epoch is not None else len(fit.history)  # 1-based, as history
    stopped = es.stopped_epoch is not None
    stop_epoch = es.stopped_epoch + 1 if stopped else len(fit.history)
    m = {"patience": patience, "max_epochs": epochs, "best_epoch": best_epoch, "stop_epoch": stop_epoch,
         "stopped": stopped, "train_rmse_restored": fit.rmse["train"], "val_rmse_restored": fit.rmse["val"],
         "test_rmse_restored": fit.rmse["test"], "train_rmse_full": base.rmse["train"],
         "val_rmse_full": base.rmse["val"], "test_rmse_full": base.rmse["test"]}
    r.add_metrics(early_stopping=m)

    r.heading("4. Early stopping")
    r.text(f"The M = {LARGE_M} network from the same initial weights, allowed up to {epochs} epochs, watching the "
           f"validation loss after every epoch. Training stops once it has not improved for {patience} epochs, "
           "and the weights of the best epoch are restored. Stopping early limits how far the weights can travel "
           "from their small initial values — an implicit form of weight decay.")
    how = (f"stopped at epoch {stop_epoch}" if stopped else
           f"ran to its last epoch ({stop_epoch}) without {patience} epochs in a row without improvement")
    better = "lower" if fit.rmse["test"] < base.rmse["test"] else "not lower"
    r.text(f"The validation loss was lowest at epoch {best_epoch}; training {how}. The restored model has "
           f"training RMSE {fit.rmse['train']:.3f}, validation RMSE {fit.rmse['val']:.3f} and test RMSE "
           f"{fit.rmse['test']:.3f}; the same network trained for all {epochs} epochs has "
           f"{base.rmse['train']:.3g}, {base.rmse['val']:.3f} and {base.rmse['test']:.3f}. Early stopping's test "
           f"error is {better}.")
    r.table(["model", "epochs trained", "train RMSE", "validation RMSE", "test RMSE"],
            [[f"early stopping (best epoch {best_epoch} restored)", stop_epoch, fit.rmse["train"],
              fit.rmse["val"], fit.rmse["test"]],
             ["trained to the end", len(base.history), base.rmse["train"], base.rmse["val"], base.rmse["test"]]])

    fig, ax = plt.subplots(figsize=(7, 3.8))
    scale = data.t_std  # the logged losses are MSEs of standardised targets
    for h, label, style in ((base.history, "trained to the end", {"color": "0.6", "lw": 1}),
                            (fit.history, "with early stopping", {"lw": 1.8})):
        ep = h["epoch"]
        ax.plot(ep, [v ** 0.5 * scale for v in h["val_loss"]], label=f"validation, {label}", **style)
        ax.plot(ep, [v ** 0.5 * scale for v in h["train_data_loss"]], ls="--", label=f"train, {label}", **style)
    ax.axvline(best_epoch, color="tab:green", ls=":", label=f"best epoch {best_epoch}")
    ax.axvline(stop_epoch, color="tab:red", ls=":", label=f"stop epoch {stop_epoch}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("RMSE")
    ax.legend(fontsize=7)
    r.figure(fig, "early_stopping", "Training and validation RMSE per epoch, with the best and the stopping "
             "epoch marked (log axes).")
    return fit


def _dropout(ctx: TaskContext, data: CurveData, epochs: int, base: Fit) -> Fit:
    import matplotlib.pyplot as plt

    r = ctx.report
    fit = _fit(ctx, data, f"dropout_{DROPOUT_P:g}", LARGE_M, epochs, dropout=DROPOUT_P)
    model, g = fit.model, data.grid()
    gx = data.x_in(g).to(next(model.parameters()).device)
    torch.manual_seed(ctx.seed_for("dropout-demo"))
    with torch.no_grad():
        model.train()
        samples = torch.stack([model(gx).cpu().squeeze(1) for _ in range(500)])  # (500, n_grid)
        model.eval()
        e1, e2 = model(gx).cpu().squeeze(1), model(gx).cpu().squeeze(1)
    train_diff = float((samples[0] - samples[1]).abs().max() * data.t_std)
    eval_diff = float((e1 - e2).abs().max() * data.t_std)
    mc_diff = float((samples.mean(0) - e1).abs().max() * data.t_std)
    # the hand-written inverted dropout on a large block of ones: the fraction dropped and the kept value
    ones = torch.ones(200_000)
    y = inverted_dropout(ones, DROPOUT_P, training=True, generator=torch.Generator().manual_seed(0))
    frac_zero = float((y == 0).float().mean())
    kept = y[y != 0]
    m = {"p": DROPOUT_P, "train_mode_max_diff": train_diff, "eval_mode_max_diff": eval_diff,
         "mc_mean_vs_eval_max_diff": mc_diff, "mc_samples": samples.shape[0],
         **{f"{s}_rmse_dropout": fit.rmse[s] for s in SPLITS},
         **{f"{s}_rmse_no_dropout": base.rmse[s] for s in SPLITS},
         "inverted_dropout_frac_zero": frac_zero, "inverted_dropout_kept_value": float(kept.mean()),
         "inverted_dropout_kept_value_expected": 1 / (1 - DROPOUT_P), "inverted_dropout_mean": float(y.mean())}
    r.add_metrics(dropout=m)

    r.heading("5. Dropout")
    r.text(f"The M = {LARGE_M} network with dropout after the hidden layer: in training, every hidden unit is "
           f"switched off with probability p = {DROPOUT_P} and the kept ones are scaled by 1/(1 − p), "
           "y = m ⊙ h / (1 − p) with m ~ Bernoulli(1 − p) (inverted dropout, `neuralab.nn.dropout`); in "
           "evaluation y = h. Each step thus trains a different thinned network, and no unit can rely on the "
           "others being there.")
    r.text(f"Measured on a grid of {len(g)} inputs: two forward passes in training mode differ by up to "
           f"{train_diff:.3g} (a new mask each time), two in evaluation mode by {eval_diff:g} (deterministic). "
           f"The average of {samples.shape[0]} training-mode passes is within {mc_diff:.3g} of the evaluation "
           "output: the 1/(1 − p) scaling keeps the expected hidden activation unchanged, and the output layer "
           f"is linear in it. The hand-written `inverted_dropout` on {ones.numel()} ones dropped a fraction "
           f"{frac_zero:.4f} (p = {DROPOUT_P}) and set the kept ones to {float(kept.mean()):.6g} "
           f"(1/(1 − p) = {1 / (1 - DROPOUT_P):.6g}); their mean is {float(y.mean()):.4f}.")
    better = "lower" if fit.rmse["val"] < base.rmse["val"] else "not lower"
    r.table(["model", "train RMSE", "validation RMSE", "test RMSE"],
            [[f"dropout p = {DROPOUT_P}", *(fit.rmse[s] for s in SPLITS)],
             ["no dropout", *(base.rmse[s] for s in SPLITS)]],
            caption="Errors in evaluation mode (dropout off)")
    r.text(f"With dropout the training RMSE is {fit.rmse['train']:.3f} (without: {base.rmse['train']:.3g}) and the "
           f"validation RMSE {fit.rmse['val']:.3f} (without: {base.rmse['val']:.3f}): {better} with dropout.")

    fig, ax = plt.subplots(figsize=(6, 3.8))
    gs = g.squeeze(1)
    for i in range(20):
        ax.plot(gs, data.t_out(samples[i]), color="0.7", lw=0.6, label="training mode (20 passes)" if i == 0 else None)
    ax.plot(gs, data.t_out(e1), color="tab:red", lw=2, label="evaluation mode")
    _plot_points(ax, data)
    _ylim(ax, data)
    ax.set_xlabel("x")
    ax.legend(fontsize=8)
    r.figure(fig, "dropout_outputs", f"The dropout network (p = {DROPOUT_P}): 20 stochastic training-mode passes "
             "(grey; every input draws its own mask, hence the jagged curves) and the deterministic evaluation-mode "
             "output (red).")
    return fit


# ------------------------------------------------------------------------------------------------ task
@register_task("regularization", "under- and over-fitting on a noisy sinusoid; L2, L1, early stopping and "
               "dropout measured", default_data="noisy sinusoid t = sin(2πx) + noise (generated)",
               title="Over-fitting and regularisation")
def run(ctx: TaskContext) -> None:
    # Networks this small gain nothing from intra-op threads; on a busy 2-core machine a tanh over a (10, 50)
    # batch took 0.7 ms with two threads and 16 µs with one (measured).
    with cpu_threads(1, ctx.device):
        _run(ctx)


def _run(ctx: TaskContext) -> None:
    mode = "quick" if ctx.quick else "full"
    epochs = ctx.epochs(3000, 300)
    data = _load_data(ctx)
    r = ctx.report
    sizes = {f"n_{s}": len(data.raw[s][0]) for s in SPLITS}
    r.add_metrics(data=data.source, **sizes, epochs=epochs, lr=LR, large_M=LARGE_M)
    r.heading("Data")
    if data.true_curve:
        noise_rmse = {s: float((sinusoid(data.raw[s][0]) - data.raw[s][1]).pow(2).mean().sqrt()) for s in SPLITS}
        r.add_metrics(noise_sd=NOISE, noise_rmse_val=noise_rmse["val"], noise_rmse_test=noise_rmse["test"])
        r.text(f"{sizes['n_train']} training points t = sin(2πx) + ε with ε ~ N(0, {NOISE}²) (one x in each of "
               f"{sizes['n_train']} equal bins of [0, 1]), and {sizes['n_val']} validation and {sizes['n_test']} "
               f"test points from the same process. Even the true curve misses the test targets by RMSE "
               f"{noise_rmse['test']:.3f}: that much error is noise and cannot be learned.")
    else:
        r.text(f"`{data.source}`: {sum(sizes.values())} (x, y) rows, split with a fixed seed into "
               f"{sizes['n_train']} training, {sizes['n_val']} validation and {sizes['n_test']} test rows.")
    r.text(f"Every network is a one-hidden-layer tanh MLP trained with Adam (learning rate {LR}, cosine-decayed "
           f"to {LR * 1e-3:g}) on the whole training set at once for {epochs} epochs. Inputs and targets are "
           "standardised with the training set's mean and standard deviation; errors are RMSEs in the targets' "
           "own units.")

    capacity = _capacity(ctx, data, HIDDEN_UNITS[mode], epochs)
    base = capacity[LARGE_M]
    l2_best = _l2(ctx, data, L2_LAMBDAS[mode], epochs, base)
    _l1(ctx, data, L1_LAMBDAS[mode], epochs, base)
    es = _early_stopping(ctx, data, epochs, PATIENCE[mode], base)
    drop = _dropout(ctx, data, epochs, base)

    m = r.metrics
    best_m = m["best_M"]
    summary = {f"M={best_m} (best on validation)": capacity[best_m].rmse["test"],
               f"M={LARGE_M}, no regularisation": base.rmse["test"],
               f"M={LARGE_M}, L2 λ={_lam(m['l2_best_lambda'])}": l2_best.rmse["test"],
               f"M={LARGE_M}, L1 λ={_lam(m['l1_best_lambda'])}": m["l1_test_rmse_best"],
               f"M={LARGE_M}, early stopping": es.rmse["test"],
               f"M={LARGE_M}, dropout p={DROPOUT_P}": drop.rmse["test"]}
    r.add_metrics(summary_test_rmse=summary)
    r.heading("Summary")
    r.text("Test RMSE of every approach (each chosen on the validation set only). "
           + (f"The noise alone accounts for {m['noise_rmse_test']:.3f}." if data.true_curve else ""))
    r.table(["model", "test RMSE"], [[k, v] for k, v in summary.items()])

    neuralab.save_model(l2_best.model, ctx.run_dir / "model",
                        extra={**data.scaling(), "l2": m["l2_best_lambda"],
                               "usage": "standardise x with x_mean/x_std; output * t_std + t_mean"})
    r.text(f"The saved model (`model/`) is the M = {LARGE_M} network at the best L2 strength λ = "
           f"{_lam(m['l2_best_lambda'])}; config.json holds the standardisation under `extra`. Its per-epoch "
           "history is `history.csv`; every fit's own is in `fits/<name>/history.csv`.")
    r.history(l2_best.history, title=f"L2 λ = {_lam(m['l2_best_lambda'])}: training and validation loss")
