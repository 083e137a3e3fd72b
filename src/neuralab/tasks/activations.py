"""Activation functions and the vanishing gradient (course topic "Activation functions").

1. Sigmoid, tanh, ReLU and leaky ReLU with their derivatives, from the hand-written formulas of
   `neuralab.nn.activations` (checked against torch.autograd), and the maximum of each derivative.
2. The vanishing gradient measured: the same deep MLP with sigmoid, tanh and ReLU hidden units, the same
   initialisation and the same SGD, on scikit-learn's digits (or the user's CSV). The norm of ∂E/∂W_l for every
   layer l on one fixed batch, at initialisation and after training, shows how much of the error signal
   reaches the first layers; the validation accuracy after the same number of epochs shows what that costs.

Metrics (metrics.json): `deriv_max_<act>` (0.25 for sigmoid, 1 for the others), `deriv_min_<act>`,
`deriv_at_5_<act>`, `deriv_autograd_max_err_<act>`; for act in sigmoid/tanh/relu: `grad_ratio_init_<act>` and
`grad_ratio_trained_<act>` (first-layer / last-layer gradient norm), `first_layer_grad_init_<act>`,
`last_layer_grad_init_<act>`, `val_accuracy_<act>`, `final_train_loss_<act>`; `grad_norms` (every layer's norm).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import neuralab
from neuralab.errors import DataError
from neuralab.metrics import accuracy_from_logits
from neuralab.nn import activations as A
from neuralab.tasks.base import TaskContext, register_task
from neuralab.train import make_loader
from neuralab.utils import cpu_threads

CURVE_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")
NET_ACTIVATIONS = ("sigmoid", "tanh", "relu")  # the deep-network comparison; relu is the model that is saved
# torch's own function for each activation: the oracle the hand-written derivative is compared with
TORCH_REFERENCE = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu,
                   "leaky_relu": lambda z: F.leaky_relu(z, A.LEAKY_SLOPE)}
LABELS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "leaky ReLU (0.01)"}
COLORS = {"sigmoid": "tab:blue", "tanh": "tab:orange", "relu": "tab:green", "leaky_relu": "tab:red"}
# ReLU and leaky ReLU coincide for z > 0: draw ReLU wide and leaky ReLU dashed on top so both stay visible
STYLES = {"sigmoid": {}, "tanh": {}, "relu": {"lw": 3.0, "alpha": 0.7}, "leaky_relu": {"ls": "--"}}
LR, MOMENTUM, BATCH_SIZE, GRAD_BATCH = 0.02, 0.9, 64, 256


# --------------------------------------------------------------------------------------------- part 1
def _derivative_section(ctx: TaskContext, depth: int) -> None:
    import matplotlib.pyplot as plt

    z = torch.arange(-600, 601, dtype=torch.float64) / 100  # [-6, 6] in steps of 0.01, z = 0 exactly
    wide = torch.arange(-5000, 5001, dtype=torch.float64) / 100  # [-50, 50]: the saturated tails too
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(10, 3.8))
    rows, metrics = [], {}
    for name in CURVE_ACTIVATIONS:
        fn, grad, _ = A.ACTIVATIONS[name]
        d = grad(z)
        ax_f.plot(z, fn(z), label=LABELS[name], color=COLORS[name], **STYLES[name])
        ax_d.plot(z, d, label=LABELS[name], color=COLORS[name], **STYLES[name])
        # oracle: autograd through torch's own function, on the wide grid
        w = wide.clone().requires_grad_(True)
        TORCH_REFERENCE[name](w).sum().backward()
        err = float((grad(wide) - w.grad).abs().max())
        i = int(d.argmax())
        at_max = z[d == d.max()]  # one point for sigmoid/tanh, the whole positive side for (leaky) ReLU
        where = f"{float(at_max[0]):.2g}" if len(at_max) == 1 else \
            f"[{float(at_max.min()):.2g}, {float(at_max.max()):.2g}]"
        m = {"max": float(d.max()), "argmax": float(z[i]), "min": float(d.min()),
             "at_5": float(grad(torch.tensor(5.0, dtype=torch.float64))), "err": err}
        metrics.update({f"deriv_max_{name}": m["max"], f"deriv_argmax_{name}": m["argmax"],
                        f"deriv_min_{name}": m["min"], f"deriv_at_5_{name}": m["at_5"],
                        f"deriv_autograd_max_err_{name}": err})
        rows.append([LABELS[name], f"{m['max']:.4g}", where, f"{m['min']:.3g}", f"{m['at_5']:.3g}", f"{err:.1g}"])
    ax_f.set_title("activation g(z)")
    ax_d.set_title("derivative g'(z)")
    for ax in (ax_f, ax_d):
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.set_xlabel("z")
        ax.legend()
    bound = 0.25 ** depth
    metrics["sigmoid_deriv_max_pow_depth"] = bound
    ctx.report.add_metrics(**metrics)

    r = ctx.report
    r.heading("1. Activation functions and their derivatives")
    r.text("Backpropagation carries the error from the output back to the first layer, and at every hidden "
           "layer it multiplies by the derivative of that layer's activation, g'(z). How big g'(z) can be "
           "therefore decides how much error signal survives a deep network. The curves below come from the "
           "hand-written formulas in `neuralab.nn.activations`: sigmoid' = σ(z)(1 − σ(z)), tanh' = 1/cosh²(z), "
           "ReLU' = 1 for z > 0 else 0, leaky ReLU' = 1 for z > 0 else 0.01.")
    r.figure(fig, "activations", "Left: the four activations. Right: their derivatives.")
    r.table(["activation", "max g'(z)", "at z", "min g'(z) on [-6, 6]", "g'(5)", "max |g' − autograd|"], rows,
            caption="Derivatives on a grid of step 0.01 over [-6, 6]; the last column compares the formula with "
                    "torch.autograd on torch's own function over [-50, 50].")
    r.text(f"The sigmoid's derivative is never larger than {metrics['deriv_max_sigmoid']:.4g} (at z = "
           f"{metrics['deriv_argmax_sigmoid']:.2g}), and a saturated unit passes back almost nothing: sigmoid'(5) "
           f"= {metrics['deriv_at_5_sigmoid']:.2g}. tanh' reaches {metrics['deriv_max_tanh']:.4g} at z = 0 but "
           f"saturates even faster (tanh'(5) = {metrics['deriv_at_5_tanh']:.2g}). ReLU's derivative is "
           f"{metrics['deriv_max_relu']:.4g} for every positive input, however large, and "
           f"{metrics['deriv_min_relu']:.4g} for negative ones; leaky ReLU keeps a slope of "
           f"{metrics['deriv_min_leaky_relu']:.4g} there, so no unit is ever completely silent. Through {depth} "
           f"sigmoid layers the derivative factors alone multiply the gradient by at most 0.25^{depth} = "
           f"{bound:.2g}. Every formula agrees with torch.autograd to within "
           f"{max(metrics[f'deriv_autograd_max_err_{n}'] for n in CURVE_ACTIVATIONS):.1g}.")


# --------------------------------------------------------------------------------------------- part 2
def _load_data(ctx: TaskContext) -> dict[str, Any]:
    """Standardised, stratified train/validation split of the digits or of the user's CSV."""
    from sklearn.model_selection import train_test_split

    path = ctx.data_path(".csv")
    if path is None:
        from sklearn.datasets import load_digits

        X_np, y_np = load_digits(return_X_y=True)
        source = "scikit-learn's digits (8×8 grey images of handwritten digits, 64 pixel features, 10 classes)"
    else:
        from neuralab.data.tabular_classification import read_feature_label_csv

        X_t, y_t = read_feature_label_csv(path)
        X_np, y_np = X_t.numpy(), y_t.numpy()
        source = f"`{path.name}` ({X_np.shape[1]} feature columns and an integer label)"
    classes, y_idx = np.unique(y_np, return_inverse=True)
    counts = np.bincount(y_idx)
    n, k = len(y_idx), len(classes)
    n_val = math.ceil(0.2 * n)
    if counts.min() < 2 or n_val < k or n - n_val < k:
        rare = classes[counts.argmin()]
        raise DataError(f"cannot make a stratified 80/20 train/validation split of {n} rows with {k} classes "
                        f"(class {rare} has {counts.min()} row(s)); every class needs at least 2 rows and the "
                        f"data at least {5 * k} rows")
    X_tr, X_va, y_tr, y_va = train_test_split(X_np, y_idx, test_size=n_val, stratify=y_idx,
                                              random_state=ctx.seed_for("split"))
    # standardise with the training split's statistics only: the validation rows stay unseen
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # constant columns (digits' blank border pixels) stay 0

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((a - mean) / std, dtype=torch.float32)

    return {"X_train": tensor(X_tr), "y_train": torch.as_tensor(y_tr, dtype=torch.int64),
            "X_val": tensor(X_va), "y_val": torch.as_tensor(y_va, dtype=torch.int64),
            "classes": classes.tolist(), "mean": mean.tolist(), "std": std.tolist(), "source": source,
            "majority": float(np.bincount(y_va).max() / len(y_va))}


def _glorot(model: nn.Module) -> None:
    # The same starting point for every activation, so the activation is the only difference.
    for layer in model.linears:
        nn.init.xavier_normal_(layer.weight)
        nn.init.zeros_(layer.bias)


def layer_grad_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """‖∂E/∂W_l‖ (Frobenius) of every linear layer, first to last, for the cross-entropy E on one batch."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x.to(device)), y.to(device)).backward()
    norms = [float(layer.weight.grad.norm()) for layer in model.linears]
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return norms


def _vanishing_section(ctx: TaskContext, data: dict[str, Any], depth: int, width: int) -> None:
    import matplotlib.pyplot as plt

    epochs = ctx.epochs(30, 4)
    x_fix, y_fix = data["X_train"][:GRAD_BATCH], data["y_train"][:GRAD_BATCH]  # the split already shuffled
    train_loader = make_loader(data["X_train"], data["y_train"], batch_size=BATCH_SIZE, shuffle=True)
    val_loader = make_loader(data["X_val"], data["y_val"], batch_size=512)
    results: dict[str, dict[str, Any]] = {}
    relu_model = None
    for act in NET_ACTIVATIONS:
        name = f"mlp_{act}"
        ctx.seed(name)
        model = neuralab.get_model("mlp", in_features=data["X_train"].shape[1], hidden=(width,) * depth,
                                   out_features=len(data["classes"]), activation=act)
        _glorot(model)
        g_init = layer_grad_norms(model, x_fix, y_fix)
        w_init = model.linears[0].weight.detach().clone()
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        trainer = ctx.trainer(name, model, F.cross_entropy, optimizer=opt,
                              metrics={"accuracy": accuracy_from_logits})
        history = ctx.fit(trainer, train_loader, val_loader, epochs=epochs)
        g_trained = layer_grad_norms(model, x_fix, y_fix)
        w_moved = (model.linears[0].weight.detach().cpu() - w_init.cpu()).norm() / w_init.norm()
        results[act] = {"init": g_init, "trained": g_trained, "history": history, "moved": float(w_moved)}
        if act == "relu":
            relu_model = model

    metrics: dict[str, Any] = {"dataset": "digits" if ctx.opts.data is None else str(ctx.opts.data),
                               "n_train": len(data["y_train"]), "n_val": len(data["y_val"]),
                               "n_classes": len(data["classes"]), "depth": depth, "width": width,
                               "epochs": epochs, "majority_class_val_accuracy": data["majority"],
                               "grad_norms": {a: {"init": r["init"], "trained": r["trained"]}
                                              for a, r in results.items()}}
    for act, res in results.items():
        last = res["history"].last()
        metrics.update({f"grad_ratio_init_{act}": res["init"][0] / res["init"][-1],
                        f"grad_ratio_trained_{act}": res["trained"][0] / res["trained"][-1],
                        f"first_layer_grad_init_{act}": res["init"][0],
                        f"last_layer_grad_init_{act}": res["init"][-1],
                        f"first_layer_weight_change_{act}": res["moved"],
                        f"val_accuracy_{act}": float(last["val_accuracy"]),
                        f"final_train_loss_{act}": float(last["train_loss"])})
    metrics["orders_of_magnitude_relu_over_sigmoid_init"] = math.log10(
        metrics["first_layer_grad_init_relu"] / metrics["first_layer_grad_init_sigmoid"])
    ctx.report.add_metrics(**metrics)

    layers = np.arange(1, depth + 2)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, when, title in ((axes[0], "init", "at initialisation"), (axes[1], "trained", f"after {epochs} epochs")):
        for act, res in results.items():
            ax.semilogy(layers, res[when], "o-", label=LABELS[act], color=COLORS[act])
        ax.set_title(f"‖∂E/∂W_l‖ {title}")
        ax.set_xlabel("layer l (1 = first, next to the input)")
        ax.set_xticks(layers)
        ax.legend()
    axes[0].set_ylabel("gradient norm (log scale)")

    m, r = ctx.report.metrics, ctx.report
    r.heading("2. The vanishing gradient in a deep network")
    r.text(f"Data: {data['source']}, split 80/20 with the classes in the same proportions "
           f"({m['n_train']} training and {m['n_val']} validation rows), features standardised with the training "
           f"rows' mean and standard deviation. Three networks with {depth} hidden layers of {width} units differ "
           f"only in the hidden activation: sigmoid, tanh or ReLU. All start from the same Glorot (Xavier) normal "
           f"initialisation with zero biases and train for {epochs} epochs with the same plain gradient descent "
           f"(SGD, learning rate {LR}, momentum {MOMENTUM}, batches of {BATCH_SIZE}, cross-entropy loss), where a "
           f"small gradient means a small step. On one fixed batch of {len(y_fix)} training rows we measure the "
           "norm of the gradient of the loss with respect to each layer's weights, before and after training.")
    r.figure(fig, "grad_norms", "Gradient norm of every layer's weights, first layer on the left (log scale).")
    r.table(["activation", "first/last at init", "first/last after training", "first-layer ‖∂E/∂W‖ at init",
             "validation accuracy", "final training loss"],
            [[LABELS[a], f"{m[f'grad_ratio_init_{a}']:.3g}", f"{m[f'grad_ratio_trained_{a}']:.3g}",
              f"{m[f'first_layer_grad_init_{a}']:.3g}", f"{m[f'val_accuracy_{a}']:.1%}",
              f"{m[f'final_train_loss_{a}']:.3g}"] for a in results],
            caption="first/last = gradient norm of the first layer divided by that of the last layer.")
    compare = "smaller" if m["orders_of_magnitude_relu_over_sigmoid_init"] > 0 else "larger"
    r.text(f"At initialisation the first layer of the sigmoid network receives a gradient "
           f"{m['grad_ratio_init_sigmoid']:.2g} times the size of its last layer's; with ReLU the ratio is "
           f"{m['grad_ratio_init_relu']:.2g} and with tanh {m['grad_ratio_init_tanh']:.2g}. In absolute terms the "
           f"sigmoid net's first-layer gradient ({m['first_layer_grad_init_sigmoid']:.2g}) is "
           f"{abs(m['orders_of_magnitude_relu_over_sigmoid_init']):.1f} orders of magnitude {compare} than the "
           f"ReLU net's ({m['first_layer_grad_init_relu']:.2g}). Each sigmoid layer multiplies the backward signal "
           f"by at most 0.25 times its weights, so the gradient shrinks geometrically towards the input: the "
           f"bound 0.25^{depth} = {m['sigmoid_deriv_max_pow_depth']:.2g} of part 1 at work. After training the "
           f"ratios are {m['grad_ratio_trained_sigmoid']:.2g} (sigmoid), {m['grad_ratio_trained_tanh']:.2g} "
           f"(tanh) and {m['grad_ratio_trained_relu']:.2g} (ReLU).")
    r.text(f"What this costs: after the same {epochs} epochs the validation accuracy is "
           f"{m['val_accuracy_relu']:.1%} with ReLU, {m['val_accuracy_tanh']:.1%} with tanh and "
           f"{m['val_accuracy_sigmoid']:.1%} with sigmoid; always predicting the most frequent class would score "
           f"{m['majority_class_val_accuracy']:.1%}. " + _weight_change_text(m))
    _curves_section(ctx, results, epochs)

    r.heading("4. Saved model")
    neuralab.save_model(relu_model, ctx.run_dir / "model",
                        extra={"classes": data["classes"], "feature_mean": data["mean"], "feature_std": data["std"]})
    r.text("The ReLU network is saved in `model/` (config.json + model.safetensors; config.json's `extra` holds the "
           "class labels and the training mean and standard deviation to standardise new rows with). Reload it "
           "with `neuralab.load_model(path)`.")


def _weight_change_text(m: dict[str, Any]) -> str:
    def pct(act: str) -> str:
        return f"{100 * m[f'first_layer_weight_change_{act}']:.2g}%"

    text = (f"Training changed the first layer's weights by {pct('relu')} of their initial norm with ReLU, "
            f"{pct('tanh')} with tanh and {pct('sigmoid')} with sigmoid")
    if m["first_layer_weight_change_sigmoid"] * 10 < m["first_layer_weight_change_relu"]:
        return text + (": where the gradient vanishes, the layers next to the input hardly learn, and the layers "
                       "above them only ever see a nearly unchanged random projection of the input.")
    return text + "."


def _curves_section(ctx: TaskContext, results: dict[str, dict[str, Any]], epochs: int) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(12, 3.8))
    for act, res in results.items():
        h = res["history"]
        ax_l.plot(h["epoch"], h["train_loss"], "-", color=COLORS[act], label=f"{LABELS[act]} train")
        ax_l.plot(h["epoch"], h["val_loss"], "--", color=COLORS[act], label=f"{LABELS[act]} validation")
        ax_a.plot(h["epoch"], h["val_accuracy"], "o-", color=COLORS[act], label=LABELS[act])
    ax_l.set_title("cross-entropy loss")
    ax_a.set_title("validation accuracy")
    for ax in (ax_l, ax_a):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax_a.set_ylim(0, 1)
    m = ctx.report.metrics
    ctx.report.heading("3. Learning curves")
    ctx.report.figure(fig, "learning_curves", "Loss (left) and validation accuracy (right) per epoch.")
    ctx.report.text(f"The ReLU network's training loss goes from {results['relu']['history']['train_loss'][0]:.3g} "
                    f"after the first epoch to {m['final_train_loss_relu']:.3g} after {epochs}; the sigmoid "
                    f"network's from {results['sigmoid']['history']['train_loss'][0]:.3g} to "
                    f"{m['final_train_loss_sigmoid']:.3g}. Every fit's per-epoch history is in `fits/<name>/"
                    "history.csv`; the ReLU network's is also `history.csv` at the top of the run.")
    ctx.report.history(results["relu"]["history"], title="ReLU network: training and validation loss")
    ctx.report.add_metrics(first_epoch_train_loss_relu=results["relu"]["history"]["train_loss"][0],
                           first_epoch_train_loss_sigmoid=results["sigmoid"]["history"]["train_loss"][0])


# ------------------------------------------------------------------------------------------------ task
@register_task("activations", "sigmoid, tanh, ReLU and leaky ReLU with their derivatives; the vanishing gradient "
               "measured layer by layer in a deep MLP", default_data="scikit-learn's digits (embedded)",
               title="Activation functions and the vanishing gradient")
def run(ctx: TaskContext) -> None:
    depth, width = (8, 32) if ctx.quick else (10, 64)
    # Layers this narrow gain nothing from intra-op threads; on a busy 2-core machine the hand-offs made the
    # quick run 2.5x slower (measured).
    with cpu_threads(1, ctx.device):
        _derivative_section(ctx, depth)
        _vanishing_section(ctx, _load_data(ctx), depth, width)
