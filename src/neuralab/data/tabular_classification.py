"""A labelled feature table: a CSV of numeric feature columns and a final integer class-label column.

    x_1, x_2, ..., x_F, label          <- optional header row (recognised when none of its fields is a number)
    0.5, 1.25, ..., -3.0, 2
    ...

Every row has the same number of comma-separated fields; blank lines are skipped. Any value that is not a finite
number, a ragged row, an empty file or a label that is not an integer raises a `DataError` naming the file, the
line and the column, so the user can fix the file in an editor.

Shape legend: X (N, F) float32 features, y (N,) int64 labels as written in the file (not re-indexed).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import torch

from neuralab.errors import DataError


def _number(text: str) -> float | None:
    """`text` as a finite float, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _column(col: int, header: list[str] | None) -> str:
    name = f" ({header[col - 1].strip()!r})" if header is not None and header[col - 1].strip() else ""
    return f"column {col}{name}"


def _delimiter_hint(fields: list[str]) -> str:
    if len(fields) == 1 and any(sep in fields[0] for sep in ";\t|"):
        return " (the file looks separated by ';', tab or '|'; save it comma-separated)"
    return ""


def read_feature_label_csv(path: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a CSV whose last column is an integer class label and whose other columns are numeric features.

    Args:
        path: the CSV file (UTF-8, comma-separated, header row optional).

    Returns:
        (X, y): features as float32 and labels as int64, exactly as written (e.g. 1..3, not re-indexed).

    Shape:
        X (N, F), y (N,), F >= 1 = number of columns - 1.

    Raises:
        DataError: missing or unreadable file, empty file, header but no data, fewer than two columns, ragged
            rows, a non-numeric or non-finite feature, a label that is not an integer, or a single class.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{str(path)!r} is not a file; expected a CSV of numeric feature columns and a final "
                        "integer label column")
    where = str(path)
    features: list[list[float]] = []
    labels: list[int] = []
    header: list[str] | None = None
    width = 0
    width_line = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            for fields in reader:
                line = reader.line_num
                if not fields or all(not f.strip() for f in fields):
                    continue  # blank line
                if width == 0:
                    if len(fields) < 2:
                        raise DataError(f"{where}: line {line} has 1 column; expected at least one feature column "
                                        f"and a final label column{_delimiter_hint(fields)}")
                    width, width_line = len(fields), line
                    if all(_number(f) is None for f in fields):
                        header = fields
                        continue
                if len(fields) != width:
                    raise DataError(f"{where}: line {line} has {len(fields)} columns but line {width_line} has "
                                    f"{width}; every row needs the same number of columns{_delimiter_hint(fields)}")
                row: list[float] = []
                for col, text in enumerate(fields[:-1], start=1):
                    value = _number(text)
                    if value is None:
                        what = "is empty" if not text.strip() else f"{text.strip()!r} is not a finite number"
                        raise DataError(f"{where}: line {line}, {_column(col, header)}: {what}; every feature must "
                                        "be a number (fill or remove missing values)")
                    row.append(value)
                raw = fields[-1].strip()
                value = _number(raw)
                if value is None or not value.is_integer():
                    raise DataError(f"{where}: line {line}, {_column(width, header)}: label {raw!r} is not an "
                                    "integer; the last column must hold integer class labels (0, 1, 2, ...)")
                features.append(row)
                labels.append(int(value))
    except UnicodeDecodeError as exc:
        raise DataError(f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 CSV") from exc
    except csv.Error as exc:
        raise DataError(f"{where}: line {reader.line_num}: not valid CSV ({exc})") from exc
    except OSError as exc:
        raise DataError(f"cannot read {where}: {exc.strerror or exc}") from exc
    if not labels:
        if header is not None:
            raise DataError(f"{where} has a header row (line {width_line}) but no data rows")
        raise DataError(f"{where} is empty; expected a CSV of numeric feature columns and a final integer label "
                        "column")
    if len(set(labels)) < 2:
        raise DataError(f"{where}: every row has label {labels[0]}; a classification table needs at least two "
                        "classes")
    return torch.tensor(features, dtype=torch.float32), torch.tensor(labels, dtype=torch.int64)
