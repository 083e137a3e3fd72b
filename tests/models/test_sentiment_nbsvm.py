"""`sentiment-nbsvm`: binary n-gram features, the Naive Bayes log-count ratios against a hand count, the start
as Naive Bayes, a discriminative fit that corrects Naive Bayes' double counting, saving the fitted ratios."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import neuralab
from neuralab.errors import ConfigError
from neuralab.models.sentiment_bow import SentimentNBSVM, SentimentNBSVMConfig


def _model(**kw) -> SentimentNBSVM:
    cfg = {"vocab_size": 10, "buckets": 5, "ngrams": 1, **kw}
    return SentimentNBSVM(SentimentNBSVMConfig(**cfg))


def test_binary_features_count_each_distinct_word_and_bigram_once_and_skip_padding():
    m = _model(ngrams=2, buckets=1000)
    ids, keep = m.binary_features(torch.tensor([[0, 0, 3, 4, 3, 4, 3]]))  # words 3 4 3 4 3, two padding
    kept = sorted(ids[0][keep[0].bool()].tolist())
    words = [i for i in kept if i < 10]
    grams = [i for i in kept if i >= 10]
    assert words == [3, 4]  # 3 appears 3 times, 4 twice: once each
    assert len(grams) == 2  # bigrams (3,4) x2 and (4,3) x2: two distinct, none with padding
    assert keep.sum() == 4


def test_ratios_equal_a_hand_count():
    m = _model(alpha=1.0)  # 10 word rows + 5 bucket rows, words only
    tokens = torch.tensor([[0, 2, 2, 3],  # positive: words 2, 3 (2 counted once)
                           [0, 0, 2, 4],  # positive: 2, 4
                           [0, 3, 5, 5]])  # negative: 3, 5
    labels = torch.tensor([1.0, 1.0, 0.0])
    r = m.fit_ratios(tokens, labels, batch_size=2)  # two batches: the counts add up across them
    p = torch.ones(15)
    q = torch.ones(15)
    p[2] += 2
    p[3] += 1
    p[4] += 1
    q[3] += 1
    q[5] += 1
    expected = torch.log(p / p.sum()) - torch.log(q / q.sum())
    torch.testing.assert_close(r, expected)
    assert r[2] > 0 > r[5] and math.isclose(float(r[7]), math.log(q.sum() / p.sum()), rel_tol=1e-6)
    assert int(m.n_fitted) == 3


def test_starts_as_scaled_naive_bayes_and_ignores_padding():
    m = _model(init_scale=0.5)
    m.fit_ratios(torch.tensor([[2, 3, 3], [4, 5, 6]]), torch.tensor([1, 0]))
    m.eval()
    with torch.no_grad():
        out = m(torch.tensor([[0, 0, 2, 3, 3, 6]]))
        torch.testing.assert_close(out, m(torch.tensor([[3, 2, 6]])))  # a bag: order and repeats do not matter
    nb = float(m.ratio[2] + m.ratio[3] + m.ratio[6])  # distinct words, padding left out
    assert math.isclose(float(out), 0.5 * nb, rel_tol=1e-6)


def _double_counting_corpus() -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Words 2-7 always occur together (positive), word 8 is negative; texts with both are mostly negative
    (17 of 20), but Naive Bayes counts the six redundant words six times and calls them positive."""
    group, w8 = [2, 3, 4, 5, 6, 7], [8]
    kinds = {"group": (group + [0], 30, 3), "w8": ([0] * 6 + w8, 12, 36), "both": (group + w8, 3, 17)}
    rows, labels = [], []
    for text, pos, neg in kinds.values():
        rows += [text] * (pos + neg)
        labels += [1.0] * pos + [0.0] * neg
    probes = {k: torch.tensor([text]) for k, (text, _, _) in kinds.items()}
    return torch.tensor(rows), torch.tensor(labels), probes


def test_training_corrects_naive_bayes_double_counting():
    torch.manual_seed(0)
    m = _model(init_scale=1.0)
    x, y, probes = _double_counting_corpus()
    m.fit_ratios(x, y)
    m.eval()
    with torch.no_grad():
        assert float(m(probes["both"])) > 0, "Naive Bayes should get the redundant-words texts wrong"
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    m.train()
    for _ in range(300):  # full batch
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(m(x).reshape(-1), y).backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        assert float(m(probes["group"])) > 0 > float(m(probes["w8"]))
        assert float(m(probes["both"])) < 0  # the majority label of those texts
        acc = ((m(x).reshape(-1) > 0).float() == y).float().mean()
    assert float(acc) == pytest.approx(83 / 101)  # the best any classifier of these three kinds of text can do


def test_fitted_ratios_survive_save_and_load(tmp_path):
    m = neuralab.get_model("sentiment-nbsvm", vocab_size=10, buckets=50, ngrams=2)
    x, y, _ = _double_counting_corpus()
    m.fit_ratios(x, y)
    m.eval()
    loaded = neuralab.load_model(neuralab.save_model(m, tmp_path / "nb"))
    torch.testing.assert_close(loaded.ratio, m.ratio)
    torch.testing.assert_close(loaded(x), m(x))
    loaded.train()
    loaded(x)  # a loaded model counts as fitted: it may be trained further


def test_errors():
    m = _model()
    with pytest.raises(RuntimeError, match=r"call model.fit_ratios\(tokens, labels\)"):
        m.train()(torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="both classes"):
        m.fit_ratios(torch.tensor([[1, 2], [3, 4]]), torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="0/1 labels"):
        m.fit_ratios(torch.tensor([[1, 2], [3, 4]]), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"tokens \(2, 2\) and 3 labels"):
        m.fit_ratios(torch.tensor([[1, 2], [3, 4]]), torch.tensor([1, 0, 1]))
    for kw, msg in [({"ngrams": 4}, "ngrams must be 1, 2 or 3"), ({"init_scale": 0.0}, "init_scale must be > 0"),
                    ({"alpha": -1.0}, "alpha must be > 0"), ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
                    ({"buckets": 0}, "buckets must be >= 1")]:
        with pytest.raises(ConfigError, match=msg):
            neuralab.get_model("sentiment-nbsvm", **kw)
