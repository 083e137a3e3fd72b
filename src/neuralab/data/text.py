"""Text tools for the word-level recurrent networks (course topic "Recurrent networks: sentiment analysis").

1. `Tokenizer`: words -> integer ids with a vocabulary limit, an out-of-vocabulary token, lower-casing and a
   punctuation rule, the same semantics as Keras' `Tokenizer` (ids by descending frequency from 1; with an OOV
   token the OOV id is 1; only ids < `max_words` are kept). Serialisable to a JSON dict (`to_dict`/`from_dict`)
   so a saved model carries the vocabulary it was trained with.
2. `pad_sequences`: Keras' `pad_sequences` (`maxlen`, `padding` and `truncating` 'pre' or 'post', `value`).
3. Readers that never extract to disk: the IMDB layout (`<split>/pos|neg/*.txt`, from a folder or streamed out of
   a `.tar.gz`), TSV/CSV tables with a text and a label column (SST-2, the UCI labelled sentences), plain text
   files. Undecodable bytes and empty files raise `DataError` naming the file, line and column.

Shape legend: a sequence is a list of ids; `pad_sequences` returns an int64 array (N, maxlen).
"""

from __future__ import annotations

import csv
import io
import re
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuralab.errors import ConfigError, DataError

# Keras' default filters: every ASCII punctuation mark except the apostrophe, plus tab and newline.
KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
LABEL_NAMES = ("negative", "positive")
_LABEL_WORDS = {"0": 0, "1": 1, "neg": 0, "pos": 1, "negative": 0, "positive": 1}
TEXT_COLUMNS = ("text", "sentence", "content", "review", "comment", "document")
LABEL_COLUMNS = ("label", "sentiment", "polarity", "target", "class", "y")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)  # IMDB reviews keep the site's line breaks as HTML


# ------------------------------------------------------------------------------------------------ tokenizer
class Tokenizer:
    """Word tokenizer with Keras' `Tokenizer` semantics.

    Args:
        max_words: the vocabulary limit: only ids `1 .. max_words-1` are produced (0 is kept for padding), i.e.
            the `max_words - 1` most frequent words (OOV token included), as Keras' `num_words`. None: no limit.
        oov_token: the token out-of-vocabulary words map to (id 1); None drops them, as Keras does.
        lower: lower-case before splitting.
        filters: characters replaced by the split string before splitting (Keras' default keeps apostrophes,
            so "don't" stays one word).
        split: the word separator.

    References:
        Keras 2 `keras.preprocessing.text.Tokenizer`; course topic "Recurrent networks: text preprocessing".
    """

    def __init__(self, max_words: int | None = 10000, oov_token: str | None = "<unk>", lower: bool = True,
                 filters: str = KERAS_FILTERS, split: str = " ") -> None:
        if max_words is not None and max_words < 2:
            raise ConfigError(f"Tokenizer max_words must be >= 2 (id 0 is padding), got {max_words}")
        if not split:
            raise ConfigError("Tokenizer split must be a non-empty string")
        self.max_words, self.oov_token, self.lower = max_words, oov_token, lower
        self.filters, self.split = filters, split
        self.word_counts: Counter[str] = Counter()
        self.word_index: dict[str, int] = {}
        self.document_count = 0
        self._table = str.maketrans(filters, split[0] * len(filters)) if filters else None

    def words(self, text: str) -> list[str]:
        """The words of one text after lower-casing and filtering."""
        if self.lower:
            text = text.lower()
        if self._table is not None:
            text = text.translate(self._table)
        return [w for w in text.split(self.split) if w]

    def fit_on_texts(self, texts: Iterable[str]) -> Tokenizer:
        """Count words and rank them: the most frequent word gets id 1 (2 with an OOV token); ties keep the
        order in which words were first seen (as Keras)."""
        for text in texts:
            self.document_count += 1
            self.word_counts.update(self.words(text))
        ranked = [w for w, _ in sorted(self.word_counts.items(), key=lambda kv: -kv[1])]  # stable sort
        if self.oov_token is not None:
            ranked = [self.oov_token] + [w for w in ranked if w != self.oov_token]
        self.word_index = {w: i for i, w in enumerate(ranked, start=1)}
        return self

    @property
    def vocab_size(self) -> int:
        """Embedding rows needed: the largest id produced + 1."""
        n = len(self.word_index) + 1
        return n if self.max_words is None else min(n, self.max_words)

    def texts_to_sequences(self, texts: Iterable[str]) -> list[list[int]]:
        """Each text as a list of ids (< max_words); unknown or rarer words -> the OOV id, or dropped."""
        if not self.word_index:
            raise ConfigError("Tokenizer has no vocabulary: call fit_on_texts first (or from_dict)")
        limit = self.max_words or len(self.word_index) + 1
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        out = []
        for text in texts:
            seq = []
            for w in self.words(text):
                i = self.word_index.get(w)
                if i is not None and i < limit:
                    seq.append(i)
                elif oov is not None:
                    seq.append(oov)
            out.append(seq)
        return out

    def sequences_to_texts(self, sequences: Iterable[Sequence[int]]) -> list[str]:
        """Back from ids to words (padding id 0 skipped)."""
        inverse = {i: w for w, i in self.word_index.items()}
        return [" ".join(inverse.get(int(i), self.oov_token or "?") for i in seq if int(i) != 0)
                for seq in sequences]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; the word index is cut to the ids the tokenizer can produce."""
        limit = self.max_words or len(self.word_index) + 1
        return {"max_words": self.max_words, "oov_token": self.oov_token, "lower": self.lower,
                "filters": self.filters, "split": self.split, "document_count": self.document_count,
                "word_index": {w: i for w, i in self.word_index.items() if i < limit}}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Tokenizer:
        """Rebuild a tokenizer saved with `to_dict` (e.g. from a model's config.json extra)."""
        try:
            tok = cls(max_words=state["max_words"], oov_token=state["oov_token"], lower=state["lower"],
                      filters=state["filters"], split=state["split"])
            tok.word_index = {str(w): int(i) for w, i in state["word_index"].items()}
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise DataError(f"stored tokenizer is incomplete or malformed ({type(exc).__name__}: {exc}); "
                            "expected the dict written by Tokenizer.to_dict") from None
        tok.document_count = int(state.get("document_count", 0))
        return tok


# ------------------------------------------------------------------------------------------------ padding
def pad_sequences(sequences: Sequence[Sequence[int]], maxlen: int | None = None, padding: str = "pre",
                  truncating: str = "pre", value: int = 0, dtype: Any = np.int64) -> np.ndarray:
    """Pad or cut every sequence to `maxlen`, as Keras' `pad_sequences`.

    Args:
        sequences: lists of ids.
        maxlen: the output length (None: the longest sequence).
        padding: 'pre' puts the padding before the sequence (Keras' default), 'post' after.
        truncating: 'pre' drops the start of a longer sequence (keeps its end), 'post' drops its end.
        value: the padding id.

    Returns:
        Array (N, maxlen) of `dtype`.

    Example (Keras' documentation): `pad_sequences([[1], [2, 3], [4, 5, 6]])` ->
        `[[0, 0, 1], [0, 2, 3], [4, 5, 6]]`.
    """
    for name, v in (("padding", padding), ("truncating", truncating)):
        if v not in ("pre", "post"):
            raise ConfigError(f"pad_sequences {name} must be 'pre' or 'post', got {v!r}")
    if maxlen is None:
        maxlen = max((len(s) for s in sequences), default=0)
    if maxlen < 0:
        raise ConfigError(f"pad_sequences maxlen must be >= 0, got {maxlen}")
    out = np.full((len(sequences), maxlen), value, dtype=dtype)
    if maxlen == 0:
        return out
    for row, seq in enumerate(sequences):
        seq = list(seq)
        if not seq:
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        if padding == "pre":
            out[row, maxlen - len(kept):] = kept
        else:
            out[row, :len(kept)] = kept
    return out


# ------------------------------------------------------------------------------------------------ readers
@dataclass
class LabelledTexts:
    """Texts with binary labels (0 = negative, 1 = positive) and where each came from (file or file:line)."""

    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, text: str, label: int, source: str) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.sources.append(source)

    def subset(self, index: Iterable[int]) -> LabelledTexts:
        idx = list(index)
        return LabelledTexts([self.texts[i] for i in idx], [self.labels[i] for i in idx],
                             [self.sources[i] for i in idx])


def decode_text(data: bytes, source: str, encoding: str = "utf-8") -> str:
    """Decode bytes; an undecodable byte raises a DataError naming the source, line and column."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise DataError(f"{source}: line {line}, column {col}: byte 0x{data[exc.start]:02x} is not valid "
                        f"{encoding}; save the file as {encoding} (or convert it, e.g. with iconv)") from None


def read_text_file(path: str | Path, encoding: str = "utf-8") -> str:
    """A whole text file; missing, empty (or whitespace-only) or undecodable files raise DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"text file {str(path)!r} does not exist")
    text = decode_text(path.read_bytes(), str(path), encoding)
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected text")
    return text


def _imdb_member(parts: Sequence[str]) -> tuple[str, int] | None:
    """(split, label) of a path `.../<split>/<pos|neg>/<name>.txt`, else None."""
    if len(parts) < 3 or not parts[-1].endswith(".txt") or parts[-2] not in ("pos", "neg"):
        return None
    return parts[-3], 1 if parts[-2] == "pos" else 0


def _clean_review(text: str) -> str:
    return _BR.sub(" ", text)


def read_imdb(path: str | Path, splits: Sequence[str] | None = None, limit: int | None = None
              ) -> dict[str, LabelledTexts]:
    """Read the IMDB layout `<split>/{pos,neg}/*.txt` from a folder or straight out of a `.tar.gz`.

    Args:
        path: `aclImdb.tar.gz` (streamed member by member, never extracted) or a folder holding the split
            folders (or being one: `pos/` and `neg/` directly inside it -> one split named after the folder).
        splits: the splits to keep (default: all found, e.g. train, val, test; `unsup` has no labels anyway).
        limit: keep at most this many reviews per split (the first ones of each class, for smoke runs).

    Returns:
        `{split: LabelledTexts}`, label 1 for `pos`, 0 for `neg`; HTML line breaks replaced by spaces.

    Raises:
        DataError: no `pos`/`neg` review found, an undecodable review (file, line, column), a corrupt archive.
    """
    path = Path(path)
    out: dict[str, LabelledTexts] = {}
    counts: Counter[tuple[str, int]] = Counter()

    def keep(split: str, label: int) -> bool:
        if splits is not None and split not in splits:
            return False
        return limit is None or counts[(split, label)] < (limit + 1) // 2

    def add(split: str, label: int, raw: bytes, source: str) -> None:
        counts[(split, label)] += 1
        out.setdefault(split, LabelledTexts()).add(_clean_review(decode_text(raw, source)), label, source)

    if path.is_file():
        if not path.name.lower().endswith((".tar.gz", ".tgz", ".tar")):
            raise DataError(f"{path}: expected an IMDB folder or a .tar.gz/.tgz archive of one")
        try:
            with tarfile.open(path, "r|*") as tar:  # stream mode: one pass, nothing written to disk
                for member in tar:
                    key = _imdb_member(member.name.split("/")) if member.isfile() else None
                    if key is None or not keep(*key):
                        continue
                    handle = tar.extractfile(member)
                    if handle is not None:
                        add(*key, handle.read(), f"{path}:{member.name}")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"{path}: cannot read the archive ({exc})") from None
    elif path.is_dir():
        files = sorted(p for label in ("pos", "neg") for p in path.rglob(f"{label}/*.txt"))
        for f in files:
            key = _imdb_member(f.relative_to(path.parent).parts)
            if key is not None and keep(*key):
                add(*key, f.read_bytes(), str(f))
    else:
        raise DataError(f"IMDB path {str(path)!r} does not exist")
    if not out:
        raise DataError(f"{path}: no reviews found; expected <split>/pos/*.txt and <split>/neg/*.txt "
                        "(the aclImdb layout)")
    for split, data in out.items():
        if len(set(data.labels)) < 2:
            raise DataError(f"{path}: split {split!r} has only {LABEL_NAMES[data.labels[0]]} reviews; "
                            "expected both pos/ and neg/")
    return out


def _parse_label(value: str, where: str) -> int:
    label = _LABEL_WORDS.get(value.strip().lower())
    if label is None:
        try:
            f = float(value)
        except ValueError:
            f = None
        if f in (0.0, 1.0):
            return int(f)
        raise DataError(f"{where}: label {value!r} is not a binary sentiment label; expected 0/1, "
                        "neg/pos or negative/positive")
    return label


def _find_column(header: Sequence[str], names: Sequence[str]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def read_labelled_table(path: str | Path, text_column: str | None = None, label_column: str | None = None,
                        delimiter: str | None = None, encoding: str = "utf-8") -> LabelledTexts:
    """Read a TSV/CSV of texts and binary labels (SST-2's `label<TAB>sentence`, `text,label`, ...).

    Args:
        path: the table; `.tsv`/`.txt` are tab-separated (no quoting, as SST-2), anything else comma-separated.
        text_column, label_column: header names; by default the first header among
            text/sentence/content/review/... and label/sentiment/polarity/... . A file without a header (the UCI
            labelled sentences: `sentence<TAB>label`) is read as two columns, the label being the one that parses.
        delimiter: override the separator.

    Raises:
        DataError: empty file, undecodable bytes, a row with too few columns or a bad label (file, line, column).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"table {str(path)!r} does not exist")
    text = decode_text(path.read_bytes(), str(path), encoding)
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected a header and rows of text and label")
    tab = path.suffix.lower() in (".tsv", ".txt")
    delim = delimiter or ("\t" if tab else ",")
    reader = csv.reader(io.StringIO(text), delimiter=delim,
                        quoting=csv.QUOTE_NONE if tab and delimiter is None else csv.QUOTE_MINIMAL)
    rows = [(i, r) for i, r in enumerate(reader, start=1) if any(c.strip() for c in r)]
    first = rows[0][1]
    t_col = _find_column(first, [text_column.lower()] if text_column else TEXT_COLUMNS)
    l_col = _find_column(first, [label_column.lower()] if label_column else LABEL_COLUMNS)
    if (text_column and t_col is None) or (label_column and l_col is None):
        wanted = text_column if text_column and t_col is None else label_column
        raise DataError(f"{path}: line 1: no column named {wanted!r} in the header {first}")
    if t_col is not None and l_col is not None:
        body = rows[1:]
    elif t_col is None and l_col is None and len(first) == 2:
        body = rows  # no header: which of the two cells is the label?
        l_col = 1 if first[1].strip().lower() in _LABEL_WORDS else 0
        t_col = 1 - l_col
    else:
        raise DataError(f"{path}: line 1: cannot tell the text and label columns from {first}; expected a "
                        f"header with one of {', '.join(TEXT_COLUMNS)} and one of {', '.join(LABEL_COLUMNS)} "
                        "(or give text_column/label_column)")
    out = LabelledTexts()
    width = max(t_col, l_col) + 1
    for line, row in body:
        if len(row) < width:
            raise DataError(f"{path}: line {line}: {len(row)} column(s), expected at least {width} "
                            f"(separator {delim!r})")
        label = _parse_label(row[l_col], f"{path}: line {line}, column {l_col + 1}")
        out.add(row[t_col], label, f"{path.name}:{line}")
    if not out.texts:
        raise DataError(f"{path}: a header but no rows")
    return out


def iter_lines(path: str | Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """(line number, line) of a plain text file, non-empty lines only."""
    for i, line in enumerate(read_text_file(path, encoding).splitlines(), start=1):
        if line.strip():
            yield i, line
