"""`neuralab vitals watch`: score vital signs as they arrive and print one line per alert.

    watch(path="-", follow=False, ...) -> StreamSummary        stdin or a (growing) CSV file -> alert lines
    StreamWatcher(...).feed(line) ... .close()                  the same, one line at a time (tests, services)
    ARStream(det).update(values)                                incremental AR scores, O(1) per sample

The input is CSV with a header line, read line by line by `neuralab.data.vitals_stream` (any column style the
batch reader accepts: `Body_Temperature`, `HR`, `heart_rate`, `SpO2 (%)`, ...; an optional time column; `,`, `;`
or tab separators; °F and SpO2 fractions made canonical).

Per sample (everything bounded: the last window, never the stream):

1. **score**: the AR detector scores sample t from the previous p samples (scaled by `det.scaler`, one-step
   residual with `det.coef`, exactly `ARDetector.residuals`), standardised by a running robust spread — 1.4826·MAD
   of the channel's last `spread_window` residuals (those beyond `exclude_z` spreads, and those of a frozen
   reading, are left out: an anomaly must not move its own yardstick), `det.sigma` until `min_spread` residuals
   are in. Other detectors score the most recent window (`det._score` on a deque of the last `context`
   samples) every `stride` samples;
2. **events**: a sample whose score exceeds `det.threshold.value` alerts; alerting samples at most `merge_s`
   seconds apart form one event, printed when it ends (and every `update_every_s` while it lasts) with its
   channels (mean channel score above `det.channel_threshold`), peak score, a kind guess (point if at most
   `POINT_MAX_S` seconds, else collective or contextual) and a one-line explanation from `anomaly.knowledge`
   (the event's values against a baseline of the recent normal samples);
3. **ranges**: the 60-s rolling median of a channel outside `analysis.RANGE_LIMITS` for `RANGE_MIN_S` seconds
   (heart and pulse rate above the limit only at rest: breathing rate not raised, or not recorded) is a range
   alert.

Malformed lines (wrong number of fields, a non-numeric value, a bad or non-increasing time) are reported on
stderr with their line number and value, skipped, and the stream goes on. The summary (stderr) gives samples read,
lines skipped, alerts and the per-sample latency (mean, p99) measured with `time.perf_counter` around steps 1-3.

Shape legend: C detector channels, S stream channels; `values` (S,) canonical units, NaN = missing reading.
"""

from __future__ import annotations

import bisect
import io
import json
import math
import os
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from neuralab.anomaly.analysis import (
    ALARM_Z,
    AT_REST_ONLY,
    FLAT_MIN_S,
    RANGE_LIMITS,
    RANGE_MIN_S,
    RANGE_WINDOW_S,
    default_detector,
)
from neuralab.anomaly.characterize import POINT_MAX_S
from neuralab.anomaly.detectors import Detector, load_detector
from neuralab.anomaly.knowledge import CHANNEL_NAMES, Baseline, baseline_of, findings
from neuralab.data.vitals import NORMAL_RANGE, UNITS, flag_faults
from neuralab.data.vitals_formats import _accepted_headers
from neuralab.data.vitals_stream import LineParser, MalformedLine, Sample, iter_lines
from neuralab.errors import ConfigError, DataError

FORMATS = ("text", "json")
COLLECTIVE_PATTERNS = {"flatline", "irregular_rhythm", "hypoxaemia"}  # runs anomalous by their shape
NIGHT_HOURS = (23.0, 7.0)  # as characterize.night_mask


@dataclass
class StreamConfig:
    """Tuning of the streaming scorer (defaults suit 1-Hz wearables)."""

    merge_s: float = 3.0  # alerting samples at most this far apart are one event
    update_every_s: float = 60.0  # an event or range alert still going on is reported this often
    spread_window: int = 900  # residuals per channel in the running robust spread (AR)
    min_spread: int = 60  # residuals needed before the running spread replaces det.sigma
    spread_refresh: int = 30  # recompute the running spread every this many samples
    spread_floor: float = 0.25  # running spread >= this x det.sigma (a frozen sensor must not shrink it to 0)
    exclude_z: float = 5.0  # residuals beyond this many spreads stay out of the spread window
    stride: int = 1  # windowed detectors: score the latest window every this many samples
    baseline_window: int = 600  # recent normal samples the explanations compare against
    max_event_samples: int = 3600  # values kept per event for its explanation (the latest ones)
    gap_steps: float = 3.0  # a time step longer than this many sampling steps restarts the scorer
    max_reported: int = 50  # malformed lines reported one by one; later ones are only counted


# ---------------------------------------------------------------------------------------------- scorers
class ARStream:
    """Incremental scores of an `ARDetector`: O(1) per sample (p multiply-adds per channel).

    `update(values)` returns (sample score, (C,) channel scores, (C,) residuals). The residual of sample t is
    bit-for-bit `ARDetector.residuals` of the batch-scaled series (same float32 scaling, same summation order;
    0 for the first p samples); the score is |r| / spread with the running robust spread (see the module doc).
    """

    def __init__(self, det: Detector, config: StreamConfig | None = None) -> None:
        cfg = config or StreamConfig()
        self.cfg = cfg
        self.coef = np.asarray(det.coef, np.float64)  # (C, p + 1): constant, then lags 1..p
        self.p = self.coef.shape[1] - 1
        self.center, self.scale = det.scaler.center, det.scaler.scale
        self.sigma_train = np.asarray(det.sigma, np.float64)
        C = self.coef.shape[0]
        self.sigma = self.sigma_train.copy()
        self.last = np.zeros(C)  # last scaled reading per channel (gaps are filled with it; 0 = the median)
        self.frozen = np.zeros(C, np.int64)  # readings in a row equal to the one before
        self.lags: deque[np.ndarray] = deque(maxlen=max(self.p, 1))
        self.buf = np.full((cfg.spread_window, C), np.nan)  # ring of recent residuals, NaN = not counted
        self.pos = 0
        self.filled = 0
        self.since = 0

    def reset(self) -> None:
        """Forget the lags (after a gap in time): the next p samples score 0, like the first p of a record."""
        self.lags.clear()

    def scale_row(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(C,) float32 scaled and gap-filled reading and its (C,) gap mask, as `Scaler.transform` + fill_gaps."""
        z = (values - self.center) / self.scale
        gap = ~np.isfinite(z)
        if gap.any():
            z = np.where(gap, self.last, z)
        self.last = z
        return z.astype(np.float32), gap

    def update(self, values: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        x, gap = self.scale_row(values)
        if len(self.lags) < self.p:
            r = np.zeros(len(x))
            z = np.zeros(len(x))
        else:
            pred = self.coef[:, 0].copy()
            for k in range(1, self.p + 1):  # the batch order: c + φ1·x[t−1] + φ2·x[t−2] + ...
                pred += self.coef[:, k] * self.lags[-k]
            r = x - pred
            z = np.abs(r) / self.sigma
            # a frozen sensor's near-zero residuals would shrink the spread and make the next normal minutes
            # alarm: the third equal reading in a row and beyond stay out, like gaps and anomalies
            self.frozen = np.where(x == self.lags[-1], self.frozen + 1, 0)
            self._remember(np.where(gap | (z > self.cfg.exclude_z) | (self.frozen >= 2), np.nan, r))
        if self.p:
            self.lags.append(x)
        z[gap] = np.nan
        sample = math.nan if gap.all() else float(np.nanmax(z))
        return sample, z, r

    def _remember(self, r: np.ndarray) -> None:
        cfg = self.cfg
        self.buf[self.pos] = r
        self.pos = (self.pos + 1) % cfg.spread_window
        self.filled = min(self.filled + 1, cfg.spread_window)
        self.since += 1
        if self.since >= cfg.spread_refresh and self.filled >= cfg.min_spread:
            self.since = 0
            rows = self.buf[: self.filled]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a channel with no residual yet: all NaN
                med = np.nanmedian(rows, axis=0)
                mad = np.nanmedian(np.abs(rows - med), axis=0)
            enough = np.isfinite(rows).sum(axis=0) >= cfg.min_spread
            robust = np.maximum(1.4826 * np.nan_to_num(mad), cfg.spread_floor * self.sigma_train)
            self.sigma = np.where(enough, robust, self.sigma_train)


class WindowStream:
    """Scores of a windowed detector (lstm-autoencoder, convlstm-detector, iforest): the latest `context`
    samples are kept in a deque and `det._score` runs on them every `stride` samples; the newest row's scores
    stand for the samples until the next run. NaN until the first window is full."""

    def __init__(self, det: Detector, config: StreamConfig | None = None) -> None:
        self.det = det
        self.stride = max(1, int((config or StreamConfig()).stride))
        self.center, self.scale = det.scaler.center, det.scaler.scale
        p = det.params
        if det.name == "lstm-autoencoder":
            context = int(p["window"])
        elif det.name == "convlstm-detector":
            step = int(p["step"])  # the newest map ends on the newest sample; K maps before it need w samples each
            context = step * -(-(step * int(p["frames"]) + max(int(w) for w in p["scales"])) // step)
        elif det.name == "iforest":
            context = int(p["roll"])
        else:
            context = 64
        self.context = context
        C = len(det.channels)
        self.buf: deque[np.ndarray] = deque(maxlen=context)
        self.last = np.zeros(C)
        self.k = 0
        self.held = (math.nan, np.full(C, np.nan))

    def reset(self) -> None:
        self.buf.clear()
        self.k = 0

    def update(self, values: np.ndarray) -> tuple[float, np.ndarray, None]:
        z = (values - self.center) / self.scale
        gap = ~np.isfinite(z)
        z = np.where(gap, self.last, z)
        self.last = z
        self.buf.append(z.astype(np.float32))
        if len(self.buf) < self.context:
            return math.nan, np.full(len(z), np.nan), None
        if self.k % self.stride == 0:
            s, c = self.det._score(np.stack(self.buf))  # (L,), (L, C)
            self.held = (float(s[-1]), np.asarray(c[-1], np.float64))
        self.k += 1
        channel = self.held[1].copy()
        channel[gap] = np.nan
        return (math.nan if gap.all() else self.held[0]), channel, None


def make_scorer(det: Detector, config: StreamConfig | None = None) -> ARStream | WindowStream:
    """The streaming scorer for a trained detector."""
    if det.scaler is None or det.threshold.value is None or det.channel_threshold is None:
        raise ConfigError(f"detector {det.name!r} is not trained; train it (`neuralab vitals train`) or let watch "
                          "train the default one")
    if det.name != "ar":
        import torch

        torch.set_num_threads(1)  # one window at a time: thread hand-offs would cost more than they save
    return ARStream(det, config) if det.name == "ar" else WindowStream(det, config)


# ---------------------------------------------------------------------------------------------- alerts
@dataclass
class Alert:
    """One alert line: an anomaly event of the detector or a range alert."""

    type: str  # 'anomaly' | 'range' | 'flatline'
    status: str  # 'ongoing' | 'ended' | 'stream-end' (still going on when the stream stopped)
    start: str | float  # ISO time when the stream has a clock, else seconds from the first sample
    end: str | float
    start_s: float
    end_s: float
    duration_s: float
    channels: list[str]
    kind: str
    explanation: str
    peak: float | None = None  # highest sample score (anomaly)
    threshold: float | None = None
    value: float | None = None  # the rolling median (range)
    findings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("peak", "threshold", "value", "start_s", "end_s", "duration_s"):
            if d[k] is not None:
                d[k] = round(float(d[k]), 4)
        return d

    def text(self) -> str:
        head = f"{_label(self.start)}  {self.type.upper()} {self.status}: {self.duration_s:g} s, " \
               f"channels {', '.join(self.channels)}"
        if self.peak is not None:
            head += f", peak {self.peak:.2f} (threshold {self.threshold:.2f})"
        return f"{head}, {self.kind} — {self.explanation}"


def _label(t: str | float) -> str:
    return t if isinstance(t, str) else f"t={t:g}s"


def _fmt(name: str, v: float) -> str:
    digits = {"temperature_c": 2, "spo2": 1}.get(name, 0)  # a stream alert is often a small departure
    return f"{v:.{digits}f} {UNITS[name]}"


def _explain(window: np.ndarray, channels: list[str], focus: list[str], base: Baseline, *, point: bool,
             at_rest: bool, night: bool, before: np.ndarray | None = None) -> tuple[str, list[str]]:
    """One-line explanation and the knowledge base's pattern names for an event's (n, S) values.

    The knowledge base's findings come first (for a point event only the sensor ones: one reading of 120 bpm
    is not a tachycardia); else the focus channels' departure, for a point event from `before` (the (S,)
    readings just before it), else from the baseline."""
    win = {c: window[:, i] for i, c in enumerate(channels)}
    # impossible readings other than zeros (findings counts the zeros itself)
    with np.errstate(invalid="ignore"):
        bad = (flag_faults(window, channels) & (window != 0)).sum(axis=0).tolist()
    faults = dict(zip(channels, bad, strict=True))
    found = findings(win, base, night=night, at_rest=at_rest, faults=faults)
    sensor = [f for f in found if f.pattern in ("flatline", "signal_loss")]
    chosen = sensor if point else found
    if chosen:
        f = chosen[0]
        more = [g.title for g in found if g is not f][:2]
        return f"{f.title}: {f.evidence}" + (f" (also: {'; '.join(more)})" if more else ""), [g.pattern for g in found]
    parts = []
    for name in focus[:2]:
        v = win[name][np.isfinite(win[name])]
        if not v.size:
            parts.append(f"{CHANNEL_NAMES[name]} missing")
            continue
        local = None if before is None else float(before[channels.index(name)])
        if point and local is not None and math.isfinite(local):
            far = float(v[np.argmax(np.abs(v - local))])
            parts.append(f"{CHANNEL_NAMES[name]} jumped to {_fmt(name, far)} from {_fmt(name, local)} just before")
            continue
        usual = base.median.get(name)
        far = float(v[np.argmax(np.abs(v - usual))]) if usual is not None else float(np.median(v))
        parts.append(f"{CHANNEL_NAMES[name]} reached {_fmt(name, far)}"
                     + (f" vs this patient's recent {_fmt(name, usual)}" if usual is not None else ""))
    tail = (" — an isolated departure, often a motion artefact or a loose sensor" if point
            else " — departs from the signal's own recent dynamics")
    return "; ".join(parts) + tail, [g.pattern for g in found]


def _departing(window: np.ndarray, channels: list[str], focus: list[str], base: Baseline, k: float = 4.0) -> int:
    """Rows of the (n, S) window where a `focus` channel is more than k robust spreads from its baseline median."""
    far = np.zeros(len(window), bool)
    for name in focus:
        if name in base.median:
            with np.errstate(invalid="ignore"):
                far |= np.abs(window[:, channels.index(name)] - base.median[name]) > k * base.spread[name]
    return int(far.sum())


class _Event:
    """A detector event being accumulated (bounded: the latest `max_event_samples` values)."""

    def __init__(self, sample: Sample, C: int, keep: int, before: np.ndarray | None) -> None:
        self.first = sample
        self.before = before  # (S,) median of the readings just before the event
        self.last = sample
        self.n_flag = 0
        self.peak = -math.inf
        self.ch_sum = np.zeros(C)
        self.ch_n = np.zeros(C)
        self.values: deque[np.ndarray] = deque(maxlen=keep)
        self.pending: list[np.ndarray] = []  # non-alerting samples after the last alert (join if it resumes)
        self.reported = False
        self.last_report = sample.seconds


class StreamWatcher:
    """Feeds CSV lines (header first) through parsing, scoring, events and range alerts; writes alert lines to
    `out` (text or JSON lines) and warnings to `err`.

    Args:
        detector: a trained detector, or None to build one when the header is known with `detector_factory`
            (channels, rate_hz) -> Detector (default: `analysis.default_detector`, trained on simulated normal data).
        rate_hz: sampling rate for streams without a time column (default 1 Hz); with one, the rate the default
            detector is trained for (default: from the first two samples).
        fmt: 'text' or 'json'.
    """

    def __init__(self, *, detector: Detector | None = None,
                 detector_factory: Callable[[list[str], float], Detector] | None = None,
                 rate_hz: float | None = None, fmt: str = "text", out: TextIO | None = None,
                 err: TextIO | None = None, source: str = "<stdin>", config: StreamConfig | None = None) -> None:
        if fmt not in FORMATS:
            raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if rate_hz is not None and not rate_hz > 0:
            raise ConfigError(f"--rate must be > 0, got {rate_hz}")
        self.det, self.factory = detector, detector_factory or (lambda ch, rate: default_detector(ch, rate))
        self.rate_hz, self.fmt, self.source = rate_hz, fmt, source
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.cfg = config or StreamConfig()
        self.parser: LineParser | None = None
        self.line_no = 0
        self.samples = 0
        self.malformed = 0
        self.gaps = 0
        self.alerts = {"anomaly": 0, "range": 0, "flatline": 0}
        self.latency = LatencyStats()
        self.detector_s = 0.0
        self._pending: list[Sample] = []
        self._scorer: ARStream | WindowStream | None = None

    # ------------------------------------------------------------------------------------------ input
    def feed(self, line: str) -> None:
        """One physical line of the stream (with or without its newline)."""
        self.line_no += 1
        text = line.rstrip("\r\n")
        if not text.strip() or text.lstrip().startswith("#"):
            return
        if self.parser is None:
            self.parser = LineParser(text.lstrip("\ufeff"), self.line_no, self.source, self.rate_hz)
            if self.det is not None:
                self._check_channels(self.det)
            if self.parser.ignored:
                self._warn(f"note: ignored columns: {', '.join(self.parser.ignored)}")
            return
        n_notes = len(self.parser.notes)
        try:
            sample = self.parser.parse(text, self.line_no)
        except MalformedLine as exc:
            self.malformed += 1
            if self.malformed <= self.cfg.max_reported:
                self._warn(f"warning: {self.source}, line {self.line_no}: {exc}; line skipped")
            elif self.malformed == self.cfg.max_reported + 1:
                self._warn("warning: more malformed lines; they are counted but no longer reported one by one")
            return
        for note in self.parser.notes[n_notes:]:
            self._warn(f"note: {note}")
        self.samples += 1
        if self._scorer is None:
            self._pending.append(sample)
            if self.parser.time_index is None or self.rate_hz is not None or len(self._pending) >= 2:
                self._start()
            return
        self._process(sample)

    def close(self) -> StreamSummary:
        """End of the stream: score what waits, report alerts still going on; returns the summary."""
        if self._pending:
            self._start()
        if self._scorer is not None:
            if self._event is not None and self._event.n_flag:
                self._emit_event(self._event, "stream-end", self._last.seconds)
            for ch, st in self._range_state.items():
                if st is not None and st["alerted"]:
                    self._emit_range(ch, st, self._last, "stream-end")
            for i, st in enumerate(self._flat):
                if st["alerted"]:
                    self._emit_flat(i, st, "stream-end")
        return StreamSummary(self.samples, self.malformed, self.alerts["anomaly"], self.alerts["range"],
                             self.latency.mean_ms(), self.latency.quantile_ms(0.99), self.latency.max_ms(),
                             self.detector_s, self.gaps, flatline_alerts=self.alerts["flatline"])

    def _check_channels(self, det: Detector) -> None:
        missing = [c for c in det.channels if c not in self.parser.channels]
        if missing:
            raise DataError(f"{self.source}: the stream lacks channel(s) {', '.join(missing)} the detector was "
                            f"trained on ({', '.join(det.channels)}); the header gives "
                            f"{', '.join(self.parser.channels)}")

    def _start(self) -> None:
        """Build the detector and scorer once the channels and the rate are known, then score waiting samples."""
        p = self.parser
        rate = self.rate_hz
        if rate is None and len(self._pending) >= 2:
            rate = float(f"{1.0 / (self._pending[1].seconds - self._pending[0].seconds):.4g}")
        self.rate = float(rate or 1.0)
        if self.det is None:
            t0 = time.perf_counter()
            self._warn(f"note: training the default detector on simulated normal data ({', '.join(p.channels)} at "
                       f"{self.rate:g} Hz) ...")
            self.det = self.factory(list(p.channels), self.rate)
            self.detector_s = time.perf_counter() - t0
            self._check_channels(self.det)
        det = self.det
        self._scorer = make_scorer(det, self.cfg)
        self._idx = [p.channels.index(c) for c in det.channels]
        self._threshold = float(det.threshold.value)
        if self.detector_s and det.name == "ar":
            # trained on the fly and standardised by the stream's own running spread, as `vitals analyze` does:
            # the same alarm level (a --model detector keeps its calibrated threshold)
            self._threshold = max(self._threshold, ALARM_Z)
        self._ch_threshold = np.maximum(np.asarray(det.channel_threshold, np.float64), 1e-12)
        w = int(det.params.get("smooth", 1))
        self._smooth: deque | None = deque(maxlen=w) if w > 1 else None
        self._event: _Event | None = None
        self._baseline: deque[np.ndarray] = deque(maxlen=self.cfg.baseline_window)
        self._merge = max(0, int(round(self.cfg.merge_s * self.rate)))
        self._range = [(i, c) for i, c in enumerate(p.channels) if c in RANGE_LIMITS]
        self._range_win = {c: (deque(), []) for _, c in self._range}  # (arrival (t, v), sorted values)
        self._range_state: dict[str, dict | None] = {c: None for _, c in self._range}
        # frozen sensors: per channel, the run of identical readings and whether the channel ever varied
        self._flat_min = max(4, int(round(FLAT_MIN_S * self.rate)))
        self._flat: list[dict] = [{"value": None, "since": None, "n": 0, "varied": False, "alerted": False}
                                  for _ in p.channels]
        self._last: Sample | None = None
        self._recent: deque[np.ndarray] = deque(maxlen=max(2, int(round(RANGE_WINDOW_S * self.rate))))
        self._at_rest = True
        self._warn(f"note: watching {', '.join(p.channels)} with the {det.name} detector (threshold "
                   f"{self._threshold:.3g})" + (f", ready in {self.detector_s:.1f} s" if self.detector_s else ""))
        pending, self._pending = self._pending, []
        for s in pending:
            self._process(s)

    # ------------------------------------------------------------------------------------------ scoring
    def _process(self, s: Sample) -> None:
        t0 = time.perf_counter()
        if self._last is not None and s.seconds - self._last.seconds > self.cfg.gap_steps / self.rate:
            self.gaps += 1
            self._scorer.reset()
        score, channel, _ = self._scorer.update(s.values[self._idx])
        if self._smooth is not None:  # the detector's `smooth`, trailing (a stream has no future samples)
            self._smooth.append((score, channel))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a window of gaps only: NaN, no alert
                score = float(np.nanmean([a for a, _ in self._smooth]))
                channel = np.nanmean(np.stack([b for _, b in self._smooth]), axis=0)
        flag = score > self._threshold  # NaN compares False
        self._track(s, flag, score, channel)
        in_range = self._ranges(s)
        self._flatlines(s)
        if not flag and in_range:
            self._baseline.append(s.values)
        self._recent.append(s.values)
        self._last = s
        self.latency.add(time.perf_counter() - t0)

    def _track(self, s: Sample, flag: bool, score: float, channel: np.ndarray) -> None:
        ev = self._event
        if flag:
            if ev is None:
                ev = self._event = _Event(s, len(self._idx), self.cfg.max_event_samples, self._before())
            ev.values.extend(ev.pending)
            ev.pending.clear()
            ev.values.append(s.values)
            ev.last = s
            ev.n_flag += 1
            ev.peak = max(ev.peak, score)
            ok = np.isfinite(channel)
            ev.ch_sum[ok] += channel[ok]
            ev.ch_n[ok] += 1
        elif ev is not None:
            ev.pending.append(s.values)
            if len(ev.pending) > self._merge:
                self._emit_event(ev, "ended", s.seconds)
                self._event = None
                return
        if ev is not None and s.seconds - ev.last_report >= self.cfg.update_every_s:
            self._emit_event(ev, "ongoing", s.seconds)

    def _ranges(self, s: Sample) -> bool:
        """Update the rolling medians and range alerts; True when every channel is within its range."""
        medians: dict[str, float] = {}
        for i, c in self._range:
            arrivals, ordered = self._range_win[c]
            v = float(s.values[i])
            if math.isfinite(v):
                arrivals.append((s.seconds, v))
                bisect.insort(ordered, v)
            while arrivals and s.seconds - arrivals[0][0] >= RANGE_WINDOW_S:
                _, old = arrivals.popleft()
                del ordered[bisect.bisect_left(ordered, old)]
            if ordered:
                n = len(ordered)
                medians[c] = ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])
        rr = medians.get("respiration_rate")
        at_rest = rr is None or rr <= NORMAL_RANGE["respiration_rate"][1]
        self._at_rest = at_rest
        normal = True
        for _, c in self._range:
            lo, hi = RANGE_LIMITS[c]
            m = medians.get(c)
            side = None
            if m is not None and hi is not None and m > hi and (c not in AT_REST_ONLY or at_rest):
                side = "high"
            elif m is not None and lo is not None and m < lo:
                side = "low"
            st = self._range_state[c]
            if side is None:
                if st is not None and st["alerted"]:
                    self._emit_range(c, st, self._last or s, "ended")
                self._range_state[c] = None
                continue
            normal = False
            if st is None or st["side"] != side:
                st = self._range_state[c] = {"since": s, "side": side, "alerted": False, "last_report": s.seconds}
            st["median"] = m
            st["extreme"] = max(m, st.get("extreme", m)) if side == "high" else min(m, st.get("extreme", m))
            if not st["alerted"] and s.seconds - st["since"].seconds >= RANGE_MIN_S:
                st["alerted"] = True
                self.alerts["range"] += 1
                self._emit_range(c, st, s, "ongoing")
            elif st["alerted"] and s.seconds - st["last_report"] >= self.cfg.update_every_s:
                self._emit_range(c, st, s, "ongoing")
        return normal

    def _flatlines(self, s: Sample) -> None:
        """A channel that varied before and now repeats one exact value for FLAT_MIN_S: a frozen or detached
        sensor (an AR model cannot see it: a constant is perfectly predictable)."""
        for i, st in enumerate(self._flat):
            v = float(s.values[i])
            if not math.isfinite(v):
                continue
            if st["value"] is not None and v == st["value"]:
                st["n"] += 1
                st["last"] = s
                if not st["alerted"] and st["varied"] and st["n"] >= self._flat_min:
                    st["alerted"] = True
                    self.alerts["flatline"] += 1
                    self._emit_flat(i, st, "ongoing")
                continue
            if st["alerted"]:
                self._emit_flat(i, st, "ended")
            if st["value"] is not None:
                st["varied"] = True
            st.update(value=v, since=s, last=s, n=1, alerted=False)

    def _emit_flat(self, i: int, st: dict, status: str) -> None:
        c = self.parser.channels[i]
        times = self._times(st["since"], st["last"])
        others = [CHANNEL_NAMES.get(o, o) for j, o in enumerate(self.parser.channels)
                  if j != i and self._flat[j]["n"] < self._flat_min]
        why = (f"{CHANNEL_NAMES.get(c, c)} has read exactly {_fmt(c, st['value'])} for {times['duration_s']:g} s"
               + (f" while {', '.join(others)} kept varying" if others else "")
               + ": a frozen or detached sensor (sensor fault), not the body")
        self._write(Alert("flatline", status, channels=[c], kind="collective", explanation=why,
                          value=st["value"], **times))

    # ------------------------------------------------------------------------------------------ output
    def _times(self, first: Sample, last: Sample) -> dict[str, Any]:
        def label(x: Sample) -> str | float:
            return x.clock.isoformat(timespec="seconds") if x.clock is not None else round(x.seconds, 3)

        return {"start": label(first), "end": label(last), "start_s": first.seconds, "end_s": last.seconds,
                "duration_s": round(last.seconds - first.seconds + 1.0 / self.rate, 3)}

    def _night(self, x: Sample) -> bool:
        if x.clock is None:
            return False
        h = x.clock.hour + x.clock.minute / 60.0
        return h >= NIGHT_HOURS[0] or h < NIGHT_HOURS[1]

    def _before(self, n: int = 10) -> np.ndarray | None:
        if not self._recent:
            return None
        rows = np.array(list(self._recent)[-n:])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a channel missing in all of them
            return np.nanmedian(rows, axis=0)

    def _base(self) -> Baseline:
        rows = np.array(self._baseline) if self._baseline else np.empty((0, len(self.parser.channels)))
        return baseline_of(rows, list(self.parser.channels))

    def _emit_event(self, ev: _Event, status: str, now: float) -> None:
        channels = list(self.det.channels)
        mean = np.where(ev.ch_n > 0, ev.ch_sum / np.maximum(ev.ch_n, 1), 0.0)
        ratio = mean / self._ch_threshold
        order = np.argsort(-ratio)
        chosen = [channels[c] for c in order if ratio[c] > 1.0] or [channels[int(order[0])]]
        times = self._times(ev.first, ev.last)
        window = np.array(ev.values)
        stream_channels = list(self.parser.channels)
        base = self._base()
        # an AR residual echoes a departing reading for p samples after it: a point anomaly (one to three readings
        # far from the patient's recent level) may alert a little longer than POINT_MAX_S
        far = _departing(window, stream_channels, chosen, base)
        echo = self._scorer.p / self.rate if isinstance(self._scorer, ARStream) else 0.0
        dur = times["duration_s"]
        point = dur <= POINT_MAX_S or len(window) <= 3 or (1 <= far <= 3 and dur <= POINT_MAX_S + echo)
        explanation, patterns = _explain(window, stream_channels, chosen, base, point=point,
                                         at_rest=self._at_rest, night=self._night(ev.first), before=ev.before)
        kind = "point" if point else "collective" if COLLECTIVE_PATTERNS & set(patterns) else "contextual"
        if not ev.reported:
            self.alerts["anomaly"] += 1
            ev.reported = True
        ev.last_report = now
        self._write(Alert("anomaly", status, channels=chosen, kind=kind, explanation=explanation, peak=ev.peak,
                          threshold=self._threshold, findings=patterns, **times))

    def _emit_range(self, c: str, st: dict, last: Sample, status: str) -> None:
        lo, hi = RANGE_LIMITS[c]
        times = self._times(st["since"], last)
        limit = hi if st["side"] == "high" else lo
        window = np.array(self._recent) if self._recent else last.values[None]
        # the last minute as the range monitor saw it, all channels (the partners tell a sensor from the heart)
        why, patterns = _explain(window, list(self.parser.channels), [c], self._base(), point=False,
                                 at_rest=self._at_rest, night=self._night(last))
        rest = " at rest" if c in AT_REST_ONLY and st["side"] == "high" else ""
        shown = st["median"] if status == "ongoing" else st["extreme"]  # once over: how far it went
        head = (f"{CHANNEL_NAMES[c]} {RANGE_WINDOW_S:g}-s median {_fmt(c, shown)} "
                f"{'>' if st['side'] == 'high' else '<'} {_fmt(c, limit)}{rest} for "
                f"{times['duration_s']:g} s")
        st["last_report"] = last.seconds
        kind = "contextual" if c in AT_REST_ONLY else "collective"
        self._write(Alert("range", status, channels=[c], kind=kind, explanation=f"{head}; {why}",
                          value=shown, findings=patterns, **times))

    def _write(self, alert: Alert) -> None:
        line = json.dumps(alert.as_dict(), ensure_ascii=False) if self.fmt == "json" else alert.text()
        self.out.write(line + "\n")
        self.out.flush()

    def _warn(self, message: str) -> None:
        self.err.write(message + "\n")
        self.err.flush()


# ---------------------------------------------------------------------------------------------- summary
class LatencyStats:
    """Mean, max and quantiles of per-sample latencies in bounded memory: a histogram with log-spaced bins
    (0.1 µs to 100 s, 1.2 % wide), a quantile reported as its bin's upper edge."""

    EDGES = [10.0 ** (e / 200.0) for e in range(-1400, 401)]  # seconds

    def __init__(self) -> None:
        self.counts = [0] * (len(self.EDGES) + 1)
        self.n = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.EDGES, seconds)] += 1
        self.n += 1
        self.total += seconds
        self.max = max(self.max, seconds)

    def mean_ms(self) -> float:
        return 1e3 * self.total / self.n if self.n else math.nan

    def max_ms(self) -> float:
        return 1e3 * self.max if self.n else math.nan

    def quantile_ms(self, q: float) -> float:
        if not self.n:
            return math.nan
        need, seen = q * self.n, 0
        for i, k in enumerate(self.counts):
            seen += k
            if seen >= need:
                return 1e3 * min(self.EDGES[min(i, len(self.EDGES) - 1)], self.max)
        return 1e3 * self.max


@dataclass
class StreamSummary:
    samples: int
    malformed: int
    anomaly_alerts: int
    range_alerts: int
    latency_mean_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    detector_s: float
    gaps: int = 0
    interrupted: bool = False
    output_closed: bool = False
    flatline_alerts: int = 0

    @property
    def alerts(self) -> int:
        return self.anomaly_alerts + self.range_alerts + self.flatline_alerts

    def text(self) -> str:
        return (f"summary: {self.samples:,} samples read, {self.malformed:,} malformed line(s) skipped, "
                f"{self.alerts} alert(s) ({self.anomaly_alerts} anomaly, {self.range_alerts} range, "
                f"{self.flatline_alerts} flatline)"
                + (f", {self.gaps} time gap(s)" if self.gaps else "")
                + f"; per-sample latency mean {self.latency_mean_ms:.3f} ms, p99 {self.latency_p99_ms:.3f} ms, "
                f"max {self.latency_max_ms:.3f} ms" + (" (interrupted)" if self.interrupted else "")
                + (" (alert output closed)" if self.output_closed else ""))


def watch(path: str = "-", *, follow: bool = False, model: str | None = None, detector: Detector | None = None,
          detector_name: str = "ar", rate_hz: float | None = None, fmt: str = "text", max_samples: int | None = None,
          poll_interval: float = 0.5, out: TextIO | None = None, err: TextIO | None = None,
          stdin: TextIO | None = None, config: StreamConfig | None = None) -> StreamSummary:
    """Watch a stream of vital signs and print alerts; prints the summary on `err` and returns it.

    Args:
        path: CSV file, or '-' for stdin.
        follow: keep reading a file as it grows (stop with Ctrl-C or `max_samples`).
        model: a detector directory written by `neuralab vitals train` (else `detector`, else the default
            detector `detector_name`, trained on simulated normal data with the stream's channels and rate).
        rate_hz: sampling rate when there is no time column (default 1 Hz).
        fmt: 'text' or 'json' (one JSON object per alert line).
        max_samples: stop after this many samples.
        poll_interval: seconds between looks at a followed file past its end.

    Returns:
        The summary; `interrupted` is set when Ctrl-C stopped the stream.
    """
    if max_samples is not None and max_samples < 1:
        raise ConfigError(f"--max-samples must be >= 1, got {max_samples}")
    if not poll_interval > 0:
        raise ConfigError(f"--poll-interval must be > 0, got {poll_interval}")
    if model is not None:
        detector = load_detector(model)

    def factory(channels: list[str], rate: float) -> Detector:
        return default_detector(channels, rate, name=detector_name)

    err = err or sys.stderr
    watcher = StreamWatcher(detector=detector, detector_factory=factory, rate_hz=rate_hz, fmt=fmt, out=out, err=err,
                            source="<stdin>" if path == "-" else path, config=config)
    interrupted = closed = False
    try:
        for line in iter_lines(path, follow=follow, poll_interval=poll_interval, stdin=stdin):
            watcher.feed(line)
            if max_samples is not None and watcher.samples >= max_samples:
                break
    except KeyboardInterrupt:
        interrupted = True
    except BrokenPipeError:  # the reader of the alerts went away (`... | head`): stop, still give the summary
        closed = True
        if watcher.out is sys.stdout:  # spare Python its own failed flush of stdout at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        watcher.out = io.StringIO()
    if watcher.parser is None and not interrupted:
        raise DataError(f"{watcher.source}: no header line; expected a CSV header naming the channels: "
                        + _accepted_headers())
    if closed:
        watcher.out = io.StringIO()
    summary = watcher.close()
    summary.interrupted, summary.output_closed = interrupted, closed
    err.write(summary.text() + "\n")
    err.flush()
    return summary
