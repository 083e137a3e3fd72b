"""Univariate time series from CSV files, validated: one numeric column, an optional time column, no gaps.

`read_series(path, column, time_column=None)` returns a `Series` (values float64 (n,), the time labels as
strings, the column's name). Every problem is a `DataError` naming the file, the line and the value:
a missing column (the available ones are listed), a value that is not a number, an empty or NaN cell (a gap
in the values), a time label that does not parse, times out of order or unevenly spaced (a gap in time).
`check_length(n, window, horizon)` says how many points a forecaster needs.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralab.errors import DataError


@dataclass
class Series:
    """A validated univariate series.

    Attributes:
        values: the observations, float64 (n,), in time order.
        times: the time labels as written in the file (None without a time column).
        name: the value column's name.
        source: the file it came from.
    """

    values: np.ndarray
    times: list[str] | None
    name: str
    source: str = ""

    def __len__(self) -> int:
        return len(self.values)


def _column_index(header: list[str], column: str, path: Path, what: str) -> int:
    names = [h.strip() for h in header]
    if column in names:
        return names.index(column)
    if column.isdigit() and 1 <= int(column) <= len(names):
        return int(column) - 1
    raise DataError(f"{path}: line 1: no {what} column {column!r}; the header has "
                    f"{', '.join(repr(n) for n in names)} (or give a 1-based column number)")


def _parse_times(labels: list[str], path: Path, lines: list[int]) -> np.ndarray:
    """Time labels as float positions (numbers) or datetime64 (dates); raises on unparsable labels."""
    numbers = []
    for t in labels:
        try:
            numbers.append(float(t))
        except ValueError:
            numbers.append(None)
    if all(v is not None for v in numbers):
        return np.array(numbers)
    if sum(v is not None for v in numbers) > len(numbers) / 2:  # a numeric time column with a stray label
        i = next(i for i, v in enumerate(numbers) if v is None)
        raise DataError(f"{path}: line {lines[i]}: time {labels[i]!r} is neither a number nor a date")
    import pandas as pd

    parsed = pd.to_datetime(pd.Series(labels), errors="coerce", format="mixed")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        i = int(bad[0])
        raise DataError(f"{path}: line {lines[i]}: time {labels[i]!r} is neither a number nor a date")
    return parsed.to_numpy()


def _check_spacing(labels: list[str], path: Path, lines: list[int]) -> None:
    """Times strictly increasing and evenly spaced (months count as equal steps); else name the first gap."""
    t = _parse_times(labels, path, lines)
    if len(t) < 3:
        return
    if np.issubdtype(t.dtype, np.datetime64):
        import pandas as pd

        idx = pd.DatetimeIndex(t)
        # calendar steps: months differ in days, so compare month numbers when the step is about a month
        months = idx.year.to_numpy() * 12 + idx.month.to_numpy()
        dm = np.diff(months)
        days = np.diff(t).astype("timedelta64[s]").astype(np.float64) / 86400
        step = np.median(dm)
        if step >= 1 and np.all(days > 0) and (np.all(dm == step)):
            return
        d = days
        unit = "days"
    else:
        d = np.diff(t)
        unit = "time units"
    order = np.flatnonzero(d <= 0)
    if len(order):
        i = int(order[0]) + 1
        raise DataError(f"{path}: line {lines[i]}: time {labels[i]!r} does not come after {labels[i - 1]!r}; "
                        "rows must be in increasing time order")
    step = float(np.median(d))
    gaps = np.flatnonzero(np.abs(d - step) > 0.01 * step + 1e-9)
    if len(gaps):
        i = int(gaps[0]) + 1
        raise DataError(f"{path}: line {lines[i]}: gap in time: {labels[i - 1]!r} -> {labels[i]!r} is "
                        f"{d[i - 1]:g} {unit}, the usual step is {step:g}; fill or interpolate the missing "
                        "points (evenly spaced observations are expected)")


def read_series(path: str | Path, column: str, time_column: str | None = None) -> Series:
    """Read one numeric column (and an optional time column) of a CSV with a header row.

    Args:
        path: a comma-separated UTF-8 file whose first row names the columns.
        column: the value column: a header name or a 1-based column number.
        time_column: the time column (numbers or dates), checked for order and even spacing.

    Returns:
        The validated `Series`.

    Raises:
        DataError: unreadable/empty file, unknown column, short row, non-numeric or missing value,
            unparsable, unordered or unevenly spaced times — with the line number and the value.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"series file {str(path)!r} does not exist")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as a UTF-8 CSV file ({exc})") from None
    if not rows:
        raise DataError(f"{path}: the file is empty; expected a header row and one row per time step")
    header = rows[0]
    ci = _column_index(header, column, path, "value")
    ti = _column_index(header, time_column, path, "time") if time_column is not None else None
    values: list[float] = []
    times: list[str] = []
    lines: list[int] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue  # blank line
        need = max(ci, ti if ti is not None else 0)
        if len(row) <= need:
            raise DataError(f"{path}: line {lineno}: {len(row)} field(s), expected at least {need + 1} "
                            f"(column {header[need].strip()!r} is missing)")
        raw = row[ci].strip()
        if raw == "" or raw.lower() in ("nan", "na", "null", "none"):
            raise DataError(f"{path}: line {lineno}, column {header[ci].strip()!r}: missing value {raw!r} (a gap "
                            "in the series); fill or interpolate it before forecasting")
        try:
            v = float(raw)
        except ValueError:
            raise DataError(f"{path}: line {lineno}, column {header[ci].strip()!r}: {raw!r} is not a number") from None
        if not math.isfinite(v):
            raise DataError(f"{path}: line {lineno}, column {header[ci].strip()!r}: {raw!r} is not a finite number")
        values.append(v)
        lines.append(lineno)
        if ti is not None:
            times.append(row[ti].strip())
    if not values:
        raise DataError(f"{path}: no data rows below the header")
    if ti is not None:
        _check_spacing(times, path, lines)
    return Series(np.asarray(values, dtype=np.float64), times if ti is not None else None,
                  header[ci].strip() or f"column {ci + 1}", str(path))


def check_length(n: int, window: int, horizon: int, what: str = "the series") -> None:
    """Raise a DataError unless `n` points leave enough training windows for `window` and `horizon`.

    A neural forecaster needs at least 8 training windows after holding out a validation part, i.e.
    n >= window + horizon + 8 (and at least 2·(window + horizon)).
    """
    need = max(window + horizon + 8, 2 * (window + horizon))
    if n < need:
        raise DataError(f"{what} has {n} points; a window of {window} and a horizon of {horizon} need at least "
                        f"{need} (use a shorter --window or --horizon, or a longer series)")
