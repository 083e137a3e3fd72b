"""Character-level text generation: the one-to-many recurrent network (course topic "Recurrent networks: text
generation").

A `char-rnn` (SimpleRNN, LSTM or GRU; one-hot or embedded characters) learns to predict the next character of a
text file (`--data input.txt`; default: the Python standard library's own source). The last 10% of the text is
the validation set. Then it writes text from a seed line at temperatures 0.2, 0.5 and 1.0.

Training windows: random windows. Every batch holds `batch_size` windows of `seq_len + 1` characters starting at
random offsets of the training text (drawn from the loader's generator, which the Trainer reseeds every epoch,
so a resumed run replays the same windows); the network starts each window from a zero state and is trained on
all `seq_len` next-character predictions (truncated backpropagation through time over `seq_len` steps). Why not
stateful batches (stream i continuing where it stopped in the last batch): random windows keep batches
independent and identically distributed — which the Trainer's shuffled loop, checkpoint/resume and any batch
size assume — and every epoch sees fresh window boundaries instead of the same cut points; the cost, a cold
start at every window, is small at `seq_len` = 100+ and disappears at generation time, where the state is warmed
up on the seed.

Validation is measured two ways: per epoch on consecutive windows of 256 characters from a zero state (the
Trainer's `val_loss`), and at the end *statefully* — the whole validation text read in order with the recurrent
state carried across chunks — which is the model's true cross-entropy in nats per character (perplexity =
e^loss, bits per character = loss / ln 2). A unigram model (character frequencies of the training text) is the
baseline.

Metrics (metrics.json): `val_loss_nats_per_char` (stateful), `val_perplexity`, `val_bits_per_char`,
`val_loss_windowed` (best epoch, zero-state windows), `final_train_loss`, `unigram_entropy_nats`, `train_chars`,
`val_chars`, `vocab_size`, `epochs_run`, `training_seconds`, `parameters`, `chars_per_second`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import neuralab
from neuralab.data.chars import CharVocab, read_corpus, stdlib_corpus
from neuralab.errors import ConfigError, DataError
from neuralab.models.char_rnn import sequence_cross_entropy
from neuralab.tasks.base import TaskContext, register_task
from neuralab.train import make_loader
from neuralab.train.callbacks import LRScheduler
from neuralab.train.trainer import TensorLoader
from neuralab.utils import cpu_threads

TEMPERATURES = (0.2, 0.5, 1.0)
VAL_WINDOW = 256
OPTIONS = {
    "cell": "rnn | lstm | gru (default lstm)",
    "hidden": "hidden units per layer (default 256; quick 64)",
    "layers": "recurrent layers (default 2; quick 1)",
    "embed": "embedding size; 0 feeds one-hot characters (default 64)",
    "dropout": "dropout between layers and before the output (default 0)",
    "seq_len": "characters per training window (truncated BPTT length; default 100)",
    "batch_size": "windows per batch (default 32)",
    "steps": "batches per epoch (default 250; quick 15)",
    "lr": "Adam learning rate (default 0.003), halved when the validation loss stops improving",
    "time_limit": "stop after the epoch that passes this many minutes of training (default 20)",
    "max_chars": "characters of the default corpus (default 400000; quick 30000)",
    "seed_text": "the seed line of the samples (default: the first line of 8+ characters of the validation text)",
    "sample_length": "characters per sample (default 400; quick 120)",
}


class RandomWindows(TensorLoader):
    """`steps` batches of `batch_size` random windows (x: chars t..t+T−1, y: chars t+1..t+T) of a text.

    The start offsets come from `self.generator`, which the Trainer reseeds from (seed, epoch).

    Shape:
        ids (N,) -> batches x (batch_size, seq_len), y (batch_size, seq_len), int64.
    """

    def __init__(self, ids: torch.Tensor, seq_len: int, batch_size: int, steps: int) -> None:
        if len(ids) < seq_len + 2:
            raise DataError(f"the training text has {len(ids)} characters; seq_len={seq_len} needs at least "
                            f"{seq_len + 2} (lower --set seq_len=...)")
        super().__init__(ids, batch_size=batch_size)
        self.ids, self.seq_len, self.steps = ids, seq_len, steps
        self.offsets = torch.arange(seq_len + 1)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        last_start = len(self.ids) - self.seq_len - 1
        for _ in range(self.steps):
            starts = torch.randint(0, last_start + 1, (self.batch_size,), generator=self.generator)
            win = self.ids[starts[:, None] + self.offsets]  # (B, T + 1)
            yield win[:, :-1], win[:, 1:]


class TimeLimit:
    """Stop the fit after the first epoch that brings the training time past `minutes` (resume-safe: the time
    is summed from the history)."""

    def __init__(self, minutes: float) -> None:
        self.seconds = minutes * 60

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, Any]) -> None:
        if sum(s or 0.0 for s in trainer.history["seconds"]) >= self.seconds:
            trainer.stop_training = True


def windows(ids: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Consecutive non-overlapping windows: x (N, length), y (N, length) shifted by one character."""
    n = (len(ids) - 1) // length
    if n < 1:
        raise DataError(f"the validation text has {len(ids)} characters; need at least {length + 1}")
    x = ids[: n * length].view(n, length)
    y = ids[1: n * length + 1].view(n, length)
    return x, y


@torch.no_grad()
def stateful_loss(model: torch.nn.Module, ids: torch.Tensor, streams: int = 16, chunk: int = 256,
                  device: torch.device | str = "cpu") -> float:
    """Cross-entropy (nats/char) of the next character over the whole of `ids`, the state carried across chunks.

    The text is cut into `streams` contiguous pieces read in parallel (the first `chunk` predictions of each
    piece start cold; with 16 streams that is under 0.1% of a 100k-character validation text).
    """
    model.eval()
    n = (len(ids) - 1) // streams
    if n < 1:
        raise DataError(f"text of {len(ids)} characters is too short to evaluate")
    x = ids[: streams * n].view(streams, n)  # (S, n): stream s = characters s·n .. s·n + n − 1
    y = torch.stack([ids[s * n + 1: s * n + n + 1] for s in range(streams)])
    total, count, state = 0.0, 0, None
    for i in range(0, n, chunk):
        logits, state = model(x[:, i:i + chunk].to(device), state, return_state=True)
        tgt = y[:, i:i + chunk].to(device)
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tgt.reshape(-1),
                                       reduction="sum"))
        count += tgt.numel()
    return total / count


def _load_text(ctx: TaskContext) -> tuple[str, str]:
    path = ctx.data_path(kind="file")
    if path is not None:
        return read_corpus(path), f"{path.name} ({path})"
    max_chars = ctx.option("max_chars", 30_000 if ctx.quick else 400_000, int)
    text, names = stdlib_corpus(max_chars)
    return text, (f"the Python standard library's source: {len(names)} files ({names[0]} .. {names[-1]}), "
                  f"{len(text):,} characters")


def _seed_line(ctx: TaskContext, val_text: str, vocab: CharVocab) -> str:
    seed = ctx.option("seed_text")
    if seed is None:
        lines = [ln for ln in val_text.splitlines() if len(ln.strip()) >= 8]  # a line with some context
        seed = (lines[0] if lines else val_text[:40]) + "\n"
    if not seed:
        raise ConfigError("seed_text is empty")
    vocab.encode(seed, source="seed_text")  # an unknown character is an error naming it
    return seed


def generate_text(model: torch.nn.Module, vocab: CharVocab, seed_text: str, length: int, temperature: float,
                  seed: int = 0) -> str:
    """`length` characters generated after `seed_text` (not included) at `temperature`, reproducibly from `seed`."""
    if not seed_text:
        raise DataError("the seed text is empty; give at least one character")
    if length < 1:
        raise ConfigError(f"length must be >= 1, got {length}")
    if temperature < 0 or not math.isfinite(temperature):
        raise ConfigError(f"temperature must be a finite number >= 0 (0: always the most likely character), "
                          f"got {temperature}")
    ids = vocab.encode(seed_text, source="seed text")
    gen = torch.Generator().manual_seed(seed)
    return vocab.decode(model.generate(ids, length, temperature=temperature, generator=gen))


def load_generator(model_dir: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, CharVocab]:
    """A saved character generator (a `textgen` run's `model/`) and its vocabulary."""
    model = neuralab.load_model(model_dir, device=device)
    extra = getattr(model, "extra", {}) or {}
    if extra.get("kind") != "char-generator" or "vocab" not in extra:
        raise DataError(f"{str(model_dir)!r} holds a {getattr(model, 'model_name', '?')!r} model, not a character "
                        "generator (expected the `model/` folder of a `neuralab run textgen` run)")
    return model, CharVocab.from_dict(extra["vocab"])


# ------------------------------------------------------------------------------------------------ task
@register_task("textgen", "one-to-many character-level text generation (SimpleRNN/LSTM/GRU) with temperature "
               "sampling; `neuralab generate` writes text from a saved model",
               default_data="the Python standard library's source (embedded); `--data input.txt`",
               title="Character-level text generation (one-to-many RNN)", options=OPTIONS)
def run(ctx: TaskContext) -> None:
    q = ctx.quick
    text, source = _load_text(ctx)
    split = int(len(text) * 0.9)
    train_text, val_text = text[:split], text[split:]
    vocab = CharVocab.fit(text)
    train_ids = vocab.encode(train_text)
    val_ids = vocab.encode(val_text)
    cell = ctx.option("cell", "lstm")
    seq_len = ctx.option("seq_len", 64 if q else 100, int)
    batch_size = ctx.option("batch_size", 32, int)
    steps = ctx.option("steps", 15 if q else 250, int)
    lr = ctx.option("lr", 3e-3, float)
    time_limit = ctx.option("time_limit", 20.0, float)
    for name, value in (("seq_len", seq_len), ("batch_size", batch_size), ("steps", steps)):
        if value < 1:
            raise ConfigError(f"option {name} must be >= 1, got {value}")
    if len(val_ids) < VAL_WINDOW // 4 + 1:
        raise DataError(f"the text has {len(text)} characters: its last 10% ({len(val_text)}) is too short to "
                        f"validate on; give at least {10 * (VAL_WINDOW // 4 + 1)} characters")
    val_window = min(VAL_WINDOW, len(val_ids) - 1)

    ctx.seed("char-rnn")
    model = neuralab.get_model(
        "char-rnn", vocab_size=len(vocab), cell=cell, embed_dim=ctx.option("embed", 64, int),
        hidden_size=ctx.option("hidden", 64 if q else 256, int), num_layers=ctx.option("layers", 1 if q else 2, int),
        dropout=ctx.option("dropout", 0.0, float))
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    trainer = ctx.trainer("char-rnn", model, sequence_cross_entropy, optimizer=opt, clip_norm=5.0,
                          callbacks=[LRScheduler(plateau), TimeLimit(time_limit)])
    train_loader = RandomWindows(train_ids, seq_len, batch_size, steps)
    val_loader = make_loader(*windows(val_ids, val_window), batch_size=64)
    epochs = ctx.epochs(full=60, quick=2)
    # One (B, H) x (H, 4H) product per step is too small to split across threads; on the shared 2-core
    # machine two threads made an LSTM training step 8x slower (measured 18.4 s vs 2.2 s per batch).
    with cpu_threads(1, ctx.device):
        t0 = time.perf_counter()
        history = ctx.fit(trainer, train_loader, val_loader, epochs=epochs)
        train_seconds = sum(s or 0.0 for s in history["seconds"])
        model.eval()
        val_loss = stateful_loss(model, val_ids, streams=16 if len(val_ids) > 16 * 64 else 1,
                                 device=ctx.device)
        seed_text = _seed_line(ctx, val_text, vocab)
        length = ctx.option("sample_length", 120 if q else 400, int)
        samples = {t: generate_text(model, vocab, seed_text, length, t, seed=ctx.seed_for(f"sample-{t}"))
                   for t in TEMPERATURES}
        wall = time.perf_counter() - t0

    counts = torch.bincount(train_ids, minlength=len(vocab)).double()
    p = counts[counts > 0] / counts.sum()
    unigram = float(-(p * p.log()).sum())
    best = min(history["val_loss"])
    m = {"val_loss_nats_per_char": val_loss, "val_perplexity": math.exp(val_loss),
         "val_bits_per_char": val_loss / math.log(2), "val_loss_windowed": best,
         "final_train_loss": history["train_loss"][-1], "unigram_entropy_nats": unigram,
         "train_chars": len(train_ids), "val_chars": len(val_ids), "vocab_size": len(vocab),
         "epochs_run": len(history), "training_seconds": train_seconds, "parameters": params,
         "chars_per_second": len(history) * steps * batch_size * seq_len / max(train_seconds, 1e-9),
         "wall_seconds": wall, "cell": cell}
    ctx.report.add_metrics(**m)
    cfg = model.config
    arch = (f"{cfg.cell.upper()} {cfg.num_layers}x{cfg.hidden_size}, "
            f"{'one-hot' if cfg.one_hot else f'embedding {cfg.embed_dim}'} inputs")
    ctx.report.say(f"{arch}: validation {val_loss:.3f} nats/char (perplexity {math.exp(val_loss):.2f}, "
                   f"{val_loss / math.log(2):.3f} bits/char) after {len(history)} epochs, {train_seconds:.0f} s")

    r = ctx.report
    r.heading("1. Data and model")
    r.text(f"Text: {source}. The first 90% ({len(train_ids):,} characters) is the training text, the last 10% "
           f"({len(val_ids):,}) the validation text; the alphabet has {len(vocab)} characters. Model: `char-rnn`, "
           f"{arch}, dropout {cfg.dropout}, {params:,} parameters. Training: Adam (lr {lr}, halved when the "
           f"validation loss stops improving), gradient norm clipped at 5, {steps} batches of {batch_size} random "
           f"windows of {seq_len} characters per epoch (truncated BPTT over {seq_len} steps), at most {epochs} "
           f"epochs or {time_limit:g} minutes of training.")
    r.heading("2. Validation loss")
    r.table(["measure", "value"], [
        ["validation cross-entropy, stateful (nats/char)", val_loss],
        ["perplexity e^loss", math.exp(val_loss)],
        ["bits per character", val_loss / math.log(2)],
        ["best epoch's validation loss, 256-char windows from a zero state (nats/char)", best],
        ["last epoch's training loss (nats/char)", history["train_loss"][-1]],
        ["unigram baseline: entropy of the character frequencies (nats/char)", unigram],
        ["uniform baseline: ln |alphabet| (nats/char)", math.log(len(vocab))],
        ["epochs / training time (s)", f"{len(history)} / {train_seconds:.0f}"],
        ["training throughput (characters/s)", m["chars_per_second"]],
    ], caption="Cross-entropy of the next character on the validation text.")
    r.text(f"The network predicts the next validation character with {val_loss:.3f} nats of uncertainty "
           f"(perplexity {math.exp(val_loss):.2f}: as unsure as a uniform choice among that many characters), "
           f"against {unigram:.3f} nats for character frequencies alone and {math.log(len(vocab)):.3f} for a "
           f"uniform guess. Read in windows of {VAL_WINDOW} characters started from a zero state (the "
           f"per-epoch measure), the best epoch scored {best:.3f} nats/char ({best - val_loss:+.3f} against the "
           "stateful reading).")
    r.history(history, title="char-rnn: training and validation loss (nats/char)")
    r.heading("3. Samples")
    r.text(f"Generated from the seed line {seed_text!r} ({length} characters each; the recurrent state is warmed "
           "up on the seed; τ is the softmax temperature: p ∝ exp(logit / τ)).")
    r.table([f"τ = {t}" for t in TEMPERATURES], [[samples[t] for t in TEMPERATURES]],
            caption="The same seed at three temperatures, side by side.")
    for t in TEMPERATURES:
        r.text(f"τ = {t}:")
        r.code(seed_text + samples[t])
    r.heading("4. Saved model")
    neuralab.save_model(model, ctx.run_dir / "model",
                        extra={"kind": "char-generator", "vocab": vocab.to_dict(), "seed_text": seed_text})
    r.text("The model is saved in `model/` (config.json + model.safetensors; config.json's `extra` holds the "
           "alphabet). Write more text with `neuralab generate <run>/model --seed-text \"...\" --length 400 "
           "--temperature 0.8`.")
