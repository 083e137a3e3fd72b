"""Metrics: golden values from the course's formulas, and oracles (scikit-learn, NumPy, torchmetrics)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from neuralab.errors import DataError
from neuralab.metrics import (
    accuracy_from_logits,
    classification_metrics,
    confusion_matrix,
    course_rates,
    rates_per_class,
    regression_metrics,
    roc,
)

approx = pytest.approx


# ------------------------------------------------------------------------------------------ golden values
def test_course_rates_on_hand_counted_example():
    y_true = [1, 1, 1, 0, 0, 0, 1, 0]
    y_pred = [1, 0, 1, 0, 1, 0, 1, 0]
    # pairs: TP FN TP TN FP TN TP TN
    TP, FP, TN, FN = 3, 1, 3, 1
    m = classification_metrics(y_true, y_pred)
    assert {k: m["binary"][k] for k in ("tp", "fp", "tn", "fn")} == {"tp": TP, "fp": FP, "tn": TN, "fn": FN}
    assert m["confusion_matrix"] == [[TN, FP], [FN, TP]]
    rates = course_rates(TP, FP, TN, FN)
    assert rates["accuracy"] == (TP + TN) / (TP + FP + TN + FN) == 0.75
    assert rates["precision"] == TP / (TP + FP) == 0.75
    assert rates["recall"] == rates["tpr"] == TP / (TP + FN) == 0.75
    assert rates["f1"] == 0.75
    assert rates["tnr"] == TN / (TN + FP) == 0.75
    assert rates["fpr"] == FP / (FP + TN) == 0.25


def test_course_rates_on_asymmetric_hand_counted_example():
    y_true = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    y_pred = [1, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    # pairs: TP TP FN FN FP TN TN TN TN TN
    TP, FP, TN, FN = 2, 1, 5, 2
    m = classification_metrics(y_true, y_pred)
    expected = {"accuracy": 7 / 10, "precision": 2 / 3, "recall": 1 / 2, "tpr": 1 / 2,
                "f1": 2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2), "tnr": 5 / 6, "fpr": 1 / 6}
    assert expected["f1"] == approx(4 / 7)
    assert course_rates(TP, FP, TN, FN) == approx(expected)
    assert {k: m["binary"][k] for k in expected} == approx(expected)
    assert (m["binary"]["tp"], m["binary"]["fp"], m["binary"]["tn"], m["binary"]["fn"]) == (TP, FP, TN, FN)
    assert m["accuracy"] == approx(0.7)
    assert m["per_class"]["1"]["precision"] == approx(2 / 3) and m["per_class"]["1"]["tnr"] == approx(5 / 6)


def test_course_rates_zero_denominators_give_zero():
    assert course_rates(0, 0, 5, 0) == {"accuracy": 1.0, "precision": 0.0, "recall": 0.0, "tpr": 0.0, "f1": 0.0,
                                        "tnr": 1.0, "fpr": 0.0}
    assert course_rates(0, 0, 0, 0)["accuracy"] == 0.0


# --------------------------------------------------------------------------------------- binary vs sklearn
@pytest.fixture
def binary():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    score = np.clip(0.35 * y + rng.random(200) * 0.65, 0, 1)  # informative but imperfect
    return y, (score > 0.5).astype(int), score


def test_binary_matches_sklearn(binary):
    y, pred, score = binary
    m = classification_metrics(y, pred, score)
    (tn, fp), (fn, tp) = skm.confusion_matrix(y, pred)
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    assert m["accuracy"] == approx(skm.accuracy_score(y, pred))
    b = m["binary"]
    assert (b["tp"], b["fp"], b["tn"], b["fn"]) == (tp, fp, tn, fn)
    assert b["precision"] == approx(skm.precision_score(y, pred))
    assert b["recall"] == approx(skm.recall_score(y, pred)) == approx(b["tpr"])
    assert b["f1"] == approx(skm.f1_score(y, pred))
    assert b["tnr"] == approx(skm.recall_score(y, pred, pos_label=0))
    assert b["fpr"] == approx(1 - skm.recall_score(y, pred, pos_label=0))
    # course formulas == sklearn-derived values
    assert course_rates(tp, fp, tn, fn) == approx({k: b[k] for k in course_rates(1, 1, 1, 1)})
    for c in (0, 1):
        pc = m["per_class"][str(c)]
        assert pc["precision"] == approx(skm.precision_score(y, pred, pos_label=c))
        assert pc["recall"] == approx(skm.recall_score(y, pred, pos_label=c))
        assert pc["f1"] == approx(skm.f1_score(y, pred, pos_label=c))
        assert pc["support"] == int((y == c).sum())
    for avg in ("macro", "micro", "weighted"):
        assert m[avg]["precision"] == approx(skm.precision_score(y, pred, average=avg))
        assert m[avg]["recall"] == approx(skm.recall_score(y, pred, average=avg))
        assert m[avg]["f1"] == approx(skm.f1_score(y, pred, average=avg))

    assert m["roc_auc"] == approx(skm.roc_auc_score(y, score))
    fpr, tpr, thr = skm.roc_curve(y, score)
    assert m["roc_curve"]["fpr"] == approx(fpr.tolist())
    assert m["roc_curve"]["tpr"] == approx(tpr.tolist())
    assert m["roc_curve"]["thresholds"][1:] == approx(thr[1:].tolist())
    assert m["roc_curve"]["thresholds"][0] is None  # sklearn's +inf, which JSON cannot hold
    json.dumps(m, allow_nan=False)  # JSON-ready


def test_binary_two_column_probabilities_are_the_positive_column(binary):
    y, _, score = binary
    two = np.stack([1 - score, score], axis=1)
    assert roc(y, two)["roc_auc"] == approx(roc(y, score)["roc_auc"])


# ----------------------------------------------------------------------------------- multiclass vs sklearn
@pytest.fixture
def multiclass():
    rng = np.random.default_rng(1)
    k, n = 4, 300
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.2
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, prob.argmax(axis=1), prob


def test_multiclass_matches_sklearn(multiclass):
    y, pred, prob = multiclass
    names = ["a", "b", "c", "d"]
    m = classification_metrics(y, pred, prob, class_names=names)
    assert m["labels"] == names and m["n"] == len(y)
    cm = skm.confusion_matrix(y, pred)
    assert m["confusion_matrix"] == cm.tolist()
    assert m["accuracy"] == approx(skm.accuracy_score(y, pred))
    p, r, f, s = skm.precision_recall_fscore_support(y, pred)
    mcm = skm.multilabel_confusion_matrix(y, pred)  # per class [[TN, FP], [FN, TP]]
    for i, n in enumerate(names):
        pc = m["per_class"][n]
        assert (pc["precision"], pc["recall"], pc["f1"], pc["support"]) == approx((p[i], r[i], f[i], s[i]))
        (tn, fp), (fn, tp) = mcm[i]
        assert pc["tpr"] == approx(tp / (tp + fn)) == approx(r[i])
        assert pc["tnr"] == approx(tn / (tn + fp))
        assert pc["fpr"] == approx(fp / (fp + tn)) == approx(1 - pc["tnr"])
    for avg in ("macro", "micro", "weighted"):
        pa, ra, fa, _ = skm.precision_recall_fscore_support(y, pred, average=avg)
        assert (m[avg]["precision"], m[avg]["recall"], m[avg]["f1"]) == approx((pa, ra, fa))
    assert m["macro"]["tpr"] == approx(skm.recall_score(y, pred, average="macro"))
    assert m["macro"]["tnr"] + m["macro"]["fpr"] == approx(1.0)
    assert "binary" not in m

    assert m["roc_auc_ovr_macro"] == approx(skm.roc_auc_score(y, prob, multi_class="ovr", average="macro"))
    assert m["roc_auc_ovr_weighted"] == approx(skm.roc_auc_score(y, prob, multi_class="ovr", average="weighted"))
    for i, n in enumerate(names):
        fpr, tpr, _ = skm.roc_curve(y == i, prob[:, i])
        assert m["roc_curve"][n]["fpr"] == approx(fpr.tolist())
        assert m["roc_curve"][n]["tpr"] == approx(tpr.tolist())
        assert m["roc_curve"][n]["auc"] == approx(skm.roc_auc_score(y == i, prob[:, i]))
    json.dumps(m, allow_nan=False)


def test_rates_per_class_by_hand():
    cm = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])
    r = rates_per_class(cm)
    # class 0: TP 5, FP 2 (col 0 minus TP), FN 1 (row 0 minus TP), TN 16 - 8 = 8
    assert (r["tp"][0], r["fp"][0], r["fn"][0], r["tn"][0]) == (5, 2, 1, 8)
    assert r["tpr"][0] == approx(5 / 6) and r["tnr"][0] == approx(8 / 10) and r["fpr"][0] == approx(2 / 10)
    # class 2 never mispredicted as anything: TPR 1; class absent entirely -> rates 0, not NaN
    assert r["tpr"][2] == 1.0
    empty = rates_per_class(np.array([[3, 0], [0, 0]]))
    assert empty["tpr"][1] == 0.0 and not np.isnan(empty["tnr"]).any()


def test_multiclass_roc_with_a_class_absent_from_y_true(multiclass):
    y, _, prob = multiclass
    keep = y != 3  # class 3 never occurs
    y, prob = y[keep], prob[keep]
    out = roc(y, prob, labels=[0, 1, 2, 3])
    sub = prob[:, :3] / prob[:, :3].sum(axis=1, keepdims=True)
    assert out["roc_auc_ovr_macro"] == approx(skm.roc_auc_score(y, sub, multi_class="ovr", labels=[0, 1, 2]))
    assert set(out["roc_curve"]) == {"0", "1", "2"}


def test_labels_and_tensor_inputs(multiclass):
    y, pred, prob = multiclass
    m_np = classification_metrics(y, pred, prob)
    m_t = classification_metrics(torch.as_tensor(y), torch.as_tensor(pred), torch.as_tensor(prob))
    assert m_t["accuracy"] == m_np["accuracy"] and m_t["macro"] == approx(m_np["macro"])
    assert confusion_matrix(torch.as_tensor(y), pred).tolist() == m_np["confusion_matrix"]
    # a label nobody uses still gets a row and a column
    cm = confusion_matrix([0, 1, 1], [0, 1, 0], labels=[0, 1, 2])
    assert cm.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]


# ------------------------------------------------------------------------------------------- regression
def test_regression_matches_sklearn_and_formulas():
    rng = np.random.default_rng(2)
    y = rng.uniform(1, 5, 100)
    p = y + rng.normal(0, 0.3, 100)
    m = regression_metrics(y, p)
    e = p - y
    assert m["mae"] == approx(np.mean(np.abs(e))) == approx(skm.mean_absolute_error(y, p))
    assert m["rmse"] == approx(np.sqrt(np.mean(e**2))) == approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert m["mape"] == approx(np.mean(np.abs(e / y))) == approx(skm.mean_absolute_percentage_error(y, p))
    assert m["r2"] == approx(skm.r2_score(y, p))
    # (N, 1) tensors are flattened
    m_t = regression_metrics(torch.as_tensor(y).reshape(-1, 1), torch.as_tensor(p).reshape(-1, 1))
    assert m_t == approx(m)


def test_regression_golden():
    m = regression_metrics([1.0, 2.0, 4.0], [2.0, 2.0, 2.0])
    assert m["mae"] == approx(1.0)  # (1 + 0 + 2) / 3
    assert m["rmse"] == approx(np.sqrt(5 / 3))  # sqrt((1 + 0 + 4) / 3)
    assert m["mape"] == approx((1 / 1 + 0 + 2 / 4) / 3)


# ---------------------------------------------------------------------------------------- torchmetrics
def test_cross_check_with_torchmetrics(binary, multiclass):
    tmf = pytest.importorskip("torchmetrics.functional")
    y, pred, prob = multiclass
    m = classification_metrics(y, pred, prob)
    yt, pt, st = torch.as_tensor(y), torch.as_tensor(pred), torch.as_tensor(prob)
    assert m["macro"]["f1"] == approx(float(tmf.f1_score(pt, yt, task="multiclass", num_classes=4,
                                                         average="macro")), rel=1e-5)
    assert m["weighted"]["precision"] == approx(float(tmf.precision(pt, yt, task="multiclass", num_classes=4,
                                                                    average="weighted")), rel=1e-5)
    assert m["roc_auc_ovr_macro"] == approx(float(tmf.auroc(st, yt, task="multiclass", num_classes=4,
                                                            average="macro")), rel=1e-5)
    yb, pb, sb = binary
    mb = classification_metrics(yb, pb, sb)
    assert mb["roc_auc"] == approx(float(tmf.auroc(torch.as_tensor(sb), torch.as_tensor(yb), task="binary")),
                                   rel=1e-5)
    assert mb["binary"]["tnr"] == approx(float(tmf.specificity(torch.as_tensor(pb), torch.as_tensor(yb),
                                                               task="binary")), rel=1e-5)
    r = regression_metrics(yb.astype(float), sb)
    assert r["mae"] == approx(float(tmf.mean_absolute_error(torch.as_tensor(sb), torch.as_tensor(yb.astype(float)))))


def test_accuracy_from_logits():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.5, 3.0], [1.0, 0.0, 0.0]])
    assert accuracy_from_logits(logits, torch.tensor([0, 2, 1])) == approx(2 / 3)
    binary_logits = torch.tensor([[1.5], [-0.2], [0.3], [-3.0]])
    assert accuracy_from_logits(binary_logits, torch.tensor([[1.0], [0.0], [0.0], [0.0]])) == approx(0.75)
    assert accuracy_from_logits(binary_logits.reshape(-1), torch.tensor([1, 0, 1, 0])) == 1.0


# ----------------------------------------------------------------------------------------------- errors
def test_mismatched_lengths_are_data_errors():
    with pytest.raises(DataError, match="y_true has 3 entries but y_pred has 2"):
        classification_metrics([0, 1, 1], [0, 1])
    with pytest.raises(DataError, match="y_pred has 2"):
        confusion_matrix([0, 1, 1], [0, 1])
    with pytest.raises(DataError, match="y_score has 2"):
        roc([0, 1, 1], [0.1, 0.9])
    with pytest.raises(DataError, match="y_pred has 4"):
        regression_metrics([1.0, 2.0], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(DataError, match="at least one sample"):
        classification_metrics([], [])


def test_other_bad_inputs_are_data_errors():
    with pytest.raises(DataError, match="both classes"):
        roc([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(DataError, match="2 class names for 3 classes"):
        classification_metrics([0, 1, 2], [0, 1, 2], class_names=["a", "b"])
    with pytest.raises(DataError, match="3 columns but there are 4 classes"):
        roc([0, 1, 2, 3], np.full((4, 3), 1 / 3))
