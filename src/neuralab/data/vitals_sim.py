"""A labelled vital-sign simulator, anomaly injectors that work on any `VitalsRecord`, and the CSV writer.

The normal physiology (`simulate(..., anomalies=False)`) is driven by three latent signals:

- a day/night rhythm: cosine with its peak in the late afternoon (HR, BP, temperature);
- sleep: 23:00 ± 25 min to about 07:00, with 10-min transitions (HR -12 bpm, BP -12/-8 mmHg, breathing -2.5/min);
- activity bouts while awake (about 1.2 per hour, 3-40 min, intensity 0.2-1): HR, pulse, BP and respiration rise
  *together* (HR +55·a bpm, SBP +28·a, DBP +8·a, RR +12·a), temperature follows slowly (20-min lag);

plus slow AR(1) drifts and white sensor noise per channel. Pulse rate is the heart rate seen by the oximeter
(the same beats, its own noise); respiratory sinus arrhythmia couples HR to breathing; ECG is a per-second summary,
the R-wave amplitude in ADC counts (≈550, the course file's scale), modulated by breathing and activity.

`inject_anomalies` adds events of three kinds, each labelled per sample with kind, cause, source and channels:

| injector            | kind       | source        | what happens                                                 |
|---------------------|------------|---------------|--------------------------------------------------------------|
| spike               | point      | sensor_fault  | 1-3 samples of one channel jump far away (motion artefact)   |
| dropout             | point      | sensor_fault  | 1-3 samples of one channel read 0 (signal loss)              |
| hr_rise_at_rest     | contextual | sensor_fault  | HR ramps up +22-35 bpm at rest; pulse and BP stay flat       |
| hr_pulse_mismatch   | contextual | sensor_fault  | pulse reads +18-28 bpm above the ECG heart rate              |
| night_tachycardia   | contextual | physiological | at night/rest HR and pulse +28-40 bpm together, RR +3-5      |
| irregular_rhythm    | collective | physiological | a run of irregular beat-to-beat HR, pulse deficit, ECG jitter |
| desaturation        | collective | physiological | SpO2 -7 to -11 % sustained, HR and RR rise to compensate     |
| flatline            | collective | sensor_fault  | one channel frozen at a constant (detached sensor)           |

A sensor fault is one sensor departing from its correlated partners; a physiological event moves the partners
together. Shapes: T samples, C channels; values (T, C).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from neuralab.data.vitals import CHANNELS, VitalsRecord, VitalsTruth, flag_faults
from neuralab.errors import ConfigError

# injector name -> (kind, source, (min_s, max_s) duration, min samples)
INJECTORS: dict[str, tuple[str, str, tuple[float, float], int]] = {
    "spike": ("point", "sensor_fault", (1.0, 3.0), 1),
    "dropout": ("point", "sensor_fault", (1.0, 3.0), 1),
    "hr_rise_at_rest": ("contextual", "sensor_fault", (240.0, 600.0), 3),
    "hr_pulse_mismatch": ("contextual", "sensor_fault", (180.0, 480.0), 3),
    "night_tachycardia": ("contextual", "physiological", (600.0, 1500.0), 3),
    "irregular_rhythm": ("collective", "physiological", (300.0, 900.0), 4),
    "desaturation": ("collective", "physiological", (300.0, 900.0), 4),
    "flatline": ("collective", "sensor_fault", (300.0, 1200.0), 4),
}
# the course's column names; temperature written in °F
COURSE_COLUMNS = {"temperature_c": "Body_Temperature", "heart_rate": "Heart_Rate", "pulse_rate": "Pulse_Rate",
                  "spo2": "SpO2", "ecg": "ECG", "systolic_bp": "Systolic_BP", "diastolic_bp": "Diastolic_BP",
                  "respiration_rate": "Respiration_Rate"}
# robust-scale floors and the smallest spike per channel (canonical units)
_SCALE_FLOOR = {"temperature_c": 0.1, "heart_rate": 2.0, "pulse_rate": 2.0, "spo2": 0.5, "ecg": 5.0,
                "systolic_bp": 3.0, "diastolic_bp": 2.0, "respiration_rate": 1.0}
_SPIKE_MIN = {"temperature_c": 2.5, "heart_rate": 45.0, "pulse_rate": 45.0, "spo2": 12.0, "ecg": 150.0,
              "systolic_bp": 50.0, "diastolic_bp": 35.0, "respiration_rate": 15.0}
DEFAULT_START = datetime(2026, 1, 5, 8, 0, 0)


# ----------------------------------------------------------------------------------------------------------------
# normal physiology


def _first_order(u: np.ndarray, phi: float, y_prev: float) -> np.ndarray:
    """y[i] = phi·y[i-1] + u[i] with y[-1] = y_prev, in blocks: a vectorised scan (scipy.signal.lfilter would do,
    but importing scipy.signal costs seconds, more than simulating a day).

    Within a block of L samples, y[s+k] = phi^(k+1)·c + phi^k·Σ_{m≤k} u[s+m]·phi^(-m), with c the carry from the
    previous block; L keeps phi^(-L) below 1e8 so the cumulative sum stays accurate.
    """
    n = len(u)
    if phi < 1e-6:  # no memory worth scanning for
        out = u.astype(np.float64).copy()
        out[0] += phi * y_prev
        return out
    L = int(min(1024, max(1, math.floor(8 * math.log(10) / -math.log(phi))))) if phi < 1.0 else 1024
    blocks = -(-n // L)
    padded = np.zeros(blocks * L)
    padded[:n] = u
    k = np.arange(L)
    up = phi ** k  # (L,)
    inner = np.cumsum(padded.reshape(blocks, L) / up, axis=1) * up  # (blocks, L): response with zero carry
    carry = np.empty(blocks)
    c, phi_l = y_prev, phi ** L
    for j in range(blocks):  # one scalar step per block
        carry[j] = c
        c = phi_l * c + inner[j, -1]
    out = inner + np.outer(carry, phi * up)
    return out.reshape(-1)[:n]


def _lag(x: np.ndarray, dt: float, tau: float) -> np.ndarray:
    """First-order low-pass (time constant `tau` s): how slowly a channel follows its driver."""
    alpha = 1.0 - math.exp(-dt / tau)
    return _first_order(alpha * x, 1.0 - alpha, float(x[0]))


def _ar1(rng: np.random.Generator, n: int, dt: float, sd: float, tau: float) -> np.ndarray:
    """Stationary AR(1) noise with standard deviation `sd` and correlation time `tau` seconds."""
    phi = math.exp(-dt / tau)
    e = rng.normal(0.0, sd * math.sqrt(1.0 - phi * phi), n)
    x0 = rng.normal(0.0, sd)
    return _first_order(e, phi, x0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _sleep_and_activity(rng: np.random.Generator, hours_since_start: np.ndarray, start_hour: float,
                        dt: float) -> tuple[np.ndarray, np.ndarray]:
    n = len(hours_since_start)
    sleep = np.zeros(n)
    clock0 = start_hour
    n_days = int(math.ceil((hours_since_start[-1] + clock0) / 24.0)) + 1
    for d in range(-1, n_days):
        onset = d * 24.0 + 23.0 + rng.normal(0.0, 0.4) - clock0  # hours since start
        wake = onset + 7.8 + rng.normal(0.0, 0.4)
        sleep += _sigmoid((hours_since_start - onset) / 0.08) * _sigmoid((wake - hours_since_start) / 0.08)
    sleep = np.clip(sleep, 0.0, 1.0)
    activity = np.zeros(n)
    total_h = hours_since_start[-1] + dt / 3600.0
    n_bouts = rng.poisson(1.2 * total_h)
    for _ in range(n_bouts):
        t0 = rng.uniform(0.0, total_h)
        length = float(np.clip(rng.exponential(12.0), 3.0, 40.0)) / 60.0
        i0, i1 = int(t0 * 3600 / dt), int((t0 + length) * 3600 / dt) + 1
        activity[i0:i1] = np.maximum(activity[i0:i1], rng.uniform(0.2, 1.0))
    activity = _lag(activity, dt, 60.0) * (1.0 - sleep)
    return sleep, activity


def simulate(hours: float = 24.0, rate_hz: float = 1.0, seed: int = 0, *, anomalies: bool = True,
             n_events: int | None = None, kinds: Sequence[str] | None = None,
             start: datetime | None = None, channels: Sequence[str] | None = None) -> VitalsRecord:
    """Simulate a labelled WBAN recording (all eight channels, or the `channels` asked for).

    Args:
        hours: length of the recording.
        rate_hz: samples per second (1 Hz: the per-second summaries of a wearable).
        seed: the same seed gives the same recording, a different seed a different one.
        anomalies: inject labelled anomalies (False: normal data for training, `truth` all zero).
        n_events: number of anomaly events (default: one per hour, at least one of each kind asked for).
        kinds: injector names from `INJECTORS` (default: all).
        start: clock time of the first sample (default 2026-01-05 08:00, so a day recording starts in the morning).
        channels: keep only these channels (canonical or course names), chosen before anomalies are injected so
            that every labelled event is visible in the kept channels.

    Returns:
        A `VitalsRecord` with `truth` set.
    """
    if not hours > 0 or not rate_hz > 0:
        raise ConfigError(f"hours and rate must be > 0, got hours={hours}, rate={rate_hz}")
    n = int(round(hours * 3600.0 * rate_hz))
    if n < 10:
        raise ConfigError(f"{hours} h at {rate_hz} Hz is {n} samples; simulate at least 10")
    if n > 50_000_000:
        raise ConfigError(f"{hours} h at {rate_hz} Hz is {n:,} samples; at most 50,000,000")
    rng = np.random.default_rng(seed)
    start = start or DEFAULT_START
    dt = 1.0 / rate_hz
    t = np.arange(n) * dt
    th = t / 3600.0
    start_hour = start.hour + start.minute / 60.0 + start.second / 3600.0
    clock = (start_hour + th) % 24.0
    circ = np.cos(2 * np.pi * (clock - 16.5) / 24.0)  # +1 at 16:30, -1 at 04:30
    sleep, act = _sleep_and_activity(rng, th, start_hour, dt)
    resp = 15.0 + 0.5 * circ - 2.5 * sleep + 12.0 * act + _ar1(rng, n, dt, 1.0, 120.0) + rng.normal(0, 0.4, n)
    breath_phase = np.cumsum(2 * np.pi * np.maximum(resp, 4.0) / 60.0 * dt)
    rsa = 2.5 * np.sin(breath_phase) * min(1.0, rate_hz / 0.6)  # breathing modulates the beat rate
    hr = (72.0 + 3.0 * circ - 12.0 * sleep + 55.0 * act + rsa + _ar1(rng, n, dt, 3.0, 300.0)
          + _ar1(rng, n, dt, 1.2, 15.0))
    pulse = hr + _ar1(rng, n, dt, 0.7, 10.0) + rng.normal(0, 0.4, n)
    sbp = 118.0 + 4.0 * circ - 12.0 * sleep + 28.0 * act + _ar1(rng, n, dt, 4.0, 600.0) + rng.normal(0, 1.5, n)
    dbp = 77.0 + 2.0 * circ - 8.0 * sleep + 8.0 * act + _ar1(rng, n, dt, 2.5, 600.0) + rng.normal(0, 1.0, n)
    spo2 = np.minimum(100.0, 97.6 - 0.6 * sleep - 0.4 * act + _ar1(rng, n, dt, 0.5, 60.0) + rng.normal(0, 0.3, n))
    temp = (36.75 + 0.25 * np.cos(2 * np.pi * (clock - 17.0) / 24.0) - 0.15 * sleep
            + 0.3 * _lag(act, dt, 1200.0) + _ar1(rng, n, dt, 0.05, 1800.0) + rng.normal(0, 0.02, n))
    ecg = (550.0 + 12.0 * np.sin(breath_phase) * min(1.0, rate_hz / 0.6) - 20.0 * act
           + _ar1(rng, n, dt, 4.0, 30.0) + rng.normal(0, 3.0, n))
    values = np.column_stack([temp, hr, pulse, spo2, ecg, sbp, dbp, resp])
    keep = _channel_names(channels) if channels is not None else list(CHANNELS)
    values = values[:, [CHANNELS.index(c) for c in keep]]
    channels = keep
    record = VitalsRecord(values=values, channels=channels, seconds=t, start=start, rate_hz=rate_hz,
                          faults=flag_faults(values, channels), truth=VitalsTruth.normal(n),
                          notes=[f"simulated: {hours:g} h at {rate_hz:g} Hz, seed {seed}"],
                          source=f"simulate(hours={hours:g}, rate_hz={rate_hz:g}, seed={seed})")
    if not anomalies:
        return record
    kinds = tuple(kinds) if kinds is not None else tuple(INJECTORS)
    if n_events is None:
        n_events = max(len(kinds), int(round(hours)))
    night = sleep > 0.5
    rest = (act < 0.05) | night
    return inject_anomalies(record, rng, n_events=n_events, kinds=kinds, rest=rest, night=night)


def _channel_names(names: Sequence[str]) -> list[str]:
    """Canonical or course column names -> canonical names, in `CHANNELS` order."""
    by_course = {v.lower(): k for k, v in COURSE_COLUMNS.items()}
    wanted = {by_course.get(c.strip().lower(), c.strip()) for c in names if c.strip()}
    unknown = sorted(wanted - set(CHANNELS))
    if unknown or not wanted:
        raise ConfigError(f"unknown channel(s) {', '.join(unknown) or '(none given)'}; expected from "
                          f"{', '.join(CHANNELS)} or {', '.join(COURSE_COLUMNS.values())}")
    return [c for c in CHANNELS if c in wanted]


# ----------------------------------------------------------------------------------------------------------------
# anomaly injection


def _bump(n: int, rise: float = 0.25, fall: float = 0.2) -> np.ndarray:
    """(n,) trapezoid from 0 up to 1 and back: the time course of a gradual event."""
    x = (np.arange(n) + 0.5) / n
    up = np.clip(x / max(rise, 1e-9), 0.0, 1.0)
    down = np.clip((1.0 - x) / max(fall, 1e-9), 0.0, 1.0)
    return np.minimum(up, down)


def _scale(col: np.ndarray, name: str) -> float:
    finite = col[np.isfinite(col)]
    if finite.size < 2:
        return _SCALE_FLOOR[name]
    mad = float(np.median(np.abs(finite - np.median(finite))))
    return max(1.4826 * mad, _SCALE_FLOOR[name])


def _apply(name: str, x: np.ndarray, ch: list[str], span: slice, rng: np.random.Generator,
           target: str | None) -> tuple[tuple[str, ...], str]:
    """Modify `x[span]` in place for injector `name`; returns (affected channels, cause)."""
    n = span.stop - span.start

    def col(c: str) -> np.ndarray:
        return x[span, ch.index(c)]

    def add(c: str, delta: np.ndarray | float) -> None:
        if c in ch:
            x[span, ch.index(c)] = col(c) + delta

    if name == "spike":
        sd = _scale(x[:, ch.index(target)], target)
        size = max(8.0 * sd, _SPIKE_MIN[target]) * rng.uniform(1.0, 1.4)
        sign = -1.0 if target == "spo2" else rng.choice([-1.0, 1.0])
        if target in ("heart_rate", "pulse_rate", "systolic_bp", "diastolic_bp", "respiration_rate") and sign < 0:
            size = min(size, 0.6 * float(np.nanmedian(col(target))))  # stay above 0: a drop, not a dropout
        add(target, sign * size)
        return (target,), f"motion artefact or interference on the {target} sensor"
    if name == "dropout":
        x[span, ch.index(target)] = 0.0
        return (target,), f"{target} signal lost for a moment (reads 0)"
    if name == "hr_rise_at_rest":
        add("heart_rate", rng.uniform(22.0, 35.0) * _bump(n, 0.4, 0.15))
        partners = " and ".join(p for c, p in (("pulse_rate", "pulse"), ("systolic_bp", "blood pressure")) if c in ch)
        verb = "stays" if " and " not in partners else "stay"
        return ("heart_rate",), f"heart rate rising at rest while {partners} {verb} flat"
    if name == "hr_pulse_mismatch":
        add("pulse_rate", rng.uniform(18.0, 28.0) * _bump(n, 0.1, 0.1))
        return ("pulse_rate",), "pulse rate departs from the ECG heart rate (HR differs from pulse)"
    if name == "night_tachycardia":
        shape = _bump(n, 0.3, 0.3)
        rise = rng.uniform(28.0, 40.0) * shape
        add("heart_rate", rise)
        add("pulse_rate", rise + rng.normal(0.0, 0.5, n))
        add("respiration_rate", rng.uniform(3.0, 5.0) * shape)
        add("systolic_bp", rng.uniform(4.0, 8.0) * shape)
        moved = tuple(c for c in ("heart_rate", "pulse_rate", "respiration_rate") if c in ch)
        words = {"heart_rate": "heart rate", "pulse_rate": "pulse", "respiration_rate": "breathing"}
        names = [words[c] for c in moved]
        together = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        return moved, f"tachycardia at rest or at night: {together} rise together"
    if name == "irregular_rhythm":
        jitter = rng.normal(8.0, rng.uniform(10.0, 15.0), n)
        add("heart_rate", jitter)
        add("pulse_rate", 0.6 * jitter - 0.3 * np.abs(jitter))  # some beats do not reach the finger
        if "ecg" in ch:
            add("ecg", rng.normal(0.0, 6.0 * _scale(x[:, ch.index("ecg")], "ecg"), n))
        moved = tuple(c for c in ("heart_rate", "pulse_rate", "ecg") if c in ch)
        return moved, "irregular beat-to-beat variability (e.g. atrial fibrillation or frequent ectopic beats)"
    if name == "desaturation":
        shape = _bump(n, 0.25, 0.2)
        add("spo2", -rng.uniform(7.0, 11.0) * shape)
        add("heart_rate", rng.uniform(6.0, 12.0) * shape)
        add("pulse_rate", rng.uniform(6.0, 12.0) * shape)
        add("respiration_rate", rng.uniform(3.0, 6.0) * shape)
        moved = tuple(c for c in ("spo2", "heart_rate", "pulse_rate", "respiration_rate") if c in ch)
        return moved, "sustained oxygen desaturation with heart and breathing rate rising to compensate"
    if name == "flatline":
        c = ch.index(target)
        finite = np.isfinite(x[span, c])
        x[span, c] = np.where(finite, x[span.start, c] if np.isfinite(x[span.start, c])
                              else np.nanmedian(x[span, c]), np.nan)
        return (target,), f"{target} sensor detached or frozen (constant reading)"
    raise ConfigError(f"unknown injector {name!r}; expected one of {', '.join(INJECTORS)}")


def _requires(name: str, ch: list[str]) -> list[str]:
    """Channels the injector needs; the target is drawn from the first list when it has several candidates."""
    need = {"hr_rise_at_rest": ["heart_rate"], "hr_pulse_mismatch": ["pulse_rate"],
            "night_tachycardia": ["heart_rate"], "irregular_rhythm": ["heart_rate"], "desaturation": ["spo2"]}
    if name in need:
        ok = all(c in ch for c in need[name])
        if name == "hr_pulse_mismatch":
            ok = ok and "heart_rate" in ch
        if name == "hr_rise_at_rest":
            ok = ok and any(c in ch for c in ("pulse_rate", "systolic_bp"))
        return need[name] if ok else []
    return list(ch)  # spike, dropout, flatline: any channel


def inject_anomalies(record: VitalsRecord, rng: np.random.Generator | int | None = None, *,
                     n_events: int | None = None, kinds: Sequence[str] | None = None,
                     rest: np.ndarray | None = None, night: np.ndarray | None = None,
                     max_fraction: float = 0.2) -> VitalsRecord:
    """Return a copy of `record` with labelled anomalies injected (its `truth` set or extended).

    Works on any record: simulated, a user's file, a PhysioNet stay on its hourly grid. Durations are drawn in
    seconds and converted with the record's rate (at least the injector's minimum number of samples); injectors
    whose channels the record lacks are skipped; events never overlap each other or existing labels.

    Args:
        record: the recording (not modified).
        rng: a numpy Generator or a seed.
        n_events: events to place (default: one per 2 hours, at least one); fewer when the record is full.
        kinds: injector names (default: all of `INJECTORS`), used round-robin in a shuffled order.
        rest: (T,) bool, where the wearer is at rest (contextual events go there); default: the lowest 40% of a
            30-min rolling heart rate, or everywhere when there is no heart rate.
        night: (T,) bool, night-time (night tachycardia goes there); default: 23:00-06:00 when `start` is known,
            else `rest`.
        max_fraction: stop placing events when this fraction of samples is labelled.

    Returns:
        The new record; `notes` says how many events of each kind were placed.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    kinds = tuple(kinds) if kinds is not None else tuple(INJECTORS)
    unknown = [k for k in kinds if k not in INJECTORS]
    if unknown:
        raise ConfigError(f"unknown anomaly injector(s) {', '.join(unknown)}; expected from {', '.join(INJECTORS)}")
    out = record.copy()
    n = len(out)
    x, ch = out.values, out.channels
    truth = out.truth if out.truth is not None else VitalsTruth.normal(n)
    rate = out.rate_hz or (1.0 / float(np.median(np.diff(out.seconds))) if n > 1 else 1.0)
    rest, night = _context_masks(out, rest, night, rate)
    usable = [k for k in kinds if _requires(k, ch)]
    if not usable:
        raise ConfigError(f"{record.source}: none of the injectors {', '.join(kinds)} fits channels "
                          f"{', '.join(ch)}")
    if n_events is None:
        n_events = max(1, int(round(out.hours / 2.0)))
    order = list(rng.permutation(usable))
    placed: dict[str, int] = {}
    guard = max(1, int(round(60.0 * rate)))  # keep a minute (at least a sample) of normal data between events
    for e in range(n_events):
        if truth.label.mean() >= max_fraction:
            break
        name = order[e % len(order)]
        kind, source, (lo, hi), min_len = INJECTORS[name]
        length = max(min_len, int(round(rng.uniform(lo, hi) * rate)))
        if length + 2 > n:
            continue
        cands = _requires(name, ch)
        target = str(rng.choice(cands)) if name in ("spike", "dropout", "flatline") else cands[0]
        where = night if name == "night_tachycardia" else rest if kind == "contextual" else None
        begin = _find_slot(rng, truth.label, x[:, ch.index(target)], length, guard, where)
        if begin is None:
            continue
        span = slice(begin, begin + length)
        moved, cause = _apply(name, x, ch, span, rng, target)
        truth.label[span] = 1
        truth.kind[span] = kind
        truth.source[span] = source
        truth.cause[span] = f"{name}: {cause}"
        for i in range(span.start, span.stop):
            truth.channels[i] = moved
        placed[name] = placed.get(name, 0) + 1
    out.truth = truth
    out.faults = flag_faults(x, ch)
    total = sum(placed.values())
    out.notes.append(f"injected {total} anomaly events: " + ", ".join(f"{k} {v}" for k, v in sorted(placed.items())))
    return out


def _context_masks(rec: VitalsRecord, rest: np.ndarray | None, night: np.ndarray | None,
                   rate: float) -> tuple[np.ndarray, np.ndarray]:
    n = len(rec)
    if rest is None:
        if "heart_rate" in rec.channels:
            hr = rec.values[:, rec.channels.index("heart_rate")]
            w = max(1, int(round(1800.0 * rate)))
            filled = np.where(np.isfinite(hr), hr, np.nanmedian(hr) if np.isfinite(hr).any() else 0.0)
            smooth = np.convolve(filled, np.ones(w) / w, mode="same")
            rest = smooth <= np.quantile(smooth, 0.4)
        else:
            rest = np.ones(n, dtype=bool)
    if night is None:
        if rec.start is not None:
            hours = (rec.start.hour + rec.start.minute / 60.0 + rec.seconds / 3600.0) % 24.0
            night = (hours >= 23.0) | (hours < 6.0)
            if not night.any():
                night = rest
        else:
            night = rest
    night = np.asarray(night, bool)
    return np.asarray(rest, bool), night if night.any() else np.asarray(rest, bool)


def _find_slot(rng: np.random.Generator, label: np.ndarray, target: np.ndarray, length: int, guard: int,
               where: np.ndarray | None) -> int | None:
    """A start index whose span (plus guard) is unlabelled, mostly finite on the target channel and, when `where`
    is given, mostly inside it. None after 300 failed draws."""
    n = len(label)
    busy = np.concatenate(([0], np.cumsum(label.astype(np.int64))))
    finite = np.concatenate(([0], np.cumsum(np.isfinite(target).astype(np.int64))))
    inside = np.concatenate(([0], np.cumsum(where.astype(np.int64)))) if where is not None else None
    for attempt in range(300):
        b = int(rng.integers(1, n - length)) if n - length > 1 else 0
        e = b + length
        lo, hi = max(0, b - guard), min(n, e + guard)
        if busy[hi] - busy[lo]:
            continue
        if finite[e] - finite[b] < max(1, length // 2):
            continue
        if inside is not None and attempt < 250 and inside[e] - inside[b] < 0.8 * length:
            continue  # after 250 misses accept any free slot rather than drop the event
        return b
    return None


# ----------------------------------------------------------------------------------------------------------------
# writing


def write_vitals_csv(record: VitalsRecord, path: str | Path, style: str = "course",
                     comment: str | None = None, channels: Sequence[str] | None = None) -> Path:
    """Write a record as CSV, atomically (temp file in the same folder, then rename).

    Args:
        record: what to write; its `truth` (if any) becomes the columns `label`, `anomaly_kind`,
            `anomaly_source`, `anomaly_channels` (`;`-separated), `anomaly_cause`.
        path: the CSV file.
        style: 'course' (Body_Temperature in °F, Heart_Rate, Pulse_Rate, SpO2, ECG, Systolic_BP, Diastolic_BP,
            Respiration_Rate) or 'canonical' (the `CHANNELS` names, °C).
        comment: an optional first line, written as `# comment` (the reader skips it).
        channels: write only these channels (canonical names or course column names; default all).

    Returns:
        The path written. The first column is `time`: ISO date-times when `record.start` is known, else seconds.
    """
    import pandas as pd

    if style not in ("course", "canonical"):
        raise ConfigError(f"style must be 'course' or 'canonical', got {style!r}")
    keep = list(record.channels)
    if channels is not None:
        wanted = _channel_names(channels)
        missing = [c for c in wanted if c not in record.channels]
        if missing:
            raise ConfigError(f"channels {', '.join(missing)} not in the record; it has {', '.join(record.channels)}")
        keep = wanted
    path = Path(path)
    cols: dict[str, object] = {}
    if record.start is not None:
        stamps = np.datetime64(record.start.replace(tzinfo=None), "ms") + \
            np.round(record.seconds * 1000).astype("timedelta64[ms]")
        unit = "s" if np.all(np.mod(record.seconds, 1.0) == 0) else "ms"
        cols["time"] = np.datetime_as_string(stamps, unit=unit)
    else:
        cols["time"] = np.round(record.seconds, 3)
    for name in keep:
        v = record.values[:, record.channels.index(name)]
        if style == "course":
            if name == "temperature_c":
                v = v * 9.0 / 5.0 + 32.0
            cols[COURSE_COLUMNS[name]] = np.round(v, 2)
        else:
            cols[name] = np.round(v, 3)
    if record.truth is not None:
        tr = record.truth
        cols["label"] = tr.label.astype(np.int8)
        cols["anomaly_kind"] = tr.kind
        cols["anomaly_source"] = tr.source
        cols["anomaly_channels"] = np.array([";".join(c) for c in tr.channels], dtype=object)
        cols["anomaly_cause"] = tr.cause
    frame = pd.DataFrame(cols)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a data file gets the usual permissions
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            if comment:
                for line in comment.splitlines():
                    fh.write(f"# {line}\n")
            frame.to_csv(fh, index=False, na_rep="", lineterminator="\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def describe_events(record: VitalsRecord) -> dict[str, int]:
    """Number of labelled events per kind (point/contextual/collective)."""
    counts = {"point": 0, "contextual": 0, "collective": 0}
    if record.truth is not None:
        for ev in record.truth.events():
            counts[ev["kind"]] = counts.get(ev["kind"], 0) + 1
    return counts

