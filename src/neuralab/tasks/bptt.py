"""Backpropagation through time and its two problems, measured (course topic "RNN training: BPTT, vanishing and
exploding gradients, gradient clipping").

BPTT unrolls the recurrence and applies the chain rule backwards through it: the error signal a loss L_t at
step t sends to the hidden state k steps earlier is

    ∂L_t/∂h_{t−k} = ∂L_t/∂h_t · Π_{j=t−k+1..t} ∂h_j/∂h_{j−1},    ∂h_j/∂h_{j−1} = diag(g1'(a_j))·W_hh (simple RNN)

a product of k Jacobians. When their norms stay below 1 it vanishes geometrically (step t−k stops learning
from L_t); when they exceed 1 it explodes.

1. Vanishing: ‖∂L_T/∂h_{T−k}‖ / ‖∂L_T/∂h_T‖ for k = 0..T−1, for the simple RNN, the LSTM and the GRU (the
   reference cells of `neuralab.nn.rnn`, unrolled step by step so every h_t is a node autograd can differentiate
   to), at Keras' initialisation (the course's: orthogonal recurrent weights, LSTM forget bias 1) and torch's,
   over several seeds. For the LSTM also the gradient reaching the cell state C_{T−k}.
2. Exploding: a tanh simple RNN with W_hh = s·Q (Q orthogonal, so every singular value of W_hh is s): the
   gradient ratio at k = T−1 and ‖∂L/∂W_hh‖ as s grows.
3. Gradient clipping by norm: the same SGD fit of a simple RNN, with and without `Trainer(clip_norm=…)`;
   per-step training loss and the gradient norm before clipping, several seeds.

Metrics (metrics.json): `grad_ratio_k<K>_<cell>` (median over seeds, Keras init; K = 10 and 50, or T−1 when
T ≤ 50), `grad_ratio_k<K>_<cell>_torch_init`, `grad_ratio_k<K>_lstm_cell_state`; `exploding_scales`,
`exploding_end_ratio`, `exploding_whh_grad_norm` (lists over s), `exploding_end_ratio_s<s>`;
`clip_<mode>_final_val_mse`, `clip_<mode>_max_batch_loss`, `clip_<mode>_spikes`, `clip_<mode>_diverged`,
`clip_<mode>_max_grad_norm` for mode in unclipped/clipped, `clip_norm`, `clip_fraction_clipped`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import neuralab
from neuralab.nn.rnn import Recurrent, SimpleRNNCell, keras_init_
from neuralab.tasks.base import TaskContext, register_task
from neuralab.train import make_loader
from neuralab.utils import cpu_threads

CELLS = ("rnn", "lstm", "gru")
LABELS = {"rnn": "simple RNN", "lstm": "LSTM", "gru": "GRU"}
COLORS = {"rnn": "tab:blue", "lstm": "tab:green", "gru": "tab:orange"}
HIDDEN, BATCH = 32, 16


# ------------------------------------------------------------------------------------------ unrolling
def unrolled_gradients(cell: torch.nn.Module, x: torch.Tensor, v: torch.Tensor, wrt: tuple[torch.Tensor, ...] = ()
                       ) -> tuple[np.ndarray, np.ndarray | None, tuple[torch.Tensor, ...]]:
    """‖∂L_T/∂h_t‖ (and, for an LSTM, ‖∂L_T/∂C_t‖) for every step t, with L_T = Σ_batch v·h_T.

    The cell is unrolled by hand from zero state so that each h_t is its own node in the graph; the norms are
    per sequence, averaged over the batch. `wrt` are further tensors (e.g. W_hh) whose gradients are returned.

    Shape:
        x (B, T, F), v (H,) -> two arrays (T,) indexed by t (None for cells without a cell state), the grads.
    """
    B, T = x.shape[0], x.shape[1]
    H = v.shape[0]
    lstm = hasattr(cell, "W_f")
    h, c = x.new_zeros(B, H), x.new_zeros(B, H)
    hs, cs = [], []
    for t in range(T):
        if lstm:
            h, c = cell(x[:, t], (h, c))
            cs.append(c)
        else:
            h = cell(x[:, t], h)
        hs.append(h)
    loss = (hs[-1] @ v).sum()
    grads = torch.autograd.grad(loss, hs + cs + list(wrt))
    n_states = len(hs) + len(cs)
    norms = torch.stack([g.norm(dim=1).mean() for g in grads[:n_states]]).detach().numpy()
    return norms[:T], (norms[T:] if lstm else None), grads[n_states:]


@torch.no_grad()
def carried_fraction(cell: torch.nn.Module, x: torch.Tensor) -> float | None:
    """The mean share of the previous state a gated cell carries over: f_t (LSTM) or 1 − z_t (GRU)."""
    if not hasattr(cell, "gates"):
        return None
    H = cell.hidden_size
    lstm = hasattr(cell, "W_f")
    h, c = x.new_zeros(x.shape[0], H), x.new_zeros(x.shape[0], H)
    shares = []
    for t in range(x.shape[1]):
        gate = cell.gates(x[:, t], h)
        shares.append(gate["f"] if lstm else 1 - gate["z"])
        if lstm:
            h, c = cell(x[:, t], (h, c))
        else:
            h = cell(x[:, t], h)
    return float(torch.stack(shares).mean())


def _reference_cell(cell_type: str, init: str) -> torch.nn.Module:
    layer = Recurrent(cell_type, 1, HIDDEN, fused=False)  # torch's initialisation U(−1/√H, 1/√H)
    if init == "keras":
        keras_init_(layer)
    # float64: ratios reach 1e-20 and below, and their squares (inside the norm) would underflow float32
    return layer.cells[0].double()


# ------------------------------------------------------------------------------------------ 1. vanishing
def _vanishing(ctx: TaskContext, T: int, seeds: int) -> None:
    import matplotlib.pyplot as plt

    ratios: dict[tuple[str, str], np.ndarray] = {}  # (init, cell) -> (seeds, T) ratio indexed by k
    cell_state = []
    carried: dict[tuple[str, str], list[float]] = {}
    for init in ("keras", "torch"):
        for cell_type in CELLS:
            rows = []
            for s in range(seeds):
                ctx.seed(f"vanishing/{init}/{cell_type}/{s}")
                cell = _reference_cell(cell_type, init)
                x = torch.randn(BATCH, T, 1, dtype=torch.float64)
                v = torch.randn(HIDDEN, dtype=torch.float64)
                h_norms, c_norms, _ = unrolled_gradients(cell, x, v)
                by_k = h_norms[::-1]  # k = T−1−t
                rows.append(by_k / by_k[0])
                share = carried_fraction(cell, x)
                if share is not None:
                    carried.setdefault((init, cell_type), []).append(share)
                if c_norms is not None and init == "keras":
                    cell_state.append(c_norms[::-1] / by_k[0])
            ratios[(init, cell_type)] = np.array(rows)
    ks = [k for k in (10, 50) if k < T] or [T - 1]
    if ks[-1] != T - 1 and T - 1 < 50:
        ks.append(T - 1)
    m: dict[str, Any] = {"vanishing_T": T, "vanishing_seeds": seeds, "vanishing_hidden": HIDDEN}
    for (init, cell_type), r in ratios.items():
        med = np.median(r, axis=0)
        sfx = "" if init == "keras" else "_torch_init"
        for k in ks:
            m[f"grad_ratio_k{k}_{cell_type}{sfx}"] = float(med[k])
        m[f"grad_ratio_curve_{cell_type}{sfx}"] = [float(a) for a in med]
    for (init, cell_type), shares in carried.items():
        m[f"carried_fraction_{cell_type}{'' if init == 'keras' else '_torch_init'}"] = float(np.mean(shares))
    c_med = np.median(np.array(cell_state), axis=0)
    for k in ks:
        m[f"grad_ratio_k{k}_lstm_cell_state"] = float(c_med[k])
    ctx.report.add_metrics(**m)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    k_axis = np.arange(T)
    for ax, init, title in ((axes[0], "keras", "Keras initialisation (the course's)"),
                            (axes[1], "torch", "torch's default initialisation")):
        for cell_type in CELLS:
            r = ratios[(init, cell_type)]
            ax.semilogy(k_axis, np.median(r, axis=0), color=COLORS[cell_type], label=LABELS[cell_type])
            ax.fill_between(k_axis, r.min(axis=0), r.max(axis=0), color=COLORS[cell_type], alpha=0.2)
        if init == "keras":
            ax.semilogy(k_axis, c_med, "--", color=COLORS["lstm"], label="LSTM, cell state C")
        ax.set_title(title)
        ax.set_xlabel("k (steps back from the loss)")
        ax.legend(fontsize="small")
    axes[0].set_ylabel("‖∂L_T/∂h_{T−k}‖ / ‖∂L_T/∂h_T‖")

    r = ctx.report
    K = ks[-1] if ks[-1] <= 50 else 50
    r.heading("1. Vanishing gradients: how much of L_T's gradient reaches step T−k")
    r.text(f"Each network ({HIDDEN} units, one input feature) reads {BATCH} random sequences of {T} steps from a "
           f"zero state; the loss is L_T = v·h_T for a random v. We unroll the reference cell step by step, "
           f"so autograd gives ∂L_T/∂h_t for every t, and divide its norm by the norm at k = 0. Lines: median "
           f"over {seeds} seeds (each a new network, inputs and v); bands: minimum to maximum.")
    r.figure(fig, "vanishing", "Gradient reaching k steps back, relative to the last step (log scale).")
    rows = [[LABELS[c], *(f"{m[f'grad_ratio_k{k}_{c}']:.3g}" for k in ks),
             *(f"{m[f'grad_ratio_k{k}_{c}_torch_init']:.3g}" for k in ks)] for c in CELLS]
    rows.append(["LSTM cell state C", *(f"{m[f'grad_ratio_k{k}_lstm_cell_state']:.3g}" for k in ks),
                 *("" for _ in ks)])
    r.table(["cell", *(f"k={k}, Keras init" for k in ks), *(f"k={k}, torch init" for k in ks)], rows,
            caption="Median ratio ‖∂L_T/∂h_{T−k}‖ / ‖∂L_T/∂h_T‖.")
    order = sorted(CELLS, key=lambda c: -m[f"grad_ratio_k{K}_{c}"])
    r.text(f"At k = {K} with the course's initialisation the ratio is {m[f'grad_ratio_k{K}_rnn']:.2g} for the "
           f"simple RNN, {m[f'grad_ratio_k{K}_lstm']:.2g} for the LSTM and {m[f'grad_ratio_k{K}_gru']:.2g} for "
           f"the GRU: the most gradient survives in the {LABELS[order[0]]} and the least in the "
           f"{LABELS[order[-1]]}. The LSTM's cell state, whose path C_t = f_t∗C_{{t−1}} + … multiplies the "
           f"gradient only by the forget gate (no weight matrix, no squashing), still receives "
           f"{m[f'grad_ratio_k{K}_lstm_cell_state']:.2g} of ‖∂L_T/∂h_T‖. With torch's initialisation (uniform "
           f"weights in ±1/√H, all biases random) the ratios are {m[f'grad_ratio_k{K}_rnn_torch_init']:.2g} "
           f"(RNN), {m[f'grad_ratio_k{K}_lstm_torch_init']:.2g} (LSTM) and "
           f"{m[f'grad_ratio_k{K}_gru_torch_init']:.2g} (GRU).")
    r.text("A gate carries the gradient back only as far as it carries the state forward. Measured over these "
           f"sequences, the untrained LSTM's forget gate averages f = {m['carried_fraction_lstm']:.2f} with "
           f"Keras' forget bias of 1 and {m['carried_fraction_lstm_torch_init']:.2f} with torch's initialisation; "
           f"the GRU carries a share 1 − z = {m['carried_fraction_gru']:.2f} (Keras) and "
           f"{m['carried_fraction_gru_torch_init']:.2f} (torch) of h_{{t−1}} per step. Along the carried path "
           f"alone a share of {m['carried_fraction_gru']:.2f} per step leaves {m['carried_fraction_gru']:.2f}^{K} = "
           f"{m['carried_fraction_gru'] ** K:.1g} after {K} steps (the GRU's measured {m[f'grad_ratio_k{K}_gru']:.2g} "
           "also flows through the candidate h̃). Gated cells do not avoid the vanishing gradient "
           "by construction: they can learn to hold their gates open (f → 1, z → 0) where a simple RNN has no such "
           "path, and training has to find that setting.")


# ------------------------------------------------------------------------------------------ 2. exploding
def _exploding(ctx: TaskContext, T: int, scales: list[float], seeds: int) -> None:
    import matplotlib.pyplot as plt

    curves, end_ratio, w_norm = {}, [], []
    for s in scales:
        per_seed, per_seed_w = [], []
        for seed in range(seeds):
            ctx.seed(f"exploding/{s}/{seed}")
            cell = SimpleRNNCell(1, HIDDEN, "tanh").double()
            with torch.no_grad():
                torch.nn.init.orthogonal_(cell.W_hh)
                cell.W_hh.mul_(s)  # every singular value of W_hh is s
                torch.nn.init.xavier_uniform_(cell.W_xh)
                cell.b.zero_()
            x = torch.randn(BATCH, T, 1, dtype=torch.float64)
            v = torch.randn(HIDDEN, dtype=torch.float64)
            h_norms, _, (g_whh,) = unrolled_gradients(cell, x, v, wrt=(cell.W_hh,))
            by_k = h_norms[::-1]
            per_seed.append(by_k / by_k[0])
            per_seed_w.append(float(g_whh.norm()))
        med = np.median(np.array(per_seed), axis=0)
        curves[s] = med
        end_ratio.append(float(med[-1]))
        w_norm.append(float(np.median(per_seed_w)))
    m: dict[str, Any] = {"exploding_T": T, "exploding_scales": scales, "exploding_end_ratio": end_ratio,
                         "exploding_whh_grad_norm": w_norm}
    for s, e in zip(scales, end_ratio, strict=True):
        m[f"exploding_end_ratio_s{s:g}"] = e
    ctx.report.add_metrics(**m)

    fig, (ax_k, ax_s) = plt.subplots(1, 2, figsize=(12, 4))
    cmap = plt.get_cmap("coolwarm")
    for i, s in enumerate(scales):
        ax_k.semilogy(np.arange(T), curves[s], color=cmap(i / max(1, len(scales) - 1)), label=f"s = {s:g}")
    ax_k.set_xlabel("k (steps back from the loss)")
    ax_k.set_ylabel("‖∂L_T/∂h_{T−k}‖ / ‖∂L_T/∂h_T‖")
    ax_k.set_title("tanh RNN, W_hh = s·Q")
    ax_k.legend(fontsize="x-small", ncol=2)
    ax_s.semilogy(scales, end_ratio, "o-", label=f"gradient ratio at k = {T - 1}")
    ax_s.semilogy(scales, w_norm, "s-", label="‖∂L_T/∂W_hh‖")
    ax_s.axvline(1.0, color="0.6", lw=0.8)
    ax_s.set_xlabel("scale s of the recurrent weights (their singular values)")
    ax_s.set_title("growth with the recurrent weight scale")
    ax_s.legend(fontsize="small")

    r = ctx.report
    r.heading("2. Exploding gradients: large recurrent weights")
    r.text(f"A tanh simple RNN ({HIDDEN} units, {T} steps, inputs N(0, 1)) with W_hh = s·Q, Q a random orthogonal "
           f"matrix, so W_hh stretches every direction by exactly s. Each backward step multiplies by "
           f"diag(tanh'(a_j))·W_hh, whose norm is at most s; tanh' ≤ 1 can only shrink it. Median over {seeds} "
           "seed(s).")
    r.figure(fig, "exploding", "Left: the gradient reaching k steps back for each scale s. Right: the ratio at "
             "the first step and the norm of the recurrent weights' gradient, against s (log scale).")
    lo, hi = scales[0], scales[-1]
    r.text(f"With s = {lo:g} the gradient from step {T - 1} back to step 0 shrinks to "
           f"{end_ratio[0]:.2g} of its size; with s = {hi:g} it grows to {end_ratio[-1]:.2g}, and ‖∂L_T/∂W_hh‖ "
           f"grows from {w_norm[0]:.3g} to {w_norm[-1]:.3g} — one SGD step of that size throws the weights far "
           "away. Between the two regimes there is no setting of s where a long product of Jacobians stays "
           "near 1 for every sequence; this is what gated cells and clipping address.")


# ------------------------------------------------------------------------------------------ 3. clipping
class _StepRecorder:
    """Trainer callback: every step's training loss and the gradient norm *before* clipping.

    The norm is accumulated by post-accumulate-grad hooks, which run inside backward(), before the Trainer
    clips; so it is the raw norm in both the clipped and the unclipped fit.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.loss: list[float] = []
        self.grad_norm: list[float] = []
        self._sq = 0.0
        for p in model.parameters():
            p.register_post_accumulate_grad_hook(self._hook)

    def _hook(self, p: torch.Tensor) -> None:
        self._sq += float(p.grad.detach().pow(2).sum())

    def on_batch_end(self, trainer: Any, step: int, logs: dict[str, Any]) -> None:
        self.loss.append(float(logs["loss"].detach()))
        self.grad_norm.append(math.sqrt(self._sq))
        self._sq = 0.0


def memory_sum_data(n: int, T: int, seed: int, lag: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """x ~ N(0, 1) of shape (n, T, 1); y = (sum of the last `lag` inputs)/√lag, of variance 1 (MSE 1 = mean)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, T, 1, generator=g)
    return x, x[:, -lag:, 0].sum(dim=1, keepdim=True) / math.sqrt(lag)


def _clipping(ctx: TaskContext, T: int, n: int, epochs: int, seeds: int, lr: float, clip: float) -> None:
    import matplotlib.pyplot as plt

    runs: dict[str, list[dict[str, Any]]] = {"unclipped": [], "clipped": []}
    x_val, y_val = memory_sum_data(512, T, seed=10_000)
    for seed in range(seeds):
        x, y = memory_sum_data(n, T, seed=seed)
        for mode in runs:
            name = f"clip_{mode}_{seed}"
            ctx.seed(f"clip_{seed}")  # the same initial weights and batches with and without clipping
            model = neuralab.get_model("rnn-regressor", window=T, hidden_size=HIDDEN)
            keras_init_(model.recurrent)
            rec = _StepRecorder(model)
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
            trainer = ctx.trainer(name, model, F.mse_loss, optimizer=opt, callbacks=[rec],
                                  clip_norm=clip if mode == "clipped" else None, seed=ctx.seed_for(f"clip_{seed}"))
            diverged = None
            try:
                ctx.fit(trainer, make_loader(x, y, batch_size=32, shuffle=True), epochs=epochs)
                val = trainer.evaluate(make_loader(x_val, y_val, batch_size=512))["loss"]
            except FloatingPointError:
                diverged, val = len(rec.loss) + 1, float("nan")
            runs[mode].append({"loss": np.array(rec.loss), "grad": np.array(rec.grad_norm), "val": val,
                               "diverged": diverged})
    m: dict[str, Any] = {"clip_norm": clip, "clip_lr": lr, "clip_T": T, "clip_epochs": epochs, "clip_seeds": seeds}
    for mode, rs in runs.items():
        vals = [r["val"] for r in rs]
        m[f"clip_{mode}_final_val_mse"] = float(np.nanmedian(vals)) if not all(map(math.isnan, vals)) else math.nan
        m[f"clip_{mode}_final_val_mse_per_seed"] = vals
        m[f"clip_{mode}_max_batch_loss"] = float(max(r["loss"].max() for r in rs))
        m[f"clip_{mode}_spikes"] = int(sum((r["loss"] > 2.0).sum() for r in rs))  # > twice the MSE of ŷ = 0
        m[f"clip_{mode}_diverged"] = sum(r["diverged"] is not None for r in rs)
        m[f"clip_{mode}_max_grad_norm"] = float(max(r["grad"].max() for r in rs))
    m["clip_fraction_clipped"] = float(np.mean(np.concatenate([r["grad"] > clip for r in runs["clipped"]])))
    m["clip_steps_per_fit"] = int(len(runs["clipped"][0]["loss"]))
    ctx.report.add_metrics(**m)

    fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(12, 4))
    for mode, color in (("unclipped", "tab:red"), ("clipped", "tab:blue")):
        for i, r_ in enumerate(runs[mode]):
            label = f"{mode}" if i == 0 else None
            ax_l.semilogy(np.arange(1, len(r_["loss"]) + 1), r_["loss"], color=color, alpha=0.6, lw=0.8, label=label)
            ax_g.semilogy(np.arange(1, len(r_["grad"]) + 1), r_["grad"], color=color, alpha=0.6, lw=0.8, label=label)
    ax_l.axhline(1.0, color="0.5", lw=0.8, ls=":", label="MSE of predicting 0")
    ax_g.axhline(clip, color="k", lw=0.8, ls="--", label=f"clip_norm = {clip:g}")
    ax_l.set_title("training loss per step")
    ax_g.set_title("gradient norm per step, before clipping")
    for ax in (ax_l, ax_g):
        ax.set_xlabel("optimizer step")
        ax.legend(fontsize="small")

    r = ctx.report
    r.heading("3. Gradient clipping by norm")
    r.text(f"Task: read {T} inputs x_t ~ N(0, 1) and output the sum of the last 10 divided by √10 (variance 1, so "
           f"predicting 0 scores MSE 1). Model: `rnn-regressor` with a {HIDDEN}-unit tanh SimpleRNN (Keras "
           f"initialisation), plain SGD with momentum 0.9 and learning rate {lr:g}, batches of 32, {n} training "
           f"sequences, {epochs} epochs. Each of {seeds} seed(s) trains twice from the same initial weights on the "
           f"same batches: once unclipped, once with `Trainer(clip_norm={clip:g})`, which rescales the whole "
           f"gradient g to clip_norm·g/‖g‖ whenever ‖g‖ > clip_norm (the direction is kept).")
    r.figure(fig, "clipping", "Left: training MSE per optimizer step. Right: the gradient norm before clipping "
             "(log scales; one line per seed).")
    r.table(["", "validation MSE (median)", "largest batch loss", "steps with loss > 2", "fits diverged (NaN)",
             "largest gradient norm"],
            [[mode, f"{m[f'clip_{mode}_final_val_mse']:.3g}", f"{m[f'clip_{mode}_max_batch_loss']:.3g}",
              m[f"clip_{mode}_spikes"], f"{m[f'clip_{mode}_diverged']} of {seeds}",
              f"{m[f'clip_{mode}_max_grad_norm']:.3g}"] for mode in runs],
            caption=f"Validation: 512 fresh sequences. {m['clip_steps_per_fit']} steps per fit.")
    r.text(f"Without clipping the largest batch loss is {m['clip_unclipped_max_batch_loss']:.3g} and "
           f"{m['clip_unclipped_spikes']} step(s) have a loss above 2 (worse than predicting 0 twice over); the "
           f"median validation MSE at the end is {m['clip_unclipped_final_val_mse']:.3g}. With clipping at "
           f"{clip:g} ({100 * m['clip_fraction_clipped']:.0f}% of the steps were clipped) the largest batch loss "
           f"is {m['clip_clipped_max_batch_loss']:.3g}, {m['clip_clipped_spikes']} step(s) exceed 2, and the "
           f"validation MSE ends at {m['clip_clipped_final_val_mse']:.3g}.")
    ctx.report.say(f"validation MSE after {epochs} epochs: unclipped {m['clip_unclipped_final_val_mse']:.3g}, "
                   f"clipped {m['clip_clipped_final_val_mse']:.3g}")


# ------------------------------------------------------------------------------------------------ task
@register_task("bptt", "backpropagation through time: the gradient reaching step t−k for simple RNN vs LSTM vs "
               "GRU (vanishing), exploding gradients with large recurrent weights, gradient clipping by norm",
               default_data="random sequences and a generated memory task (embedded)",
               title="BPTT: vanishing and exploding gradients, gradient clipping")
def run(ctx: TaskContext) -> None:
    # 32-unit cells gain nothing from intra-op threads; on the busy 2-core machine a step of the clipping
    # fit ran ~20x slower with two threads than with one (measured). Restored afterwards.
    with cpu_threads(1, ctx.device):
        if ctx.opts.data is not None:
            from neuralab.errors import ConfigError

            raise ConfigError("task 'bptt' runs on generated sequences only and takes no --data")
        if ctx.quick:
            _vanishing(ctx, T=40, seeds=2)
            _exploding(ctx, T=30, scales=[0.5, 1.0, 1.5, 2.0, 3.0], seeds=1)
            _clipping(ctx, T=50, n=512, epochs=ctx.epochs(10, 3), seeds=1, lr=0.05, clip=1.0)
        else:
            _vanishing(ctx, T=100, seeds=5)
            _exploding(ctx, T=50, scales=[0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 2.5, 3.0], seeds=3)
            _clipping(ctx, T=50, n=1024, epochs=ctx.epochs(10, 3), seeds=5, lr=0.05, clip=1.0)
