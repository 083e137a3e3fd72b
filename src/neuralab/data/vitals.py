"""Vital-sign (WBAN) recordings: read any supported file into one validated `VitalsRecord`.

Supported inputs (detected from the content, not the file name):

- CSV (`,`, `;` or tab) with flexible headers: case, spaces, underscores and units in brackets are ignored, so
  `Body_Temperature`, `Temp`, `temp (F)`, `HR`, `Heart Rate`, `PULSE`, `SpO2`, `SaO2`, `SysABP`, `NISysABP`,
  `RespRate`, ... all map to the canonical channels in `CHANNELS`. An optional time column holds ISO datetimes,
  seconds (or epoch seconds), or `HH:MM[:SS]` since the start; without one the rows are taken as regularly
  sampled at `rate_hz` (default 1 Hz, said in `notes`). Columns `label`, `anomaly_kind`, `anomaly_source`,
  `anomaly_channels` (`;`-separated), `anomaly_cause` make it a labelled file (`truth` is set).
- lines `Body_Temperature = 98.13, Heart_Rate = 74, Pulse_Rate = 75, SpO2 = 97, ECG = 554` (the course's tool).
- PhysioNet Challenge 2012 records (`Time,Parameter,Value`, `HH:MM` since ICU admission), averaged onto a regular
  grid (default 1 h, the median charting interval; see `PHYSIONET_STEP_S`), empty grid cells kept as gaps (NaN).

Units are made canonical: temperature in °F is detected (median above 45) and converted to °C, SpO2 given as a
fraction (median at most 1) is converted to percent; each conversion is said in `notes`. Physiologically impossible
readings (HR 0 or 400, SpO2 120, ...) are kept and flagged in `faults`, never dropped. Gaps of at most
`max_gap_s` seconds are interpolated linearly (marked in `imputed`); longer gaps stay NaN.

Every problem with a file raises `DataError` naming the file, the line (1-based, as an editor shows it), the column
and the offending value.

This module holds the record types, the channel vocabulary and the entry points; the parsers are in
`neuralab.data.vitals_formats`, the simulator and injectors in `neuralab.data.vitals_sim`.

Shape legend: T samples (rows), C channels; `values` (T, C) float64, `seconds` (T,), `faults` / `imputed` (T, C).
"""

from __future__ import annotations

import io
import math
import tarfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from neuralab.errors import DataError

CHANNELS = ("temperature_c", "heart_rate", "pulse_rate", "spo2", "ecg", "systolic_bp", "diastolic_bp",
            "respiration_rate")

UNITS = {"temperature_c": "°C", "heart_rate": "bpm", "pulse_rate": "bpm", "spo2": "%", "ecg": "ADC units",
         "systolic_bp": "mmHg", "diastolic_bp": "mmHg", "respiration_rate": "breaths/min"}

# Readings outside these bounds cannot come from a living adult: a sensor fault (kept, flagged in `faults`).
# ECG is in device units, so only non-finite ECG values are faults.
POSSIBLE_RANGE = {"temperature_c": (25.0, 45.0), "heart_rate": (20.0, 300.0), "pulse_rate": (20.0, 300.0),
                  "spo2": (50.0, 100.0), "ecg": (-math.inf, math.inf), "systolic_bp": (40.0, 300.0),
                  "diastolic_bp": (15.0, 200.0), "respiration_rate": (1.0, 80.0)}

# Adult resting reference ranges (the "normal range" analyses and explanations compare against).
NORMAL_RANGE = {"temperature_c": (36.1, 37.8), "heart_rate": (60.0, 100.0), "pulse_rate": (60.0, 100.0),
                "spo2": (95.0, 100.0), "ecg": (-math.inf, math.inf), "systolic_bp": (90.0, 140.0),
                "diastolic_bp": (60.0, 90.0), "respiration_rate": (12.0, 20.0)}

ANOMALY_KINDS = ("point", "contextual", "collective")
ANOMALY_SOURCES = ("sensor_fault", "physiological")

# Header aliases, compared after `_norm_header` (lower case, letters and digits only, unit suffix removed).
_ALIASES: dict[str, tuple[str, ...]] = {
    "temperature_c": ("bodytemperature", "bodytemp", "temperature", "temp", "tempc", "tempf", "temperaturec",
                      "temperaturef", "bodytemperaturec", "bodytemperaturef", "skintemperature", "skintemp",
                      "coretemp", "bt"),
    "heart_rate": ("heartrate", "hr", "heartratebpm", "hrbpm", "ecghr", "ecgheartrate", "bpm"),
    "pulse_rate": ("pulserate", "pulse", "pr", "pulsebpm", "pulseratebpm", "spo2pulse", "pleth", "plethrate"),
    "spo2": ("spo2", "sao2", "spo2percent", "oxygensaturation", "o2sat", "o2saturation", "sat", "sp02"),
    "ecg": ("ecg", "ekg", "ecgvalue", "ecgsignal", "ecgmv", "mlii"),
    "systolic_bp": ("systolicbp", "systolic", "sysabp", "nisysabp", "sbp", "sys", "bpsys", "bpsystolic",
                    "abpsys", "nbpsys", "systolicbloodpressure", "sysbp"),
    "diastolic_bp": ("diastolicbp", "diastolic", "diasabp", "nidiasabp", "dbp", "dia", "bpdia", "bpdiastolic",
                     "abpdias", "nbpdias", "diastolicbloodpressure", "diabp", "diasbp"),
    "respiration_rate": ("respirationrate", "resprate", "respiratoryrate", "rr", "resp", "breathingrate", "br",
                         "respirationratebpm", "rrbpm"),
}
ALIAS_TO_CHANNEL = {alias: ch for ch, aliases in _ALIASES.items() for alias in aliases}
_TIME_ALIASES = {"time": 1.0, "timestamp": 1.0, "datetime": 1.0, "date": 1.0, "t": 1.0, "seconds": 1.0,
                 "secs": 1.0, "sec": 1.0, "s": 1.0, "times": 1.0, "elapsed": 1.0, "elapsedtime": 1.0,
                 "elapseds": 1.0, "elapsedseconds": 1.0, "minutes": 60.0, "mins": 60.0, "min": 60.0,
                 "timemin": 60.0, "hours": 3600.0, "timeh": 3600.0, "hour": 3600.0, "epoch": 1.0}
_TRUTH_COLUMNS = ("label", "anomaly_kind", "anomaly_source", "anomaly_channels", "anomaly_cause")

PHYSIONET_STEP_S = 3600.0  # 1-h grid: HR, BP, Temp, RespRate are charted every 60 min (median; 25% at 30 min)
DEFAULT_MAX_GAP_S = 5.0  # regular recordings: interpolate gaps up to 5 s; PhysioNet grids: up to 2 grid cells


@dataclass
class VitalsTruth:
    """Per-sample ground truth of a labelled recording (the simulator's columns).

    Attributes:
        label: (T,) int8, 1 inside an anomaly.
        kind: (T,) object, 'point' | 'contextual' | 'collective' | ''.
        cause: (T,) object, free text (e.g. 'spike: motion artefact'), '' outside anomalies.
        source: (T,) object, 'sensor_fault' | 'physiological' | ''.
        channels: (T,) object, tuple of affected canonical channel names (empty tuple outside anomalies).
    """

    label: np.ndarray
    kind: np.ndarray
    cause: np.ndarray
    source: np.ndarray
    channels: np.ndarray

    @classmethod
    def normal(cls, n: int) -> VitalsTruth:
        """All-normal truth for `n` samples."""
        channels = np.empty(n, dtype=object)
        channels[:] = [()] * n
        return cls(label=np.zeros(n, np.int8), kind=np.full(n, "", object), cause=np.full(n, "", object),
                   source=np.full(n, "", object), channels=channels)

    def copy(self) -> VitalsTruth:
        return VitalsTruth(self.label.copy(), self.kind.copy(), self.cause.copy(), self.source.copy(),
                           self.channels.copy())

    def events(self) -> list[dict]:
        """Runs of consecutive labelled samples with the same kind/cause: dicts start, end (inclusive index), kind,
        source, cause, channels."""
        out: list[dict] = []
        n = len(self.label)
        i = 0
        while i < n:
            if not self.label[i]:
                i += 1
                continue
            j = i
            while j + 1 < n and self.label[j + 1] and self.cause[j + 1] == self.cause[i] \
                    and self.kind[j + 1] == self.kind[i]:
                j += 1
            out.append({"start": i, "end": j, "kind": self.kind[i], "source": self.source[i],
                        "cause": self.cause[i], "channels": tuple(self.channels[i])})
            i = j + 1
        return out


@dataclass
class VitalsRecord:
    """One recording on a common time index, canonical units.

    Attributes:
        values: (T, C) float64 in canonical units (see `UNITS`); NaN marks a gap.
        channels: C canonical names from `CHANNELS`, in `CHANNELS` order.
        seconds: (T,) float64 seconds from the first row, strictly increasing.
        start: absolute time of row 0 when the file had one, else None.
        rate_hz: the regular sampling rate when there is one, else None.
        faults: (T, C) bool, physiologically impossible readings (outside `POSSIBLE_RANGE`), kept in `values`.
        truth: per-sample labels when the file is labelled, else None.
        notes: what the reader did (unit conversions, interpolated gaps, ignored columns, ...).
        source: the file the record came from.
        imputed: (T, C) bool, values filled by interpolation of short gaps.
        meta: numbers the file carried besides the channels (PhysioNet: RecordID, Age, ...).
    """

    values: np.ndarray
    channels: list[str]
    seconds: np.ndarray
    start: datetime | None
    rate_hz: float | None
    faults: np.ndarray
    truth: VitalsTruth | None
    notes: list[str]
    source: str
    imputed: np.ndarray | None = None
    meta: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.imputed is None:
            self.imputed = np.zeros(self.values.shape, dtype=bool)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def hours(self) -> float:
        return float(self.seconds[-1] - self.seconds[0]) / 3600.0 if len(self) else 0.0

    def channel(self, name: str) -> np.ndarray:
        """(T,) values of one channel; DataError when the record lacks it."""
        if name not in self.channels:
            raise DataError(f"{self.source}: no {name!r} channel (has {', '.join(self.channels)})")
        return self.values[:, self.channels.index(name)]

    def times(self) -> list[datetime] | None:
        """Absolute time of each row when `start` is known."""
        if self.start is None:
            return None
        return [self.start + timedelta(seconds=float(s)) for s in self.seconds]

    def copy(self) -> VitalsRecord:
        return replace(self, values=self.values.copy(), seconds=self.seconds.copy(), faults=self.faults.copy(),
                       truth=None if self.truth is None else self.truth.copy(), notes=list(self.notes),
                       imputed=self.imputed.copy(), meta=dict(self.meta), channels=list(self.channels))


def flag_faults(values: np.ndarray, channels: list[str]) -> np.ndarray:
    """(T, C) bool: infinite readings and readings outside `POSSIBLE_RANGE` (NaN gaps are not faults)."""
    faults = np.zeros(values.shape, dtype=bool)
    for c, name in enumerate(channels):
        lo, hi = POSSIBLE_RANGE[name]
        col = values[:, c]
        with np.errstate(invalid="ignore"):
            faults[:, c] = np.isinf(col) | (np.isfinite(col) & ((col < lo) | (col > hi)))
    return faults


# ----------------------------------------------------------------------------------------------------------------
# public entry points (the parsers live in vitals_formats, imported when first needed)


def read_vitals(path: str | Path, *, rate_hz: float | None = None, max_gap_s: float | None = None,
                max_rows: int | None = None) -> VitalsRecord:
    """Read one vital-sign file (CSV, `Name = value` lines, or a PhysioNet 2012 record; `.gz` too).

    Args:
        path: the file.
        rate_hz: sampling rate for files without a time column (default 1 Hz, noted), or the grid rate for
            PhysioNet records (default one sample per `PHYSIONET_STEP_S`).
        max_gap_s: interpolate interior gaps up to this many seconds (default: 5 s, at least 2 sampling steps).
        max_rows: refuse files with more rows than this (None: no limit; CSVs are read in chunks).

    Returns:
        A `VitalsRecord` in canonical units.

    Raises:
        DataError: the file is missing, empty, binary, or malformed (the message names line, column and value).
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise DataError(f"{source}: no such file")
    if path.is_dir():
        raise DataError(f"{source}: is a folder; use read_vitals_many for folders of records")
    if path.suffix == ".gz":
        import gzip

        def open_fn():
            return gzip.open(path, "rb")
        try:
            with open_fn() as fh:
                fh.read(1)
        except OSError as exc:
            raise DataError(f"{source}: not a readable gzip file ({exc})") from None
    else:
        def open_fn():
            return open(path, "rb")
    from neuralab.data.vitals_formats import read_from

    return read_from(open_fn, source, rate_hz, max_gap_s, max_rows)


def read_vitals_bytes(data: bytes, source: str = "<bytes>", *, rate_hz: float | None = None,
                      max_gap_s: float | None = None) -> VitalsRecord:
    """`read_vitals` for content already in memory (an upload, an archive member)."""
    from neuralab.data.vitals_formats import read_from

    return read_from(lambda: io.BytesIO(data), source, rate_hz, max_gap_s, None)


_RECORD_SUFFIXES = (".csv", ".txt", ".tsv", ".gz")


def _is_archive(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".tar.gz", ".tgz", ".tar"))


def read_vitals_many(paths, *, rate_hz: float | None = None, max_gap_s: float | None = None,
                     on_error: str = "raise", limit: int | None = None) -> list[VitalsRecord]:
    """Read files, folders of files (`.csv`, `.txt`, `.tsv`, `.gz`; searched recursively when the folder itself
    has none), and tar archives of records (e.g. PhysioNet's `set-a.tar.gz`, read without extracting).

    Args:
        paths: one path or a sequence of paths.
        rate_hz, max_gap_s: as in `read_vitals`.
        on_error: 'raise' (default) or 'skip' records that raise `DataError` (e.g. a PhysioNet stay without vitals).
        limit: stop after this many records.

    Returns:
        The records, in path order and sorted file order inside folders and archives.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if isinstance(paths, str | Path):
        paths = [paths]
    records: list[VitalsRecord] = []

    def add(fn) -> bool:
        try:
            records.append(fn())
        except DataError:
            if on_error == "raise":
                raise
        return limit is not None and len(records) >= limit

    for p in map(Path, paths):
        if not p.exists():
            raise DataError(f"{p}: no such file or folder")
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in _RECORD_SUFFIXES)
            if not files:
                files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in _RECORD_SUFFIXES)
            if not files:
                raise DataError(f"{p}: no .csv/.txt/.tsv files in this folder")
            for f in files:
                if add(lambda f=f: read_vitals(f, rate_hz=rate_hz, max_gap_s=max_gap_s)):
                    return records
        elif _is_archive(p):
            try:
                tar = tarfile.open(p)
            except tarfile.TarError as exc:
                raise DataError(f"{p}: not a readable tar archive ({exc})") from None
            with tar:
                members = sorted((m for m in tar if m.isfile() and m.name.lower().endswith(_RECORD_SUFFIXES)),
                                 key=lambda m: m.name)
                if not members:
                    raise DataError(f"{p}: no .csv/.txt records in this archive")
                for m in members:
                    data = tar.extractfile(m).read()
                    if add(lambda m=m, data=data, p=p: read_vitals_bytes(data, f"{p}:{m.name}", rate_hz=rate_hz,
                                                                    max_gap_s=max_gap_s)):
                        return records
        else:
            if add(lambda p=p: read_vitals(p, rate_hz=rate_hz, max_gap_s=max_gap_s)):
                return records
    return records
