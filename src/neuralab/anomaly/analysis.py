"""`neuralab vitals analyze`: the analysis a clinician-researcher runs on one recording.

    analyze(path) -> dict (analysis.json's content) ; write_outputs(...) -> analysis.json, report.html, chart.svg

The pipeline, top-down:

1. **read** the file (`data.vitals.read_vitals`: any column style, °F converted, short gaps filled; refused with a
   clear message when empty, binary, malformed or longer than `max_rows`);
2. **score** every sample and channel with a detector. The default works out of the box: an AR(5) per channel
   (`detectors.ARDetector`) *trained on the fly* (about 2 s) on 3 h of normal data from the simulator with the
   recording's own channels and rate; its residuals are then standardised by their robust spread on the recording
   itself (1.4826·MAD), so the patient's own noise level sets the scale and the threshold fitted on normal data
   transfers. `--detector NAME` trains that detector the same way; `--model DIR` uses a detector trained with
   `neuralab vitals train` on your own normal data, as it is;
3. **monitor ranges**: the detector sees departures from the signal's own dynamics; a level that stays abnormal
   (tachycardia at rest, a slow desaturation, fever) is caught by a range monitor: the rolling median of a channel
   outside the adult reference range (`RANGE_LIMITS`) for at least `RANGE_MIN_S` seconds — heart and pulse rate
   only at rest (the breathing rate, when recorded, not raised) so exercise does not count;
4. **events**: runs of either merged (gaps up to `MERGE_S` seconds);
   on a coarse grid (hourly ICU data) runs one quiet reading apart are one event too; `alarm_z` and `merge_s`
   override the alarm level and the merge gap (calibrate them on your own labelled or injected recordings);
5. **characterize** each event (`characterize.characterize`): kind (point / contextual / collective), source
   (sensor fault / physiological), channels with their share of the score, evidence in numbers, and the knowledge
   base's findings with possible causes;
6. **label** the recording the way the course's tool does ("contextual anomaly present") with counts per kind.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuralab.anomaly.detectors import Detector, load_detector, make_detector
from neuralab.data.vitals import ANOMALY_KINDS, VitalsRecord
from neuralab.errors import ConfigError, DataError

SCHEMA_VERSION = 1
DEFAULT_DETECTOR = "ar"
DEFAULT_MAX_ROWS = 5_000_000  # ~58 days at 1 Hz; longer files are refused with a message (split them)
TRAIN_HOURS = 3.0  # hours of simulated normal data the on-the-fly detector is trained on
MERGE_S = 30.0  # events closer than this are one event
RANGE_MIN_S = 60.0  # a rolling median must stay out of range this long to count
RANGE_WINDOW_S = 60.0
# (low, high) limits of the range monitor, wider than the normal range: a level beyond them is abnormal for an
# adult at rest. Heart and pulse rate upper limits only apply at rest.
RANGE_LIMITS = {"heart_rate": (45.0, 100.0), "pulse_rate": (45.0, 100.0), "spo2": (92.0, None),
                "temperature_c": (35.5, 38.0), "systolic_bp": (90.0, 160.0), "diastolic_bp": (50.0, 100.0),
                "respiration_rate": (8.0, 24.0)}
AT_REST_ONLY = {"heart_rate", "pulse_rate", "respiration_rate"}
EXERTION_HR_BPM = 25.0  # heart rate this far above its recording median: exertion (breathing fast is expected)
ALARM_Z = 6.0  # the default detector's alarm level, in robust spreads of the one-step residual (see robust_scores)
PULSE_DEFICIT_BPM = 10.0  # |heart rate - pulse rate| sustained above this: the two sensors disagree
NIGHT_RISE_BPM = 20.0  # heart rate this far above the patient's own night-time median, at night
FLAT_MIN_S = 10.0  # a channel frozen at one value this long (while it otherwise varies) is a flatline


# ------------------------------------------------------------------------------------------------ detector
_CACHE: dict[tuple, Detector] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 16


def default_detector(channels: Sequence[str], rate_hz: float | None = 1.0, *, name: str = DEFAULT_DETECTOR,
                     seed: int = 0, hours: float = TRAIN_HOURS, epochs: int = 3,
                     params: dict[str, Any] | None = None) -> Detector:
    """A detector trained on the fly on `hours` of simulated normal data with these channels at this rate.

    The simulator produces the eight canonical channels; the detector is trained on the ones asked for (a channel
    the simulator does not know raises ConfigError). Trained detectors are kept in a small in-process cache keyed
    by (detector, channels, rate, seed, ...): a service analysing many files of one device trains once. Scoring
    does not modify a detector, so the cached one is shared between threads.
    """
    key = (name, tuple(channels), float(rate_hz or 1.0), seed, hours, epochs, json.dumps(params, sort_keys=True))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    det = _train_default(channels, rate_hz, name=name, seed=seed, hours=hours, epochs=epochs, params=params)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = det
    return det


def _train_default(channels: Sequence[str], rate_hz: float | None, *, name: str, seed: int, hours: float,
                   epochs: int, params: dict[str, Any] | None) -> Detector:
    from neuralab.data.vitals_sim import simulate

    known = [c for c in channels]
    if not known:
        raise DataError("the recording has no vital-sign channel to analyse")
    rate = float(rate_hz or 1.0)
    # at low rates (hourly ICU grids) simulate enough rows for the windows: at least 2,000 samples
    hours = max(hours, 2000.0 / rate / 3600.0)
    train = [simulate(hours, rate, seed + 1000 + i, anomalies=False, channels=known) for i in range(2)]
    det = make_detector(name, params, known)
    return det.fit(train, epochs=epochs, seed=seed)


def robust_scores(det: Detector, record: VitalsRecord) -> tuple[np.ndarray, np.ndarray]:
    """(T,) sample and (T, C) channel scores; an AR detector's residuals are standardised on the record itself.

    For the AR detector the residual of each channel is divided by its robust spread on this recording
    (1.4826·MAD, which anomalies barely move), not by the spread seen in training: a patient whose signals are
    noisier or smoother than the training data gets the same false-alarm rate. Other detectors score as trained.
    """
    if det.name != "ar":
        s = det.score(record)
        return s.sample, s.channel
    x, gap = det.scaler.transform(record)
    r = det.residuals(x)
    p = det.coef.shape[1] - 1
    body = r[p:]
    mad = np.median(np.abs(body - np.median(body, axis=0)), axis=0) if len(body) else np.ones(r.shape[1])
    sigma = np.maximum(1.4826 * mad, 1e-3 * det.sigma)
    z = np.abs(r) / sigma
    sample, channel = det._smooth(z.max(axis=1), z)
    channel = channel.astype(np.float64)
    channel[gap] = np.nan
    sample = np.where(gap.all(axis=1), np.nan, sample)
    return sample, channel


# ------------------------------------------------------------------------------------------------ range monitor
def _rolling_median(col: np.ndarray, k: int) -> np.ndarray:
    """Centred rolling median over `k` samples (NaN-aware; pandas, O(T log k))."""
    import pandas as pd

    return pd.Series(col).rolling(k, center=True, min_periods=max(1, k // 2)).median().to_numpy()


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist(), strict=True))


def rest_mask(record: VitalsRecord, k: int, for_channel: str = "heart_rate") -> np.ndarray:
    """(T,) bool, the wearer at rest, for judging `for_channel`'s upper limit.

    For heart and pulse rate: the breathing rate (when recorded) not raised above the recording's median + 4
    breaths/min; for the breathing rate: the heart rate not raised `EXERTION_HR_BPM` above its median. Without
    the other channel every row counts as rest (noted by the caller).
    """
    other = "heart_rate" if for_channel == "respiration_rate" else "respiration_rate"
    if other not in record.channels:
        return np.ones(len(record), bool)
    med = _rolling_median(record.channel(other), k)
    raise_by = EXERTION_HR_BPM if other == "heart_rate" else 4.0
    return ~(med > np.nanmedian(med) + raise_by)


def _sustained(flag: np.ndarray, min_len: int) -> np.ndarray:
    flag = flag.copy()
    for s, e in _runs(flag):
        if e - s + 1 < min_len:
            flag[s:e + 1] = False
    return flag


def monitors(record: VitalsRecord, rate_hz: float, night: np.ndarray | None = None) -> np.ndarray:
    """(T, C) rule-monitor scores, >= 1 where a rule fires (0 elsewhere); how far beyond the rule's limit.

    - range: a channel's 60-s rolling median beyond `RANGE_LIMITS` for `RANGE_MIN_S` (heart and pulse rate only
      at rest);
    - pulse deficit: |heart rate - pulse rate| (rolling median) above `PULSE_DEFICIT_BPM` for `RANGE_MIN_S`;
    - night rise: at night (when the file has a clock), the heart rate `NIGHT_RISE_BPM` above its own night median;
    - flatline: a channel exactly constant for `FLAT_MIN_S` while it varies elsewhere in the recording.
    """
    k = max(3, int(round(RANGE_WINDOW_S * rate_hz)))
    min_len = max(2, int(round(RANGE_MIN_S * rate_hz)))
    ch = record.channels
    out = np.zeros((len(record), len(ch)))
    med = {c: _rolling_median(record.values[:, i], k) for i, c in enumerate(ch)}

    def put(c: str, over: np.ndarray, n: int = min_len) -> None:
        over = np.nan_to_num(over, nan=0.0).clip(min=0)
        flag = _sustained(over > 0, n)
        i = ch.index(c)
        out[:, i] = np.maximum(out[:, i], np.where(flag, 1.0 + over, 0.0))

    for c in ch:
        if c not in RANGE_LIMITS:
            continue
        lo, hi = RANGE_LIMITS[c]
        if hi is not None:
            o = (med[c] - hi) / (0.05 * hi)
            put(c, np.where(rest_mask(record, k, c), o, 0.0) if c in AT_REST_ONLY else o)
        if lo is not None:
            put(c, (lo - med[c]) / (0.05 * lo))
    if "heart_rate" in ch and "pulse_rate" in ch:
        diff = _rolling_median(record.channel("heart_rate") - record.channel("pulse_rate"), k)
        over = (np.abs(diff) - PULSE_DEFICIT_BPM) / PULSE_DEFICIT_BPM
        # the sensor that departs from its own recent level carries the score
        for c in ("heart_rate", "pulse_rate"):
            long = _rolling_median(record.channel(c), max(k, int(round(1800 * rate_hz))))
            moved = np.abs(med[c] - long)
            other = "pulse_rate" if c == "heart_rate" else "heart_rate"
            other_moved = np.abs(med[other] - _rolling_median(record.channel(other),
                                                              max(k, int(round(1800 * rate_hz)))))
            put(c, np.where(moved >= other_moved, over, 0.0))
    if night is not None and "heart_rate" in ch and night.sum() >= 10 * k:
        hr_night = float(np.nanmedian(record.channel("heart_rate")[night]))
        put("heart_rate", np.where(night, (med["heart_rate"] - hr_night - NIGHT_RISE_BPM) / NIGHT_RISE_BPM, 0.0))
    flat_len = max(4, int(round(FLAT_MIN_S * rate_hz)))
    for i, c in enumerate(ch):
        col = record.values[:, i]
        if not np.isfinite(col).any() or np.nanstd(col) == 0:
            continue
        same = np.concatenate(([False], np.diff(col) == 0))
        same = same | np.concatenate((same[1:], [False]))
        put(c, np.where(same, 1.0, 0.0), flat_len)
    return out


# ------------------------------------------------------------------------------------------------ analysis
@dataclass
class Result:
    """Everything the outputs need: the analysis dict and the arrays behind the report."""

    analysis: dict[str, Any]
    record: VitalsRecord
    sample_scores: np.ndarray
    channel_scores: np.ndarray
    threshold: float
    spans: list[tuple[int, int]]


def _event_spans(flag: np.ndarray, gap: int) -> list[tuple[int, int]]:
    spans: list[list[int]] = []
    for s, e in _runs(flag):
        if spans and s - spans[-1][1] - 1 <= gap:
            spans[-1][1] = e
        else:
            spans.append([s, e])
    return [(s, e) for s, e in spans]


def merge_gap(rate_hz: float, merge_s: float | None = None) -> int:
    """Readings between two runs that still make them one event: `merge_s` (default `MERGE_S`) seconds, and at
    least one reading, so on a coarse grid (hourly ICU data) a single quiet reading does not split an episode."""
    return max(1, int(round((MERGE_S if merge_s is None else merge_s) * rate_hz)))


def _trim(record: VitalsRecord, start: int, end: int, k: float = 4.0, ref: int = 60) -> tuple[int, int]:
    """Trim a detector event to the readings that are themselves away from their neighbours.

    A one-step-ahead detector keeps scoring high for `p` samples after a jump (the jump sits in its lagged
    inputs), so a 1-sample spike becomes a 6-sample event. Rows whose values are more than `k` robust spreads
    from the median of the `ref` readings on either side are kept (first to last); if none is, the event stays.
    """
    x = record.values
    lo, hi = max(0, start - ref), min(len(record), end + 1 + ref)
    around = np.concatenate([x[lo:start], x[end + 1:hi]])
    if len(around) < 5:
        return start, end
    center = np.nanmedian(around, axis=0)
    spread = 1.4826 * np.nanmedian(np.abs(around - center), axis=0)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, np.inf)
    z = np.nan_to_num(np.abs(x[start:end + 1] - center) / spread, nan=0.0).max(axis=1)
    away = np.flatnonzero(z > k)
    if not away.size:
        return start, end
    return start + int(away[0]), start + int(away[-1])


def label_of(counts: dict[str, int]) -> str:
    """The recording's label, as the course's tool words it: the dominant kind present, or none."""
    present = [k for k in ("contextual", "collective", "point") if counts.get(k)]
    if not present:
        return "no anomaly found"
    return " and ".join(f"{k} anomaly" for k in present) + " present"


def headline_of(counts: dict[str, int], file: str) -> str:
    if not sum(counts.values()):
        return f"{file}: no anomalous event found."
    main = max(("contextual", "collective", "point"), key=lambda k: (counts.get(k, 0), k == "contextual"))
    article = "an" if main[0] in "aeiou" else "a"
    return f"The dataset provided is an instance of {main.capitalize()} Anomaly" if counts.get(main) else \
        f"The dataset provided is {article} {main} anomaly"


def analyze_record(record: VitalsRecord, *, detector: str | None = None, model_dir: str | Path | None = None,
                   seed: int = 0, file: str | None = None, max_events: int = 500,
                   alarm_z: float | None = None, merge_s: float | None = None) -> Result:
    """Analyse one recording (see the module docstring); returns the analysis and the arrays behind it.

    Args:
        record: the recording.
        detector: a detector name to train on the fly on simulated normal data (default `DEFAULT_DETECTOR`).
        model_dir: a detector trained with `neuralab vitals train` (its threshold is kept unless `alarm_z`).
        seed: the seed of the on-the-fly training.
        file: the name shown in the outputs.
        max_events: the strongest this many events are reported.
        alarm_z: the detector's alarm level (default: `ALARM_Z` robust spreads for the on-the-fly AR detector).
        merge_s: events closer than this many seconds are one event (default `MERGE_S`); at least one reading.
    """
    from neuralab.anomaly.characterize import characterize, night_mask
    from neuralab.anomaly.knowledge import DISCLAIMER, baseline_of

    t0 = time.perf_counter()
    if alarm_z is not None and not alarm_z > 0:
        raise ConfigError(f"alarm_z must be > 0 (robust spreads of the detector's residual); got {alarm_z}")
    if merge_s is not None and not merge_s >= 0:
        raise ConfigError(f"merge_s must be >= 0 seconds; got {merge_s}")
    if len(record) < 20:
        raise DataError(f"{record.source}: {len(record)} rows; an analysis needs at least 20 readings")
    usable = [c for i, c in enumerate(record.channels) if np.isfinite(record.values[:, i]).any()]
    empty = [c for c in record.channels if c not in usable]
    if not usable:
        raise DataError(f"{record.source}: every channel is empty (all values missing)")
    notes = list(record.notes)
    if empty:
        notes.append(f"ignored channel(s) with no value at all: {', '.join(empty)}")
        keep = [record.channels.index(c) for c in usable]
        record = record.copy()
        record.values, record.faults = record.values[:, keep], record.faults[:, keep]
        record.imputed = record.imputed[:, keep]
        record.channels = usable
    rate = record.rate_hz or (1.0 / float(np.median(np.diff(record.seconds))))

    if model_dir is not None:
        det = load_detector(model_dir)
        missing = [c for c in det.channels if c not in record.channels]
        if missing:
            raise DataError(f"{record.source}: the detector in {model_dir} was trained on {', '.join(det.channels)}; "
                            f"this recording lacks {', '.join(missing)}")
        how = f"{det.name} from {model_dir}"
    else:
        name = detector or DEFAULT_DETECTOR
        det = default_detector(record.channels, rate, name=name, seed=seed)
        how = f"{name}, trained on the fly on {TRAIN_HOURS:g} h x 2 of simulated normal data"
    t_fit = time.perf_counter()
    sample, ch_scores_det = robust_scores(det, record)
    # detector channel scores are over det.channels: place them on the record's channels
    ch_scores = np.zeros((len(record), len(record.channels)))
    for j, c in enumerate(det.channels):
        ch_scores[:, record.channels.index(c)] = np.nan_to_num(ch_scores_det[:, j])
    # the robust AR scores are in spreads of the patient's own residuals: alarm at ALARM_Z (a trained detector
    # from --model, or another kind of detector, keeps the threshold it was calibrated with)
    thr = float(det.threshold.value)
    if model_dir is None and det.name == "ar":
        thr = max(ALARM_Z, thr)
    if alarm_z is not None:
        thr = float(alarm_z)
    night = night_mask(record)
    rules = monitors(record, rate, night)
    by_rule = rules.max(axis=1) > 0
    by_det = np.nan_to_num(sample, nan=-np.inf) > thr
    flag = by_det | by_rule
    # rule evidence counts in the attribution too, on the detector's scale
    ch_scores = np.maximum(ch_scores, thr * rules)
    gap = merge_gap(rate, merge_s)
    spans = [_trim(record, s, e) if not by_rule[s:e + 1].any() else (s, e) for s, e in _event_spans(flag, gap)]
    truncated = len(spans) > max_events
    if truncated:
        order = sorted(spans, key=lambda se: -float(np.nanmax(ch_scores[se[0]:se[1] + 1])))[:max_events]
        spans = sorted(order)
        notes.append(f"more than {max_events} events: the {max_events} strongest are reported")
    busy = np.zeros(len(record), bool)
    for s, e in spans:
        busy[s:e + 1] = True
    base = baseline_of(record.values, record.channels, ~busy if (~busy).sum() >= 10 else None)
    if record.start is None:
        notes.append("no time column: times are seconds from the start and night-time context is unknown")
    if "respiration_rate" not in record.channels:
        notes.append("no breathing rate: every row counts as rest for the heart-rate range monitor")
    events = []
    for s, e in spans:
        facts = characterize(record, s, e, base, channel_scores=ch_scores, night=night, busy=busy)
        seg = sample[s:e + 1]
        # the score: the peak in units of the alarm level (>= 1 inside an event)
        peak = float(max(np.nanmax(np.nan_to_num(seg, nan=0.0)) / thr, rules[s:e + 1].max()))
        ev = facts.as_dict(record, peak)
        ev["id"] = len(events) + 1
        ev["detected_by"] = " and ".join(w for w, f in (("detector", by_det), ("rule monitors", by_rule))
                                         if f[s:e + 1].any())
        ev["explanation"] = _explain(ev)
        events.append(ev)
    counts = {k: sum(1 for e in events if e["kind"] == k) for k in ANOMALY_KINDS}
    sources = {k: sum(1 for e in events if e["source"] == k) for k in ("physiological", "sensor_fault")}
    file = file or record.source
    analysis = {
        "schema_version": SCHEMA_VERSION, "file": file, "label": label_of(counts),
        "headline": headline_of(counts, file), "counts": counts, "sources": sources,
        "recording": {"rows": len(record), "channels": record.channels, "hours": round(record.hours, 4),
                      "rate_hz": rate, "start": record.start.isoformat() if record.start else None,
                      "notes": notes},
        "baseline": {c: {"median": round(base.median[c], 3), "spread": round(base.spread[c], 3)}
                     for c in base.median},
        "detector": how, "threshold": thr, "events": events, "disclaimer": DISCLAIMER,
        "timing_s": {"detector": round(t_fit - t0, 3), "total": round(time.perf_counter() - t0, 3)},
    }
    # the score drawn in the report: the detector's, or the rule monitors' on the same scale where they fire
    combined = np.fmax(np.nan_to_num(sample, nan=0.0), thr * rules.max(axis=1))
    return Result(analysis, record, combined, ch_scores, thr, spans)


def _explain(ev: dict[str, Any]) -> str:
    """One paragraph from the event's facts: kind and why, source and why, the findings with causes."""
    from neuralab.anomaly.knowledge import CHANNEL_NAMES

    chans = ", ".join(f"{CHANNEL_NAMES.get(c, c)} ({100 * ev['contributions'].get(c, 0):.0f}%)"
                      for c in ev["channels"])
    parts = [f"A {ev['kind']} anomaly: {ev['kind_reason']}.",
             f"Likely {ev['source'].replace('_', ' ')}: {ev['source_reason']}.",
             f"Signals: {chans}."]
    for f in ev["findings"]:
        parts.append(f"{f['title']} ({f['evidence']}); possible causes: {', '.join(f['causes'][:5])}.")
    return " ".join(parts)


def analyze(path: str | Path, *, detector: str | None = None, model_dir: str | Path | None = None,
            seed: int = 0, max_rows: int = DEFAULT_MAX_ROWS, rate_hz: float | None = None,
            file: str | None = None) -> Result:
    """Read `path` and analyse it (`analyze_record`)."""
    from neuralab.data.vitals import read_vitals

    if detector is not None and model_dir is not None:
        raise ConfigError("give either --detector or --model, not both")
    record = read_vitals(path, rate_hz=rate_hz, max_rows=max_rows)
    return analyze_record(record, detector=detector, model_dir=model_dir, seed=seed,
                          file=file or Path(path).name)


# ------------------------------------------------------------------------------------------------ outputs
KIND_COLOURS = {"point": "#d62728", "contextual": "#ff7f0e", "collective": "#9467bd"}
MAX_PLOT_POINTS = 1500  # per channel: min/max envelopes of buckets keep every spike visible


def _envelope(t: np.ndarray, y: np.ndarray, n: int = MAX_PLOT_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, lo, hi) of `n` buckets: the minimum and maximum of each, so a 1-sample spike survives downsampling."""
    if len(y) <= n:
        return t, y, y
    edges = np.linspace(0, len(y), n + 1).astype(int)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN buckets (gaps) stay NaN
        lo = np.array([np.nanmin(y[a:b]) if b > a else np.nan for a, b in zip(edges[:-1], edges[1:], strict=True)])
        hi = np.array([np.nanmax(y[a:b]) if b > a else np.nan for a, b in zip(edges[:-1], edges[1:], strict=True)])
    return t[edges[:-1]], lo, hi


def chart_svg(result: Result) -> str:
    """Each channel over time (hours), anomalies shaded by kind and numbered, and the anomaly score at the bottom."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuralab.anomaly.knowledge import CHANNEL_NAMES
    from neuralab.data.vitals import UNITS

    rec = result.record
    th = (rec.seconds - rec.seconds[0]) / 3600.0
    rows = len(rec.channels) + 1
    fig, axes = plt.subplots(rows, 1, figsize=(11, 1.5 * rows + 0.6), sharex=True)
    for i, c in enumerate(rec.channels):
        ax = axes[i]
        t, lo, hi = _envelope(th, rec.values[:, i])
        ax.fill_between(t, lo, hi, color="#1f77b4", lw=0.6, step="mid")
        ax.plot(t, (lo + hi) / 2, color="#1f77b4", lw=0.5)
        ax.set_ylabel(f"{CHANNEL_NAMES.get(c, c)}\n({UNITS.get(c, '')})", fontsize=7, rotation=0, ha="right",
                      va="center")
        ax.tick_params(labelsize=7)
    ax = axes[-1]
    t, lo, hi = _envelope(th, np.nan_to_num(result.sample_scores, nan=0.0))
    ax.plot(t, hi, color="black", lw=0.5)
    ax.axhline(result.threshold, color="#d62728", lw=0.8, ls="--")
    ax.set_ylabel("anomaly\nscore", fontsize=7, rotation=0, ha="right", va="center")
    ax.tick_params(labelsize=7)
    for ev, (s, e) in zip(result.analysis["events"], result.spans, strict=True):
        colour = KIND_COLOURS.get(ev["kind"], "grey")
        a, b = th[s], max(th[e], th[s] + 0.002 * max(th[-1], 1e-9))
        for j, c in enumerate(rec.channels):
            axes[j].axvspan(a, b, color=colour, alpha=0.25 if c in ev["channels"] else 0.08, lw=0)
        axes[-1].axvspan(a, b, color=colour, alpha=0.2, lw=0)
        axes[0].annotate(str(ev["id"]), (a, 1.0), xycoords=("data", "axes fraction"), fontsize=6, color=colour,
                         va="bottom")
    axes[-1].set_xlabel("hours from the start" + (f" ({rec.start.isoformat(timespec='minutes')})"
                                                  if rec.start else ""), fontsize=8)
    handles = [matplotlib.patches.Patch(color=v, alpha=0.5, label=k) for k, v in KIND_COLOURS.items()]
    fig.legend(handles=handles, loc="upper right", fontsize=7, ncol=3)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    return buf.getvalue()


def report_html(result: Result, svg: str) -> str:
    """A self-contained HTML report: the label, the chart, per-channel scores, the events table, the explanations."""
    from html import escape

    from neuralab.anomaly.knowledge import CHANNEL_NAMES

    a = result.analysis
    counts = ", ".join(f"{k}: {v}" for k, v in a["counts"].items())
    ch_rows = []
    for i, c in enumerate(result.record.channels):
        col = result.channel_scores[:, i]
        in_events = sum(1 for ev in a["events"] if c in ev["channels"])
        ch_rows.append(f"<tr><td>{escape(CHANNEL_NAMES.get(c, c))}</td><td>{np.nanmean(col):.2f}</td>"
                       f"<td>{np.nanmax(col):.2f}</td><td>{in_events}</td>"
                       f"<td>{a['baseline'].get(c, {}).get('median', float('nan')):.1f}</td></tr>")
    ev_rows, expl = [], []
    for ev in a["events"]:
        colour = KIND_COLOURS.get(ev["kind"], "grey")
        chans = ", ".join(f"{escape(CHANNEL_NAMES.get(c, c))} {100 * ev['contributions'].get(c, 0):.0f}%"
                          for c in ev["channels"])
        ev_rows.append(f"<tr><td>{ev['id']}</td><td>{escape(str(ev['start']))}</td><td>{ev['duration_s']:.0f} s</td>"
                       f"<td style='color:{colour}'><b>{ev['kind']}</b></td><td>{ev['source'].replace('_', ' ')}</td>"
                       f"<td>{chans}</td><td>{ev['score']:.2f}</td><td>{escape(ev['detected_by'])}</td></tr>")
        items = "".join(f"<li>{escape(x)}</li>" for x in ev["evidence"])
        finds = "".join(f"<li><b>{escape(f['title'])}</b>: {escape(f['evidence'])}. Possible causes: "
                        f"{escape(', '.join(f['causes']))}.</li>" for f in ev["findings"])
        expl.append(f"<h3 id='event-{ev['id']}'>Event {ev['id']}: {ev['kind']} anomaly, {escape(str(ev['start']))}"
                    f"</h3><p>{escape(ev['kind_reason'])}.</p><p>Source: {ev['source'].replace('_', ' ')} — "
                    f"{escape(ev['source_reason'])}.</p><ul>{items}</ul>"
                    + (f"<p>Patterns:</p><ul>{finds}</ul>" if finds else ""))
    notes = "".join(f"<li>{escape(n)}</li>" for n in a["recording"]["notes"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>neuralab: {escape(a['file'])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;font-size:0.9em}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}}
.label{{font-size:1.3em;font-weight:bold}}.disclaimer{{background:#fff4e5;padding:0.6em;border-left:4px solid #f0a}}
svg{{max-width:100%;height:auto}}</style></head><body>
<h1>Analyzing WBAN sensor data from file: {escape(a['file'])}</h1>
<p class="label">{escape(a['headline'])} — {escape(a['label'])}</p>
<p>Events by kind: {escape(counts)}. Sources: {escape(', '.join(f'{k.replace("_", " ")}: {v}'
                                                               for k, v in a['sources'].items()))}.
Detector: {escape(a['detector'])}; {a['recording']['rows']:,} rows, {a['recording']['hours']:.2f} h,
channels {escape(', '.join(a['recording']['channels']))}.</p>
<p class="disclaimer">{escape(a['disclaimer'])}</p>
<h2>Signals</h2>{svg[svg.find('<svg'):]}
<h2>Per-channel scores</h2><table><tr><th>channel</th><th>mean score</th><th>max score</th><th>events</th>
<th>baseline median</th></tr>{''.join(ch_rows)}</table>
<h2>Events</h2><table><tr><th>#</th><th>start</th><th>duration</th><th>kind</th><th>source</th><th>channels</th>
<th>score</th><th>found by</th></tr>{''.join(ev_rows)}</table>
<h2>Explanations</h2>{''.join(expl) or '<p>No event to explain.</p>'}
<h2>How this file was read</h2><ul>{notes}</ul>
<p><small>analysis.json schema version {a['schema_version']}; neuralab.</small></p></body></html>
"""


def write_outputs(result: Result, out_dir: str | Path, formats: Sequence[str] = ("json", "html")) -> list[Path]:
    """Write analysis.json, and report.html + chart.svg when "html" is asked for; each file atomically."""
    from neuralab.utils import atomic_write_json, atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if "html" in formats:
        svg = chart_svg(result)
        atomic_write_text(out / "chart.svg", svg)
        atomic_write_text(out / "report.html", report_html(result, svg))
        written += [out / "chart.svg", out / "report.html"]
    # analysis.json last: its presence says the analysis is complete
    atomic_write_json(out / "analysis.json", result.analysis)
    written.append(out / "analysis.json")
    return written


def summary_text(analysis: dict[str, Any], max_rows: int = 30) -> str:
    """The terminal summary: the course tool's lines, then a table of events."""
    from neuralab.anomaly.knowledge import CHANNEL_NAMES

    a = analysis
    lines = [f"Analyzing WBAN Sensor Data from file: {a['file']}", f"{a['headline']} ({a['label']})",
             "events by kind: " + ", ".join(f"{k} {v}" for k, v in a["counts"].items())
             + "; by source: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in a["sources"].items()),
             f"detector: {a['detector']}", ""]
    if a["events"]:
        lines.append(f"{'#':>3}  {'start':<20} {'dur':>7}  {'kind':<10} {'source':<13} {'score':>6}  channels")
        for ev in a["events"][:max_rows]:
            chans = ", ".join(f"{CHANNEL_NAMES.get(c, c)} {100 * ev['contributions'].get(c, 0):.0f}%"
                              for c in ev["channels"])
            lines.append(f"{ev['id']:>3}  {str(ev['start']):<20} {ev['duration_s']:>6.0f}s  {ev['kind']:<10} "
                         f"{ev['source'].replace('_', ' '):<13} {ev['score']:>6.2f}  {chans}")
        if len(a["events"]) > max_rows:
            lines.append(f"... {len(a['events']) - max_rows} more in analysis.json")
        strongest = max(a["events"], key=lambda e: e["score"])
        lines += ["", f"Strongest event ({strongest['id']}): {strongest['explanation']}"]
    lines += ["", a["disclaimer"]]
    return "\n".join(lines)


def analyze_for_service(upload: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """The web service's job: analyse an uploaded file and write analysis.json, report.html and chart.svg."""
    res = analyze(upload, file=Path(upload).name)
    write_outputs(res, out_dir)
    return res.analysis
