"""Thresholds on anomaly scores, and merging flagged samples into events.

Thresholds (fitted on scores of normal validation data):
    dynamic     mean + k·std of the scores (Albattah & Rassam's dynamic threshold on the MAE)
    percentile  the q-th percentile of the scores
    fixed       a given value

Shape legend: T samples, C channels; scores (T,), channel scores (T, C).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from neuralab.errors import ConfigError

METHODS = ("dynamic", "percentile", "fixed")


@dataclass
class Threshold:
    """How the threshold is set, and its value once fitted.

    Attributes:
        method: 'dynamic' | 'percentile' | 'fixed'.
        k: the k of mean + k·std (dynamic).
        q: percentile in [0, 100] (percentile).
        value: the threshold (set by `fit`, or given for 'fixed').
    """

    method: str = "dynamic"
    k: float = 3.0
    q: float = 99.5
    value: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"threshold method {self.method!r} unknown; expected one of {', '.join(METHODS)}")
        if not 0.0 <= self.q <= 100.0:
            raise ConfigError(f"threshold percentile must be in [0, 100], got {self.q}")
        if self.method == "fixed" and self.value is None:
            raise ConfigError("a fixed threshold needs a value")

    def fit(self, scores: np.ndarray) -> Threshold:
        """Set `value` from normal scores (ignores NaN); returns self."""
        s = np.asarray(scores, np.float64)
        s = s[np.isfinite(s)]
        if self.method == "fixed":
            return self
        if s.size == 0:
            raise ConfigError("cannot fit a threshold: no finite validation scores")
        if self.method == "dynamic":
            self.value = float(s.mean() + self.k * s.std())
        else:
            self.value = float(np.percentile(s, self.q))
        return self

    def as_dict(self) -> dict:
        return asdict(self)


def channel_thresholds(channel_scores: np.ndarray, k: float = 3.0) -> np.ndarray:
    """(C,) per-channel dynamic thresholds mean + k·std over normal (T, C) channel scores."""
    cs = np.where(np.isfinite(channel_scores), channel_scores, np.nan)
    return np.nanmean(cs, axis=0) + k * np.nanstd(cs, axis=0)


def merge_events(scores: np.ndarray, threshold: float, channel_scores: np.ndarray | None = None,
                 channel_threshold: np.ndarray | None = None, channels: list[str] | None = None,
                 max_gap: int = 0, min_length: int = 1) -> list[dict]:
    """Runs of scores above `threshold` as events.

    Runs separated by at most `max_gap` samples are merged; runs shorter than `min_length` are dropped.

    Returns:
        dicts `start`, `end` (inclusive sample indices), `peak` (highest score), `peak_at`, and `channels`:
        those whose mean channel score over the event is above their own threshold (else the one with the
        highest ratio to its threshold).
    """
    flag = np.nan_to_num(np.asarray(scores, np.float64), nan=-np.inf) > threshold
    if not flag.any():
        return []
    edges = np.diff(np.concatenate(([0], flag.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    runs: list[list[int]] = []
    for s, e in zip(starts, ends, strict=True):
        if runs and s - runs[-1][1] - 1 <= max_gap:
            runs[-1][1] = int(e)
        else:
            runs.append([int(s), int(e)])
    events = []
    for s, e in runs:
        if e - s + 1 < min_length:
            continue
        seg = scores[s:e + 1]
        at = int(s + np.nanargmax(seg))
        ev = {"start": s, "end": e, "peak": float(np.nanmax(seg)), "peak_at": at, "channels": []}
        if channel_scores is not None and channels is not None:
            seg_ch = channel_scores[s:e + 1]
            # channels that are gaps over the whole event score 0 (np.nanmean of nothing would warn)
            mean = np.where(np.isfinite(seg_ch).any(axis=0),
                            np.nansum(seg_ch, axis=0) / np.maximum(np.isfinite(seg_ch).sum(axis=0), 1), 0.0)
            ratio = mean / np.maximum(channel_threshold, 1e-12) if channel_threshold is not None else mean
            chosen = [channels[c] for c in np.flatnonzero(ratio > 1.0)] if channel_threshold is not None else []
            ev["channels"] = chosen or [channels[int(np.nanargmax(ratio))]]
        events.append(ev)
    return events
