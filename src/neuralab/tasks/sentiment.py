"""Many-to-one sentiment analysis: text -> Embedding -> LSTM -> P(positive) (course topic "RNN architectures").

1. Data: by default a generated corpus of movie reviews with a learnable, order-dependent signal (opinion
   clauses whose polarity negation flips, neutral filler, a verdict sentence that counts double, 3% flipped
   labels); with `--data`: the IMDB layout (`aclImdb.tar.gz` streamed, or its folder), a folder of tables
   (`train.tsv` + `dev.tsv`/`test.tsv`, e.g. SST-2) or one TSV/CSV file of text and label.
   Splits: the data's own train/val/test when it has them; a missing validation split is carved out of the
   training split (10%, stratified); a lone `dev` split is the test split (SST-2's test labels are not public);
   one file is split `test_split` / 10% of the rest / the rest. The model is tuned on validation (early stopping
   with the best epoch restored) and the test split is evaluated once, at the end.
2. Text tools of `neuralab.data.text`: a Keras-style `Tokenizer` (max_words, OOV token) fitted on the training
   texts only, `pad_sequences` ('pre' padding and truncation: the LSTM's last state follows the last words).
3. Model `sentiment-lstm`: `arch=course` is the slide's Embedding(max_words, 16) -> LSTM(32) -> Dense 1;
   `arch=strong` a bidirectional LSTM (embedding 64, 32 units per direction, vocabulary 30000) over the real
   tokens only (padding masked), its hidden states mean+max pooled, with dropout. Not recurrent: `arch=ngram`
   (`sentiment-ngram`, fastText's mean of word and hashed-bigram embeddings) and `arch=nbsvm`
   (`sentiment-nbsvm`, Wang & Manning's NBSVM: binary words and hashed bigrams weighted by their Naive Bayes
   log-count ratios, counted on the training split before training, then a linear logit). Measured on IMDB
   (20k train / 5k val / 25k test, one CPU thread): course LSTM 86.85% test; ngram 88.47% (val 89.3%, maxlen
   1000, embed_dim 16, 400k buckets); nbsvm with its defaults 91.36% test, val 92.10%, 8 epochs in 89 s
   (`neuralab run sentiment --data aclImdb.tar.gz --set arch=nbsvm`).
4. Report: accuracy, precision/recall/F1, ROC-AUC with the ROC curve, confusion matrix, the most confident
   mistakes (text excerpts), learning curves. The model is saved in `model/` with its tokenizer;
   `neuralab predict runs/sentiment/<run>/model "This film was excellent!"` classifies new texts.

Metrics (metrics.json): `test_accuracy`, `test_precision`, `test_recall`, `test_f1`, `test_roc_auc`,
`val_accuracy`, `best_epoch`, `epochs_run`, `train_seconds`, `n_train`, `n_val`, `n_test`, `vocab_size`,
`maxlen`, `arch`, `num_params`, `confusion_matrix`, `oov_rate_test`, `truncated_fraction_train`.

Shape legend: tokens (N, maxlen) int64 (0 = padding); targets (N, 1) float 0/1; logits (N, 1).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import neuralab
from neuralab.data.text import LABEL_NAMES, LabelledTexts, Tokenizer, pad_sequences, read_imdb, read_labelled_table
from neuralab.errors import ConfigError, DataError
from neuralab.metrics import accuracy_from_logits, classification_metrics
from neuralab.tasks.base import TaskContext, register_task
from neuralab.train import EarlyStopping, make_loader
from neuralab.utils import cpu_threads

ARCHS = {
    # The slide's model: Embedding(max_words, 16) -> LSTM(32) -> Dense(1).
    "course": {"embed_dim": 16, "hidden_size": 32},
    # Stronger: a bidirectional LSTM over the real tokens only, mean+max pooling of every hidden state, a
    # larger embedding and vocabulary, dropout. Sized for a CPU: a 64-unit BiLSTM ran at 40-60 samples/s over
    # 400 tokens on today's shared 2-core machine, too slow for an IMDB epoch within minutes.
    "strong": {"embed_dim": 64, "hidden_size": 32, "num_layers": 1, "bidirectional": True, "dropout": 0.3,
               "pooling": "meanmax", "use_lengths": True},
    # Not recurrent: fastText's bag of words and hashed bigrams, the baseline an LSTM has to beat.
    "ngram": {"model": "sentiment-ngram", "embed_dim": 32, "buckets": 200_000, "dropout": 0.5},
    # Not recurrent: NBSVM (Wang & Manning 2012), binary words and hashed bigrams weighted by their Naive Bayes
    # log-count ratios, a linear logit. The strongest on IMDB (see the module docstring).
    "nbsvm": {"model": "sentiment-nbsvm", "buckets": 2_097_152, "dropout": 0.0},
}
# The options that only some architectures read: giving one to another architecture is an error, not ignored.
ARCH_OPTIONS = {"embed_dim": ("course", "strong", "ngram"), "ngrams": ("ngram", "nbsvm"),
                "buckets": ("ngram", "nbsvm"), "init_scale": ("nbsvm",)}
TRAIN_DEFAULTS = {"course": {"lr": 2e-3, "batch_size": 32, "max_words": 10000},
                  "strong": {"lr": 2e-3, "batch_size": 32, "max_words": 30000},
                  "ngram": {"lr": 2e-3, "batch_size": 32, "max_words": 30000},
                  "nbsvm": {"lr": 1e-3, "batch_size": 32, "max_words": 30000}}
# Default maxlen caps: an LSTM's cost grows with every step; a bag of n-grams reads a whole IMDB review (the
# longest training review has 1,841 tokens) for little more than the cost of its first 400.
MAXLEN_CAP = 400
BAG_MAXLEN_CAP = 2048
BAG_ARCHS = ("ngram", "nbsvm")
OPTIONS = {
    "arch": "course (Embedding 16 -> LSTM 32, the slide), strong (BiLSTM over real tokens, pooled), ngram "
            "(fastText bag of words and bigrams, not recurrent) or nbsvm (Naive-Bayes-weighted binary words and "
            "bigrams, linear; the best on IMDB; default course)",
    "max_words": "vocabulary limit of the tokenizer (default 10000 course, 30000 the others)",
    "maxlen": "tokens kept per text, padded/truncated at the start (default: the longest training text, at most "
              f"{MAXLEN_CAP}, or {BAG_MAXLEN_CAP} for ngram and nbsvm)",
    "test_split": "test fraction when the data has no test split (default 0.2)",
    "batch_size": "training batch size (default 32)",
    "lr": "Adam learning rate (default 2e-3, 1e-3 nbsvm)",
    "patience": "early-stopping patience in epochs on the validation loss (default 2)",
    "embed_dim": "embedding size (default 16 course, 64 strong, 32 ngram; not nbsvm)",
    "dropout": "dropout rate (default 0 course, 0.3 strong, 0.5 ngram, 0 nbsvm: n-gram dropout)",
    "ngrams": "arch=ngram/nbsvm: the longest n-gram, 1-3 (default 2)",
    "buckets": "arch=ngram/nbsvm: hash buckets for the n-grams (default 200000 ngram, 2097152 nbsvm)",
    "init_scale": "arch=nbsvm: starting weight of every feature, times its Naive Bayes log-ratio (default 0.02)",
}
VAL_FRACTION = 0.1
QUICK_TRAIN, QUICK_TEST = 2000, 1000
MISTAKES_SHOWN, EXCERPT = 5, 300


# ------------------------------------------------------------------------------------------ generated data
_POS = ["excellent", "wonderful", "brilliant", "great", "superb", "delightful", "moving", "charming", "gripping",
        "beautiful", "clever", "hilarious", "touching", "stunning", "fantastic", "enjoyable"]
_NEG = ["terrible", "awful", "boring", "dull", "weak", "clumsy", "predictable", "tedious", "painful", "bland",
        "forgettable", "dreadful", "messy", "lifeless", "silly", "disappointing"]
_NOUNS = ["film", "movie", "plot", "acting", "script", "cast", "soundtrack", "direction", "ending", "dialogue",
          "story", "camera work", "pacing", "lead actress", "villain", "score", "editing", "humour"]
_INTENS = ["", "", "very ", "really ", "truly ", "quite ", "rather ", "incredibly ", "so "]
_NEGATE = ["not ", "never ", "hardly ", "not at all "]
_FILLER = ["i watched it on a rainy sunday", "my sister recommended it to me", "it runs for about two hours",
           "the director also made a documentary about trains", "we saw it in a small cinema downtown",
           "it is based on a novel from the seventies", "the cinema was half empty", "i had read the book first",
           "it was released last spring", "the trailer gives away most of the story", "i went with two friends",
           "there is a scene set in a lighthouse", "it was filmed in scotland", "the popcorn was cold"]
_CLAUSES = ["the {n} was {i}{a}", "i found the {n} {i}{a}", "the {n} is {i}{a}", "honestly the {n} felt {i}{a}",
            "everyone said the {n} was {i}{a}"]
_NEG_CLAUSES = ["the {n} was {x}{a}", "i found the {n} {x}{a}", "the {n} is {x}{a}"]
_VERDICTS = {1: ["overall it is a {a} film", "i would recommend it to anyone", "a {a} experience from start to finish",
                 "i would happily watch it again"],
             0: ["overall it is a {a} film", "i would not recommend it", "a {a} experience from start to finish",
                 "i want those two hours back"]}


def generate_reviews(n: int, seed: int, noise: float = 0.03) -> LabelledTexts:
    """`n` generated movie reviews with balanced labels.

    Each review has 2-5 opinion clauses (polarity +1/-1; "not", "never", "hardly" flip it), 1-4 neutral
    sentences, and a verdict sentence worth 2; the label is the sign of the sum (ties: the verdict's). So word
    counts alone are not enough (negation is about word order), and a fraction `noise` of labels is flipped,
    which caps the attainable accuracy near 1 - noise.
    """
    rng = random.Random(seed)
    out = LabelledTexts()
    for k in range(n):
        parts: list[tuple[int, str]] = []
        score = 0
        for _ in range(rng.randint(2, 5)):
            pol = rng.choice((1, -1))
            adj = rng.choice(_POS if pol > 0 else _NEG)
            if rng.random() < 0.3:  # negated: "the plot was not brilliant" is negative
                text = rng.choice(_NEG_CLAUSES).format(n=rng.choice(_NOUNS), x=rng.choice(_NEGATE), a=adj)
                pol = -pol
            else:
                text = rng.choice(_CLAUSES).format(n=rng.choice(_NOUNS), i=rng.choice(_INTENS), a=adj)
            score += pol
            parts.append((pol, text))
        for _ in range(rng.randint(1, 4)):
            parts.insert(rng.randrange(len(parts) + 1), (0, rng.choice(_FILLER)))
        target = k % 2  # balanced: choose the verdict so that the label comes out as the target when possible
        verdict_pol = 1 if target else -1
        if score + 2 * verdict_pol == 0:
            score_label = target
        else:
            score_label = int(score + 2 * verdict_pol > 0)
        verdict = rng.choice(_VERDICTS[verdict_pol > 0]).format(a=rng.choice(_POS if verdict_pol > 0 else _NEG))
        label = score_label if rng.random() >= noise else 1 - score_label
        sentences = [t for _, t in parts] + [verdict]
        text = ". ".join(s[0].upper() + s[1:] for s in sentences) + "."
        out.add(text, label, f"generated:{k}")
    return out


# ------------------------------------------------------------------------------------------------ data
def _stratified_split(data: LabelledTexts, fraction: float, seed: int) -> tuple[LabelledTexts, LabelledTexts]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(data))
    try:
        keep, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=data.labels)
    except ValueError as exc:
        raise DataError(f"cannot split {len(data)} texts {fraction:.0%} stratified: {exc}") from None
    return data.subset(sorted(keep)), data.subset(sorted(held))


def _limit(data: LabelledTexts, n: int, seed: int) -> LabelledTexts:
    if len(data) <= n:
        return data
    idx = random.Random(seed).sample(range(len(data)), n)
    return data.subset(sorted(idx))


def _table_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for split, names in (("train", ("train",)), ("val", ("val", "valid", "validation")), ("dev", ("dev",)),
                         ("test", ("test",))):
        for stem in names:
            for ext in (".tsv", ".csv"):
                if (folder / f"{stem}{ext}").is_file() and split not in found:
                    found[split] = folder / f"{stem}{ext}"
    return found


def _read_test_labelled(path: Path) -> LabelledTexts | None:
    try:
        return read_labelled_table(path)
    except DataError as exc:
        if "is not a binary sentiment label" in str(exc) or "cannot tell" in str(exc):
            return None  # an unlabelled test file (GLUE's SST-2 test.tsv): not usable for evaluation
        raise


def load_splits(ctx: TaskContext, test_split: float) -> tuple[dict[str, LabelledTexts], str]:
    """train/val/test splits and a one-line description of where they came from."""
    seed = ctx.seed_for("split")
    path = ctx.data_path(".tsv", ".csv", ".txt", ".tar.gz", ".tgz", ".tar", kind="any")
    if path is None:
        n = 1500 if ctx.quick else 12000
        data = generate_reviews(n, seed)
        rest, test = _stratified_split(data, test_split, seed)
        train, val = _stratified_split(rest, VAL_FRACTION, seed)
        return {"train": train, "val": val, "test": test}, f"generated movie reviews ({n}, 3% flipped labels)"
    if path.is_dir() and _table_files(path):
        files = _table_files(path)
        if "train" not in files:
            raise DataError(f"{path}: found {', '.join(p.name for p in files.values())} but no train.tsv/train.csv")
        splits = {"train": read_labelled_table(files["train"])}
        if "val" in files:
            splits["val"] = read_labelled_table(files["val"])
        test = _read_test_labelled(files["test"]) if "test" in files else None
        if test is not None:
            splits["test"] = test
            if "dev" in files and "val" not in splits:
                splits["val"] = read_labelled_table(files["dev"])
        elif "dev" in files:
            splits["test"] = read_labelled_table(files["dev"])
        what = f"tables in {path} ({', '.join(p.name for p in files.values())})"
    elif path.is_dir() or path.name.lower().endswith((".tar.gz", ".tgz", ".tar")):
        splits = read_imdb(path)
        splits.pop("unsup", None)
        if "train" not in splits:
            raise DataError(f"{path}: IMDB layout without a train/ split (found {', '.join(sorted(splits))})")
        if "val" not in splits and "dev" in splits:
            splits["val"] = splits.pop("dev")
        what = f"IMDB reviews from {path}"
    else:
        splits = {"train": read_labelled_table(path)}
        what = f"texts of {path}"
    if "test" not in splits:
        splits["train"], splits["test"] = _stratified_split(splits["train"], test_split, seed)
    if "val" not in splits:
        splits["train"], splits["val"] = _stratified_split(splits["train"], VAL_FRACTION, seed)
    if ctx.quick:
        splits = {"train": _limit(splits["train"], QUICK_TRAIN, seed), "val": _limit(splits["val"], QUICK_TEST, seed),
                  "test": _limit(splits["test"], QUICK_TEST, seed)}
    return {k: splits[k] for k in ("train", "val", "test")}, what


def _encode(tok: Tokenizer, data: LabelledTexts, maxlen: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    seqs = tok.texts_to_sequences(data.texts)
    oov = tok.word_index.get(tok.oov_token, -1) if tok.oov_token else -1
    n_tokens = sum(len(s) for s in seqs)
    stats = {"oov_rate": sum(s.count(oov) for s in seqs) / max(n_tokens, 1),
             "truncated": float(np.mean([len(s) > maxlen for s in seqs])),
             "mean_length": n_tokens / max(len(seqs), 1)}
    x = torch.from_numpy(pad_sequences(seqs, maxlen=maxlen, padding="pre", truncating="pre"))  # (N, maxlen)
    y = torch.tensor(data.labels, dtype=torch.float32).unsqueeze(1)  # (N, 1)
    return x, y, stats


def bce_logits(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(out, y)


# ------------------------------------------------------------------------------------------------ report
def _plots(ctx: TaskContext, history: Any, m: dict[str, Any], arch: str) -> None:
    import matplotlib.pyplot as plt

    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(11, 3.8))
    ax_l.plot(history["epoch"], history["train_data_loss"], "o-", label="train")
    ax_l.plot(history["epoch"], history["val_loss"], "o--", label="validation")
    ax_l.set_title("binary cross-entropy")
    ax_a.plot(history["epoch"], history["val_accuracy"], "o-", color="tab:green", label="validation")
    ax_a.set_title("validation accuracy")
    for ax in (ax_l, ax_a):
        ax.set_xlabel("epoch")
        ax.legend()
    ctx.report.figure(fig, "learning_curves", "Loss per epoch (left) and validation accuracy (right).")

    curve = m["roc_curve"]
    fig, (ax_r, ax_c) = plt.subplots(1, 2, figsize=(10, 4))
    ax_r.plot(curve["fpr"], curve["tpr"], label=f"{arch} (AUC {m['roc_auc']:.3f})")
    ax_r.plot([0, 1], [0, 1], ":", color="0.6", label="chance")
    ax_r.set_xlabel("false positive rate")
    ax_r.set_ylabel("true positive rate")
    ax_r.set_title("ROC curve (test)")
    ax_r.legend(loc="lower right")
    cm = np.asarray(m["confusion_matrix"])
    ax_c.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax_c.text(j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black")
    ax_c.set_xticks([0, 1], LABEL_NAMES)
    ax_c.set_yticks([0, 1], LABEL_NAMES)
    ax_c.set_xlabel("predicted")
    ax_c.set_ylabel("true")
    ax_c.set_title("confusion matrix (test)")
    ctx.report.figure(fig, "roc_confusion", "ROC curve and confusion matrix on the test split.")


def _mistakes(data: LabelledTexts, probs: np.ndarray) -> list[list[Any]]:
    y = np.asarray(data.labels)
    pred = (probs >= 0.5).astype(int)
    wrong = np.flatnonzero(pred != y)
    confidence = np.abs(probs - 0.5)
    rows = []
    for i in wrong[np.argsort(-confidence[wrong])][:MISTAKES_SHOWN]:
        text = " ".join(data.texts[i].split())
        excerpt = text if len(text) <= EXCERPT else text[:EXCERPT] + " …"
        rows.append(["/".join(data.sources[i].split("/")[-3:]), LABEL_NAMES[y[i]], f"{probs[i]:.3f}", excerpt])
    return rows


# ------------------------------------------------------------------------------------------------ task
@register_task("sentiment", "many-to-one sentiment analysis: Embedding -> LSTM -> P(positive), course and strong "
               "models, bag-of-n-gram baselines (ngram, nbsvm), ROC, confusion matrix, confident mistakes; "
               "`neuralab predict` on new texts",
               default_data="generated movie reviews (embedded); --data aclImdb.tar.gz, an IMDB folder, "
                            "a folder of train/dev TSVs (SST-2) or one TSV/CSV",
               title="Sentiment analysis with an LSTM (many-to-one)", options=OPTIONS)
def run(ctx: TaskContext) -> None:
    arch = ctx.option("arch", "course")
    if arch not in ARCHS:
        raise ConfigError(f"option arch={arch!r} of task 'sentiment': expected one of {', '.join(ARCHS)}")
    # A 32-unit LSTM step is too small to share between threads: on a busy 2-core machine a fit took 1.1-3.4 s
    # per epoch with 2 threads and 0.2 s with 1 (1,080 texts of 64 tokens, measured).
    with cpu_threads(1, ctx.device):
        _run(ctx, arch)


def _run(ctx: TaskContext, arch: str) -> None:
    max_words = ctx.option("max_words", TRAIN_DEFAULTS[arch]["max_words"], int)
    test_split = ctx.option("test_split", 0.2, float)
    if not 0.0 < test_split < 1.0:
        raise ConfigError(f"option test_split={test_split} of task 'sentiment': expected a fraction in (0, 1)")
    if max_words < 2:
        raise ConfigError(f"option max_words={max_words} of task 'sentiment': expected >= 2")
    for key, archs in ARCH_OPTIONS.items():
        if ctx.option(key) is not None and arch not in archs:
            raise ConfigError(f"option {key} of task 'sentiment' does not apply to arch={arch}; it is read by "
                              f"arch={' / '.join(archs)}")
    maxlen = ctx.option("maxlen", None, int)
    if maxlen is not None and maxlen < 1:
        raise ConfigError(f"option maxlen={maxlen} of task 'sentiment': expected >= 1")
    splits, what = load_splits(ctx, test_split)
    batch_size = ctx.option("batch_size", TRAIN_DEFAULTS[arch]["batch_size"], int)
    lr = ctx.option("lr", TRAIN_DEFAULTS[arch]["lr"], float)
    patience = ctx.option("patience", 2, int)
    epochs = ctx.epochs(full=12 if arch == "course" else 8, quick=2)

    tok = Tokenizer(max_words=max_words).fit_on_texts(splits["train"].texts)
    if maxlen is None:
        # Long enough for the longest training text, up to the cap (IMDB reviews are cut at the cap). Not a
        # percentile: SST-2's training set is mostly short phrases, and its 95th percentile (24 tokens) cut 22%
        # of the dev sentences (measured).
        lengths = [len(s) for s in tok.texts_to_sequences(splits["train"].texts)]
        cap = BAG_MAXLEN_CAP if arch in BAG_ARCHS else MAXLEN_CAP
        maxlen = int(min(cap, max(8, -(-max(lengths) // 8) * 8)))
    x_tr, y_tr, st_tr = _encode(tok, splits["train"], maxlen)
    x_va, y_va, _ = _encode(tok, splits["val"], maxlen)
    x_te, y_te, st_te = _encode(tok, splits["test"], maxlen)

    ctx.seed("sentiment")
    # Embedding rows: the ids the tokenizer can produce (max_words, or fewer on a small corpus).
    spec = dict(ARCHS[arch])
    if arch != "nbsvm":
        spec["embed_dim"] = ctx.option("embed_dim", spec.get("embed_dim", 16), int)
    spec["dropout"] = ctx.option("dropout", spec.get("dropout", 0.0), float)
    if arch in BAG_ARCHS:
        spec["ngrams"] = ctx.option("ngrams", spec.get("ngrams", 2), int)
        spec["buckets"] = ctx.option("buckets", spec.get("buckets", 200_000), int)
    if arch == "nbsvm":
        spec["init_scale"] = ctx.option("init_scale", 0.02, float)
    model = neuralab.get_model(spec.pop("model", "sentiment-lstm"), vocab_size=tok.vocab_size, **spec)
    if arch == "nbsvm":
        model.fit_ratios(x_tr, y_tr)  # the Naive Bayes log-count ratios: training texts only
    trainer = ctx.trainer("sentiment", model, bce_logits, lr=lr, clip_norm=5.0,
                          metrics={"accuracy": accuracy_from_logits},
                          callbacks=[EarlyStopping("val_loss", patience=patience)])
    t0 = time.perf_counter()
    history = ctx.fit(trainer, make_loader(x_tr, y_tr, batch_size=batch_size, shuffle=True),
                      make_loader(x_va, y_va, batch_size=256), epochs=epochs)
    train_seconds = time.perf_counter() - t0
    val = trainer.evaluate(make_loader(x_va, y_va, batch_size=256))
    logits, _ = trainer.predict(make_loader(x_te, y_te, batch_size=256))
    probs = torch.sigmoid(logits.reshape(-1)).numpy()
    y_true = np.asarray(splits["test"].labels)
    m = classification_metrics(y_true, (probs >= 0.5).astype(int), probs, labels=[0, 1],
                               class_names=list(LABEL_NAMES))
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    num_params = sum(p.numel() for p in model.parameters())
    b = m["binary"]
    ctx.report.add_metrics(
        test_accuracy=m["accuracy"], test_precision=b["precision"], test_recall=b["recall"], test_f1=b["f1"],
        test_roc_auc=m["roc_auc"], val_accuracy=val["accuracy"], val_loss=val["loss"], best_epoch=best_epoch,
        epochs_run=len(history), train_seconds=train_seconds, n_train=len(splits["train"]),
        n_val=len(splits["val"]), n_test=len(splits["test"]), vocab_size=tok.vocab_size, maxlen=maxlen, arch=arch,
        num_params=num_params, confusion_matrix=m["confusion_matrix"], oov_rate_test=st_te["oov_rate"],
        truncated_fraction_train=st_tr["truncated"], data=what, batch_size=batch_size, lr=lr)

    r = ctx.report
    r.say(f"test accuracy {m['accuracy']:.2%}, F1 {b['f1']:.3f}, ROC-AUC {m['roc_auc']:.3f} "
          f"({arch} model, {len(splits['test'])} test texts)")
    r.heading("1. Data and text preprocessing")
    r.text(f"Data: {what}. {len(splits['train'])} training, {len(splits['val'])} validation and "
           f"{len(splits['test'])} test texts; positives: {np.mean(splits['train'].labels):.1%} of training, "
           f"{y_true.mean():.1%} of test. The tokenizer (lower-case, Keras' punctuation filter, OOV token id 1) is "
           f"fitted on the training texts only and keeps the {tok.vocab_size - 1} most frequent ids; "
           f"{st_te['oov_rate']:.1%} of the test tokens are out of vocabulary. Each text becomes its last {maxlen} "
           f"ids, zero-padded in front (`pad_sequences(padding='pre', truncating='pre')`): the mean training "
           f"text has {st_tr['mean_length']:.0f} tokens and {st_tr['truncated']:.1%} are cut.")
    r.heading("2. Model and training")
    cfg = model.config
    grams = {1: "words", 2: "words and bigrams", 3: "words, bigrams and trigrams"}.get(getattr(cfg, "ngrams", 0))
    if arch == "nbsvm":
        described = (f"`sentiment-nbsvm` (NBSVM, Wang & Manning 2012): the binary {grams} of each text "
                     f"({cfg.vocab_size:,} word ids, n-grams hashed into {cfg.buckets:,} buckets), each weighted "
                     f"by its Naive Bayes log-count ratio from the training texts (smoothing {cfg.alpha}) -> "
                     f"linear logit, weights starting at {cfg.init_scale}; n-gram dropout {cfg.dropout}; "
                     f"{num_params:,} parameters")
    elif arch == "ngram":
        described = (f"`sentiment-ngram`: the mean of the embeddings (E = {cfg.embed_dim}) of the text's words "
                     f"({cfg.vocab_size:,} ids) and of its n-grams up to {cfg.ngrams} words hashed into "
                     f"{cfg.buckets:,} buckets -> "
                     f"Dropout({cfg.dropout}) -> Dense(1) logit; {num_params:,} parameters; padding ignored")
    else:
        padding = "masked (each direction reads only the real tokens)" if cfg.use_lengths else \
            "fed to the LSTM as in Keras"
        described = (f"`sentiment-lstm` ({arch}): Embedding({cfg.vocab_size}, {cfg.embed_dim}) -> "
                     f"{'bidirectional ' if cfg.bidirectional else ''}LSTM({cfg.hidden_size}) x {cfg.num_layers} -> "
                     + ("last hidden state" if cfg.pooling == "last" else f"{cfg.pooling} pooling of the hidden states")
                     + f" -> Dense(1) logit; {num_params:,} parameters; padding {padding}")
    r.text(f"{described}. Adam (lr {lr}), "
           f"batch {batch_size}, gradient norm clipped at 5, binary cross-entropy on the logit, early stopping on "
           f"the validation loss (patience {patience}, best epoch restored). {len(history)} epochs in "
           f"{train_seconds:.1f} s; best epoch {best_epoch}, validation accuracy {val['accuracy']:.2%}.")
    _plots(ctx, history, m, arch)
    r.history(history)
    r.heading("3. Test evaluation")
    r.table(["metric", "value"], [["accuracy", m["accuracy"]], ["precision (positive)", b["precision"]],
                                  ["recall (positive)", b["recall"]], ["F1 (positive)", b["f1"]],
                                  ["specificity (TNR)", b["tnr"]], ["ROC-AUC", m["roc_auc"]]],
            caption=f"Test split ({len(y_true)} texts), threshold 0.5 on P(positive).")
    r.table(["", "predicted negative", "predicted positive"],
            [["true negative", b["tn"], b["fp"]], ["true positive", b["fn"], b["tp"]]], caption="Confusion matrix.")
    r.heading("4. The most confident mistakes")
    r.table(["text", "true", "P(positive)", "excerpt"], _mistakes(splits["test"], probs),
            caption=f"Test texts the model got wrong with the highest confidence (first {EXCERPT} characters).")
    r.heading("5. Saved model")
    neuralab.save_model(model, ctx.run_dir / "model",
                        extra={"kind": "text-classifier", "tokenizer": tok.to_dict(), "maxlen": maxlen,
                               "padding": "pre", "truncating": "pre", "labels": list(LABEL_NAMES)})
    r.text("The model is in `model/` (config.json with the tokenizer and maxlen in `extra`, model.safetensors). "
           f"`neuralab predict {ctx.run_dir / 'model'} \"This film was excellent!\"` prints the label and "
           "P(positive) for each text.")


def predict_texts(model_dir: Path, inputs: list[str], device: str) -> list[Any]:
    """Classify texts with a model saved by the `sentiment` task.

    Args:
        model_dir: a model directory whose config.json has `extra.kind == "text-classifier"`.
        inputs: the texts.
        device: `auto|cpu|cuda|mps`.

    Returns:
        One `neuralab.predict.Prediction` per text: `positive` or `negative`, its probability, and both.

    Raises:
        DataError: the model directory lacks the stored tokenizer or maxlen.
    """
    from neuralab.predict import Prediction
    from neuralab.utils import resolve_device

    dev = resolve_device(device)
    model = neuralab.load_model(model_dir, device=dev)
    extra = model.extra
    if "tokenizer" not in extra or "maxlen" not in extra:
        raise DataError(f"{model_dir / 'config.json'}: extra has no tokenizer/maxlen; expected a model saved by "
                        "`neuralab run sentiment`")
    tok = Tokenizer.from_dict(extra["tokenizer"])
    labels = list(extra.get("labels", LABEL_NAMES))
    seqs = tok.texts_to_sequences(inputs)
    x = torch.from_numpy(pad_sequences(seqs, maxlen=int(extra["maxlen"]), padding=extra.get("padding", "pre"),
                                       truncating=extra.get("truncating", "pre"))).to(dev)  # (N, maxlen)
    with torch.no_grad():
        p_pos = torch.sigmoid(model(x).reshape(-1).float()).cpu().tolist()
    out = []
    for text, p in zip(inputs, p_pos, strict=True):
        probs = {labels[0]: 1.0 - p, labels[1]: p}
        label = labels[1] if p >= 0.5 else labels[0]
        out.append(Prediction(text, label, probs[label], probs))
    return out
