"""From a `VitalsRecord` to detector inputs: robust scaling fitted on normal data, windows, correlation maps.

Shape legend: T samples, C channels, L window length, N windows, S scales, K maps per input, J map positions.
    series (T, C) float32 scaled; windows (N, L, C); signature maps (J, S, C, C); map inputs (J, K, S, C, C).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neuralab.data.vitals import VitalsRecord
from neuralab.errors import DataError


@dataclass
class Scaler:
    """Per-channel robust standardisation (x − median) / (IQR / 1.349), fitted on normal training data.

    The median and IQR ignore the few outliers a "normal" recording still holds (a real ICU stay is never
    clean), which a mean and standard deviation would not. A floor keeps constant channels finite.
    """

    channels: list[str]
    center: np.ndarray  # (C,)
    scale: np.ndarray  # (C,)

    @classmethod
    def fit(cls, records: Sequence[VitalsRecord], channels: Sequence[str]) -> Scaler:
        cols = [np.concatenate([r.channel(c) for r in records]) for c in channels]
        center, scale = [], []
        for name, col in zip(channels, cols, strict=True):
            col = col[np.isfinite(col)]
            if col.size == 0:
                raise DataError(f"channel {name!r} has no finite value in the training data")
            q1, med, q3 = np.percentile(col, [25, 50, 75])
            center.append(med)
            scale.append(max((q3 - q1) / 1.349, 1e-3 * max(abs(med), 1.0), 1e-6))
        return cls(list(channels), np.asarray(center, np.float64), np.asarray(scale, np.float64))

    def as_dict(self) -> dict:
        return {"channels": self.channels, "center": self.center.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        return cls(list(d["channels"]), np.asarray(d["center"], np.float64), np.asarray(d["scale"], np.float64))

    def transform(self, record: VitalsRecord) -> tuple[np.ndarray, np.ndarray]:
        """Scaled (T, C) float32 series with gaps filled (last value, then 0 = the median) and the (T, C) gap mask.

        Raises:
            DataError: the record lacks a channel the detector was trained on.
        """
        missing = [c for c in self.channels if c not in record.channels]
        if missing:
            raise DataError(f"{record.source}: missing channel(s) {', '.join(missing)}; the detector was trained "
                            f"on {', '.join(self.channels)}")
        idx = [record.channels.index(c) for c in self.channels]
        x = (record.values[:, idx] - self.center) / self.scale  # (T, C)
        gap = ~np.isfinite(x)
        return fill_gaps(x).astype(np.float32), gap


def fill_gaps(x: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs along time (axis 0), then fill leading NaNs with 0 (the training median)."""
    x = np.array(x, dtype=np.float64)
    T = x.shape[0]
    ok = np.isfinite(x)
    # index of the last finite row at or before t, per channel (0 where none yet)
    last = np.where(ok, np.arange(T)[:, None], 0)
    np.maximum.accumulate(last, axis=0, out=last)
    filled = np.take_along_axis(np.where(ok, x, 0.0), last, axis=0)
    filled[~ok & (np.maximum.accumulate(ok, axis=0) == 0)] = 0.0
    return filled


def common_channels(records: Sequence[VitalsRecord], min_coverage: float = 0.5,
                    wanted: Sequence[str] | None = None) -> list[str]:
    """The channels to train on: `wanted` if given (checked), else those present with some finite values in at
    least `min_coverage` of the records (in canonical order)."""
    if not records:
        raise DataError("no training records")
    if wanted:
        for c in wanted:
            if not any(c in r.channels for r in records):
                raise DataError(f"channel {c!r} is in none of the training records")
        return list(wanted)
    counts: dict[str, int] = {}
    for r in records:
        for c in r.channels:
            if np.isfinite(r.channel(c)).any():
                counts[c] = counts.get(c, 0) + 1
    chosen = [c for c in records[0].channels if counts.get(c, 0) >= min_coverage * len(records)]
    for r in records[1:]:
        chosen += [c for c in r.channels if c not in chosen and counts.get(c, 0) >= min_coverage * len(records)]
    if not chosen:
        raise DataError("no channel has data in enough training records")
    from neuralab.data.vitals import CHANNELS

    return sorted(chosen, key=CHANNELS.index)


def sliding_windows(x: np.ndarray, length: int, stride: int) -> np.ndarray:
    """(T, C) -> (N, L, C) windows starting every `stride` samples (a view; empty when T < L)."""
    if len(x) < length:
        return np.empty((0, length, x.shape[1]), x.dtype)
    w = np.lib.stride_tricks.sliding_window_view(x, length, axis=0)  # (T-L+1, C, L)
    return w[::stride].transpose(0, 2, 1)


def tiling_windows(x: np.ndarray, length: int) -> tuple[np.ndarray, int]:
    """Non-overlapping windows covering every sample: (T, C) -> (ceil(T/L), L, C), end padded by repeating the
    last row; returns the windows and T (to cut the padding off again)."""
    T = len(x)
    n = -(-T // length)
    pad = n * length - T
    if pad:
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
    return x.reshape(n, length, x.shape[1]), T


def signature_maps(x: np.ndarray, scales: Sequence[int], step: int) -> tuple[np.ndarray, np.ndarray]:
    """Correlation maps between the vital signs (MSCRED's signature matrices, used by Albattah & Rassam 2022).

    For each map position t_j = j·step + step − 1 (the end of sub-window j) and each scale w:

        M_j^w[a, b] = (1/w) Σ_{τ = t_j − w + 1}^{t_j} x_a(τ) · x_b(τ)

    over the scaled series x (fewer terms, same normalisation by the count, at the start). On standardised
    data the diagonal is each channel's mean square (its level and spread) and the off-diagonal entries the
    co-movement of each pair: a sensor departing from its partners changes its row and column.

    Args:
        x: (T, C) scaled series.
        scales: window lengths w (samples).
        step: samples between maps.

    Returns:
        maps (J, S, C, C) float32 with J = ceil(T / step), and `ends` (J,) the sample index each map ends at.
    """
    T, C = x.shape
    outer = x[:, :, None].astype(np.float64) * x[:, None, :]  # (T, C, C)
    P = np.concatenate([np.zeros((1, C, C)), np.cumsum(outer, axis=0)])  # P[t] = Σ_{τ<t}
    ends = np.minimum(np.arange(step - 1, step * (-(-T // step)), step), T - 1)  # (J,)
    maps = np.empty((len(ends), len(scales), C, C), np.float32)
    for s, w in enumerate(scales):
        lo = np.maximum(ends + 1 - w, 0)
        maps[:, s] = (P[ends + 1] - P[lo]) / (ends + 1 - lo)[:, None, None]
    return maps, ends


def map_sequences(maps: np.ndarray, frames: int, include_current: bool = False) -> np.ndarray:
    """For every map j, the K = `frames` maps before it, j-K .. j-1 (or, with `include_current`, the K maps ending
    at it, j-K+1 .. j), edge-padded at the start: (J, S, C, C) -> (J, K, S, C, C)."""
    pad = frames - 1 if include_current else frames
    padded = np.concatenate([np.repeat(maps[:1], pad, axis=0), maps])  # (pad + J, S, C, C)
    view = np.lib.stride_tricks.sliding_window_view(padded, frames, axis=0)  # (pad + J - K + 1, S, C, C, K)
    return np.moveaxis(view[: len(maps)], -1, 1)  # row j holds maps j-K .. j-1 (or j-K+1 .. j)
