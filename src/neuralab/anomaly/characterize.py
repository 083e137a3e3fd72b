"""Say what an anomalous event is: its kind, its source, the channels behind it, and the evidence in numbers.

    characterize(record, start, end, base, channel_scores=None, night=None) -> EventFacts

**Kind** (the course's taxonomy):
- *point*: at most `POINT_MAX_S` seconds (at least one sample) — isolated readings far from their neighbours;
- *collective*: a run anomalous as a whole, by its shape: a channel frozen at one value, beat-to-beat
  variability far above the patient's own, or a sustained fall in SpO2 — each reading may look ordinary, the
  run does not;
- *contextual*: a level that would be normal somewhere — heart rates of 100-130 bpm are ordinary in exercise —
  but is wrong for its context: at night or at rest, or against its correlated partner (the ECG heart rate and
  the oximeter pulse count the same beats).

**Source**: a *sensor fault* is one sensor departing from its correlated partners (a frozen or zero channel, an
impossible reading, a jump the partners do not share, HR and pulse disagreeing with only one of them moving);
a *physiological* event moves the partners together (HR and pulse rising together, SpO2 falling while HR and
breathing rise to compensate).

Each channel's deviation is measured against its *local* reference — the median of the readings just before and
after the event (`REF_S` seconds on each side) — in units of their robust spread, so a slow daily rhythm does not
count as an anomaly. Attribution: the detector's per-channel scores summed over the event when given, else
these deviations; normalised to shares of 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from neuralab.anomaly.knowledge import CHANNEL_NAMES, Baseline, Finding, findings
from neuralab.data.vitals import UNITS, VitalsRecord

POINT_MAX_S = 5.0  # an event this short (or of at most 3 samples) is a point anomaly
REF_S = 600.0  # seconds of readings on each side of an event that form its local reference
PARTNERS = {"heart_rate": ("pulse_rate",), "pulse_rate": ("heart_rate",),
            "systolic_bp": ("diastolic_bp",), "diastolic_bp": ("systolic_bp",),
            "spo2": ("heart_rate", "respiration_rate"), "respiration_rate": ("heart_rate",),
            "temperature_c": ("heart_rate",), "ecg": ("heart_rate",)}
_FLOOR = {"temperature_c": 0.05, "heart_rate": 1.0, "pulse_rate": 1.0, "spo2": 0.3, "ecg": 3.0,
          "systolic_bp": 1.5, "diastolic_bp": 1.0, "respiration_rate": 0.5}


@dataclass
class EventFacts:
    start: int
    end: int  # inclusive row index
    kind: str
    kind_reason: str
    source: str
    source_reason: str
    channels: list[str]
    contributions: dict[str, float]
    deviations: dict[str, float]  # signed, in local robust-spread units
    findings: list[Finding] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def as_dict(self, record: VitalsRecord, score: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": time_label(record, self.start), "end": time_label(record, self.end),
            "start_s": float(record.seconds[self.start]), "end_s": float(record.seconds[self.end]),
            "duration_s": duration_s(record, self.start, self.end), "kind": self.kind,
            "kind_reason": self.kind_reason, "source": self.source, "source_reason": self.source_reason,
            "channels": self.channels, "contributions": {k: round(v, 4) for k, v in self.contributions.items()},
            "evidence": self.evidence, "findings": [f.as_dict() for f in self.findings]}
        if score is not None:
            out["score"] = round(float(score), 4)
        return out


def time_label(record: VitalsRecord, i: int) -> str | float:
    """ISO time of row `i` when the record has a clock, else seconds from the start."""
    if record.start is not None:
        return (record.start + timedelta(seconds=float(record.seconds[i]))).isoformat(timespec="seconds")
    return round(float(record.seconds[i]), 3)


def duration_s(record: VitalsRecord, start: int, end: int) -> float:
    step = float(np.median(np.diff(record.seconds))) if len(record) > 1 else 1.0
    return float(record.seconds[end] - record.seconds[start]) + step


def night_mask(record: VitalsRecord, from_hour: float = 23.0, to_hour: float = 7.0) -> np.ndarray | None:
    """(T,) bool, rows between `from_hour` and `to_hour` o'clock; None when the record has no clock."""
    if record.start is None:
        return None
    hours = (record.start.hour + record.start.minute / 60 + record.start.second / 3600
             + record.seconds / 3600.0) % 24.0
    return (hours >= from_hour) | (hours < to_hour)


def _fmt(name: str, v: float) -> str:
    return f"{v:.1f} {UNITS.get(name, '')}".strip() if name == "temperature_c" else f"{v:.0f} {UNITS.get(name, '')}"


def _longest_constant_run(w: np.ndarray) -> int:
    """Length of the longest run of identical consecutive readings (a frozen sensor)."""
    if w.size < 2:
        return int(w.size)
    same = np.concatenate(([0], (np.diff(w) == 0).astype(np.int8), [0]))
    edges = np.diff(same)
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return int(lengths.max()) + 1 if lengths.size else 1


def _reference(record: VitalsRecord, start: int, end: int, busy: np.ndarray | None) -> np.ndarray:
    """Row indices of the local reference: up to REF_S seconds on each side, outside any event (`busy`)."""
    t = record.seconds
    lo = int(np.searchsorted(t, t[start] - REF_S))
    hi = int(np.searchsorted(t, t[end] + REF_S, side="right"))
    idx = np.r_[lo:start, end + 1:hi]
    if busy is not None and idx.size:
        idx = idx[~busy[idx]]
    return idx


def characterize(record: VitalsRecord, start: int, end: int, base: Baseline, *,
                 channel_scores: np.ndarray | None = None, night: np.ndarray | None = None,
                 busy: np.ndarray | None = None) -> EventFacts:
    """Kind, source, channels and evidence of the event on rows `start..end` (inclusive).

    Args:
        record: the recording.
        start, end: the event's first and last row.
        base: the patient's baseline (`knowledge.baseline_of` over the rows outside events).
        channel_scores: (T, C) per-channel anomaly scores of a detector (attribution), or None.
        night: (T,) bool night-time rows (`night_mask`), or None when the record has no clock.
        busy: (T,) bool rows inside any event (kept out of the local reference).
    """
    x, ch = record.values, record.channels
    win = x[start:end + 1]
    n = end - start + 1
    dur = duration_s(record, start, end)
    ref_idx = _reference(record, start, end, busy)
    outside = x[np.setdiff1d(np.arange(len(record)), np.arange(start, end + 1))]
    ref = x[ref_idx] if ref_idx.size >= 3 else outside

    dev: dict[str, float] = {}
    flat: dict[str, int] = {}
    zeros: dict[str, int] = {}
    faults = {c: int(record.faults[start:end + 1, i].sum()) for i, c in enumerate(ch)}
    for i, c in enumerate(ch):
        w = win[:, i]
        w = w[np.isfinite(w)]
        r = ref[:, i]
        r = r[np.isfinite(r)]
        if not r.size:  # no reading of this channel near the event (a sparse or gappy record): use the rest
            r = outside[:, i]
            r = r[np.isfinite(r)]
        if not w.size or not r.size:
            continue
        center = float(np.median(r))
        spread = max(1.4826 * float(np.median(np.abs(r - center))), _FLOOR.get(c, 1e-3))
        d = (w - center) / spread
        # the 75th percentile of |deviation|, signed by the larger side: robust to an event's ramps
        mag = float(np.quantile(np.abs(d), 0.75))
        dev[c] = mag if abs(float(np.max(d))) >= abs(float(np.min(d))) else -mag
        run = _longest_constant_run(w)
        if run >= max(4, 0.5 * w.size) and float(np.ptp(r)) > 0:
            flat[c] = run
        if c != "ecg":
            zeros[c] = int(np.sum(w == 0))

    # ---- attribution
    if channel_scores is not None:
        s = np.nan_to_num(np.asarray(channel_scores[start:end + 1], float)).clip(min=0).sum(axis=0)
        raw = {c: float(s[i]) for i, c in enumerate(ch)}
    else:
        raw = {c: abs(v) for c, v in dev.items()}
        for c in flat:
            raw[c] = max(raw.get(c, 0.0), 10.0 + max(raw.values(), default=0.0))
    total = sum(raw.values()) or 1.0
    contributions = dict(sorted(((c, v / total) for c, v in raw.items() if v > 0), key=lambda kv: -kv[1]))
    moved = [c for c, v in dev.items() if abs(v) > 3] + [c for c in flat if abs(dev.get(c, 0)) <= 3]
    top = next(iter(contributions), moved[0] if moved else ch[0])

    # ---- variability of the heart rate (and of its partner)
    def succ(c: str, rows: np.ndarray) -> float | None:
        if c not in ch:
            return None
        d = np.abs(np.diff(rows[:, ch.index(c)]))
        d = d[np.isfinite(d)]
        return float(np.median(d)) if d.size >= 3 else None

    def irregular(c: str) -> float:
        w_s, r_s = succ(c, win), succ(c, ref)
        if w_s is None or r_s is None:
            return 0.0
        return w_s / max(r_s, 0.5)

    hr_irreg, pr_irreg = irregular("heart_rate"), irregular("pulse_rate")
    spo2_drop = dev.get("spo2", 0.0) < -3 and "spo2" in ch and \
        float(np.mean(win[:, ch.index("spo2")] < np.nanmedian(ref[:, ch.index("spo2")]) - 2.0)) > 0.5
    is_night = night is not None and float(night[start:end + 1].mean()) > 0.5

    # ---- kind
    if dur <= POINT_MAX_S or n <= 3:
        kind = "point"
        big = max(dev.items(), key=lambda kv: abs(kv[1]), default=(top, 0.0))
        reason = (f"it lasts {dur:.0f} s ({n} reading{'s' if n > 1 else ''}): isolated "
                  f"{CHANNEL_NAMES.get(big[0], big[0])} reading(s) {abs(big[1]):.0f} spreads away from the "
                  "neighbouring readings")
    elif flat:
        c = next(iter(flat))
        kind = "collective"
        reason = (f"{CHANNEL_NAMES[c]} stays at exactly one value for {flat[c]} readings ({dur:.0f} s): every "
                  "reading is ordinary, the frozen run is not")
    elif hr_irreg > 3:
        kind = "collective"
        reason = (f"a {dur:.0f} s run whose beat-to-beat heart-rate changes are {hr_irreg:.1f}x those just before "
                  "and after it: the run's irregularity, not any single value, is abnormal")
    elif spo2_drop:
        kind = "collective"
        reason = (f"SpO2 stays low for {dur:.0f} s ({abs(dev['spo2']):.0f} spreads below the readings around it): "
                  "a sustained desaturation")
    else:
        kind = "contextual"
        if top in dev:
            c = top
        elif dev:
            c = max(dev, key=lambda k: abs(dev[k]))
        else:  # no channel has readings both in and around the event: name one that has readings in it
            c = next((k for i, k in enumerate(ch) if np.isfinite(win[:, i]).any()), top)
        w = win[:, ch.index(c)]
        level = float(np.nanmedian(w))
        context = []
        if is_night:
            context.append("at night")
        if "systolic_bp" in dev and abs(dev["systolic_bp"]) < 3 and c not in ("systolic_bp", "diastolic_bp"):
            sbp = float(np.nanmedian(win[:, ch.index("systolic_bp")]))
            context.append(f"at rest (systolic blood pressure {_fmt('systolic_bp', sbp)}: no exertion)")
        elif "respiration_rate" in dev and abs(dev["respiration_rate"]) < 2 and c != "respiration_rate":
            rr = float(np.nanmedian(win[:, ch.index("respiration_rate")]))
            context.append(f"at rest (breathing rate {_fmt('respiration_rate', rr)}: no exertion)")
        elif not is_night and not {"systolic_bp", "respiration_rate"} & set(ch) and c in ("heart_rate", "pulse_rate"):
            context.append("when nothing in the recorded signals shows exertion (the file has no breathing "
                           "rate or blood pressure to confirm rest)")
        partners = [p for p in PARTNERS.get(c, ()) if p in dev]
        still = [p for p in partners if abs(dev[p]) < max(1.5, 0.3 * abs(dev[c]))]
        if still:
            context.append("while " + ", ".join(f"{CHANNEL_NAMES[p]} stays at "
                                                f"{_fmt(p, float(np.nanmedian(win[:, ch.index(p)])))}" for p in still))
        around = next((v[np.isfinite(v)] for v in (ref[:, ch.index(c)], outside[:, ch.index(c)])
                       if np.isfinite(v).any()), None)
        versus = (f"vs {_fmt(c, float(np.median(around)))} just before and after" if around is not None
                  else "no reading of it before or after")
        where = " ".join(context) or "here: the correlated signals do not explain it"
        reason = (f"{CHANNEL_NAMES[c]} of {_fmt(c, level)} ({versus}) would be "
                  f"ordinary in another context, but not {where}")

    # ---- source
    if flat:
        c = next(iter(flat))
        source = "sensor_fault"
        sreason = f"{CHANNEL_NAMES[c]} froze while the other sensors kept varying (detached sensor)"
    elif any(zeros.values()) or any(faults.values()):
        c = max(ch, key=lambda k: zeros.get(k, 0) + faults.get(k, 0))
        source, sreason = "sensor_fault", (f"{CHANNEL_NAMES[c]} reads values no living adult shows "
                                           f"({zeros.get(c, 0) + faults.get(c, 0)} reading(s) of zero or impossible)")
    elif kind == "collective" and hr_irreg > 3:
        if pr_irreg > max(1.5, 0.3 * hr_irreg) or "pulse_rate" not in ch:
            source, sreason = "physiological", (f"the oximeter pulse is irregular too ({pr_irreg:.1f}x its usual "
                                                "beat-to-beat change): the heart, not one sensor")
        else:
            source, sreason = "sensor_fault", "only the ECG heart rate is erratic; the oximeter pulse stays regular"
    elif kind == "collective" and spo2_drop:
        comp = [p for p in ("heart_rate", "pulse_rate", "respiration_rate") if dev.get(p, 0.0) > 1.0]
        if comp:
            source, sreason = "physiological", ("SpO2 fell while " + ", ".join(CHANNEL_NAMES[p] for p in comp)
                                                + " rose to compensate")
        else:
            source, sreason = "sensor_fault", "SpO2 fell alone, with no compensating rise in heart rate or breathing"
    else:
        c = top if top in dev else max(dev, key=lambda k: abs(dev[k]), default=top)
        partners = [p for p in PARTNERS.get(c, ()) if p in dev]
        dc = dev.get(c, 0.0)
        d = dev
        if abs(dc) < 3 and c in base.median:
            # too little change against the readings around it (a long event whose surroundings are part of it):
            # judge the partners against the patient's own baseline instead
            def vs_base(k: str) -> float:
                return (float(np.nanmedian(win[:, ch.index(k)])) - base.median[k]) / max(base.spread[k], 1e-6)

            d = {k: vs_base(k) for k in [c, *partners]
                 if k in base.median and np.isfinite(win[:, ch.index(k)]).any()}
            dc = d.get(c, dc)
            partners = [p for p in partners if p in d]
        along = [p for p in partners if np.sign(d[p]) == np.sign(dc) and abs(d[p]) >= max(1.5, 0.3 * abs(dc))]
        if partners and not along:
            source, sreason = "sensor_fault", (f"{CHANNEL_NAMES.get(c, c)} moved ({dc:+.0f} spreads) "
                                               "while its partner " + ", ".join(f"{CHANNEL_NAMES[p]} ({d[p]:+.0f})"
                                                                                 for p in partners)
                                               + " did not: one sensor departing from the others")
        elif along:
            source = "physiological"
            sreason = (f"{CHANNEL_NAMES.get(c, c)} and " + ", ".join(CHANNEL_NAMES[p] for p in along)
                       + " moved together: the body, not one sensor")
        else:
            source, sreason = "physiological", "no correlated partner was recorded to tell a sensor fault from the body"
    if kind == "point" and source == "physiological":
        c = top
        partners = [p for p in PARTNERS.get(c, ()) if p in dev]
        if not partners or all(abs(dev[p]) < 3 for p in partners):
            source, sreason = "sensor_fault", (f"a {dur:.0f} s jump of {CHANNEL_NAMES.get(c, c)} that its partners do "
                                               "not share: a motion artefact or interference")

    # ---- findings and evidence
    window = {c: win[:, i] for i, c in enumerate(ch)}
    at_rest = is_night or ("respiration_rate" in dev and abs(dev["respiration_rate"]) < 2
                           and abs(dev.get("systolic_bp", 0.0)) < 2)
    fs = findings(window, base, night=is_night, at_rest=at_rest, faults={k: v for k, v in faults.items() if v})
    evidence = [f"{CHANNEL_NAMES.get(c, c)}: {_fmt(c, float(np.nanmedian(win[:, ch.index(c)])))} during the event vs "
                f"{_fmt(c, float(np.nanmedian(ref[:, ch.index(c)])))} around it ({dev[c]:+.1f} spreads)"
                for c in list(contributions)[:3] if c in dev]
    channels = [c for c in contributions if contributions[c] >= 0.1][:4] or [top]
    return EventFacts(start, end, kind, reason, source, sreason, channels, contributions, dev, fs, evidence)


def event_times(record: VitalsRecord, start: int, end: int) -> tuple[datetime | float, datetime | float]:
    return time_label(record, start), time_label(record, end)
