"""Two-column numeric tables (x, y): the user's own curve-fitting data.

    x, y          <- optional header row (recognised when neither field is a number)
    0.05, 0.41
    0.12, 0.93
    ...

Every data row has exactly two comma-separated numbers; blank lines and lines starting with `#` are skipped.
A value that is not a finite number, a row with another number of columns, or an empty file raises a
`DataError` naming the file and the line, so the user can fix the file in an editor.

Shape legend: x (N,), y (N,) float32 as read; `split_xy` returns (N_split, 1) columns.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import torch

from neuralab.errors import DataError

XY_FRACTIONS = (0.6, 0.2, 0.2)  # train, validation, test


def _number(text: str) -> float | None:
    """`text` as a finite float, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _delimiter_hint(fields: list[str]) -> str:
    if len(fields) == 1 and any(sep in fields[0] for sep in ";\t| "):
        return " (the file looks separated by ';', tab, '|' or spaces; save it comma-separated)"
    return ""


def read_xy_csv(path: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a CSV of two numeric columns, x and y.

    Args:
        path: the CSV file (UTF-8, comma-separated, header row optional).

    Returns:
        (x, y) as float32 tensors, in file order.

    Shape:
        x (N,), y (N,).

    Raises:
        DataError: missing or unreadable file, empty file, header but no data, a row without exactly two
            columns, or a value that is not a finite number -- naming the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{str(path)!r} is not a file; expected a CSV with two numeric columns x,y")
    where = str(path)
    xs: list[float] = []
    ys: list[float] = []
    header_line = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            for fields in reader:
                line = reader.line_num
                if not fields or all(not f.strip() for f in fields) or fields[0].lstrip().startswith("#"):
                    continue  # blank line or comment
                if len(fields) != 2:
                    raise DataError(f"{where}: line {line} has {len(fields)} column{'s' * (len(fields) != 1)}; "
                                    f"expected exactly 2 (x,y){_delimiter_hint(fields)}")
                values = [_number(f) for f in fields]
                if not xs and not header_line and all(v is None for v in values):
                    header_line = line  # the first row, with no number in it: a header
                    continue
                for col, (text, value) in enumerate(zip(fields, values, strict=True), start=1):
                    if value is None:
                        what = "is empty" if not text.strip() else f"{text.strip()!r} is not a finite number"
                        raise DataError(f"{where}: line {line}, column {col} ({'xy'[col - 1]}): {what}; both "
                                        "columns must hold numbers (fill or remove missing values)")
                xs.append(values[0])
                ys.append(values[1])
    except UnicodeDecodeError as exc:
        raise DataError(f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 CSV") from exc
    except csv.Error as exc:
        raise DataError(f"{where}: line {reader.line_num}: not valid CSV ({exc})") from exc
    except OSError as exc:
        raise DataError(f"cannot read {where}: {exc.strerror or exc}") from exc
    if not xs:
        if header_line:
            raise DataError(f"{where} has a header row (line {header_line}) but no data rows")
        raise DataError(f"{where} is empty; expected a CSV with two numeric columns x,y")
    return torch.tensor(xs, dtype=torch.float32), torch.tensor(ys, dtype=torch.float32)


def split_xy(x: torch.Tensor, y: torch.Tensor, fractions: tuple[float, float, float] = XY_FRACTIONS,
             seed: int = 0, source: str = "the data") -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Shuffle (x, y) pairs with a fixed seed and cut them into train / validation / test.

    Args:
        x, y: paired values, shape (N,) or (N, 1).
        fractions: the shares of train, validation and test (validation and test get at least one row each).
        seed: seeds a private generator, so the same file always gives the same split.
        source: named in error messages (e.g. the file path).

    Returns:
        `{"train": (x, y), "val": (x, y), "test": (x, y)}`, each (N_split, 1).

    Raises:
        DataError: fewer than 4 rows (two to train on, one to validate, one to test), or x without spread.
    """
    x, y = x.reshape(-1, 1).float(), y.reshape(-1, 1).float()  # (N, 1)
    n = x.shape[0]
    if n != y.shape[0]:
        raise DataError(f"{source}: x has {n} values but y has {y.shape[0]}")
    n_val = max(1, round(fractions[1] * n))
    n_test = max(1, round(fractions[2] * n))
    n_train = n - n_val - n_test
    if n_train < 2:
        raise DataError(f"{source} has {n} rows; curve fitting needs at least 4 (two to train on, one to "
                        "validate, one to test)")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    parts = torch.split(perm, [n_train, n_val, n_test])
    out = {name: (x[idx], y[idx]) for name, idx in zip(("train", "val", "test"), parts, strict=True)}
    if float(out["train"][0].std()) == 0.0:
        raise DataError(f"{source}: every training x equals {float(out['train'][0][0]):g}; x needs some spread "
                        "to fit a curve")
    return out
