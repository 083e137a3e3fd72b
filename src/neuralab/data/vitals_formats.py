"""The parsers behind `neuralab.data.vitals.read_vitals`: CSV, `Name = value` lines, PhysioNet 2012 records, and
the post-processing every format shares (units, faults, regular grid, short-gap interpolation).

Shape legend: T samples, C channels; values (T, C) float64.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

import numpy as np

from neuralab.data.vitals import (
    _TIME_ALIASES,
    _TRUTH_COLUMNS,
    ALIAS_TO_CHANNEL,
    ANOMALY_KINDS,
    ANOMALY_SOURCES,
    CHANNELS,
    DEFAULT_MAX_GAP_S,
    PHYSIONET_STEP_S,
    UNITS,
    VitalsRecord,
    VitalsTruth,
    flag_faults,
)
from neuralab.errors import DataError

# ----------------------------------------------------------------------------------------------------------------
# small helpers

_KV_LINE = re.compile(r"^\s*[A-Za-z][\w .()\[\]°%/-]*\s*[=:]\s*\S")
_CLOCK = re.compile(r"^\s*(\d{1,3}):(\d{2})(?::(\d{2}(?:\.\d*)?))?\s*$")
_MISSING = {"", "nan", "na", "n/a", "null", "none", "-", "?"}
_CHUNK_ROWS = 500_000


def _norm_header(name: str) -> str:
    """'Body_Temperature (°F)' -> 'bodytemperature'; 'Heart Rate' -> 'heartrate'."""
    text = re.sub(r"[\(\[].*?[\)\]]", "", str(name)).lower()
    return re.sub(r"[^a-z0-9]", "", text)


def _fahrenheit_hint(name: str) -> bool | None:
    """True when a temperature header names °F, False when it names °C, None when it says nothing."""
    raw = str(name).lower().replace(" ", "")
    norm = re.sub(r"[^a-z0-9°]", "", raw)
    if "°f" in raw or "(f)" in raw or "[f]" in raw or norm.endswith("f") or "fahrenheit" in raw:
        return True
    if "°c" in raw or "(c)" in raw or "[c]" in raw or norm.endswith("tempc") or norm.endswith("temperaturec") \
            or "celsius" in raw:
        return False
    return None


def _accepted_headers() -> str:
    return ("Body_Temperature/Temp, Heart_Rate/HR, Pulse_Rate/PULSE, SpO2/SaO2, ECG, SysABP/NISysABP/Systolic_BP, "
            "DiasABP/NIDiasABP/Diastolic_BP, RespRate/Respiration_Rate, and optionally a time column")


def _check_not_binary(head: bytes, source: str) -> None:
    if b"\x00" in head:
        raise DataError(f"{source}: looks like a binary file (contains NUL bytes); expected a text CSV of "
                        "vital signs")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut at the end of the sample is fine
            # not UTF-8: Latin-1 text is read (odd bytes replaced); many control bytes mean a binary file
            bad = sum(1 for b in head if b < 9 or 13 < b < 32)
            if bad > len(head) // 100:
                raise DataError(f"{source}: looks like a binary file (undecodable bytes at offset {exc.start}); "
                                "expected a text CSV of vital signs") from None


def _first_content_line(text: str) -> tuple[int, str] | None:
    """(0-based line index, line) of the first line that is not blank or a # comment."""
    for i, line in enumerate(text.splitlines()):
        if line.strip() and not line.lstrip().startswith("#"):
            return i, line
    return None


def _physionet_header(line: str) -> bool:
    return [f.strip().lower() for f in line.split(",")] == ["time", "parameter", "value"]


def _number_error(source: str, line: int, col_no: int, col: str, value: object, what: str) -> DataError:
    return DataError(f"{source}, line {line}, column {col_no} ({col}): {str(value)!r} is not a number; "
                     f"expected {what}")


def _numeric(series, source: str, first_line: int, col_no: int, col: str, what: str) -> np.ndarray:
    """A pandas column as float64; text that is not a number (nor a missing marker) raises with its line."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    coerced = pd.to_numeric(series, errors="coerce")
    bad = coerced.isna().to_numpy() & series.notna().to_numpy()
    if bad.any():
        stripped = series[bad].astype(str).str.strip().str.lower()
        real_bad = ~stripped.isin(_MISSING).to_numpy()
        if real_bad.any():
            pos = int(np.flatnonzero(bad)[np.flatnonzero(real_bad)[0]])
            raise _number_error(source, first_line + pos, col_no, col, series.iloc[pos], what)
    return coerced.to_numpy(dtype=np.float64, na_value=np.nan)


class _TimeParser:
    """Turns chunks of a time column into float seconds; the format is fixed by the first chunk."""

    def __init__(self, source: str, col: str, col_no: int, scale: float) -> None:
        self.source, self.col, self.col_no, self.scale = source, col, col_no, scale
        self.mode: str | None = None
        self.start: datetime | None = None
        self._t0_ns: int | None = None
        self.notes: list[str] = []

    def parse(self, series, first_line: int, stripped: bool = False) -> np.ndarray:
        import pandas as pd

        text = series
        empty = (text.isna() | (text == "")).to_numpy(dtype=bool, na_value=True)
        if empty.any():
            pos = int(np.flatnonzero(empty)[0])
            raise DataError(f"{self.source}, line {first_line + pos}, column {self.col_no} ({self.col}): empty "
                            "time; every row needs a time (or drop the time column and give a sampling rate)")
        if self.mode is None:
            sample = str(text.iloc[0])
            if _number_or_none(sample) is not None:
                self.mode = "number"
            elif _CLOCK.match(sample):
                self.mode = "clock"
            else:
                self.mode = "datetime"
        if self.mode == "number":
            num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            bad = ~np.isfinite(num)
            what = "seconds (a number), like the first row"
        elif self.mode == "clock":
            parts = text.str.extract(_CLOCK.pattern)
            h = pd.to_numeric(parts[0], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            m = pd.to_numeric(parts[1], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            s = pd.to_numeric(parts[2], errors="coerce").fillna(0.0).to_numpy(dtype=np.float64)
            num = h * 3600.0 + m * 60.0 + s
            bad = ~np.isfinite(num)
            what = "HH:MM or HH:MM:SS, like the first row"
        else:
            try:
                stamps = pd.to_datetime(text, format="ISO8601", errors="coerce")
            except ValueError:  # mixed UTC offsets (a daylight-saving change): compare them in UTC
                stamps = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
                if "mixed UTC offsets: times converted to UTC" not in self.notes:
                    self.notes.append("mixed UTC offsets: times converted to UTC")
            bad = stamps.isna().to_numpy()
            what = "an ISO date-time like 2024-05-01T08:00:00, like the first row"
            if not bad.any():
                if self.start is None:
                    first = stamps.iloc[0]
                    self.start = first.to_pydatetime()
                ns = _stamps_to_ns(stamps)
                if self._t0_ns is None:
                    self._t0_ns = int(ns[0])
                num = (ns - self._t0_ns) / 1e9  # relative first: epoch seconds as float64 lose microseconds
        if bad.any() and not stripped:  # read_csv strips leading spaces only; retry without trailing ones
            return self.parse(series.astype(str).str.strip(), first_line, stripped=True)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise DataError(f"{self.source}, line {first_line + pos}, column {self.col_no} ({self.col}): "
                            f"{str(text.iloc[pos])!r} is not a time; expected {what}")
        if self.mode == "number":
            if self.start is None and self.scale == 1.0 and 1e9 < num[0] < 1e10:
                self.start = datetime.fromtimestamp(float(num[0])).astimezone()
                self.notes.append("time column read as Unix epoch seconds")
            elif self.start is None and self.scale == 1.0 and 1e12 < num[0] < 1e13:
                self.start = datetime.fromtimestamp(float(num[0]) / 1000.0).astimezone()
                self.notes.append("time column read as Unix epoch milliseconds")
                self.scale = 1e-3
            return num * self.scale
        return num


def _stamps_to_ns(stamps) -> np.ndarray:
    """pandas datetimes -> int64 nanoseconds since 1970 (time-zone aware or naive, as given)."""
    values = stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz is not None else stamps
    return values.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def _number_or_none(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _check_increasing(seconds: np.ndarray, source: str, header_line: int, time_col: str) -> None:
    steps = np.diff(seconds)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        line = header_line + 1 + i
        if steps[i - 1] == 0:
            raise DataError(f"{source}, line {line}, column {time_col!r}: duplicate timestamp (same as line "
                            f"{line - 1}); timestamps must be strictly increasing")
        raise DataError(f"{source}, line {line}, column {time_col!r}: timestamp earlier than line {line - 1} "
                        "(rows are not sorted by time); sort the file by time")


def _truth_from_columns(cols: dict[str, np.ndarray], n: int, source: str, header_line: int) -> VitalsTruth:
    truth = VitalsTruth.normal(n)
    if "label" in cols:
        raw = cols["label"]
        lab = np.asarray(raw, dtype=np.float64)
        bad = ~np.isin(lab, (0.0, 1.0))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise DataError(f"{source}, line {header_line + 1 + pos}, column 'label': {raw[pos]!r}; expected 0 or 1")
        truth.label = lab.astype(np.int8)
    for key, attr, allowed in (("anomaly_kind", "kind", ("",) + ANOMALY_KINDS),
                               ("anomaly_source", "source", ("",) + ANOMALY_SOURCES),
                               ("anomaly_cause", "cause", None)):
        if key not in cols:
            continue
        values = _clean_strings(cols[key])
        if allowed is not None:
            bad = ~np.isin(values.astype(str), allowed)
            if bad.any():
                pos = int(np.flatnonzero(bad)[0])
                raise DataError(f"{source}, line {header_line + 1 + pos}, column {key!r}: {values[pos]!r}; "
                                f"expected one of {', '.join(a or '(empty)' for a in allowed)}")
        setattr(truth, attr, values)
    if "anomaly_channels" in cols:
        import pandas as pd

        codes, uniques = pd.factorize(_clean_strings(cols["anomaly_channels"]))
        parsed = np.empty(len(uniques), dtype=object)
        for u, key in enumerate(uniques):
            names = []
            for part in str(key).split(";"):
                part = part.strip()
                if not part:
                    continue
                name = part if part in CHANNELS else ALIAS_TO_CHANNEL.get(_norm_header(part))
                if name is None:
                    i = int(np.flatnonzero(codes == u)[0])
                    raise DataError(f"{source}, line {header_line + 1 + i}, column 'anomaly_channels': unknown "
                                    f"channel {part!r}; expected names from {', '.join(CHANNELS)}")
                names.append(name)
            parsed[u] = tuple(names)
        truth.channels = parsed[codes]
    if "label" not in cols and "anomaly_kind" in cols:
        truth.label = (truth.kind != "").astype(np.int8)
    return truth


def _clean_strings(raw: np.ndarray) -> np.ndarray:
    """(T,) object array of stripped strings, '' for missing cells; one Python call per distinct value."""
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(raw, dtype=object), use_na_sentinel=True)
    cleaned = np.array([("" if str(u).strip().lower() in ("nan", "none", "<na>") else str(u).strip())
                        for u in uniques] + [""], dtype=object)
    return cleaned[codes]  # code -1 (missing) picks the trailing ''


# ----------------------------------------------------------------------------------------------------------------
# post-processing shared by every format


def _regularise(seconds: np.ndarray, arrays: list[np.ndarray], notes: list[str]) -> tuple[np.ndarray, list,
                                                                                          float | None]:
    """Detect a regular rate; when only some rows are missing from a regular grid, put them back as NaN gaps.

    Returns (seconds, arrays re-indexed on the grid, rate_hz or None).
    """
    if len(seconds) < 2:
        return seconds, arrays, None
    steps = np.diff(seconds)
    step = float(np.median(steps))
    tol = 0.01 * step
    on_step = np.abs(steps - step) <= tol
    if on_step.all():
        return seconds, arrays, 1.0 / step
    multiples = steps / step
    near_int = np.abs(multiples - np.round(multiples)) <= 0.01
    n_grid = int(round((seconds[-1] - seconds[0]) / step)) + 1
    if on_step.mean() >= 0.9 and near_int.all() and n_grid <= 2 * len(seconds):
        idx = np.round((seconds - seconds[0]) / step).astype(np.int64)
        out = []
        for a in arrays:
            if a.dtype == object:
                filled = np.empty((n_grid,) + a.shape[1:], dtype=object)
                filled[:] = ""
            elif a.dtype == bool:
                filled = np.zeros((n_grid,) + a.shape[1:], dtype=bool)
            elif np.issubdtype(a.dtype, np.integer):
                filled = np.zeros((n_grid,) + a.shape[1:], dtype=a.dtype)
            else:
                filled = np.full((n_grid,) + a.shape[1:], np.nan)
            filled[idx] = a
            out.append(filled)
        notes.append(f"{n_grid - len(seconds)} missing rows of the {1.0 / step:g} Hz grid put back as gaps (NaN)")
        return seconds[0] + np.arange(n_grid) * step, out, 1.0 / step
    notes.append(f"irregular sampling (median step {step:g} s); no regular rate")
    return seconds, arrays, None


def interpolate_short_gaps(values: np.ndarray, seconds: np.ndarray, max_gap_s: float) -> np.ndarray:
    """Fill interior NaN runs spanning at most `max_gap_s` seconds by linear interpolation, in place.

    A run's span is the time its missing rows cover (one median step per row). Runs at the edges, and longer runs,
    stay NaN. Returns the (T, C) bool mask of the filled entries.
    """
    filled = np.zeros(values.shape, dtype=bool)
    if len(seconds) < 3:
        return filled
    step = float(np.median(np.diff(seconds)))
    for c in range(values.shape[1]):
        col = values[:, c]
        nan = np.isnan(col)
        if not nan.any() or nan.all():
            continue
        edges = np.diff(np.concatenate(([0], nan.view(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # run = [start, end)
        interior = (starts > 0) & (ends < len(col))
        span = np.zeros(len(starts))
        span[interior] = seconds[ends[interior] - 1] - seconds[starts[interior]] + step
        ok = interior & (span <= max_gap_s + 1e-9)
        if not ok.any():
            continue
        rows = np.concatenate([np.arange(s, e) for s, e in zip(starts[ok], ends[ok], strict=True)])
        known = ~nan
        col[rows] = np.interp(seconds[rows], seconds[known], col[known])
        filled[rows, c] = True
    return filled


def _canonical_units(values: np.ndarray, channels: list[str], fahrenheit: bool | None, notes: list[str]) -> None:
    """°F -> °C and SpO2 fraction -> percent, in place, each said in `notes`."""
    if "temperature_c" in channels:
        col = values[:, channels.index("temperature_c")]
        finite = col[np.isfinite(col)]
        if finite.size:
            med = float(np.median(finite))
            if fahrenheit or (fahrenheit is None and med > 45.0):
                col[:] = (col - 32.0) * 5.0 / 9.0
                how = "named in the header" if fahrenheit else f"detected: median {med:.1f} > 45"
                notes.append(f"temperature in °F ({how}), converted to °C")
    if "spo2" in channels:
        col = values[:, channels.index("spo2")]
        finite = col[np.isfinite(col)]
        if finite.size and float(np.median(finite)) <= 1.0:
            col *= 100.0
            notes.append(f"SpO2 given as a fraction (median {float(np.median(finite)):.3f}), converted to percent")


def _finish(values: np.ndarray, channels: list[str], seconds: np.ndarray, start: datetime | None,
            rate_hz: float | None, truth: VitalsTruth | None, notes: list[str], source: str, max_gap_s: float,
            fahrenheit: bool | None, meta: dict[str, float] | None = None) -> VitalsRecord:
    # channels in CHANNELS order, whatever the column order of the file
    order = sorted(range(len(channels)), key=lambda c: CHANNELS.index(channels[c]))
    values = np.ascontiguousarray(values[:, order], dtype=np.float64)
    channels = [channels[c] for c in order]
    empty = [ch for c, ch in enumerate(channels) if not np.isfinite(values[:, c]).any()]
    if empty:
        if len(empty) == len(channels):
            raise DataError(f"{source}: no numeric values in any vital-sign column ({', '.join(channels)} are all "
                            "empty); expected numbers")
        keep = [c for c, ch in enumerate(channels) if ch not in empty]
        values, channels = values[:, keep], [channels[c] for c in keep]
        notes.append(f"dropped channels without a single value: {', '.join(empty)}")
    _canonical_units(values, channels, fahrenheit, notes)
    # faults before interpolation, so a filled gap is never a fault and a fault is never smoothed away
    faults = flag_faults(values, channels)
    if faults.any():
        per = {ch: int(faults[:, c].sum()) for c, ch in enumerate(channels) if faults[:, c].any()}
        notes.append("physiologically impossible readings kept and flagged as faults: "
                     + ", ".join(f"{ch} {k}" for ch, k in per.items()))
    imputed = interpolate_short_gaps(values, seconds, max_gap_s)
    if imputed.any():
        notes.append(f"interpolated {int(imputed.sum())} values in gaps of at most {max_gap_s:g} s")
    remaining = int(np.isnan(values).sum())
    if remaining:
        notes.append(f"{remaining} values left as gaps (NaN): gaps longer than {max_gap_s:g} s or at the edges")
    return VitalsRecord(values=values, channels=channels, seconds=seconds - seconds[0], start=start,
                        rate_hz=rate_hz, faults=faults, truth=truth, notes=notes, source=source, imputed=imputed,
                        meta=meta or {})


# ----------------------------------------------------------------------------------------------------------------
# the three formats


def _read_csv(open_fn, source: str, head: str, rate_hz: float | None, max_gap_s: float | None,
              max_rows: int | None) -> VitalsRecord:
    import pandas as pd

    found = _first_content_line(head)
    assert found is not None
    skip, header = found
    delim = ","
    if header.count(",") == 0:
        for cand in (";", "\t"):
            if header.count(cand) > 0:
                delim = cand
                break
    names = [h.strip().strip('"').strip("'") for h in header.split(delim)]
    # ';'-separated files from European spreadsheets write decimal commas (36,6)
    body = "\n".join(head.splitlines()[skip + 1:skip + 50])
    decimal = "," if delim == ";" and re.search(r"\d,\d", body) else "."
    if len(names) == 1 and names[0] and not (ALIAS_TO_CHANNEL.get(_norm_header(names[0]))):
        seps = [s for s in ("|", " ", ":") if s in names[0].strip()]
        hint = f" (it seems separated by {seps[0]!r})" if seps else ""
        raise DataError(f"{source}, line {skip + 1}: found a single column {names[0][:60]!r}{hint}; expected a "
                        "comma-, semicolon- or tab-separated header naming the channels: " + _accepted_headers())
    if all(_number_or_none(n) is not None for n in names if n):
        raise DataError(f"{source}, line {skip + 1}: the first line holds numbers, not a header; add a header "
                        "naming the columns: " + _accepted_headers())
    roles: dict[int, tuple[str, str]] = {}  # column index -> (role, channel/truth key)
    unknown: list[str] = []
    time_col: int | None = None
    time_scale = 1.0
    fahrenheit: bool | None = None
    for i, name in enumerate(names):
        norm = _norm_header(name)
        if norm in ALIAS_TO_CHANNEL:
            roles[i] = ("channel", ALIAS_TO_CHANNEL[norm])
            if ALIAS_TO_CHANNEL[norm] == "temperature_c":
                fahrenheit = _fahrenheit_hint(name)
        elif norm in {t.replace("_", "") for t in _TRUTH_COLUMNS}:
            roles[i] = ("truth", next(t for t in _TRUTH_COLUMNS if t.replace("_", "") == norm))
        elif norm in _TIME_ALIASES and time_col is None:
            time_col, time_scale = i, _TIME_ALIASES[norm]
        else:
            unknown.append(name)
    if not any(role == "channel" for role, _ in roles.values()):
        raise DataError(f"{source}, line {skip + 1}: no vital-sign column among the headers "
                        f"{', '.join(repr(n) for n in names[:12])}; expected at least one of: " + _accepted_headers())
    notes: list[str] = []
    if decimal == ",":
        notes.append("';'-separated with decimal commas")
    if unknown:
        notes.append(f"ignored columns: {', '.join(unknown)}")
    usecols = sorted(list(roles) + ([time_col] if time_col is not None else []))
    dtypes = {i: str for i in usecols if i == time_col or roles.get(i, ("", ""))[0] == "truth"}
    header_line = skip + 1  # 1-based line of the header
    # column index -> list of per-chunk arrays
    parts: dict[int, list[np.ndarray]] = {i: [] for i in usecols}
    time_parser = _TimeParser(source, names[time_col], time_col + 1, time_scale) if time_col is not None else None
    seconds_parts: list[np.ndarray] = []
    rows = 0
    try:
        with open_fn() as fh:
            reader = pd.read_csv(fh, sep=delim, skiprows=skip, header=0, dtype=dtypes, decimal=decimal,
                                 chunksize=_CHUNK_ROWS, skipinitialspace=True, encoding="utf-8",
                                 encoding_errors="replace", comment=None,
                                 # one column: an empty line is a missing value
                                 skip_blank_lines=len(names) > 1,
                                 keep_default_na=True)
            for chunk in reader:
                first_line = header_line + 1 + rows
                if chunk.shape[1] != len(names):
                    raise DataError(f"{source}: the header (line {header_line}) has {len(names)} fields but the "
                                    f"rows have {chunk.shape[1]}; check the delimiter")
                for i in usecols:
                    series = chunk.iloc[:, i]
                    role = "time" if i == time_col else roles[i][0]
                    if role == "channel":
                        parts[i].append(_numeric(series, source, first_line, i + 1, names[i],
                                                 f"a number in {UNITS[roles[i][1]]} or an empty cell for a gap"))
                    elif role == "time":
                        seconds_parts.append(time_parser.parse(series, first_line))
                    else:
                        parts[i].append(series.to_numpy(dtype=object))
                rows += len(chunk)
                if max_rows is not None and rows > max_rows:
                    raise DataError(f"{source}: more than {max_rows:,} rows; split the file or raise the limit")
    except pd.errors.EmptyDataError:
        raise DataError(f"{source}: no data rows after the header; expected one row per sample") from None
    except pd.errors.ParserError as exc:
        msg = str(exc).replace("Error tokenizing data. C error: ", "")
        raise DataError(f"{source}: {msg} (counting from the header, line {header_line}); every row needs as "
                        f"many {delim!r}-separated fields as the header") from None
    if rows == 0:
        raise DataError(f"{source}: no data rows after the header (line {header_line}); expected one row per sample")
    channel_cols = [i for i in usecols if roles.get(i, ("", ""))[0] == "channel"]
    # two headers for one channel (e.g. SysABP and NISysABP): the first wins, the second fills its gaps
    merged: dict[str, np.ndarray] = {}
    for i in channel_cols:
        ch = roles[i][1]
        col = np.concatenate(parts[i])
        if ch in merged:
            gap = np.isnan(merged[ch])
            merged[ch][gap] = col[gap]
            notes.append(f"{names[i]} merged into {ch} (fills its gaps)")
        else:
            merged[ch] = col
    channels = list(merged)
    values = np.column_stack([merged[ch] for ch in channels])
    truth_cols = {roles[i][1]: np.concatenate(parts[i]) for i in usecols if roles.get(i, ("", ""))[0] == "truth"}
    start = None
    if time_parser is not None:
        seconds = np.concatenate(seconds_parts)
        if time_parser.mode == "clock":
            back = np.flatnonzero(np.diff(seconds) < -12 * 3600)
            if back.size:  # a clock time-of-day that passes midnight
                for b in back:
                    seconds[b + 1:] += 86400.0
                notes.append(f"clock times pass midnight {back.size} time(s); days added")
        _check_increasing(seconds, source, header_line, names[time_col])
        start = time_parser.start
        notes.extend(time_parser.notes)
        extra: list[np.ndarray] = [values] + list(truth_cols.values())
        seconds, extra, rate = _regularise(seconds, extra, notes)
        values = extra[0]
        truth_cols = dict(zip(truth_cols, extra[1:], strict=True))
        if rate_hz is not None and rate is None:
            notes.append(f"rate_hz={rate_hz:g} ignored: the file has its own (irregular) time column")
        rate_hz = rate
    else:
        if rate_hz is None:
            rate_hz = 1.0
            notes.append("no time column: rows taken as regularly sampled at 1 Hz (give a rate to change it)")
        elif rate_hz <= 0:
            raise DataError(f"{source}: sampling rate must be > 0, got {rate_hz}")
        seconds = np.arange(len(values), dtype=np.float64) / rate_hz
    truth = _truth_from_columns(truth_cols, len(values), source, header_line) if truth_cols else None
    step = 1.0 / rate_hz if rate_hz else float(np.median(np.diff(seconds))) if len(seconds) > 1 else 1.0
    gap = max_gap_s if max_gap_s is not None else max(DEFAULT_MAX_GAP_S, 2 * step)
    return _finish(values, channels, seconds, start, rate_hz, truth, notes, source, gap, fahrenheit)


def _read_key_values(text: str, source: str, rate_hz: float | None, max_gap_s: float | None,
                     max_rows: int | None) -> VitalsRecord:
    """Lines `Body_Temperature = 98.13, Heart_Rate = 74, ...` (one sample per line)."""
    rows: list[dict[str, float]] = []
    times: list[str] = []
    unknown: set[str] = set()
    fahrenheit: bool | None = None
    time_key: str | None = None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        row: dict[str, float] = {}
        stamp = None
        for item in re.split(r"[,;\t]", line):
            if not item.strip():
                continue
            m = re.match(r"^\s*([^=]+?)\s*=\s*(.*?)\s*$", item) or re.match(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$", item)
            if m is None:
                raise DataError(f"{source}, line {n}: {item.strip()!r} is not 'Name = value'; expected lines like "
                                "'Body_Temperature = 98.13, Heart_Rate = 74, SpO2 = 97'")
            key, raw = m.group(1), m.group(2)
            norm = _norm_header(key)
            if norm in _TIME_ALIASES:
                stamp, time_key = raw, key
                continue
            ch = ALIAS_TO_CHANNEL.get(norm)
            if ch is None:
                unknown.add(key)
                continue
            if ch == "temperature_c" and fahrenheit is None:
                fahrenheit = _fahrenheit_hint(key)
            value = _number_or_none(raw) if raw.lower() not in _MISSING else math.nan
            if value is None:
                raise DataError(f"{source}, line {n}, field {key!r}: {raw!r} is not a number; expected a number "
                                f"in {UNITS[ch]}")
            row.setdefault(ch, value)
        if not row:
            raise DataError(f"{source}, line {n}: no vital-sign value on the line; expected names like "
                            + _accepted_headers())
        rows.append(row)
        if max_rows is not None and len(rows) > max_rows:
            raise DataError(f"{source}: more than {max_rows:,} rows; split the file or raise the limit")
        if stamp is not None:
            times.append(stamp)
        row["_line"] = n
    channels = [ch for ch in CHANNELS if any(ch in r for r in rows)]
    values = np.array([[r.get(ch, math.nan) for ch in channels] for r in rows], dtype=np.float64)
    notes = ["read 'Name = value' lines"]
    if unknown:
        notes.append(f"ignored fields: {', '.join(sorted(unknown))}")
    start = None
    if times and len(times) == len(rows):
        import pandas as pd

        parser = _TimeParser(source, time_key or "time", 0, 1.0)
        seconds = parser.parse(pd.Series(times, dtype=object), 1)
        start = parser.start
        steps = np.diff(seconds)
        if (steps <= 0).any():
            i = int(np.flatnonzero(steps <= 0)[0]) + 1
            word = "duplicate" if steps[i - 1] == 0 else "earlier"
            raise DataError(f"{source}, line {int(rows[i]['_line'])}: {word} time than the previous sample; times "
                            "must be strictly increasing")
        seconds, (values,), rate = _regularise(seconds, [values], notes)
        rate_hz = rate
    else:
        if rate_hz is None:
            rate_hz = 1.0
            notes.append("no time field: lines taken as regularly sampled at 1 Hz (give a rate to change it)")
        seconds = np.arange(len(rows), dtype=np.float64) / rate_hz
    step = 1.0 / rate_hz if rate_hz else float(np.median(np.diff(seconds))) if len(seconds) > 1 else 1.0
    gap = max_gap_s if max_gap_s is not None else max(DEFAULT_MAX_GAP_S, 2 * step)
    return _finish(values, channels, seconds, start, rate_hz, None, notes, source, gap, fahrenheit)


_PHYSIONET_META = ("RecordID", "Age", "Gender", "Height", "ICUType", "Weight")
# invasive first: when both are charted in a grid cell the arterial line wins
_PHYSIONET_PARAMS = {"Temp": "temperature_c", "HR": "heart_rate", "SaO2": "spo2", "SysABP": "systolic_bp",
                     "NISysABP": "systolic_bp", "DiasABP": "diastolic_bp", "NIDiasABP": "diastolic_bp",
                     "RespRate": "respiration_rate"}


def _read_physionet(open_fn, source: str, rate_hz: float | None, max_gap_s: float | None) -> VitalsRecord:
    """PhysioNet 2012 long format, averaged onto a regular grid (default `PHYSIONET_STEP_S`).

    Records are small (a few hundred lines), so a plain line loop beats pandas' per-call overhead here.
    """
    with open_fn() as fh:
        text = fh.read().decode("utf-8", errors="replace").lstrip("\ufeff")
    times: list[float] = []
    names: list[str] = []
    numbers: list[float] = []
    header_seen = False
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not header_seen:
            header_seen = True
            continue
        fields = line.split(",")
        if len(fields) != 3:
            raise DataError(f"{source}, line {n}: {len(fields)} fields; expected 3 (Time,Parameter,Value)")
        m = _CLOCK.match(fields[0])
        if m is None or m.group(3) is not None:
            raise DataError(f"{source}, line {n}, column 1 (Time): {fields[0]!r}; expected HH:MM since admission")
        minutes = int(m.group(1)) * 60 + int(m.group(2))
        if times and minutes * 60.0 < times[-1]:
            raise DataError(f"{source}, line {n}, column 1 (Time): {fields[0]!r} is earlier than the line before; "
                            "expected rows sorted by time")
        raw = fields[2].strip()
        value = _number_or_none(raw) if raw.lower() not in _MISSING else math.nan
        if value is None:
            raise _number_error(source, n, 3, "Value", raw, "a number")
        times.append(minutes * 60.0)
        names.append(fields[1].strip())
        numbers.append(value)
    if not times:
        raise DataError(f"{source}: no data rows after the 'Time,Parameter,Value' header")
    seconds_raw = np.asarray(times)
    value = np.asarray(numbers)
    params = np.asarray(names)
    meta = {}
    for key in _PHYSIONET_META:
        hit = np.flatnonzero((params == key) & (seconds_raw == 0))
        if hit.size and value[hit[0]] >= 0:  # PhysioNet writes -1 for "unknown"
            meta[key] = float(value[hit[0]])
    step = 1.0 / rate_hz if rate_hz else PHYSIONET_STEP_S
    n_cells = int(seconds_raw.max() // step) + 1
    cell = (seconds_raw // step).astype(np.int64)
    grids: dict[str, np.ndarray] = {}
    notes = [f"PhysioNet 2012 record averaged onto a {step / 60:g}-min grid (charting is about hourly); empty "
             "cells are gaps"]
    for param, ch in _PHYSIONET_PARAMS.items():
        sel = params == param
        if param == "Weight":
            continue
        if not sel.any():
            continue
        sums = np.bincount(cell[sel], weights=value[sel], minlength=n_cells)
        counts = np.bincount(cell[sel], minlength=n_cells)
        with np.errstate(invalid="ignore", divide="ignore"):
            grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        if ch in grids:
            gap = np.isnan(grids[ch])
            if (gap & ~np.isnan(grid)).any():
                notes.append(f"{param} fills the gaps of the invasive reading")
            grids[ch][gap] = grid[gap]
        else:
            grids[ch] = grid
    if not grids:
        raise DataError(f"{source}: no vital-sign parameters in this PhysioNet record; expected some of "
                        f"{', '.join(_PHYSIONET_PARAMS)}")
    channels = list(grids)
    values = np.column_stack([grids[ch] for ch in channels])
    seconds = np.arange(n_cells, dtype=np.float64) * step
    gap = max_gap_s if max_gap_s is not None else 2 * step
    return _finish(values, channels, seconds, None, 1.0 / step, None, notes, source, gap, False, meta)


def read_from(open_fn, source: str, rate_hz: float | None, max_gap_s: float | None,
              max_rows: int | None) -> VitalsRecord:
    """Detect the format from the first 64 KB (`open_fn()` opens the content as binary) and parse it."""
    with open_fn() as fh:
        head_bytes = fh.read(65536)
    if not head_bytes.strip():
        raise DataError(f"{source}: the file is empty; expected a CSV of vital signs with a header row")
    _check_not_binary(head_bytes, source)
    head = head_bytes.decode("utf-8", errors="replace").lstrip("\ufeff")
    found = _first_content_line(head)
    if found is None:
        raise DataError(f"{source}: the file has only comments or blank lines; expected a header and data rows")
    first = found[1]
    if _physionet_header(first):
        return _read_physionet(open_fn, source, rate_hz, max_gap_s)
    if "=" in first and _KV_LINE.match(first):
        with open_fn() as fh:
            text = fh.read().decode("utf-8", errors="replace").lstrip("\ufeff")
        return _read_key_values(text, source, rate_hz, max_gap_s, max_rows)
    return _read_csv(open_fn, source, head, rate_hz, max_gap_s, max_rows)


