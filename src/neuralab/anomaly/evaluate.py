"""Honest evaluation of anomaly scores against per-sample truth.

    point-wise   precision, recall, F1 over samples (flag = score > threshold)
    event-wise   a true event is found when a predicted event overlaps it (recall); a predicted event is
                 correct when it overlaps a true event (precision); F1 of the two
    ranking      ROC-AUC and PR-AUC (average precision) of the per-sample scores
    per kind     event recall per anomaly kind (point, contextual, collective) and per injector (cause)
    alarms       false alarms per hour: predicted events overlapping no true event / recorded hours
    point-adjusted F1 (a whole true event counts as found when any of its samples is flagged) is reported only
    beside the honest numbers: it inflates scores (Kim et al., AAAI 2022).

Shape legend: T samples; scores (T,), labels (T,).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neuralab.data.vitals import VitalsRecord


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def events_from_mask(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True as (start, end) inclusive."""
    edges = np.diff(np.concatenate(([0], np.asarray(mask, np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist(), strict=True))


def point_adjust(flags: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Flags with every true event set entirely when any of its samples is flagged (for the adjusted F1)."""
    out = flags.copy()
    for s, e in events_from_mask(labels.astype(bool)):
        if flags[s:e + 1].any():
            out[s:e + 1] = True
    return out


@dataclass
class _Counts:
    true_events: int = 0
    found: int = 0
    pred_events: int = 0
    correct_pred: int = 0
    false_alarms: int = 0
    hours: float = 0.0


def evaluate_records(records: Sequence[VitalsRecord], scores: Sequence[np.ndarray], threshold: float,
                     predicted: Sequence[list[dict]] | None = None) -> dict:
    """All metrics over labelled records.

    Args:
        records: records with `truth` set.
        scores: per-sample scores (T,) of each record (NaN where not scored).
        threshold: the decision threshold.
        predicted: each record's predicted events (dicts with start, end); default: runs above threshold.

    Returns:
        a JSON-able dict with point_precision/recall/f1, event_precision/recall/f1, roc_auc, pr_auc,
        recall_by_kind, recall_by_cause, false_alarms_per_hour, point_adjusted_f1, counts.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    all_s, all_y, all_flag, all_adj = [], [], [], []
    c = _Counts()
    by_kind: dict[str, list[int]] = {}
    by_cause: dict[str, list[int]] = {}
    for i, (rec, s) in enumerate(zip(records, scores, strict=True)):
        if rec.truth is None:
            raise ValueError(f"{rec.source}: not a labelled record (no truth columns)")
        y = rec.truth.label.astype(bool)
        s = np.asarray(s, np.float64)
        flag = np.nan_to_num(s, nan=-np.inf) > threshold
        ok = np.isfinite(s)
        all_s.append(s[ok])
        all_y.append(y[ok])
        all_flag.append(flag)
        all_adj.append(point_adjust(flag, y))
        pred = [(e["start"], e["end"]) for e in predicted[i]] if predicted is not None else events_from_mask(flag)
        hit = np.zeros(len(y) + 1, np.int64)
        for a, b in pred:
            hit[a] += 1
            hit[b + 1] -= 1
        covered = np.cumsum(hit)[:-1] > 0  # samples inside some predicted event
        truth_events = rec.truth.events()
        c.true_events += len(truth_events)
        for ev in truth_events:
            found = bool(covered[ev["start"]:ev["end"] + 1].any())
            c.found += found
            by_kind.setdefault(ev["kind"], [0, 0])
            by_kind[ev["kind"]][0] += found
            by_kind[ev["kind"]][1] += 1
            cause = str(ev["cause"]).split(":", 1)[0]
            by_cause.setdefault(cause, [0, 0])
            by_cause[cause][0] += found
            by_cause[cause][1] += 1
        c.pred_events += len(pred)
        correct = sum(bool(y[a:b + 1].any()) for a, b in pred)
        c.correct_pred += correct
        c.false_alarms += len(pred) - correct
        c.hours += max(float(rec.seconds[-1] - rec.seconds[0]) + (float(np.median(np.diff(rec.seconds)))
                                                                  if len(rec) > 1 else 0.0), 0.0) / 3600.0
    s, y = np.concatenate(all_s), np.concatenate(all_y)
    flag, adj = np.concatenate(all_flag), np.concatenate(all_adj)
    labels = np.concatenate([r.truth.label.astype(bool) for r in records])
    tp, fp, fn = float((flag & labels).sum()), float((flag & ~labels).sum()), float((~flag & labels).sum())
    pp, pr, pf = _prf(tp, fp, fn)
    ep = c.correct_pred / c.pred_events if c.pred_events else 0.0
    er = c.found / c.true_events if c.true_events else 0.0
    ef = 2 * ep * er / (ep + er) if ep + er else 0.0
    both = y.any() and (~y).any()
    atp = float((adj & labels).sum())
    return {
        "point_precision": pp, "point_recall": pr, "point_f1": pf,
        "event_precision": ep, "event_recall": er, "event_f1": ef,
        "roc_auc": float(roc_auc_score(y, s)) if both else None,
        "pr_auc": float(average_precision_score(y, s)) if both else None,
        "recall_by_kind": {k: v[0] / v[1] for k, v in sorted(by_kind.items())},
        "recall_by_cause": {k: v[0] / v[1] for k, v in sorted(by_cause.items())},
        "false_alarms_per_hour": c.false_alarms / c.hours if c.hours else None,
        "point_adjusted_f1": _prf(atp, float((adj & ~labels).sum()), float((~adj & labels).sum()))[2],
        "counts": {"records": len(records), "samples": int(len(labels)), "anomalous_samples": int(labels.sum()),
                   "true_events": c.true_events, "found_events": c.found, "predicted_events": c.pred_events,
                   "false_alarms": c.false_alarms, "hours": c.hours,
                   "events_by_kind": {k: v[1] for k, v in sorted(by_kind.items())}},
        "threshold": float(threshold),
    }


def evaluate_detector(detector, records: Sequence[VitalsRecord]) -> dict:
    """Score every labelled record with a trained detector and evaluate (events from `detector.detect`)."""
    scores = [detector.score(r) for r in records]
    events = [detector.detect(r, s) for r, s in zip(records, scores, strict=True)]
    out = evaluate_records(records, [s.sample for s in scores], detector.threshold.value, events)
    out["detector"] = detector.name
    return out
