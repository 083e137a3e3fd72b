"""Transfer learning with frozen and trainable layers (course topic "Transfer learning").

1. Pretrain: a registry CNN (`arch`, default `lenet5`) learns a source data set (default: scikit-learn's
   digits 0-4; `--set source=PATH`, e.g. Fashion-MNIST's IDX folder).
2. The target (default: digits 5-9; `--set target=PATH` or `--data PATH`, e.g. the sign-language folder) is
   split stratified: 20% test (held out, never trained or selected on); from the rest, `per_class` labelled
   training images per class (default 10) and a validation set of `val_per_class` per class for the learning
   curves. Source images are read at the target's size and channel count (resized, RGB <-> gray converted).
3. Three ways to learn the target with the same architecture and the same labelled images:
   (a) **frozen**: the pretrained convolutional layers, frozen, under a new dense head (`head=classifier`,
       default: the course's Keras recipe of a frozen conv base + new Dense layers) or the whole pretrained
       network frozen under a new output layer (`head=output`); the head trains E epochs at `head_lr`.
   (b) **fine-tune**: (a)'s network, everything unfrozen, the head at the learning rate and the pretrained
       layers at `backbone_lr_factor` (default 0.1) times it; E more epochs.
   (c) **scratch**: a freshly initialised network; 2E epochs, the budget of (a) + (b).
   Each is run for `seeds` draws of the labelled images (and of the new head's initialisation).
4. Report: the three validation-accuracy curves on one figure, test accuracy of each (mean, min, max over the
   draws), the measured check that frozen weights are bit-identical after training, parameter counts.

Metrics (metrics.json): `frozen_test_accuracy`, `finetune_test_accuracy`, `scratch_test_accuracy` (means over
the draws), `*_test_accuracies` (one per draw), `transfer_gain` (fine-tune minus scratch), `best_transfer_gain`,
`draw_spread` (largest max-min of one method's accuracy over the draws),
`frozen_params_unchanged`, `frozen_param_tensors`, `trainable_params_frozen`, `trainable_params_finetune`,
`total_params`, `source_val_accuracy`, `pretrain_seconds`, `per_class`, `n_source`, `n_target_train`,
`n_target_val`, `n_target_test`, `epochs`, `seeds`, `arch`, `head`, `image_size`, `channels`.

Measured (3 draws, 10 labelled images per class; test accuracy frozen / fine-tuned / scratch; head_lr=auto, the
rate it chose in brackets): digits 0-4 -> 5-9, lenet5 [1e-3]: 90.0% / 88.3% / 87.8%. Fashion-MNIST (54k) -> the
24 sign-language letters: lenet5 [1e-2] 77.9% / 78.4% / 78.1%; gesture-cnn [1e-3] 81.7% / 81.5% / 80.7%, fine-tuning
ahead of scratch in 3 of 3 draws. Sign-language letters A-L as the source, M-Y as the target (symlinked class
folders): lenet5 [1e-3] 77.4% / 79.3% / 78.1%; gesture-cnn [1e-3] 77.6% / 82.2% / 83.9%; resnet [1e-2] 59.7% /
73.9% / 67.6% (+6.3 points for fine-tuning). Before head_lr=auto the head always trained at 1e-2, where
gesture-cnn's new head never fit its training images (A-L -> M-Y: 50.7% / 60.5% / 83.9%). Resnet, Fashion-MNIST (3
pretraining epochs) -> sign language: 43.4% / 70.6% / 68.1% at 1e-2. The Sign-MNIST images are augmented frames of
few photos, so 10 random images per class already cover much of the test set and a small network trained from
scratch on them is hard to beat by much; the deeper resnet is where pretraining pays most.

Shape legend: images (N, C, S, S) float32, S = image_size; labels (N,) int64; logits (N, K).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import neuralab
from neuralab.data.images import ImageDataset, Normalizer, load_digits_images, read_dataset, stratified_split
from neuralab.errors import ConfigError, DataError
from neuralab.metrics import accuracy_from_logits
from neuralab.models.registry import require_image_classifier
from neuralab.tasks.base import TaskContext, register_task
from neuralab.train import make_loader
from neuralab.train.freeze import (
    changed_parameters,
    count_parameters,
    freeze_all_but,
    last_linear,
    load_matching,
    param_groups,
    snapshot,
    unfreeze,
)
from neuralab.utils import cpu_threads

DEFAULT_ARCH = "lenet5"  # measured: the best transfer of the small CNNs here (see the module docstring)
DIGITS_SIZE = 16  # the 8x8 digits upscaled (gesture-cnn needs >= 10); 28 costs 3.7x the time and adds no detail
TEST_FRACTION = 0.2
LR, BATCH_SOURCE, BATCH_TARGET = 1e-3, 64, 16
# head_lr=auto tries these on the first draw's frozen stage and keeps the one with the higher validation accuracy:
# measured on sign-language letters A-L -> M-Y (final validation accuracy of stage (a), 3 draws), 1e-2 suits
# resnet (0.604 vs 0.487 at 1e-3), whose batch-normalised features are small; 1e-3 suits gesture-cnn (0.808 vs
# 0.515: at 1e-2 its new head never fit the 130 training images, train loss stuck near 1.7, its pretrained
# features being ~6x the scale of a fresh network's) and lenet5 (0.796 vs 0.779).
HEAD_LRS = (1e-2, 1e-3)
QUICK_SOURCE, QUICK_TEST = 2000, 1000
COLORS = {"frozen": "tab:blue", "finetune": "tab:green", "scratch": "tab:red"}
LABELS = {"frozen": "(a) pretrained, frozen + new head", "finetune": "(b) then fine-tuned, all layers",
          "scratch": "(c) from scratch"}
OPTIONS = {
    "source": "pretraining data: image folder, IDX folder/file, pixel CSV or npz (default: digits 0-4)",
    "target": "target data, same formats; --data also sets it (default: digits 5-9)",
    "per_class": "labelled target training images per class (default 10)",
    "val_per_class": "target validation images per class, for the learning curves (default 20)",
    "arch": f"registry image model (default {DEFAULT_ARCH}; also gesture-cnn, resnet, vgg, alexnet, googlenet)",
    "image_size": "square side every image is resized to (default: the target's own; digits 28)",
    "head": "what is replaced and trained while the rest is frozen: classifier (the dense layers, default) or "
            "output (only the last layer)",
    "seeds": "draws of the labelled images, each trained three ways (default 3; quick 1)",
    "source_limit": "pretrain on at most this many source images (default all; quick 2000)",
    "source_epochs": "pretraining epochs (default 10; quick 3)",
    "lr": f"Adam learning rate of fine-tuning's head and of the scratch network (default {LR})",
    "head_lr": "Adam learning rate of the new head while the rest is frozen (default auto: the better of "
               f"{', '.join(f'{v:g}' for v in HEAD_LRS)} by validation accuracy on the first draw)",
    "backbone_lr_factor": "fine-tuning rate of the pretrained layers, as a fraction of lr (default 0.1)",
}


# --------------------------------------------------------------------------------------------- data
def _positive_int(ctx: TaskContext, key: str, default: int) -> int:
    value = ctx.option(key, default, int)
    if value < 1:
        raise ConfigError(f"option {key}={value}: expected a positive integer")
    return value


def _read(path: str | Path, what: str, size: int | None, channels: int | None) -> ImageDataset:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{what} path {str(p)!r} does not exist; expected an image folder, IDX files, a pixel CSV "
                        "or an .npz")
    try:
        return read_dataset(p, image_size=size, channels=channels)
    except DataError as exc:
        raise DataError(f"{what}: {exc}") from None


def _relabel(ds: ImageDataset, keep: list[int], source: str) -> ImageDataset:
    """The images of classes `keep`, relabelled 0..len(keep)-1."""
    mask = torch.isin(ds.labels, torch.tensor(keep))
    remap = torch.full((ds.num_classes,), -1, dtype=torch.int64)
    remap[torch.tensor(keep)] = torch.arange(len(keep))
    return ImageDataset(ds.images[mask], remap[ds.labels[mask]], [ds.class_names[k] for k in keep], source)


def _limit(ds: ImageDataset, n: int, seed: int) -> ImageDataset:
    """A stratified subset of at most `n` images."""
    if len(ds) <= n:
        return ds
    keep, _ = stratified_split(ds.labels, (n / len(ds), 1 - n / len(ds)), seed=seed)
    return ds.subset(keep)


def load_data(ctx: TaskContext) -> dict[str, Any]:
    """Source (train/val), target pool and target test `ImageDataset`s at one size and channel count."""
    size = ctx.option("image_size", None, int)
    if size is not None and size < 1:
        raise ConfigError(f"option image_size={size}: expected a positive integer")
    source_path = ctx.option("source")
    target_path = ctx.option("target") or ctx.data_path(kind="any")
    if target_path is None:
        size = size or DIGITS_SIZE
        digits = load_digits_images(image_size=size)
        target = _relabel(digits, [5, 6, 7, 8, 9], "scikit-learn digits 5-9")
        target_text = f"scikit-learn's digits 5-9 (8x8, upscaled to {size}x{size})"
    else:
        target = _read(target_path, "target", size, None)
        target_text = f"`{target_path}`"
        h, w = target.image_size
        if h != w:
            raise ConfigError(f"target images are {w}x{h} (width x height); the networks take square images: pass "
                              "--image-size")
        size = h
    channels = target.channels
    if source_path is None:
        digits = load_digits_images(image_size=size, channels=channels)
        keep = [0, 1, 2, 3, 4] if target_path is None else list(range(10))
        source = _relabel(digits, keep, f"scikit-learn digits {keep[0]}-{keep[-1]}")
        source_text = f"scikit-learn's digits {keep[0]}-{keep[-1]} (8x8, upscaled to {size}x{size})"
    else:
        source = _read(source_path, "source", size, channels)
        source_text = f"`{source_path}`"
    if source.num_classes < 2:
        raise DataError(f"source {source.source} has {source.num_classes} class; pretraining needs at least 2")
    seed = ctx.seed_for("split")
    limit = ctx.option("source_limit", QUICK_SOURCE if ctx.quick else None, int)
    if limit is not None:
        if limit < 2 * source.num_classes:
            raise ConfigError(f"option source_limit={limit}: expected at least 2 images per source class "
                              f"({2 * source.num_classes})")
        source = _limit(source, limit, seed)
    s_train, s_val = stratified_split(source.labels, (0.9, 0.1), seed=seed)
    pool_idx, test_idx = stratified_split(target.labels, (1 - TEST_FRACTION, TEST_FRACTION), seed=seed)
    pool, test = target.subset(pool_idx), target.subset(test_idx)
    if ctx.quick:
        test = _limit(test, QUICK_TEST, seed)
    return {"source_train": source.subset(s_train), "source_val": source.subset(s_val), "pool": pool,
            "test": test, "size": size, "channels": channels, "source_text": source_text,
            "target_text": target_text, "classes": list(target.class_names),
            "source_classes": list(source.class_names)}


def draw_labelled(pool: ImageDataset, per_class: int, val_per_class: int, seed: int
                  ) -> tuple[ImageDataset, ImageDataset]:
    """`per_class` training and up to `val_per_class` validation images of every class, drawn with `seed`.

    Raises:
        DataError: a class with fewer than `per_class` + 1 images left after the test split.
    """
    counts = pool.class_counts()
    for k, c in enumerate(counts):
        if c < per_class + 1:
            raise DataError(f"target class {pool.class_names[k]!r} has {c} image(s) outside the test set; "
                            f"per_class={per_class} needs at least {per_class + 1} (training + validation); lower "
                            "per_class or add images")
    g = torch.Generator().manual_seed(seed)
    train_idx, val_idx = [], []
    for k in range(pool.num_classes):
        idx = torch.nonzero(pool.labels == k).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        train_idx.append(idx[:per_class])
        val_idx.append(idx[per_class:per_class + val_per_class])
    return pool.subset(torch.cat(train_idx).sort().values), pool.subset(torch.cat(val_idx).sort().values)


# --------------------------------------------------------------------------------------------- training
def _build(ctx: TaskContext, arch: str, data: dict[str, Any], classes: int, key: str) -> torch.nn.Module:
    ctx.seed(key)  # each network's initialisation from (run seed, its name)
    try:
        return neuralab.get_model(arch, in_channels=data["channels"], image_size=data["size"], num_classes=classes)
    except ConfigError as exc:
        raise ConfigError(f"arch={arch} with {data['size']}x{data['size']} images: {exc}; pick another arch or a "
                          "larger --image-size") from None


def _fit(ctx: TaskContext, name: str, model: torch.nn.Module, train: ImageDataset, val: ImageDataset,
         norm: Normalizer, epochs: int, batch_size: int, optimizer: torch.optim.Optimizer | None = None):
    trainer = ctx.trainer(name, model, F.cross_entropy, optimizer=optimizer, lr=LR, channels_last=True,
                          metrics={"accuracy": accuracy_from_logits}, checkpoint_every=max(epochs, 1))
    h = ctx.fit(trainer, make_loader(norm(train.images), train.labels, batch_size=batch_size, shuffle=True),
                make_loader(norm(val.images), val.labels, batch_size=512), epochs=epochs)
    return trainer, h


def _test_accuracy(trainer: Any, test: ImageDataset, norm: Normalizer) -> float:
    return trainer.evaluate(make_loader(norm(test.images), test.labels, batch_size=512))["accuracy"]


def pretrain(ctx: TaskContext, arch: str, data: dict[str, Any], epochs: int) -> dict[str, Any]:
    train, val = data["source_train"], data["source_val"]
    norm = Normalizer.fit(train.images)
    model = _build(ctx, arch, data, len(data["source_classes"]), "pretrain")
    t0 = time.perf_counter()
    trainer, h = _fit(ctx, "pretrain", model, train, val, norm, epochs, BATCH_SOURCE)
    return {"model": model, "history": h, "seconds": time.perf_counter() - t0,
            "val_accuracy": float(h.last()["val_accuracy"])}


def _frozen_stage(ctx: TaskContext, arch: str, data: dict[str, Any], source_state: dict[str, torch.Tensor],
                  train: ImageDataset, val: ImageDataset, norm: Normalizer, epochs: int, head_kind: str,
                  head_lr: float, build_key: str, fit_name: str):
    """Stage (a): the pretrained network under a fresh head, everything else frozen, the head trained at
    `head_lr`. Returns (model, head, trainer, history, snapshot of the frozen weights before training)."""
    model = _build(ctx, arch, data, len(data["classes"]), build_key)
    head = "classifier" if head_kind == "classifier" else last_linear(model)
    load_matching(model, source_state, exclude=[head])  # the head keeps its fresh initialisation
    frozen = freeze_all_but(model, head)
    before = snapshot(model, frozen)
    opt = torch.optim.Adam(param_groups(model, head, head_lr, head_lr))
    trainer, h = _fit(ctx, fit_name, model, train, val, norm, epochs, BATCH_TARGET, opt)
    return model, head, trainer, h, before


def choose_head_lr(ctx: TaskContext, arch: str, data: dict[str, Any], source_state: dict[str, torch.Tensor],
                   epochs: int, opts: dict[str, Any]) -> dict[float, float]:
    """head_lr=auto: stage (a) on the first draw's labelled images at each of HEAD_LRS; returns
    {learning rate: final validation accuracy} (the test images are never looked at)."""
    train, val = draw_labelled(data["pool"], opts["per_class"], opts["val_per_class"], ctx.seed_for("draw0"))
    norm = Normalizer.fit(train.images)
    scores = {}
    for lr in HEAD_LRS:
        *_, h, _ = _frozen_stage(ctx, arch, data, source_state, train, val, norm, epochs, opts["head"], lr,
                                 "head0", f"head_lr_probe_{lr:g}")
        scores[lr] = float(h.last()["val_accuracy"])
    return scores


def transfer_once(ctx: TaskContext, arch: str, data: dict[str, Any], source_state: dict[str, torch.Tensor],
                  draw: int, epochs: int, opts: dict[str, Any]) -> dict[str, Any]:
    """One draw of the labelled images, learned three ways (frozen, then fine-tuned; and from scratch)."""
    train, val = draw_labelled(data["pool"], opts["per_class"], opts["val_per_class"],
                               ctx.seed_for(f"draw{draw}"))
    norm = Normalizer.fit(train.images)  # the few labelled images' statistics, the same for all three
    k, lr = len(data["classes"]), opts["lr"]
    out: dict[str, Any] = {"n_train": len(train), "n_val": len(val)}

    # (a) pretrained layers, new head, frozen
    model, head, trainer, h, before = _frozen_stage(ctx, arch, data, source_state, train, val, norm, epochs,
                                                    opts["head"], opts["head_lr"], f"head{draw}", f"frozen{draw}")
    out["trainable_frozen"], out["total"] = count_parameters(model)
    out["frozen_changed"] = changed_parameters(model, before)
    out["frozen_tensors"] = len(before)
    out["frozen"] = {"history": h, "test_accuracy": _test_accuracy(trainer, data["test"], norm)}

    # (b) the same network, everything unfrozen, pretrained layers at a lower rate
    unfreeze(model)
    out["trainable_finetune"], _ = count_parameters(model)
    opt = torch.optim.Adam(param_groups(model, head, lr, lr * opts["backbone_lr_factor"]))
    trainer, h = _fit(ctx, f"finetune{draw}", model, train, val, norm, epochs, BATCH_TARGET, opt)
    out["finetune"] = {"history": h, "test_accuracy": _test_accuracy(trainer, data["test"], norm)}
    if draw == 0:
        out["model"], out["normalizer"] = model, norm

    # (c) the same architecture from scratch, the budget of (a) + (b)
    scratch = _build(ctx, arch, data, k, f"scratch{draw}")
    trainer, h = _fit(ctx, f"scratch{draw}", scratch, train, val, norm, 2 * epochs, BATCH_TARGET,
                      torch.optim.Adam(scratch.parameters(), lr=lr))
    out["scratch"] = {"history": h, "test_accuracy": _test_accuracy(trainer, data["test"], norm)}
    return out


# --------------------------------------------------------------------------------------------- report
def _curves(ctx: TaskContext, runs: list[dict[str, Any]], epochs: int) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2))
    for method, offset in (("frozen", 0), ("finetune", epochs), ("scratch", 0)):
        acc = np.array([r[method]["history"]["val_accuracy"] for r in runs])  # (draws, epochs)
        x = np.arange(1, acc.shape[1] + 1) + offset
        ax.plot(x, acc.mean(0), "-", color=COLORS[method], label=LABELS[method])
        if len(runs) > 1:
            ax.fill_between(x, acc.min(0), acc.max(0), color=COLORS[method], alpha=0.15)
    ax.axvline(epochs + 0.5, color="0.6", ls=":", lw=1)
    ax.text(epochs + 0.7, 0.03, "unfreeze", color="0.4", fontsize="small")
    ax.set_xlabel("epoch on the target's labelled images")
    ax.set_ylabel("validation accuracy")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize="small")
    band = f" (line: mean of {len(runs)} draws; band: min to max)" if len(runs) > 1 else ""
    ctx.report.figure(fig, "transfer_curves", f"Target validation accuracy per epoch{band}. Fine-tuning starts "
                      "from the frozen network's last epoch.")


def _report(ctx: TaskContext, data: dict[str, Any], pre: dict[str, Any], runs: list[dict[str, Any]],
            epochs: int, opts: dict[str, Any]) -> None:
    m: dict[str, Any] = {}
    for method in ("frozen", "finetune", "scratch"):
        accs = [r[method]["test_accuracy"] for r in runs]
        m[f"{method}_test_accuracies"] = accs
        m[f"{method}_test_accuracy"] = float(np.mean(accs))
    gains = [a - b for a, b in zip(m["finetune_test_accuracies"], m["scratch_test_accuracies"], strict=True)]
    best = [max(r["frozen"]["test_accuracy"], r["finetune"]["test_accuracy"]) - r["scratch"]["test_accuracy"]
            for r in runs]
    changed = sorted({n for r in runs for n in r["frozen_changed"]})
    m.update(transfer_gain=float(np.mean(gains)), best_transfer_gain=float(np.mean(best)),
             frozen_params_unchanged=not changed, frozen_param_tensors=runs[0]["frozen_tensors"],
             frozen_params_changed=changed, trainable_params_frozen=runs[0]["trainable_frozen"],
             trainable_params_finetune=runs[0]["trainable_finetune"], total_params=runs[0]["total"],
             source_val_accuracy=pre["val_accuracy"], pretrain_seconds=pre["seconds"],
             n_source=len(data["source_train"]), n_source_val=len(data["source_val"]),
             n_target_train=runs[0]["n_train"], n_target_val=runs[0]["n_val"], n_target_test=len(data["test"]),
             epochs=epochs, source_epochs=len(pre["history"]), seeds=len(runs), arch=opts["arch"],
             head=opts["head"], head_lr=opts["head_lr"],
             head_lr_validation={f"{k:g}": v for k, v in opts["head_lr_scores"].items()},
             per_class=opts["per_class"], image_size=data["size"],
             channels=data["channels"], target_classes=len(data["classes"]))
    ctx.report.add_metrics(**m)

    r = ctx.report
    r.say(f"test accuracy with {opts['per_class']} labelled images per class ({len(runs)} draw(s)): frozen "
          f"{m['frozen_test_accuracy']:.1%}, fine-tuned {m['finetune_test_accuracy']:.1%}, from scratch "
          f"{m['scratch_test_accuracy']:.1%}")
    r.say(f"frozen weights bit-identical after training: {m['frozen_params_unchanged']} "
          f"({m['frozen_param_tensors']} tensors checked)")
    r.heading("1. Data")
    r.text(f"Source: {data['source_text']}, {len(data['source_classes'])} classes, {m['n_source']} training and "
           f"{m['n_source_val']} validation images. Target: {data['target_text']}, {m['target_classes']} classes; "
           f"{m['n_target_test']} images ({TEST_FRACTION:.0%}, stratified) held out as the test set, and from the "
           f"rest {opts['per_class']} labelled training images per class ({m['n_target_train']} in all) and "
           f"{m['n_target_val']} validation images for the curves (no model is selected on them: every method is "
           f"tested after its last epoch). All images are {data['channels']}x{data['size']}x{data['size']} "
           "(channels x height x width); source images are read at the target's size and channel count.")
    r.heading("2. Pretraining on the source")
    r.text(f"`{opts['arch']}` trained {m['source_epochs']} epochs on the source (Adam, learning rate {LR}, batches "
           f"of {BATCH_SOURCE}) in {m['pretrain_seconds']:.1f} s: source validation accuracy "
           f"{m['source_val_accuracy']:.1%}.")
    r.history(pre["history"], name="pretrain_history", title="Pretraining on the source: loss")
    r.heading("3. Three ways to learn the target from few labels")
    chosen = ""
    if opts["head_lr_scores"]:
        chosen = (", chosen by stage (a)'s final validation accuracy on draw 1: " + ", ".join(
            f"{lr:g} → {acc:.1%}" for lr, acc in opts["head_lr_scores"].items()))
    what = ("its output layer replaced by a new one for the target's classes and every other layer frozen"
            if opts["head"] == "output" else "its dense classifier replaced by a freshly initialised one for the "
            "target's classes and the convolutional layers frozen")
    r.text(f"(a) The pretrained network with {what}: {m['trainable_params_frozen']:,} of {m['total_params']:,} "
           f"parameters train, for {epochs} epochs (Adam, learning rate {opts['head_lr']:g}{chosen}, batches of "
           f"{BATCH_TARGET}). (b) Then every layer "
           f"unfrozen ({m['trainable_params_finetune']:,} parameters), the head at {opts['lr']} and the pretrained "
           f"layers at {opts['lr'] * opts['backbone_lr_factor']:g}, for {epochs} more epochs. (c) The same "
           f"architecture from a fresh initialisation on the same images for {2 * epochs} epochs, the budget of "
           "(a) and (b) together.")
    _curves(ctx, runs, epochs)
    rows = [[i + 1, f"{run['frozen']['test_accuracy']:.1%}", f"{run['finetune']['test_accuracy']:.1%}",
             f"{run['scratch']['test_accuracy']:.1%}"] for i, run in enumerate(runs)]
    rows.append(["mean", f"{m['frozen_test_accuracy']:.1%}", f"{m['finetune_test_accuracy']:.1%}",
                 f"{m['scratch_test_accuracy']:.1%}"])
    r.table(["draw", "(a) frozen", "(b) fine-tuned", "(c) scratch"], rows,
            caption=f"Test accuracy on the {m['n_target_test']} held-out target images; each draw is another "
                    "choice of the labelled images and another initialisation of the new layers.")
    spread = max(max(m[f"{k}_test_accuracies"]) - min(m[f"{k}_test_accuracies"])
                 for k in ("frozen", "finetune", "scratch"))
    m["draw_spread"] = spread
    ctx.report.add_metrics(draw_spread=spread)
    verdict = "beats" if m["transfer_gain"] > 0 else "does not beat"
    r.text(f"With {opts['per_class']} labelled images per class the fine-tuned pretrained network scores "
           f"{m['finetune_test_accuracy']:.1%} and the same network trained from scratch "
           f"{m['scratch_test_accuracy']:.1%}: {100 * m['transfer_gain']:+.1f} points (per draw "
           f"{', '.join(f'{100 * g:+.1f}' for g in gains)}), so here transfer {verdict} training from scratch. "
           f"The frozen network alone reaches {m['frozen_test_accuracy']:.1%} "
           f"({100 * (m['frozen_test_accuracy'] - m['scratch_test_accuracy']):+.1f} points). For scale: one "
           f"method's test accuracy varies by up to {100 * spread:.1f} points from one draw of the labelled "
           "images to another.")
    r.heading("4. Frozen means frozen")
    r.text(f"Before stage (a) the {m['frozen_param_tensors']} frozen parameter tensors were copied; after "
           f"{epochs} epochs of training every one of them is bit-identical (torch.equal) to its copy: "
           f"{m['frozen_params_unchanged']}"
           + (f" (changed: {', '.join(changed)})." if changed else ".")
           + " Frozen parameters get `requires_grad = False`, so backpropagation computes no gradient for them, "
             "and they are not in the optimizer; frozen batch-norm layers also keep their running statistics.")
    model = runs[0]["model"]
    neuralab.save_model(model, ctx.run_dir / "model", extra={
        "kind": "image-classifier", "classes": data["classes"], "normalizer": runs[0]["normalizer"].to_dict(),
        "image_size": data["size"], "channels": data["channels"]})
    r.heading("5. Saved model")
    r.text("The fine-tuned network of draw 1 is saved in `model/` (config.json + model.safetensors, with the class "
           "names, image size, channels and normalisation in config.json's `extra`); `neuralab predict "
           "runs/transfer/<run>/model IMAGE...` classifies new images with it.")


# --------------------------------------------------------------------------------------------- task
@register_task("transfer", "transfer learning: pretrain a CNN on a source set, then learn a target from 10 labelled "
               "images per class with frozen layers, fine-tuned at a lower rate, and from scratch",
               default_data="scikit-learn's digits 0-4 -> 5-9 (embedded); --set source=PATH target=PATH",
               title="Transfer learning: frozen, fine-tuned and from scratch", options=OPTIONS)
def run(ctx: TaskContext) -> None:
    opts = {"arch": require_image_classifier(ctx.option("arch", DEFAULT_ARCH)),
            "per_class": _positive_int(ctx, "per_class", 10),
            "val_per_class": _positive_int(ctx, "val_per_class", 20),
            "seeds": _positive_int(ctx, "seeds", 1 if ctx.quick else 3),
            "head": ctx.option("head", "classifier"),
            "lr": ctx.option("lr", LR, float),
            "head_lr": ctx.option("head_lr", "auto"),
            "backbone_lr_factor": ctx.option("backbone_lr_factor", 0.1, float)}
    if opts["head"] not in ("classifier", "output"):
        raise ConfigError(f"option head={opts['head']!r}: expected 'classifier' or 'output'")
    if opts["head_lr"] != "auto":
        try:
            opts["head_lr"] = float(opts["head_lr"])
        except ValueError:
            raise ConfigError(f"option head_lr={opts['head_lr']!r}: expected a positive number or auto") from None
    opts["head_lr_scores"] = {}
    for key in ("lr", "head_lr", "backbone_lr_factor"):
        if opts[key] != "auto" and not opts[key] > 0:
            raise ConfigError(f"option {key}={opts[key]}: expected a positive number")
    source_epochs = _positive_int(ctx, "source_epochs", 3 if ctx.quick else 10)
    epochs = ctx.epochs(full=30, quick=8)
    # Networks this small on batches of 16 gain nothing from intra-op threads; on the shared 2-core machine one
    # thread trained 800 16x16 images 5.6x faster than two (0.15 s vs 0.87 s an epoch).
    with cpu_threads(1, ctx.device):
        data = load_data(ctx)
        pre = pretrain(ctx, opts["arch"], data, source_epochs)
        state = {k: v.detach().cpu() for k, v in pre["model"].state_dict().items()}
        if opts["head_lr"] == "auto":
            opts["head_lr_scores"] = choose_head_lr(ctx, opts["arch"], data, state, epochs, opts)
            opts["head_lr"] = max(HEAD_LRS, key=lambda lr: opts["head_lr_scores"][lr])  # ties: the first
        runs = [transfer_once(ctx, opts["arch"], data, state, d, epochs, opts) for d in range(opts["seeds"])]
        _report(ctx, data, pre, runs, epochs, opts)
