"""What a vital-sign pattern may mean: adult reference ranges, the patterns the analysis recognises in an event,
and their possible causes — each finding stated with the numbers measured in the recording.

    findings(window, baseline, context) -> [Finding]

A `Finding` names a pattern (tachycardia, pulse deficit, hypoxaemia, sensor detachment, ...), the channels it
rests on, the evidence in numbers (the event's values vs the adult reference range and vs the patient's own
baseline), and the possible causes a clinician would consider. The causes are textbook associations of the
pattern, not a diagnosis: `DISCLAIMER` goes with every explanation.

Reference ranges are adult resting values (`neuralab.data.vitals.NORMAL_RANGE`); the thresholds below are the
usual clinical cut-offs (e.g. tachycardia > 100 bpm, hypoxaemia SpO2 < 92 % sustained, fever ≥ 38.0 °C).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from neuralab.data.vitals import NORMAL_RANGE, UNITS

DISCLAIMER = ("These are possible explanations of measured patterns, not a diagnosis: only a medical professional "
              "can diagnose, with the patient, the history and further tests.")

CHANNEL_NAMES = {"temperature_c": "body temperature", "heart_rate": "heart rate (ECG)",
                 "pulse_rate": "pulse rate (oximeter)", "spo2": "SpO2", "ecg": "ECG amplitude",
                 "systolic_bp": "systolic blood pressure", "diastolic_bp": "diastolic blood pressure",
                 "respiration_rate": "respiration rate"}


@dataclass(frozen=True)
class Pattern:
    title: str
    meaning: str
    causes: tuple[str, ...]


PATTERNS: dict[str, Pattern] = {
    "tachycardia": Pattern(
        "Tachycardia", "heart rate above 100 bpm",
        ("physical activity or exertion", "stress or anxiety", "fever or infection", "dehydration or blood loss",
         "pain", "arrhythmia (e.g. atrial fibrillation, supraventricular tachycardia)",
         "medication or stimulant side effects (caffeine, bronchodilators, decongestants)",
         "thyroid disorders (hyperthyroidism)", "electrolyte imbalance", "anaemia")),
    "nocturnal_tachycardia": Pattern(
        "Tachycardia at night / at rest", "heart rate well above the patient's resting level while asleep or at rest",
        ("arrhythmia", "fever or infection", "sleep apnoea (arousals with desaturation)",
         "nightmares, stress or anxiety", "hypoglycaemia", "thyroid disorders (hyperthyroidism)",
         "medication or withdrawal effects")),
    "bradycardia": Pattern(
        "Bradycardia", "heart rate below 60 bpm (normal in sleep and in athletes)",
        ("high fitness or deep sleep (benign)", "conduction block or sick sinus syndrome",
         "medication (beta-blockers, digoxin)", "hypothyroidism", "electrolyte imbalance (hyperkalaemia)",
         "raised intracranial pressure")),
    "irregular_rhythm": Pattern(
        "Irregular rhythm", "beat-to-beat heart rate far more variable than the patient's own baseline",
        ("atrial fibrillation or flutter", "frequent ectopic beats (premature atrial/ventricular contractions)",
         "electrolyte imbalance (potassium, magnesium)", "stimulants, alcohol or medication side effects",
         "thyroid disorders", "structural heart disease")),
    "pulse_deficit": Pattern(
        "Pulse deficit (HR ≠ pulse)", "the ECG heart rate and the oximeter pulse rate disagree",
        ("atrial fibrillation (beats too weak to reach the periphery)", "ectopic beats",
         "a poorly placed or moving finger probe (sensor artefact)", "poor peripheral perfusion (cold hands, shock)")),
    "hr_without_partners": Pattern(
        "Heart rate moves alone", "the ECG heart rate changes while pulse, blood pressure and breathing do not",
        ("ECG electrode or lead problem (motion, loose electrode, muscle noise counted as beats)",
         "a true arrhythmia that the pulse sensor misses (compare with a 12-lead ECG)")),
    "hypoxaemia": Pattern(
        "Hypoxaemia", "oxygen saturation below 92 % (adults, no chronic lung disease)",
        ("sleep apnoea or hypoventilation", "respiratory infection or pneumonia", "asthma or COPD exacerbation",
         "pulmonary embolism", "heart failure", "high altitude",
         "probe artefact (cold fingers, nail polish, motion) — check the waveform")),
    "fever": Pattern(
        "Fever", "body temperature 38.0 °C or above",
        ("infection", "inflammation", "heat exhaustion", "medication reaction", "thyroid storm (rare)")),
    "hypothermia": Pattern(
        "Hypothermia", "body temperature below 35.0 °C",
        ("cold exposure", "sepsis", "hypothyroidism", "probe displaced from the skin (sensor artefact)")),
    "hypertension": Pattern(
        "High blood pressure", "systolic above 140 or diastolic above 90 mmHg",
        ("pain, stress or anxiety", "exertion", "essential hypertension", "medication or stimulants",
         "kidney disease", "pre-eclampsia (in pregnancy)")),
    "hypotension": Pattern(
        "Low blood pressure", "systolic below 90 or diastolic below 60 mmHg",
        ("dehydration or blood loss", "sepsis", "medication (antihypertensives, diuretics)", "heart failure",
         "orthostatic hypotension")),
    "tachypnoea": Pattern(
        "Fast breathing (tachypnoea)", "respiration rate above 20 breaths/min at rest",
        ("exertion", "fever or infection", "anxiety or panic", "asthma, COPD or pneumonia", "metabolic acidosis",
         "compensation for low oxygen")),
    "bradypnoea": Pattern(
        "Slow breathing (bradypnoea)", "respiration rate below 10 breaths/min",
        ("deep sleep", "opioids or sedatives", "hypothyroidism", "raised intracranial pressure")),
    "flatline": Pattern(
        "Flat signal", "a channel frozen at one value",
        ("sensor detached or disconnected", "device or transmission failure (a stuck last value)")),
    "signal_loss": Pattern(
        "Signal loss / impossible readings", "readings of zero or outside what a living adult can show",
        ("sensor detached, loose or moving (motion artefact)", "low battery or radio interference in the body-area "
         "network", "device fault")),
}


@dataclass
class Finding:
    pattern: str
    title: str
    channels: list[str]
    evidence: str
    causes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Baseline:
    """The patient's own normal: per-channel median and robust spread (IQR/1.349) outside the events, and the
    median absolute successive difference of the heart rate (beat-to-beat variability at the sampling rate)."""

    median: dict[str, float]
    spread: dict[str, float]
    hr_successive: float | None = None


def baseline_of(values: np.ndarray, channels: list[str], normal_mask: np.ndarray | None = None) -> Baseline:
    """Baseline statistics of (T, C) `values` over the rows where `normal_mask` is true (all rows if None)."""
    rows = values if normal_mask is None else values[normal_mask]
    med, spread = {}, {}
    for c, name in enumerate(channels):
        col = rows[:, c]
        col = col[np.isfinite(col)]
        if col.size:
            q1, q2, q3 = np.percentile(col, [25, 50, 75])
            med[name], spread[name] = float(q2), float(max((q3 - q1) / 1.349, 1e-6))
    hr_succ = None
    if "heart_rate" in channels:
        hr = rows[:, channels.index("heart_rate")]
        d = np.abs(np.diff(hr))
        d = d[np.isfinite(d)]
        hr_succ = float(np.median(d)) if d.size else None
    return Baseline(med, spread, hr_succ)


def _fmt(name: str, v: float) -> str:
    unit = UNITS.get(name, "")
    digits = 1 if name in ("temperature_c",) else 0
    return f"{v:.{digits}f} {unit}".strip()


def _vs(name: str, window: np.ndarray, base: Baseline, stat: str = "median") -> str:
    """'heart rate median 128 bpm (range 110-141) vs adult reference 60-100 bpm and this patient's usual 72 bpm'."""
    v = window[np.isfinite(window)]
    center = float(np.median(v)) if stat == "median" else float(np.mean(v))
    lo, hi = NORMAL_RANGE[name]
    ref = f"adult reference {lo:g}–{hi:g} {UNITS[name]}" if np.isfinite(lo) and np.isfinite(hi) else ""
    usual = f"this patient's usual {_fmt(name, base.median[name])}" if name in base.median else ""
    against = " and ".join(x for x in (ref, usual) if x)
    return (f"{CHANNEL_NAMES[name]} {stat} {_fmt(name, center)} (range {_fmt(name, float(v.min()))}–"
            f"{_fmt(name, float(v.max()))})" + (f" vs {against}" if against else ""))


def findings(window: dict[str, np.ndarray], base: Baseline, *, night: bool = False, at_rest: bool = False,
             faults: dict[str, int] | None = None) -> list[Finding]:
    """The patterns present in one event.

    Args:
        window: channel -> (n,) values of the event (canonical units; NaN gaps allowed).
        base: the patient's baseline (`baseline_of`).
        night, at_rest: the event's context (most of it during sleep hours / without activity).
        faults: channel -> number of physiologically impossible readings in the event.

    Returns:
        Findings, most specific first; empty when the values show none of the known patterns.
    """
    out: list[Finding] = []

    def med(name: str) -> float | None:
        v = window.get(name)
        if v is None:
            return None
        v = v[np.isfinite(v)]
        return float(np.median(v)) if v.size else None

    def add(key: str, channels: list[str], evidence: str) -> None:
        p = PATTERNS[key]
        out.append(Finding(key, p.title, channels, evidence, list(p.causes)))

    # --- sensor problems first: they change how every other number should be read
    for name, v in window.items():
        fin = v[np.isfinite(v)]
        if fin.size >= 4 and float(np.ptp(fin)) == 0.0:
            add("flatline", [name], f"{CHANNEL_NAMES[name]} stays at exactly {_fmt(name, float(fin[0]))} for "
                                    f"{fin.size} consecutive readings (normal readings vary by about "
                                    f"{_fmt(name, base.spread.get(name, 0.0))})")
    bad = {k: n for k, n in (faults or {}).items() if n}
    for name, v in window.items():
        zeros = int(np.sum(v == 0)) if name != "ecg" else 0
        if zeros or bad.get(name):
            add("signal_loss", [name], f"{CHANNEL_NAMES[name]}: {zeros + bad.get(name, 0)} reading(s) of zero or "
                                       f"outside what a living adult can show (e.g. {_fmt(name, float(np.nanmin(v)))}"
                                       f"–{_fmt(name, float(np.nanmax(v)))})")

    hr, pr = med("heart_rate"), med("pulse_rate")
    # --- heart rate and rhythm
    if hr is not None and hr > 100:
        usual = base.median.get("heart_rate")
        key = "nocturnal_tachycardia" if (night or at_rest) and usual is not None and hr - usual > 20 else "tachycardia"
        add(key, ["heart_rate"] + (["pulse_rate"] if pr is not None and pr > 100 else []),
            _vs("heart_rate", window["heart_rate"], base) + (" during sleep/rest" if night or at_rest else ""))
    elif hr is not None and hr < 50:
        add("bradycardia", ["heart_rate"], _vs("heart_rate", window["heart_rate"], base))
    if "heart_rate" in window and base.hr_successive:
        d = np.abs(np.diff(window["heart_rate"]))
        d = d[np.isfinite(d)]
        if d.size >= 3:
            ratio = float(np.median(d)) / max(base.hr_successive, 0.5)
            if ratio > 3 and float(np.median(d)) > 4:
                add("irregular_rhythm", ["heart_rate"],
                    f"median change between successive heart-rate readings {np.median(d):.1f} bpm, {ratio:.1f}x this "
                    f"patient's usual {base.hr_successive:.1f} bpm")
    if "heart_rate" in window and "pulse_rate" in window:
        gap = window["pulse_rate"] - window["heart_rate"]
        gap = gap[np.isfinite(gap)]
        usual_gap = base.median.get("pulse_rate", 0.0) - base.median.get("heart_rate", 0.0)
        if gap.size and abs(float(np.median(gap)) - usual_gap) > 10:
            add("pulse_deficit", ["heart_rate", "pulse_rate"],
                f"pulse rate minus ECG heart rate has median {np.median(gap):+.0f} bpm (usually {usual_gap:+.0f}): "
                f"heart rate {_fmt('heart_rate', hr or float('nan'))}, pulse {_fmt('pulse_rate', pr or float('nan'))}")
    if hr is not None and "heart_rate" in base.median:
        rise = hr - base.median["heart_rate"]
        partners = [p for p in ("pulse_rate", "systolic_bp", "respiration_rate") if p in window and p in base.median]
        still = [p for p in partners
                 if abs((med(p) or base.median[p]) - base.median[p]) < max(3 * base.spread[p], 0.15 * rise)]
        if rise > 15 and partners and len(still) == len(partners):
            add("hr_without_partners", ["heart_rate"],
                f"heart rate {_fmt('heart_rate', hr)} is {rise:.0f} bpm above this patient's usual while "
                + ", ".join(f"{CHANNEL_NAMES[p]} stays at {_fmt(p, med(p) or base.median[p])}" for p in still))
    # --- oxygen, temperature, pressure, breathing
    s = med("spo2")
    if s is not None and 0 < s < 92:
        add("hypoxaemia", ["spo2"], _vs("spo2", window["spo2"], base))
    t = med("temperature_c")
    if t is not None and t >= 38.0:
        add("fever", ["temperature_c"], _vs("temperature_c", window["temperature_c"], base))
    elif t is not None and 25 < t < 35.0:
        add("hypothermia", ["temperature_c"], _vs("temperature_c", window["temperature_c"], base))
    sbp, dbp = med("systolic_bp"), med("diastolic_bp")
    if (sbp is not None and sbp > 140) or (dbp is not None and dbp > 90):
        chans = [c for c, v in (("systolic_bp", sbp), ("diastolic_bp", dbp)) if v is not None]
        add("hypertension", chans, "; ".join(_vs(c, window[c], base) for c in chans))
    elif (sbp is not None and 0 < sbp < 90) or (dbp is not None and 0 < dbp < 60):
        chans = [c for c, v in (("systolic_bp", sbp), ("diastolic_bp", dbp)) if v is not None]
        add("hypotension", chans, "; ".join(_vs(c, window[c], base) for c in chans))
    rr = med("respiration_rate")
    if rr is not None and rr > 20:
        add("tachypnoea", ["respiration_rate"], _vs("respiration_rate", window["respiration_rate"], base))
    elif rr is not None and 0 < rr < 10:
        add("bradypnoea", ["respiration_rate"], _vs("respiration_rate", window["respiration_rate"], base))
    return out
