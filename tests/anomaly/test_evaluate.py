"""Evaluation metrics: point-wise against scikit-learn, event-wise and alarms by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from neuralab.anomaly.evaluate import evaluate_records, point_adjust
from neuralab.data.vitals import VitalsRecord, VitalsTruth


def _record(labels, kinds):
    n = len(labels)
    truth = VitalsTruth.normal(n)
    truth.label[:] = labels
    truth.kind[:] = kinds
    truth.cause[:] = [f"{k}_x: c" if k else "" for k in kinds]
    return VitalsRecord(np.zeros((n, 1)), ["heart_rate"], np.arange(n, dtype=float) * 60.0, None, 1 / 60,
                        np.zeros((n, 1), bool), truth, [], "mem")


def test_metrics_by_hand_and_against_sklearn():
    labels = np.array([0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0])
    kinds = ["", "point", "point", "", "", "", "collective", "collective", "collective", "", "", ""]
    scores = np.array([0.1, 0.9, 0.2, 0.1, 0.8, 0.1, 0.1, 0.2, 0.3, 0.1, 0.1, 0.1])
    m = evaluate_records([_record(labels, kinds)], [scores], threshold=0.5)
    flag = scores > 0.5
    assert m["point_precision"] == pytest.approx(precision_score(labels, flag))
    assert m["point_recall"] == pytest.approx(recall_score(labels, flag))
    assert m["point_f1"] == pytest.approx(f1_score(labels, flag))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert m["pr_auc"] == pytest.approx(average_precision_score(labels, scores))
    # predicted events: [1] (hits the point event) and [4] (false alarm); the collective event is missed
    assert (m["event_precision"], m["event_recall"]) == (0.5, 0.5)
    assert m["recall_by_kind"] == {"collective": 0.0, "point": 1.0}
    assert m["false_alarms_per_hour"] == pytest.approx(1 / (12 * 60 / 3600))
    # point-adjusted: both samples of the found point event count as found
    adj = point_adjust(flag, labels.astype(bool))
    assert adj.tolist()[:3] == [False, True, True]
    assert m["point_adjusted_f1"] == pytest.approx(f1_score(labels, adj))
    assert m["point_adjusted_f1"] > m["point_f1"]
