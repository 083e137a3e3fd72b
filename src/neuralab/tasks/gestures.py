"""Hand-gesture recognition with a CNN (course mini-project), and the image predictor behind `neuralab predict`.

1. Data: scikit-learn's digits (embedded) or the user's images (`--data`: a folder with one sub-folder per
   class, MNIST IDX files, a Kaggle pixel CSV or an .npz; see `neuralab.data.images.read_dataset`). Without
   `test_file` the set is split stratified with the run's seed: 80% train / 20% test, and 10% of the train part
   held out for validation (72/8/20). With `test_file` (e.g. MNIST's official t10k IDX) that file is the test
   set and 10% of `--data` is the validation set. Normalisation statistics come from the train part only.
2. Training: any image model of the registry (`--arch`, default `gesture-cnn`), Adam with a cosine-decaying
   learning rate, cross-entropy, optional augmentation of the training batches (`--augment rotate=10,...`,
   kornia, on the device), early stopping on the validation loss with the best epoch's weights restored.
   Options (`--set key=value`, or `--arch`, `--augment`, `--image-size`): see `OPTIONS`; `train_limit` keeps a
   stratified subset of the training part, `threads` the torch CPU threads (default 1, measured faster on a busy
   machine).
3. Evaluation on the test set: accuracy, per-class precision/recall/F1 and TPR/TNR/FPR, macro and weighted F1,
   one-vs-rest ROC curves with AUC, the confusion matrix as an image, a grid of misclassified test images.
4. The model is saved as `model/` (config.json + model.safetensors) with `extra.kind = "image-classifier"`, the
   class names, the normalisation statistics, the image size and channels; `predict_images` (called by
   `neuralab predict MODEL_DIR IMAGE...`) reads new images with Pillow and returns class probabilities.

Metrics (metrics.json): `test_accuracy`, `macro_f1`, `weighted_f1`, `macro_precision`, `macro_recall`,
`roc_auc_ovr_macro`, `roc_auc_ovr_weighted`, `train_seconds`, `epochs_run`, `best_epoch`, `val_accuracy`,
`per_class` ({class: precision, recall, f1, support, tpr, tnr, fpr, auc}), `confusion_matrix`, `n_train`,
`n_val`, `n_test`, `n_misclassified`, `arch`, `num_params`, `augment`, `image_size`, `channels`, `normalizer`,
`batch_size`, `lr`, `seconds_per_epoch`.

Shape legend: images (N, C, H, W) float32, C = 1 or 3, H = W = image_size; labels (N,) int64; logits (N, K).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import neuralab
from neuralab.data.augment import augmentation_grid, build_augmentation, parse_augment_spec
from neuralab.data.images import ImageDataset, Normalizer, load_digits_images, read_dataset, stratified_split
from neuralab.errors import ConfigError, DataError
from neuralab.metrics import accuracy_from_logits, classification_metrics
from neuralab.models.registry import require_image_classifier
from neuralab.tasks.base import TaskContext, register_task
from neuralab.train import EarlyStopping, make_loader
from neuralab.utils import atomic_write_text, cpu_threads

DEFAULT_ARCH = "gesture-cnn"
DIGITS_SIZE = 28  # the 8x8 digits are upscaled to the MNIST size the course's networks are drawn for
TEST_FRACTION, VAL_FRACTION = 0.2, 0.1  # test: of all the data; validation: of what is left for training
QUICK_TRAIN, QUICK_TEST = 2000, 1000  # --quick on a user's data set trains and tests on at most this many
PATIENCE = 5
OPTIONS = {
    "arch": f"image model from the registry (default {DEFAULT_ARCH}; also lenet5, alexnet, vgg, resnet, googlenet)",
    "augment": "training-batch augmentation spec, e.g. rotate=10,scale=0.1,flip=h,noise=0.05 (default none)",
    "image_size": "square side the images are resized to (default: the data's own; digits 28)",
    "batch_size": "training batch size (default 64)",
    "lr": "Adam learning rate at the start of the cosine decay (default 0.002)",
    "test_file": "a separate test set (folder, IDX file or folder, CSV, npz) instead of a 20% split of --data",
    "train_limit": "use only N training examples (a stratified subset of the training part)",
    "patience": "early-stopping patience in epochs on the validation loss (default: max(5, epochs / 4))",
    "threads": "torch CPU threads while the task runs (default 1: on a busy 2-core CPU one trained 7x faster than two)",
}


# --------------------------------------------------------------------------------------------- options, data
def _positive(key: str, value: float) -> float:
    if not value > 0:
        raise ConfigError(f"option {key}={value!r}: expected a number > 0")
    return value


def _read(ctx: TaskContext, path: Path | str, what: str, size: int | None, channels: int | None = None,
          split: str = "train") -> ImageDataset:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} {str(path)!r} does not exist; expected an image folder, IDX files, a .csv or a .npz")
    ds = read_dataset(path, image_size=size, channels=channels, split=split)
    h, w = ds.image_size
    if h != w:
        raise ConfigError(f"{path}: images are {w}x{h} (width x height); the networks take square images: pass "
                          f"--image-size N to resize them")
    return ds


def _subset(ds: ImageDataset, n: int, seed: int) -> ImageDataset:
    """A stratified subset of about `n` examples (all of `ds` if it has no more)."""
    if n >= len(ds):
        return ds
    keep, _ = stratified_split(ds.labels, (n / len(ds), 1 - n / len(ds)), seed=seed)
    return ds.subset(keep)


def _align_classes(test: ImageDataset, classes: list[str], where: str) -> ImageDataset:
    """Relabel `test` with the training set's class indices (by class name)."""
    unknown = [c for c in test.class_names if c not in classes]
    if unknown:
        raise DataError(f"test_file {where} has class(es) {', '.join(unknown[:5])} that the training data does not "
                        f"have (training classes: {', '.join(classes)})")
    index = torch.tensor([classes.index(c) for c in test.class_names], dtype=torch.int64)
    return ImageDataset(test.images, index[test.labels], list(classes), test.source)


def load_data(ctx: TaskContext) -> dict[str, Any]:
    """Train/val/test `ImageDataset`s, the normaliser (train statistics) and a description of where they came from."""
    size = ctx.option("image_size", None, int)
    if size is not None and size < 1:
        raise ConfigError(f"option image_size={size}: expected a positive integer")
    path = ctx.data_path(kind="any")
    seed = ctx.seed_for("split")
    if path is None:
        ds = load_digits_images(image_size=size or DIGITS_SIZE)
        source = f"scikit-learn's digits (1,797 8x8 handwritten digits, upscaled to {size or DIGITS_SIZE}x" \
                 f"{size or DIGITS_SIZE})"
    else:
        ds = _read(ctx, path, "--data", size)
        source = f"`{path}`"
    test_file = ctx.option("test_file")
    if test_file:
        test = _read(ctx, test_file, "test_file", ds.image_size[0], ds.channels, split="test")
        test = _align_classes(test, ds.class_names, str(test_file))
        pool, split_text = ds, f"the separate test set `{test_file}`"
    else:
        train_idx, test_idx = stratified_split(ds.labels, (1 - TEST_FRACTION, TEST_FRACTION), seed=seed)
        pool, test = ds.subset(train_idx), ds.subset(test_idx)
        split_text = f"a stratified {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} train/test split (seed {seed})"
    limit = ctx.option("train_limit", None, int)
    if limit is not None:
        if limit < 2 * ds.num_classes:
            raise ConfigError(f"option train_limit={limit}: expected at least 2 per class "
                              f"({2 * ds.num_classes} for {ds.num_classes} classes)")
        pool = _subset(pool, limit, seed)
    if ctx.quick and path is not None:
        pool, test = _subset(pool, QUICK_TRAIN, seed), _subset(test, QUICK_TEST, seed)
    train_idx, val_idx = stratified_split(pool.labels, (1 - VAL_FRACTION, VAL_FRACTION), seed=seed)
    train, val = pool.subset(train_idx), pool.subset(val_idx)
    return {"train": train, "val": val, "test": test, "normalizer": Normalizer.fit(train.images),
            "source": source, "split": split_text, "classes": list(ds.class_names)}


# --------------------------------------------------------------------------------------------- training
def _train(ctx: TaskContext, data: dict[str, Any], arch: str, aug_spec: str) -> dict[str, Any]:
    train, val = data["train"], data["val"]
    norm: Normalizer = data["normalizer"]
    epochs = ctx.epochs(15, 5)
    batch_size = ctx.option("batch_size", 64, int)
    if batch_size < 1:
        raise ConfigError(f"option batch_size={batch_size}: expected a positive integer")
    lr = _positive("lr", ctx.option("lr", 2e-3, float))
    ctx.seed("model")
    try:
        model = neuralab.get_model(arch, in_channels=train.channels, image_size=train.image_size[0],
                                   num_classes=len(data["classes"]))
    except ConfigError as exc:
        raise ConfigError(f"--arch {arch} with {train.image_size[0]}x{train.image_size[0]} images: {exc}; pick "
                          "another --arch or a larger --image-size") from None
    aug = build_augmentation(parse_augment_spec(aug_spec), train.channels).to(ctx.device)

    def transform(x: torch.Tensor) -> torch.Tensor:
        # the training tensors stay in [0, 1] so augmentation sees real pixels; normalise after it
        return norm(aug(x))

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=lr / 50)
    patience = ctx.option("patience", max(PATIENCE, epochs // 4), int)
    if patience < 1:
        raise ConfigError(f"option patience={patience}: expected a positive integer")
    stopper = EarlyStopping(monitor="val_loss", patience=patience, restore_best=True)
    trainer = ctx.trainer("gestures", model, F.cross_entropy, optimizer=opt, scheduler=sched, callbacks=[stopper],
                          metrics={"accuracy": accuracy_from_logits}, channels_last=True, batch_transform=transform)
    train_loader = make_loader(train.images, train.labels, batch_size=batch_size, shuffle=True)
    val_loader = make_loader(norm(val.images), val.labels, batch_size=512)
    t0 = time.perf_counter()
    history = ctx.fit(trainer, train_loader, val_loader, epochs=epochs)
    seconds = time.perf_counter() - t0
    best = stopper.best_epoch if stopper.best_epoch is not None else len(history) - 1
    return {"model": trainer.model, "trainer": trainer, "history": history, "seconds": seconds, "aug": aug,
            "epochs": epochs, "batch_size": batch_size, "lr": lr, "patience": patience, "best_epoch": best + 1,
            "val_accuracy": float(history["val_accuracy"][best])}


@torch.no_grad()
def _probabilities(trainer: Any, images: torch.Tensor, labels: torch.Tensor, norm: Normalizer) -> torch.Tensor:
    logits, _ = trainer.predict(make_loader(norm(images), labels, batch_size=512))
    return torch.softmax(logits, dim=1)  # (N, K)


# --------------------------------------------------------------------------------------------- report
def _data_section(ctx: TaskContext, data: dict[str, Any], arch: str, model: torch.nn.Module, fit: dict[str, Any],
                  aug_spec: str) -> None:
    r = ctx.report
    tr, va, te = data["train"], data["val"], data["test"]
    n_params = sum(p.numel() for p in model.parameters())
    norm: Normalizer = data["normalizer"]
    r.heading("1. Data and model")
    r.text(f"Data: {data['source']}, {len(data['classes'])} classes, {tr.channels}-channel "
           f"{tr.image_size[0]}x{tr.image_size[1]} images. Test set: {data['split']}; 10% of the rest, stratified, is "
           f"the validation set that early stopping watches. Pixels are standardised per channel with the training "
           f"part's mean {', '.join(f'{m:.4f}' for m in norm.mean)} and standard deviation "
           f"{', '.join(f'{s:.4f}' for s in norm.std)}.")
    r.table(["part", "images"] + (["smallest class", "largest class"]),
            [[name, len(ds), min(ds.class_counts()), max(ds.class_counts())]
             for name, ds in (("train", tr), ("validation", va), ("test", te))])
    r.text(f"Model: `{arch}` ({n_params:,} parameters), trained with Adam (learning rate {fit['lr']:g} decaying "
           f"along a cosine to {fit['lr'] / 50:g} over {fit['epochs']} epochs), batches of {fit['batch_size']}, "
           f"cross-entropy, channels-last memory format; early stopping on the validation loss (patience "
           f"{fit['patience']}) restores the best epoch's weights. Augmentation of the training batches: "
           f"{'none' if aug_spec == 'none' else '`' + aug_spec + '`'}.")
    ctx.report.add_metrics(arch=arch, num_params=n_params, n_train=len(tr), n_val=len(va), n_test=len(te),
                           n_classes=len(data["classes"]), classes=data["classes"], image_size=tr.image_size[0],
                           channels=tr.channels, normalizer=norm.to_dict(), augment=aug_spec,
                           batch_size=fit["batch_size"], lr=fit["lr"], dataset=data["source"])


def _augment_section(ctx: TaskContext, data: dict[str, Any], aug: torch.nn.Module, spec: str) -> None:
    images = data["train"].images
    picks = [int(torch.nonzero(data["train"].labels == k)[0]) for k in range(len(data["classes"]))
             if bool((data["train"].labels == k).any())][:8]
    fig = augmentation_grid(images[picks].to(ctx.device), aug, n=4, columns=8)
    ctx.report.heading("Augmentation")
    ctx.report.figure(fig, "augmentation_grid", f"Top row: training images; below: four random augmentations "
                                                f"of each with `{spec}`, as the network sees them while training.")


def _curves_section(ctx: TaskContext, fit: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    h = fit["history"]
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax_l.plot(h["epoch"], h["train_loss"], "o-", label="train")
    ax_l.plot(h["epoch"], h["val_loss"], "o-", label="validation")
    ax_l.set_title("cross-entropy loss")
    ax_l.set_yscale("log")
    ax_a.plot(h["epoch"], h["val_accuracy"], "o-", color="tab:orange", label="validation")
    ax_a.axvline(fit["best_epoch"], color="0.6", ls="--", label=f"best epoch ({fit['best_epoch']})")
    ax_a.set_title("validation accuracy")
    for ax in (ax_l, ax_a):
        ax.set_xlabel("epoch")
        ax.legend()
    m = ctx.report.metrics
    ctx.report.heading("2. Learning curves")
    ctx.report.figure(fig, "learning_curves", "Training and validation loss (left, log scale) and validation "
                                              "accuracy (right) per epoch.")
    ctx.report.text(f"{m['epochs_run']} epochs in {m['train_seconds']:.1f} s ({m['seconds_per_epoch']:.2f} s per "
                    f"epoch on {ctx.device.type}). The training loss went from {h['train_loss'][0]:.3g} to "
                    f"{h['train_loss'][-1]:.3g}; the best validation loss was at epoch {fit['best_epoch']} "
                    f"(validation accuracy {fit['val_accuracy']:.2%}), and those weights were kept.")
    atomic_write_text(ctx.run_dir / "history.csv", h.to_csv())  # the plot above is the learning curve


def _evaluation_section(ctx: TaskContext, data: dict[str, Any], probs: torch.Tensor) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    classes, test = data["classes"], data["test"]
    y_true, y_pred = test.labels.numpy(), probs.argmax(dim=1).numpy()
    res = classification_metrics(y_true, y_pred, probs.numpy(), labels=np.arange(len(classes)),
                                 class_names=classes)
    per_class = res["per_class"]
    for name, curve in res["roc_curve"].items():
        per_class[name]["auc"] = curve["auc"]
    m = {"test_accuracy": res["accuracy"], "macro_f1": res["macro"]["f1"], "weighted_f1": res["weighted"]["f1"],
         "macro_precision": res["macro"]["precision"], "macro_recall": res["macro"]["recall"],
         "weighted_precision": res["weighted"]["precision"], "weighted_recall": res["weighted"]["recall"],
         "macro_tpr": res["macro"]["tpr"], "macro_tnr": res["macro"]["tnr"], "macro_fpr": res["macro"]["fpr"],
         "roc_auc_ovr_macro": res.get("roc_auc_ovr_macro"), "roc_auc_ovr_weighted": res.get("roc_auc_ovr_weighted"),
         "per_class": per_class, "confusion_matrix": res["confusion_matrix"],
         "n_misclassified": int((y_true != y_pred).sum())}
    ctx.report.add_metrics(**m)
    r = ctx.report
    r.heading("3. Test-set evaluation")
    auc = m["roc_auc_ovr_macro"]
    r.text(f"On {len(y_true)} test images the network is right {m['test_accuracy']:.2%} of the time "
           f"({m['n_misclassified']} mistakes). Macro-averaged F1 (every class counts the same) is "
           f"{m['macro_f1']:.4f}, "
           f"weighted F1 (by class support) {m['weighted_f1']:.4f}; macro precision {m['macro_precision']:.4f}, macro "
           f"recall (TPR) {m['macro_recall']:.4f}, macro TNR {m['macro_tnr']:.4f}, macro FPR {m['macro_fpr']:.4g}"
           + (f"; one-vs-rest ROC-AUC {auc:.4f} (macro)." if auc is not None else "."))
    r.table(["class", "precision", "recall = TPR", "F1", "TNR", "FPR", "AUC", "support"],
            [[n, f"{c['precision']:.4f}", f"{c['recall']:.4f}", f"{c['f1']:.4f}", f"{c['tnr']:.4f}",
              f"{c['fpr']:.4f}", f"{c['auc']:.4f}" if "auc" in c else "-", c["support"]] for n, c in per_class.items()]
            + [["macro", f"{m['macro_precision']:.4f}", f"{m['macro_recall']:.4f}", f"{m['macro_f1']:.4f}",
                f"{m['macro_tnr']:.4f}", f"{m['macro_fpr']:.4f}", f"{auc:.4f}" if auc is not None else "-",
                len(y_true)],
               ["weighted", f"{m['weighted_precision']:.4f}", f"{m['weighted_recall']:.4f}", f"{m['weighted_f1']:.4f}",
                "", "", "", len(y_true)]],
            caption="Per class, one class against the rest: precision = TP/(TP+FP), recall = TPR = TP/(TP+FN), "
                    "F1 = 2PR/(P+R), TNR = TN/(TN+FP), FPR = FP/(FP+TN); AUC of the class's ROC curve.")

    # one-vs-rest ROC curves: the whole square, and the top-left corner where good classifiers differ
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(11, 4.8))
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    low = 1.0
    for i, (name, curve) in enumerate(res["roc_curve"].items()):
        for a in (ax, zoom):
            a.plot(curve["fpr"], curve["tpr"], lw=1, color=cmap(i % cmap.N),
                   label=f"{name} ({curve['auc']:.4f})" if a is ax else None)
        fpr, tpr = np.asarray(curve["fpr"]), np.asarray(curve["tpr"])
        low = min(low, float(np.interp(0.002, fpr, tpr)))
    ax.plot([0, 1], [0, 1], ":", color="0.6")
    zoom.set_xlim(-0.001, 0.05)
    zoom.set_ylim(max(0.0, low - 0.02), 1.002)
    ax.set_title("one-vs-rest ROC curves (AUC)")
    zoom.set_title("zoom: false positive rate <= 0.05")
    for a in (ax, zoom):
        a.set_xlabel("false positive rate")
        a.set_ylabel("true positive rate")
    ax.legend(fontsize=6, ncol=2 if len(classes) > 12 else 1, loc="lower right")
    r.figure(fig, "roc_curves", "ROC curve of every class against the rest, from the softmax probability of the "
                                "class; the legend gives each AUC. Right: the top-left corner enlarged.")

    # confusion matrix
    cm = np.asarray(res["confusion_matrix"])
    fig, ax = plt.subplots(figsize=(max(4.5, 0.32 * len(classes) + 2),) * 2)
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, fontsize=7, rotation=90 if len(classes) > 12 else 0)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(classes) <= 30:
        for (i, j), v in np.ndenumerate(cm):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=6,
                        color="white" if v > cm.max() / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    r.figure(fig, "confusion_matrix", "Confusion matrix of the test set: rows are true classes, columns predicted.")
    return m


def _misclassified_section(ctx: TaskContext, data: dict[str, Any], probs: torch.Tensor, n: int = 24) -> None:
    import matplotlib.pyplot as plt

    test, classes = data["test"], data["classes"]
    pred = probs.argmax(dim=1)
    wrong = torch.nonzero(pred != test.labels).flatten()
    r = ctx.report
    r.heading("4. Misclassified test images")
    if len(wrong) == 0:
        r.text("Every test image is classified correctly: there is nothing to show.")
        return
    # the most confident mistakes first: those say most about what the network learned wrong
    conf = probs[wrong, pred[wrong]]
    wrong = wrong[conf.argsort(descending=True)][:n]
    # one mosaic image with the labels as text: 24 separate axes took 1.8 s to draw, this a tenth of it
    cols = min(8, len(wrong))
    rows = -(-len(wrong) // cols)
    _, h, w = test.images.shape[1:]
    gap_x, gap_y = max(2, w // 6), max(6, (9 * h) // 20)  # room between tiles and for two lines of label
    tiles = np.ones((rows * (h + gap_y), cols * (w + gap_x), 3), dtype=np.float32)  # white background
    fig, ax = plt.subplots(figsize=(1.25 * cols, 1.25 * rows * (h + gap_y) / (w + gap_x)))
    for n, i in enumerate(wrong.tolist()):
        top, left = (n // cols) * (h + gap_y) + gap_y, (n % cols) * (w + gap_x) + gap_x // 2
        img = test.images[i].permute(1, 2, 0).numpy()  # (C, H, W) -> (H, W, C); gray repeats to RGB
        tiles[top:top + h, left:left + w] = img if img.shape[2] == 3 else np.repeat(img, 3, axis=2)
        ax.text(left + w / 2, top - 1, f"pred {classes[int(pred[i])]} ({float(probs[i, pred[i]]):.2f})\n"
                f"true {classes[int(test.labels[i])]}", ha="center", va="bottom", fontsize=6.5)
    ax.imshow(tiles, interpolation="nearest")
    ax.axis("off")
    r.figure(fig, "misclassified", f"The {len(wrong)} most confident mistakes of the {int((pred != test.labels).sum())}"
                                   " on the test set: predicted class (its probability) and true class.")


# --------------------------------------------------------------------------------------------- task
@register_task("gestures", "hand-gesture recognition with a CNN: any registry image model, augmentation, "
               "per-class metrics, ROC, confusion matrix, misclassified examples; a saved predictor",
               default_data="scikit-learn's digits (embedded); --data image folder / IDX / pixel CSV / npz",
               title="Hand-gesture recognition with a CNN", options=OPTIONS)
def run(ctx: TaskContext) -> None:
    arch = require_image_classifier(ctx.option("arch", DEFAULT_ARCH))
    aug_spec = parse_augment_spec(ctx.option("augment")).to_spec()  # a bad spec fails before any data is read
    threads = ctx.option("threads", 1, int)
    if threads < 1:
        raise ConfigError(f"option threads={threads}: expected a positive integer")
    # One thread by default: on a shared 2-core machine (load ~7) an epoch of gesture-cnn over 10,000
    # Fashion-MNIST images took 8.8 s with one thread and 63 s with two, the threads waiting on each other.
    # On an idle machine with many cores, pass threads=N. Restored afterwards.
    with cpu_threads(threads, ctx.device):
        _run(ctx, arch, aug_spec)


def _run(ctx: TaskContext, arch: str, aug_spec: str) -> None:
    data = load_data(ctx)
    fit = _train(ctx, data, arch, aug_spec)
    model, h = fit["model"], fit["history"]
    ctx.report.add_metrics(train_seconds=fit["seconds"], epochs_run=len(h), epochs=fit["epochs"],
                           seconds_per_epoch=fit["seconds"] / len(h), best_epoch=fit["best_epoch"],
                           val_accuracy=fit["val_accuracy"])
    _data_section(ctx, data, arch, model, fit, aug_spec)
    if aug_spec != "none":
        _augment_section(ctx, data, fit["aug"], aug_spec)
    _curves_section(ctx, fit)
    probs = _probabilities(fit["trainer"], data["test"].images, data["test"].labels, data["normalizer"])
    m = _evaluation_section(ctx, data, probs)
    _misclassified_section(ctx, data, probs)

    r = ctx.report
    r.heading("5. Saved model")
    model_dir = ctx.run_dir / "model"
    neuralab.save_model(model, model_dir, extra={
        "kind": "image-classifier", "classes": data["classes"], "normalizer": data["normalizer"].to_dict(),
        "image_size": data["train"].image_size[0], "channels": data["train"].channels})
    r.text(f"The network is saved in `model/` (config.json + model.safetensors); config.json's `extra` holds the "
           f"class names, the image size and channels, and the training mean and standard deviation. Classify new "
           f"images with `neuralab predict {model_dir} IMAGE...`.")
    r.say(f"{arch}: test accuracy {m['test_accuracy']:.2%}, macro F1 {m['macro_f1']:.4f}, weighted F1 "
          f"{m['weighted_f1']:.4f} on {len(data['test'])} test images")
    r.say(f"trained {len(h)} epochs in {fit['seconds']:.1f} s (best epoch {fit['best_epoch']}, validation accuracy "
          f"{fit['val_accuracy']:.2%})")


# --------------------------------------------------------------------------------------------- predictor
def _read_image(path: str, channels: int, size: int) -> torch.Tensor:
    """One image file -> (channels, size, size) float in [0, 1], as the training images were prepared."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise DataError(f"image {path!r} does not exist (or is not a file)")
    try:
        with Image.open(p) as img:
            img = img.convert("L" if channels == 1 else "RGB")  # L: ITU-R 601 luma, as the folder reader
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: Pillow cannot read this image ({exc}); expected a PNG, JPG or other image "
                        "file") from None
    x = torch.from_numpy(arr)
    return x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)  # (H, W) -> (1, H, W); (H, W, 3) -> (3, H, W)


def predict_images(model_dir: Path, inputs: list[str], device: str) -> list[Any]:
    """Classify image files with a model saved by the `gestures` task.

    Args:
        model_dir: a model directory whose config.json has `extra.kind == "image-classifier"`.
        inputs: image file paths (any format Pillow reads; converted to the model's channels and size).
        device: `auto|cpu|cuda|mps`.

    Returns:
        One `neuralab.predict.Prediction` per input: the most probable class and every class's softmax probability.

    Raises:
        DataError: a missing or unreadable image (named), or a model directory without the stored preprocessing.
    """
    from neuralab.predict import Prediction
    from neuralab.utils import resolve_device

    dev = resolve_device(device)
    model = neuralab.load_model(model_dir, device=dev)
    extra = getattr(model, "extra", {}) or {}
    try:
        classes = [str(c) for c in extra["classes"]]
        norm = Normalizer.from_dict(extra["normalizer"])
        size, channels = int(extra["image_size"]), int(extra["channels"])
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise DataError(f"{Path(model_dir) / 'config.json'}: extra needs classes, normalizer, image_size and "
                        f"channels ({exc})") from None
    x = torch.stack([_read_image(p, channels, size) for p in inputs])  # (N, C, size, size)
    with torch.no_grad():
        probs = torch.softmax(model(norm(x).to(dev)).float(), dim=1).cpu()  # (N, K)
    out = []
    for path, row in zip(inputs, probs, strict=True):
        k = int(row.argmax())
        out.append(Prediction(path, classes[k], float(row[k]), {c: float(v) for c, v in zip(classes, row.tolist(),
                                                                                              strict=True)}))
    return out
