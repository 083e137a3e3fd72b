"""Evaluation metrics, computed by scikit-learn (never hand-counted), named as the course names them.

Binary counts from the confusion matrix [[TN, FP], [FN, TP]] give the course's formulas:

    Accuracy  = (TP + TN) / (TP + FP + TN + FN)
    Precision = TP / (TP + FP)
    Recall    = TPR = TP / (TP + FN)        (sensitivity)
    F1        = 2 P R / (P + R)
    TNR       = TN / (TN + FP)              (specificity)
    FPR       = FP / (FP + TN) = 1 - TNR

For several classes each rate is computed one-vs-rest per class and averaged macro (mean over classes),
micro (pooled counts) or weighted (by class support). `course_rates` writes the formulas out for teaching;
the tests check it against scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn import metrics as skm

from neuralab.errors import DataError

ArrayLike = np.ndarray | torch.Tensor | list


def _np(a: ArrayLike) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _check_pair(y_true: np.ndarray, y_other: np.ndarray, what: str) -> None:
    if len(y_true) != len(y_other):
        raise DataError(f"y_true has {len(y_true)} entries but {what} has {len(y_other)}")
    if len(y_true) == 0:
        raise DataError("metrics need at least one sample, got none")


def course_rates(tp: float, fp: float, tn: float, fn: float) -> dict[str, float]:
    """The course's formulas from the four counts (0 where a denominator is 0)."""

    def div(a: float, b: float) -> float:
        return float(a / b) if b else 0.0

    p, r = div(tp, tp + fp), div(tp, tp + fn)
    return {
        "accuracy": div(tp + tn, tp + fp + tn + fn),
        "precision": p,
        "recall": r,
        "tpr": r,
        "f1": div(2 * p * r, p + r),
        "tnr": div(tn, tn + fp),
        "fpr": div(fp, fp + tn),
    }


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, labels: ArrayLike | None = None) -> np.ndarray:
    """Rows are true classes, columns predicted classes (scikit-learn's convention)."""
    yt, yp = _np(y_true), _np(y_pred)
    _check_pair(yt, yp, "y_pred")
    return skm.confusion_matrix(yt, yp, labels=None if labels is None else _np(labels))


def rates_per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """One-vs-rest TP, FP, TN, FN and TPR, TNR, FPR for every class of a confusion matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = cm.sum() - tp - fp - fn
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        tnr = np.where(tn + fp > 0, tn / (tn + fp), 0.0)
        fpr = np.where(fp + tn > 0, fp / (fp + tn), 0.0)
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "tpr": tpr, "tnr": tnr, "fpr": fpr}


def classification_metrics(y_true: ArrayLike, y_pred: ArrayLike, y_score: ArrayLike | None = None,
                           labels: ArrayLike | None = None, class_names: list[str] | None = None
                           ) -> dict[str, Any]:
    """Every classification metric of the course in one JSON-ready dict.

    Args:
        y_true: true class indices, shape (N,).
        y_pred: predicted class indices, shape (N,).
        y_score: optional scores: shape (N,) = P(positive) for binary, or (N, K) class probabilities.
        labels: the class indices to report (default: those present in y_true or y_pred).
        class_names: names for `labels`, used as keys of the per-class entries.

    Returns:
        accuracy; precision/recall/f1 per class and macro, micro, weighted; tpr/tnr/fpr per class and macro;
        the confusion matrix; for two classes the binary (positive = 1) rates; with `y_score`, ROC-AUC
        (binary, or one-vs-rest macro and weighted) and the ROC curve(s).
    """
    yt, yp = _np(y_true).astype(np.int64), _np(y_pred).astype(np.int64)
    _check_pair(yt, yp, "y_pred")
    labs = np.unique(np.concatenate([yt, yp])) if labels is None else _np(labels).astype(np.int64)
    names = [str(n) for n in class_names] if class_names is not None else [str(int(c)) for c in labs]
    if len(names) != len(labs):
        raise DataError(f"{len(names)} class names for {len(labs)} classes")
    cm = skm.confusion_matrix(yt, yp, labels=labs)
    out: dict[str, Any] = {"n": int(len(yt)), "accuracy": float(skm.accuracy_score(yt, yp)),
                           "labels": names, "confusion_matrix": cm.tolist()}
    p, r, f, s = skm.precision_recall_fscore_support(yt, yp, labels=labs, zero_division=0)
    out["per_class"] = {n: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                            "support": int(s[i])} for i, n in enumerate(names)}
    for avg in ("macro", "micro", "weighted"):
        pa, ra, fa, _ = skm.precision_recall_fscore_support(yt, yp, labels=labs, average=avg, zero_division=0)
        out[avg] = {"precision": float(pa), "recall": float(ra), "f1": float(fa)}
    rates = rates_per_class(cm)
    for i, n in enumerate(names):
        out["per_class"][n].update(tpr=float(rates["tpr"][i]), tnr=float(rates["tnr"][i]),
                                   fpr=float(rates["fpr"][i]))
    out["macro"].update(tpr=float(rates["tpr"].mean()), tnr=float(rates["tnr"].mean()),
                        fpr=float(rates["fpr"].mean()))
    if len(labs) == 2:
        (tn, fp), (fn, tp) = cm
        out["binary"] = {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
                         **course_rates(tp, fp, tn, fn)}
    if y_score is not None:
        out.update(roc(yt, y_score, labels=labs, class_names=names))
    return out


def roc(y_true: ArrayLike, y_score: ArrayLike, labels: ArrayLike | None = None,
        class_names: list[str] | None = None) -> dict[str, Any]:
    """ROC curve(s) and ROC-AUC: binary (score = P(class 1)) or one-vs-rest for (N, K) probabilities.

    Returns `{"roc_auc": float, "roc_curve": {...}}` for binary, and for K classes additionally
    `roc_auc_ovr_macro`, `roc_auc_ovr_weighted` and one curve per class.
    """
    yt = _np(y_true).astype(np.int64)
    sc = _np(y_score).astype(np.float64)
    _check_pair(yt, sc, "y_score")
    labs = np.unique(yt) if labels is None else _np(labels).astype(np.int64)
    names = class_names or [str(int(c)) for c in labs]
    if sc.ndim == 2 and sc.shape[1] == 2 and len(labs) == 2:
        sc = sc[:, 1]
    if sc.ndim == 1:
        if len(np.unique(yt)) < 2:
            raise DataError("ROC-AUC needs both classes in y_true, got only one")
        fpr, tpr, thr = skm.roc_curve(yt, sc, pos_label=int(labs.max()))
        return {"roc_auc": float(skm.roc_auc_score(yt, sc)),
                "roc_curve": {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": _finite(thr)}}
    if sc.shape[1] != len(labs):
        raise DataError(f"y_score has {sc.shape[1]} columns but there are {len(labs)} classes")
    present = np.isin(labs, yt)
    result: dict[str, Any] = {"roc_curve": {}}
    if present.sum() >= 2:
        # scikit-learn wants rows summing to 1 over the classes present.
        sub = sc[:, present]
        sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
        kw = {"labels": labs[present]} if present.sum() > 2 else {}
        if present.sum() == 2:
            result["roc_auc_ovr_macro"] = result["roc_auc_ovr_weighted"] = float(
                skm.roc_auc_score(yt == labs[present][1], sub[:, 1]))
        else:
            result["roc_auc_ovr_macro"] = float(skm.roc_auc_score(yt, sub, multi_class="ovr", average="macro", **kw))
            result["roc_auc_ovr_weighted"] = float(
                skm.roc_auc_score(yt, sub, multi_class="ovr", average="weighted", **kw))
    for i, (c, n) in enumerate(zip(labs, names, strict=True)):
        if present[i] and (yt != c).any():
            fpr, tpr, _ = skm.roc_curve(yt == c, sc[:, i])
            result["roc_curve"][n] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(),
                                      "auc": float(skm.auc(fpr, tpr))}
    return result


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """MAE, RMSE, MAPE (as a fraction, scikit-learn's convention; zero targets make it huge) and R²."""
    yt, yp = _np(y_true).astype(np.float64).ravel(), _np(y_pred).astype(np.float64).ravel()
    _check_pair(yt, yp, "y_pred")
    return {
        "mae": float(skm.mean_absolute_error(yt, yp)),
        "rmse": float(np.sqrt(skm.mean_squared_error(yt, yp))),
        "mape": float(skm.mean_absolute_percentage_error(yt, yp)),
        "r2": float(skm.r2_score(yt, yp)) if len(yt) > 1 else float("nan"),
    }


def accuracy_from_logits(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Accuracy for a Trainer metric: argmax of (N, K) logits, or (N,)/(N, 1) logits thresholded at 0."""
    if logits.ndim == 1 or logits.shape[-1] == 1:
        pred = (logits.reshape(-1) > 0).long()
    else:
        pred = logits.argmax(dim=-1)
    return float((pred == targets.reshape(-1).long()).float().mean())


def _finite(a: np.ndarray) -> list[float]:
    # roc_curve's first threshold is +inf, which JSON cannot hold.
    return [float(x) if np.isfinite(x) else None for x in a]
