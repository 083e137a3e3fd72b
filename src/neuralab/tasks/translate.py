"""Sequence-to-sequence translation: the many-to-many recurrent network (course topic "Recurrent networks:
machine translation", encoder-decoder).

The embedded task has a right answer and is generated offline: human-written dates ("the 3rd of march 2021",
"3/3/21", "March 3, 2021", "2021 mar 03", "03.03.2021", ...) -> ISO 8601 `2021-03-03`. Conventions the model has
to learn from the examples alone: slashes are month/day/year (US), dots day.month.year; two-digit years 50-99
are 19xx and 00-49 20xx. Dates run from 1950-01-01 to 2049-12-31; the calendar dates are split first (80% train,
5% validation, 15% test), so a held-out date is never seen in training in *any* format.

Model: `seq2seq`, character-level encoder-decoder LSTM (or GRU) with Luong attention by default (`--set
attention=none|luong|bahdanau`), trained with teacher forcing (cross-entropy of every target character), decoded
greedily. Measured: exact-match accuracy of the greedy output on the held-out test examples (the whole string
must be right), per input format; example outputs, right and wrong; the attention heat map.

`--data pairs.tsv` trains the same network on your own character-level pairs: one `source<TAB>target` per line.

Metrics (metrics.json): `test_exact_match`, `test_char_accuracy`, `val_exact_match`, `test_examples`,
`train_examples`, `test_overlap_with_train` (0: no test input occurs in training), `exact_match_<format>`,
`epochs_run`, `training_seconds`, `parameters`.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import neuralab
from neuralab.data.chars import read_corpus
from neuralab.errors import ConfigError, DataError
from neuralab.models.seq2seq import masked_cross_entropy
from neuralab.tasks.base import TaskContext, register_task
from neuralab.train.callbacks import EarlyStopping
from neuralab.train.trainer import TensorLoader
from neuralab.utils import cpu_threads

PAD, BOS, EOS = 0, 1, 2
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FIRST, LAST = dt.date(1950, 1, 1), dt.date(2049, 12, 31)
OPTIONS = {
    "cell": "lstm | gru (default lstm)",
    "attention": "none | luong | bahdanau (default luong)",
    "hidden": "hidden units of encoder and decoder (default 128; quick 64)",
    "embed": "character embedding size (default 32)",
    "train_size": "generated training examples (default 20000; quick 2000)",
    "test_size": "generated held-out test examples (default 3000; quick 300)",
    "batch_size": "examples per batch (default 128; quick 32: more steps in the smoke run)",
    "lr": "Adam learning rate (default 0.003)",
}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _case(text: str, rng: random.Random) -> str:
    return rng.choice((str.lower, str.lower, string.capwords, str.upper))(text)


# Each format: name -> fn(date, rng) -> text. Month names are lower-case here and re-cased by _case.
FORMATS: dict[str, Callable[[dt.date, random.Random], str]] = {
    "the 3rd of march 2021": lambda d, r: _case(f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}", r),
    "3/3/21": lambda d, r: f"{d.month}/{d.day}/{d.year % 100:02d}",
    "03/03/2021": lambda d, r: f"{d.month:02d}/{d.day:02d}/{d.year}",
    "March 3, 2021": lambda d, r: _case(f"{MONTHS[d.month - 1]} {d.day}, {d.year}", r),
    "2021 mar 03": lambda d, r: _case(f"{d.year} {MONTHS[d.month - 1][:3]} {d.day:02d}", r),
    "3 March 2021": lambda d, r: _case(f"{d.day} {MONTHS[d.month - 1]} {d.year}", r),
    "03.03.2021": lambda d, r: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "3.3.21": lambda d, r: f"{d.day}.{d.month}.{d.year % 100:02d}",
    "mar 3 2021": lambda d, r: _case(f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}", r),
    "Wednesday, March 3, 2021": lambda d, r: _case(
        f"{DAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}", r),
    "3-mar-21": lambda d, r: _case(f"{d.day}-{MONTHS[d.month - 1][:3]}-{d.year % 100:02d}", r),
    "march the 3rd, 2021": lambda d, r: _case(f"{MONTHS[d.month - 1]} the {_ordinal(d.day)}, {d.year}", r),
    "3rd mar 2021": lambda d, r: _case(f"{_ordinal(d.day)} {MONTHS[d.month - 1][:3]} {d.year}", r),
    "2021-03-03": lambda d, r: d.isoformat(),
}


@dataclass
class Pairs:
    sources: list[str]
    targets: list[str]
    kinds: list[str]


def date_pairs(dates: list[dt.date], n: int, rng: random.Random) -> Pairs:
    """`n` (human-written date, ISO date) pairs: a random date of `dates` in a random format each."""
    out = Pairs([], [], [])
    names = list(FORMATS)
    for _ in range(n):
        d, kind = rng.choice(dates), rng.choice(names)
        out.sources.append(FORMATS[kind](d, rng))
        out.targets.append(d.isoformat())
        out.kinds.append(kind)
    return out


def split_dates(seed: int) -> tuple[list[dt.date], list[dt.date], list[dt.date]]:
    """Every date of 1950..2049 shuffled with `seed` and split 80/5/15 into train/validation/test dates."""
    days = [FIRST + dt.timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    random.Random(seed).shuffle(days)
    a, b = int(0.8 * len(days)), int(0.85 * len(days))
    return days[:a], days[a:b], days[b:]


def read_pairs(path: Path) -> Pairs:
    """`source<TAB>target` lines of a UTF-8 file; errors name the file and line."""
    out = Pairs([], [], [])
    for no, line in enumerate(read_corpus(path).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise DataError(f"{path}: line {no}: expected 'source<TAB>target' (two non-empty fields), got "
                            f"{len(parts)} field(s): {line[:60]!r}")
        out.sources.append(parts[0])
        out.targets.append(parts[1])
        out.kinds.append("pairs")
    if len(out.sources) < 20:
        raise DataError(f"{path}: {len(out.sources)} pairs; need at least 20 to train and test")
    return out


class Alphabet:
    """Characters -> ids with the reserved ids 0 = pad, 1 = bos, 2 = eos (`chars[i]` has id i + 3)."""

    def __init__(self, chars: str) -> None:
        self.chars = "".join(sorted(set(chars)))
        self.index = {c: i + 3 for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars) + 3

    def encode(self, text: str, where: str) -> list[int]:
        try:
            return [self.index[c] for c in text]
        except KeyError as exc:
            ch = exc.args[0]
            raise DataError(f"{where}: character {ch!r} at position {text.index(ch)} of {text!r} is not in the "
                            f"model's alphabet {self.chars!r}") from None

    def decode(self, ids: list[int]) -> str:
        out = []
        for i in ids:
            if i in (PAD, EOS):
                break
            if i >= 3:
                out.append(self.chars[i - 3])
        return "".join(out)


def encode_batch(texts: list[str], alphabet: Alphabet, where: str, length: int | None = None,
                 bos: bool = False, eos: bool = False) -> torch.Tensor:
    """Right-padded ids (N, length) of `texts` (with `<bos>` first / `<eos>` last when asked)."""
    seqs = [([BOS] if bos else []) + alphabet.encode(t, f"{where} {i + 1}") + ([EOS] if eos else [])
            for i, t in enumerate(texts)]
    length = length or max(len(s) for s in seqs)
    out = torch.full((len(seqs), length), PAD, dtype=torch.int64)
    for i, s in enumerate(seqs):
        out[i, :min(len(s), length)] = torch.tensor(s[:length])
    return out


class PairLoader(TensorLoader):
    """Batches ((src, tgt_in), tgt_out) for the Trainer, which passes a batch's inputs to the model as one object."""

    def __iter__(self):
        for src, tgt_in, tgt_out in super().__iter__():
            yield (src, tgt_in), tgt_out


@torch.no_grad()
def translate(model: torch.nn.Module, src: torch.Tensor, alphabet: Alphabet, max_len: int,
              batch_size: int = 512, device: torch.device | str = "cpu"
              ) -> tuple[list[str], torch.Tensor | None]:
    """Greedy translations of source ids (N, S) and the attention weights (N, max_len, S) (None without)."""
    model.eval()
    texts, attns = [], []
    for i in range(0, len(src), batch_size):
        tokens, attn = model.greedy_decode(src[i:i + batch_size].to(device), max_len)
        texts += [alphabet.decode(row) for row in tokens.tolist()]
        if attn is not None:
            attns.append(attn.cpu())
    return texts, (torch.cat(attns) if attns else None)


def _heatmap(ctx: TaskContext, sources: list[str], outputs: list[str], attn: torch.Tensor) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sources), figsize=(4.2 * len(sources), 3.6))
    for ax, s, o, a in zip(axes, sources, outputs, attn, strict=True):
        w = a[: len(o) + 1, : len(s)].numpy()  # output chars + <eos>, source chars
        ax.imshow(w, cmap="viridis", aspect="auto", vmin=0, vmax=1)
        ax.set_xticks(range(len(s)), list(s), fontsize=7)
        ax.set_yticks(range(len(o) + 1), list(o) + ["<eos>"], fontsize=7)
        ax.set_title(repr(s), fontsize=8)
    axes[0].set_ylabel("output character")
    ctx.report.figure(fig, "attention", "Attention weights α_tj: row t = output character, column j = input "
                      "character (greedy decoding of held-out test examples).")


# ------------------------------------------------------------------------------------------------ task
@register_task("translate", "many-to-many encoder-decoder (LSTM/GRU, teacher forcing, greedy decoding, Luong or "
               "Bahdanau attention) translating human-written dates to ISO 8601; exact match on held-out dates",
               default_data="generated human-written dates (embedded); `--data pairs.tsv` (source<TAB>target)",
               title="Sequence-to-sequence translation: human-written dates to ISO (many-to-many RNN)",
               options=OPTIONS)
def run(ctx: TaskContext) -> None:
    q = ctx.quick
    rng = random.Random(ctx.seed_for("data"))
    path = ctx.data_path(kind="file")
    if path is None:
        train_dates, val_dates, test_dates = split_dates(ctx.seed_for("dates"))
        train = date_pairs(train_dates, ctx.option("train_size", 2000 if q else 20000, int), rng)
        val = date_pairs(val_dates, 300 if q else 1000, rng)
        test = date_pairs(test_dates, ctx.option("test_size", 300 if q else 3000, int), rng)
        source = (f"generated dates 1950-2049 in {len(FORMATS)} formats; calendar dates split 80/5/15 into "
                  f"train/validation/test ({len(train_dates):,}/{len(val_dates):,}/{len(test_dates):,} dates)")
    else:
        pairs = read_pairs(path)
        order = list(range(len(pairs.sources)))
        rng.shuffle(order)
        a, b = int(0.8 * len(order)), int(0.9 * len(order))

        def take(idx: list[int]) -> Pairs:
            return Pairs(*([getattr(pairs, f)[i] for i in idx] for f in ("sources", "targets", "kinds")))

        train, val, test = take(order[:a]), take(order[a:b]), take(order[b:])
        source = f"{path.name}: {len(order):,} pairs, shuffled and split 80/10/10"
    overlap = len(set(test.sources) & set(train.sources))

    src_alpha = Alphabet("".join(train.sources))
    tgt_alpha = Alphabet("".join(train.targets))
    max_out = max(len(t) for t in train.targets + val.targets + test.targets) + 1  # + <eos>
    src_len = max(len(s) for s in train.sources + val.sources + test.sources)

    def tensors(p: Pairs, where: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = encode_batch(p.sources, src_alpha, f"{where} source", src_len)
        tgt_in = encode_batch(p.targets, tgt_alpha, f"{where} target", max_out, bos=True)
        tgt_out = encode_batch(p.targets, tgt_alpha, f"{where} target", max_out, eos=True)
        return src, tgt_in, tgt_out

    tr, va, te = tensors(train, "training"), tensors(val, "validation"), tensors(test, "test")
    ctx.seed("seq2seq")
    model = neuralab.get_model("seq2seq", src_vocab=len(src_alpha), tgt_vocab=len(tgt_alpha),
                               embed_dim=ctx.option("embed", 32, int),
                               hidden_size=ctx.option("hidden", 64 if q else 128, int),
                               cell=ctx.option("cell", "lstm"), attention=ctx.option("attention", "luong"))
    params = sum(p.numel() for p in model.parameters())
    batch_size = ctx.option("batch_size", 32 if q else 128, int)
    if batch_size < 1:
        raise ConfigError(f"option batch_size must be >= 1, got {batch_size}")
    lr = ctx.option("lr", 3e-3, float)

    def token_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
        keep = targets != PAD
        return float((logits.argmax(-1)[keep] == targets[keep]).float().mean())

    trainer = ctx.trainer("seq2seq", model, masked_cross_entropy, lr=lr, clip_norm=1.0,
                          metrics={"token_accuracy": token_accuracy},
                          callbacks=[EarlyStopping(monitor="val_loss", patience=3)])
    epochs = ctx.epochs(full=15, quick=3)
    with cpu_threads(1, ctx.device):  # per-step products of (B, 128) x (128, 512) are too small to share
        history = ctx.fit(trainer, PairLoader(*tr, batch_size=batch_size, shuffle=True),
                          PairLoader(*va, batch_size=512), epochs=epochs)
        val_out, _ = translate(model, va[0], tgt_alpha, max_out, device=ctx.device)
        test_out, attn = translate(model, te[0], tgt_alpha, max_out, device=ctx.device)

    right = [o == t for o, t in zip(test_out, test.targets, strict=True)]
    exact = sum(right) / len(right)
    val_exact = sum(o == t for o, t in zip(val_out, val.targets, strict=True)) / len(val.targets)
    chars_ok = sum(sum(a == b for a, b in zip(o, t, strict=False)) for o, t in zip(test_out, test.targets,
                                                                                  strict=True))
    char_acc = chars_ok / sum(len(t) for t in test.targets)
    per_kind: dict[str, list[bool]] = {}
    for k, ok in zip(test.kinds, right, strict=True):
        per_kind.setdefault(k, []).append(ok)
    train_seconds = sum(s or 0.0 for s in history["seconds"])
    m: dict[str, Any] = {"test_exact_match": exact, "test_char_accuracy": char_acc, "val_exact_match": val_exact,
                         "test_examples": len(test.sources), "train_examples": len(train.sources),
                         "test_overlap_with_train": overlap, "epochs_run": len(history),
                         "training_seconds": train_seconds, "parameters": params,
                         "wrong": len(right) - sum(right)}
    m.update({f"exact_match_{k}": sum(v) / len(v) for k, v in per_kind.items()})
    ctx.report.add_metrics(**m)
    ctx.report.say(f"seq2seq {model.config.cell.upper()} {model.config.hidden_size}, attention "
                   f"{model.config.attention}: held-out exact match {exact:.2%} ({sum(right)}/{len(right)}), "
                   f"{len(history)} epochs, {train_seconds:.0f} s")

    r = ctx.report
    cfg = model.config
    r.heading("1. Data and model")
    r.text(f"Data: {source}. {len(train.sources):,} training, {len(val.sources):,} validation and "
           f"{len(test.sources):,} test examples; {overlap} test inputs also occur in the training set. "
           f"Model: `seq2seq`, character embeddings of {cfg.embed_dim}, {cfg.cell.upper()} encoder and decoder "
           f"of {cfg.hidden_size} units, attention `{cfg.attention}`, {params:,} parameters; teacher forcing, "
           f"Adam (lr {lr}), gradient norm clipped at 1, early stopping on the validation loss (patience 3).")
    r.history(history, title="seq2seq: training and validation loss")
    r.heading("2. Exact match on held-out examples")
    r.table(["measure", "value"], [["test exact match (greedy decoding)", exact],
                                   ["test character accuracy", char_acc],
                                   ["validation exact match", val_exact],
                                   ["test examples wrong", m["wrong"]],
                                   ["epochs / training time (s)", f"{len(history)} / {train_seconds:.0f}"]])
    r.table(["input format", "test examples", "exact match"],
            [[k, len(v), sum(v) / len(v)] for k, v in sorted(per_kind.items())],
            caption="Exact match per input format on the held-out test examples.")
    rows = [[test.sources[i], test.targets[i], test_out[i], "right" if right[i] else "WRONG"]
            for i in [j for j in range(len(right)) if not right[j]][:10] + list(range(8))]
    r.table(["input", "expected", "greedy output", ""], rows,
            caption="Every wrong test output (up to 10), then the first 8 test examples.")
    if attn is not None:
        _heatmap(ctx, test.sources[:3], test_out[:3], attn[:3])
        r.text("Each row of a heat map is one output character and shows how the decoder spread its attention "
               "over the input characters when it wrote that character (each row sums to 1).")
    neuralab.save_model(model, ctx.run_dir / "model",
                        extra={"kind": "char-translator", "source_chars": src_alpha.chars,
                               "target_chars": tgt_alpha.chars, "max_output": max_out})
    r.text("The model is saved in `model/` (config.json's `extra` holds the source and target alphabets).")
