"""Reading vital signs as they arrive, one line at a time (for `neuralab vitals watch`, `anomaly.stream`).

    iter_lines(path, follow=...)                 lines of a file ('-' = stdin), following a growing file like tail -f
    LineParser(header, ...).parse(line, n)       one CSV data line -> Sample (canonical units), or MalformedLine

The header is read as the batch reader reads it (`neuralab.data.vitals.ALIAS_TO_CHANNEL`: `Body_Temperature`,
`HR`, `heart_rate`, `SpO2 (%)`, ...), with an optional time column (seconds, epoch seconds or milliseconds,
`HH:MM[:SS]`, ISO date-times; without one the rows are `rate_hz` apart) and `,`, `;` or tab separators. Units are
made canonical as `neuralab.data.vitals_formats` does: °F (named in the header, or a first reading above 45) to
°C, SpO2 fractions to percent. A line that cannot be a sample raises `MalformedLine` naming the column and the
value; the caller reports it and goes on.

Shape legend: S stream channels; `Sample.values` (S,) canonical units, NaN = missing reading.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TextIO

import numpy as np

from neuralab.data.vitals import _TIME_ALIASES, ALIAS_TO_CHANNEL, CHANNELS
from neuralab.data.vitals_formats import (
    _CLOCK,
    _MISSING,
    _accepted_headers,
    _canonical_units,
    _fahrenheit_hint,
    _norm_header,
)
from neuralab.errors import DataError


class MalformedLine(Exception):
    """A data line that cannot be a sample; the message says why and quotes the value."""


@dataclass
class Sample:
    line: int
    seconds: float  # from the first sample
    clock: datetime | None  # absolute time when the stream has one
    values: np.ndarray  # (S,) canonical units, NaN = missing


class LineParser:
    """Parses the header, then one data line at a time into a `Sample` (raises MalformedLine)."""

    def __init__(self, header: str, line_no: int, source: str, rate_hz: float | None) -> None:
        self.source, self.rate_hz = source, rate_hz
        self.delimiter = next((d for d in (",", ";", "\t") if d in header), ",")
        names = [h.strip().strip('"').strip("'") for h in self._split(header)]
        self.names = names
        found: dict[str, int] = {}
        self.time_index: int | None = None
        self.time_scale = 1.0
        self.ignored: list[str] = []
        self.fahrenheit_hint: bool | None = None
        for i, name in enumerate(names):
            norm = _norm_header(name)
            ch = ALIAS_TO_CHANNEL.get(norm)
            if ch is not None and ch not in found:
                found[ch] = i
                if ch == "temperature_c":
                    self.fahrenheit_hint = _fahrenheit_hint(name)
            elif ch is None and norm in _TIME_ALIASES and self.time_index is None:
                self.time_index, self.time_scale = i, _TIME_ALIASES[norm]
            else:
                self.ignored.append(name)
        if not found:
            raise DataError(f"{source}, line {line_no}: no vital-sign column among the headers "
                            f"{', '.join(repr(n) for n in names[:12])}; expected a header line naming at least "
                            "one of: " + _accepted_headers())
        self.channels = sorted(found, key=CHANNELS.index)
        self.fields = [found[c] for c in self.channels]
        self.temp = self.channels.index("temperature_c") if "temperature_c" in self.channels else None
        self.spo2 = self.channels.index("spo2") if "spo2" in self.channels else None
        self.fahrenheit: bool | None = None
        self.spo2_fraction: bool | None = None
        self.notes: list[str] = []
        self.time_mode: str | None = None
        self.start: datetime | None = None
        self._t0: float | datetime | None = None
        self.prev: tuple[int, float] | None = None  # (line, seconds) of the last good sample
        self.count = 0

    def _split(self, line: str) -> list[str]:
        if '"' in line:
            return next(csv.reader([line], delimiter=self.delimiter))
        return line.split(self.delimiter)

    def _number(self, text: str, what: str) -> float:
        t = text.strip()
        if t.lower() in _MISSING:
            return math.nan
        if self.delimiter == ";":
            t = t.replace(",", ".")  # ';'-separated files from European spreadsheets write 36,6
        try:
            v = float(t)
        except ValueError:
            raise MalformedLine(f"{what}: {text.strip()!r} is not a number") from None
        if not math.isfinite(v):
            raise MalformedLine(f"{what}: {text.strip()!r} is not a finite number")
        return v

    def _time(self, text: str) -> float:
        t = text.strip()
        col = f"column {self.time_index + 1} ({self.names[self.time_index]})"
        if self.time_mode is None:
            self.time_mode = ("number" if _float_or_none(t) is not None else "clock" if _CLOCK.match(t)
                              else "datetime")
        if self.time_mode == "number":
            v = _float_or_none(t)
            if v is None:
                raise MalformedLine(f"{col}: {t!r} is not a time; expected seconds (a number), like the first row")
            if self._t0 is None:  # as the batch reader: epoch seconds or milliseconds give the clock
                if self.time_scale == 1.0 and 1e12 < v < 1e13:
                    self.time_scale = 1e-3
                    self.start = datetime.fromtimestamp(v / 1000.0).astimezone()
                    self.notes.append("time column read as Unix epoch milliseconds")
                elif self.time_scale == 1.0 and 1e9 < v < 1e10:
                    self.start = datetime.fromtimestamp(v).astimezone()
                    self.notes.append("time column read as Unix epoch seconds")
                self._t0 = v * self.time_scale
            return v * self.time_scale - float(self._t0)
        if self.time_mode == "clock":
            m = _CLOCK.match(t)
            if m is None:
                raise MalformedLine(f"{col}: {t!r} is not a time; expected HH:MM or HH:MM:SS, like the first row")
            v = int(m.group(1)) * 3600.0 + int(m.group(2)) * 60.0 + float(m.group(3) or 0.0)
            self._t0 = v if self._t0 is None else self._t0
            return v - float(self._t0)
        try:
            stamp = datetime.fromisoformat(t)
            if self._t0 is None:
                self._t0 = self.start = stamp
            return (stamp - self._t0).total_seconds()
        except (ValueError, TypeError):  # TypeError: a time-zone-aware stamp among naive ones (or back)
            raise MalformedLine(f"{col}: {t!r} is not a time; expected an ISO date-time like 2024-05-01T08:00:00, "
                                "like the first row") from None

    def parse(self, line: str, line_no: int) -> Sample:
        parts = self._split(line)
        if len(parts) != len(self.names):
            raise MalformedLine(f"{len(parts)} field(s), the header has {len(self.names)}: {_quote(line)}")
        values = np.array([self._number(parts[i], f"column {i + 1} ({self.names[i]})") for i in self.fields])
        if self.time_index is not None:
            seconds = self._time(parts[self.time_index])
        else:
            seconds = self.count / float(self.rate_hz or 1.0)
        if self.prev is not None and not seconds > self.prev[1]:
            raise MalformedLine(f"time {parts[self.time_index].strip()!r} is not after the previous sample's "
                                f"(line {self.prev[0]}); samples must arrive in time order")
        self._canonical(values)
        self.prev = (line_no, seconds)
        self.count += 1
        clock = self.start + timedelta(seconds=seconds) if self.start is not None else None
        return Sample(line_no, seconds, clock, values)

    def _canonical(self, values: np.ndarray) -> None:
        """°F -> °C and SpO2 fraction -> percent, decided once on the first reading, converted as the batch
        reader converts (`vitals_formats._canonical_units`)."""
        if self.temp is not None and math.isfinite(values[self.temp]):
            v = float(values[self.temp])
            if self.fahrenheit is None:
                self.fahrenheit = self.fahrenheit_hint if self.fahrenheit_hint is not None else v > 45.0
                if self.fahrenheit:
                    how = "named in the header" if self.fahrenheit_hint else f"detected: first reading {v:g} > 45"
                    self.notes.append(f"temperature in °F ({how}), converted to °C")
            if self.fahrenheit:
                cell = np.array([[v]])
                _canonical_units(cell, ["temperature_c"], True, [])
                values[self.temp] = cell[0, 0]
        if self.spo2 is not None and math.isfinite(values[self.spo2]):
            v = float(values[self.spo2])
            if self.spo2_fraction is None:
                self.spo2_fraction = v <= 1.0
                if self.spo2_fraction:
                    self.notes.append(f"SpO2 given as a fraction (first reading {v:g}), converted to percent")
            if self.spo2_fraction:
                cell = np.array([[v]])
                _canonical_units(cell, ["spo2"], None, [])
                values[self.spo2] = cell[0, 0]


def _float_or_none(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _quote(line: str, limit: int = 80) -> str:
    s = line.rstrip("\r\n")
    return repr(s if len(s) <= limit else s[:limit] + "...")



def iter_lines(path: str, *, follow: bool = False, poll_interval: float = 0.5,
               stdin: TextIO | None = None) -> Iterator[str]:
    """Lines of `path` ('-' = stdin) as they arrive. With `follow`, a file is polled every `poll_interval`
    seconds past its end like `tail -f` (a partial last line waits for its newline; a truncated or replaced
    file is read again from its start); without it, the lines stop at the end of the file."""
    if path == "-":
        stream = stdin or sys.stdin
        raw = getattr(stream, "buffer", None)
        if raw is not None:
            for b in iter(raw.readline, b""):
                yield b.decode("utf-8", errors="replace")
        else:
            yield from iter(stream.readline, "")
        return
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a folder; watch reads one CSV file (or '-' for stdin)")
    fh = open(path, "rb")  # reopened on truncation or rotation, closed in `finally`
    try:
        partial = b""
        while True:
            b = fh.readline()
            if b.endswith(b"\n"):
                yield (partial + b).decode("utf-8", errors="replace")
                partial = b""
                continue
            partial += b
            if not follow:
                if partial:
                    yield partial.decode("utf-8", errors="replace")
                return
            time.sleep(poll_interval)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue  # being replaced: wait for the new file
            if st.st_ino != os.fstat(fh.fileno()).st_ino or st.st_size < fh.tell():
                fh.close()
                fh = open(path, "rb")
                partial = b""
    finally:
        fh.close()
