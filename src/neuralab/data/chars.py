"""Character vocabulary and text corpora for the character-level generator (course topic "one-to-many RNNs").

1. `CharVocab`: the sorted set of characters of a training text, `encode` (str -> int64 ids) and `decode`
   (ids -> str). A character outside the vocabulary is an error naming it and its position, unless the vocabulary
   was given an `unknown` character to map such characters to (documented in the error and in `to_dict`).
   Serialisable (`to_dict`/`from_dict`), so a saved generator carries the alphabet it was trained on.
2. `read_corpus`: a text file read whole, with clear errors for an empty file, a binary file (a NUL byte, named
   by byte offset) and bytes that are not UTF-8 (file, byte offset, line and column).
3. `stdlib_corpus`: the embedded default corpus, the Python standard library's own source, chosen
   deterministically (the top-level `*.py` files of the standard library in sorted name order, ASCII files only,
   concatenated until `max_chars`).

Shape legend: an encoded text is an int64 tensor (N,) of ids in [0, len(vocab)).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from neuralab.errors import ConfigError, DataError


def _show(ch: str) -> str:
    return repr(ch) if ch.isprintable() and ch != " " else f"{ch!r} (U+{ord(ch):04X})"


class CharVocab:
    """A character alphabet: id i <-> `chars[i]`.

    Args:
        chars: the characters, each once (their order fixes the ids).
        unknown: optional character of `chars` that out-of-vocabulary characters are mapped to by `encode`;
            None (default) makes an out-of-vocabulary character an error.
    """

    def __init__(self, chars: Iterable[str], unknown: str | None = None) -> None:
        chars = list(chars)
        if not chars:
            raise ConfigError("a character vocabulary needs at least one character")
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ConfigError(f"vocabulary entries must be single characters, got {bad[0]!r}")
        if len(set(chars)) != len(chars):
            dup = next(c for c in chars if chars.count(c) > 1)
            raise ConfigError(f"character {_show(dup)} appears twice in the vocabulary")
        if unknown is not None and unknown not in chars:
            raise ConfigError(f"unknown character {_show(unknown)} is not in the vocabulary")
        self.chars = chars
        self.unknown = unknown
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def fit(cls, text: str, unknown: str | None = None) -> CharVocab:
        """The sorted set of characters of `text` (plus `unknown` if given and absent)."""
        if not text:
            raise DataError("cannot build a character vocabulary from an empty text")
        chars = set(text)
        if unknown is not None:
            chars.add(unknown)
        return cls(sorted(chars), unknown=unknown)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, ch: str) -> bool:
        return ch in self.index

    def missing(self, text: str) -> list[str]:
        """The distinct characters of `text` that are not in the vocabulary, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.index))

    def encode(self, text: str, source: str = "text") -> torch.Tensor:
        """Ids of `text` as an int64 tensor (N,).

        Raises:
            DataError: a character is not in the vocabulary and there is no `unknown` character; the message
                names the character, its position in `source` and the characters the vocabulary has.
        """
        idx = self.index
        if self.unknown is None:
            for pos, ch in enumerate(text):
                if ch not in idx:
                    others = self.missing(text)
                    raise DataError(
                        f"{source}: character {_show(ch)} at position {pos} is not in the model's vocabulary "
                        f"({len(others)} unknown character(s): {', '.join(_show(c) for c in others[:10])}); "
                        f"the vocabulary has {len(self)} characters: {''.join(self.chars)!r}")
            ids = [idx[c] for c in text]
        else:
            unk = idx[self.unknown]
            ids = [idx.get(c, unk) for c in text]
        return torch.tensor(ids, dtype=torch.int64)

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        """The text of `ids` (a tensor or any iterable of ints)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.reshape(-1).tolist()
        out = []
        for i in ids:
            if not 0 <= int(i) < len(self.chars):
                raise DataError(f"id {int(i)} is outside the vocabulary (0..{len(self.chars) - 1})")
            out.append(self.chars[int(i)])
        return "".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {"chars": "".join(self.chars), "unknown": self.unknown}

    @classmethod
    def from_dict(cls, data: Any) -> CharVocab:
        """Rebuild from `to_dict()` output (e.g. a saved model's config.json `extra["vocab"]`)."""
        if not isinstance(data, dict) or not isinstance(data.get("chars"), str):
            raise DataError(f"a character vocabulary must be a dict with a 'chars' string, got {type(data).__name__}")
        return cls(list(data["chars"]), unknown=data.get("unknown"))


# ---------------------------------------------------------------------------------------------------- files
def decode_bytes(data: bytes, source: str) -> str:
    """UTF-8 text of `data`; an empty, binary or non-UTF-8 input is a DataError naming `source` and the offset."""
    if not data:
        raise DataError(f"{source}: the file is empty; expected UTF-8 text")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError(f"{source}: NUL byte at byte offset {nul}: this looks like a binary file; "
                        "expected UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(f"{source}: byte 0x{data[exc.start]:02x} at byte offset {exc.start} (line {line}, "
                        f"column {col}) is not valid UTF-8; save the file as UTF-8") from None
    if text.startswith("\ufeff"):  # a byte-order mark is not part of the text
        text = text[1:]
    if not text.strip():
        raise DataError(f"{source}: the file holds only whitespace; expected text")
    return text


def read_corpus(path: str | os.PathLike[str]) -> str:
    """Read a whole UTF-8 text file (see `decode_bytes` for the errors)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{str(path)!r} is a folder; expected a text file") from None
    return decode_bytes(data, str(path))


def stdlib_corpus(max_chars: int = 400_000) -> tuple[str, list[str]]:
    """The embedded default corpus: Python standard-library source text.

    The top-level `*.py` files of the standard library (the folder of `os.py`), in sorted name order, ASCII-only
    files only (a small alphabet), each followed by a blank line, until `max_chars` characters.

    Returns:
        (text, names of the files used).
    """
    if max_chars < 1:
        raise ConfigError(f"max_chars must be >= 1, got {max_chars}")
    root = Path(os.__file__).resolve().parent
    parts, names, total = [], [], 0
    for path in sorted(root.glob("*.py")):
        try:
            text = path.read_bytes().decode("ascii")
        except (OSError, UnicodeDecodeError):
            continue
        text = text.replace("\r\n", "\n")
        if not text.strip():
            continue
        piece = text + "\n\n"
        parts.append(piece[: max_chars - total])
        names.append(path.name)
        total += len(parts[-1])
        if total >= max_chars:
            break
    if not parts:
        raise DataError(f"no ASCII Python source found in {root}; pass --data FILE.txt")
    return "".join(parts), names
