"""`sentiment-lstm`: the course sizes, Keras' initialisation, masking of padding, the bench data builder."""

from __future__ import annotations

import pytest
import torch

import neuralab
from neuralab.errors import ConfigError
from neuralab.models.sentiment import bench_data


def test_course_model_has_keras_sizes_and_parameter_count():
    model = neuralab.get_model("sentiment-lstm")
    cfg = model.config
    assert (cfg.vocab_size, cfg.embed_dim, cfg.hidden_size) == (10000, 16, 32)
    # Keras summary: Embedding 160,000 + LSTM 4·(32·(16+32) + 32) = 6,272 + Dense 33 = 166,305; torch keeps
    # a second LSTM bias vector (4·32 = 128 more).
    assert sum(p.numel() for p in model.parameters()) == 166_305 + 128
    assert model(torch.randint(1, 10000, (3, 200))).shape == (3, 1)


def test_keras_initialisation():
    model = neuralab.get_model("sentiment-lstm")
    h = 32
    b = model.lstm.bias_ih_l0 + model.lstm.bias_hh_l0  # gates i, f, g, o
    assert torch.equal(b[h:2 * h], torch.ones(h)) and b[:h].abs().sum() == 0 and b[2 * h:].abs().sum() == 0
    assert model.embedding.weight.abs().max() <= 0.05
    block = model.lstm.weight_hh_l0[:h]  # orthogonal recurrent kernel per gate
    torch.testing.assert_close(block @ block.T, torch.eye(h), atol=1e-5, rtol=0)


def test_last_state_equals_a_manual_unrolled_nn_lstm():
    torch.manual_seed(0)
    model = neuralab.get_model("sentiment-lstm", vocab_size=50).eval()
    x = torch.randint(1, 50, (4, 9))
    out, _ = model.lstm(model.embedding(x))
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.fc(out[:, -1]))


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "meanmax"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_masking_ignores_padding_on_either_side(pooling, bidirectional):
    torch.manual_seed(0)
    model = neuralab.get_model("sentiment-lstm", vocab_size=30, embed_dim=6, hidden_size=5, num_layers=2,
                               bidirectional=bidirectional, pooling=pooling, use_lengths=True).eval()
    seq = torch.tensor([[4, 9, 2, 7]])
    pre = torch.tensor([[0, 0, 0, 4, 9, 2, 7]])
    post = torch.tensor([[4, 9, 2, 7, 0, 0, 0]])
    with torch.no_grad():
        ref = model(seq)
        torch.testing.assert_close(model(pre), ref)
        torch.testing.assert_close(model(post), ref)
        batch = model(torch.cat([pre, torch.tensor([[0, 0, 0, 0, 0, 3, 5]])]))  # mixed lengths in one batch
    torch.testing.assert_close(batch[:1], ref)


def test_without_masking_padding_changes_the_output():
    torch.manual_seed(0)
    model = neuralab.get_model("sentiment-lstm", vocab_size=30).eval()
    with torch.no_grad():
        assert not torch.allclose(model(torch.tensor([[4, 9, 2]])), model(torch.tensor([[0, 0, 4, 9, 2]])))


def test_all_padding_row_stays_finite():
    model = neuralab.get_model("sentiment-lstm", vocab_size=30, pooling="meanmax", use_lengths=True).eval()
    with torch.no_grad():
        assert torch.isfinite(model(torch.zeros(2, 5, dtype=torch.long))).all()


def test_config_errors():
    with pytest.raises(ConfigError, match="pooling must be one of last, mean, max, meanmax"):
        neuralab.get_model("sentiment-lstm", pooling="attention")
    with pytest.raises(ConfigError, match=r"dropout must be in \[0, 1\)"):
        neuralab.get_model("sentiment-lstm", dropout=1.0)
    with pytest.raises(ConfigError, match="hidden_size must be >= 1"):
        neuralab.get_model("sentiment-lstm", hidden_size=0)


def test_bench_data_matches_the_keras_reference():
    from neuralab.bench import SPECS

    x, y, loss_fn = bench_data(64, torch.Generator().manual_seed(0))
    assert x.shape == (64, 200) and x.dtype == torch.int64 and x.min() >= 1 and x.max() <= 9999
    assert y.shape == (64, 1) and y.dtype == torch.float32 and set(y.unique().tolist()) <= {0.0, 1.0}
    assert loss_fn(torch.zeros(64, 1), y).item() == pytest.approx(0.6931, abs=1e-4)
    spec = SPECS["sentiment-lstm"]
    assert spec["batch_size"] == 32 and spec["data"] == "neuralab.models.sentiment:bench_data"
    cfg = neuralab.get_model("sentiment-lstm", **spec.get("config", {})).config
    assert (cfg.vocab_size, cfg.embed_dim, cfg.hidden_size) == (10000, 16, 32)


def test_learns_a_word_order_rule():
    # "not" before the adjective flips it: only a model that reads in order can get this right.
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    n = 256
    adj = torch.randint(0, 2, (n,), generator=g)  # 0: "bad" (id 3), 1: "good" (id 4)
    neg = torch.randint(0, 2, (n,), generator=g)
    x = torch.randint(5, 20, (n, 6), generator=g)  # filler words
    x[:, 4] = torch.where(neg == 1, 2, x[:, 4])  # id 2 = "not"
    x[:, 5] = adj + 3
    y = (adj ^ neg).float().unsqueeze(1)
    model = neuralab.get_model("sentiment-lstm", vocab_size=20, embed_dim=8, hidden_size=16)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
    acc = ((model(x) > 0).float() == y).float().mean().item()
    assert acc > 0.95


def test_masked_bidirectional_equals_torch_bilstm_on_the_unpadded_text():
    torch.manual_seed(0)
    model = neuralab.get_model("sentiment-lstm", vocab_size=30, embed_dim=6, hidden_size=5, num_layers=2,
                               bidirectional=True, pooling="meanmax", use_lengths=True).eval()
    ref = torch.nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
    with torch.no_grad():
        for i, layer in enumerate(model.layers):
            for d, suffix in enumerate(("", "_reverse")):
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(ref, f"{kind}_l{i}{suffix}").copy_(getattr(layer[d], f"{kind}_l0"))
        seq = torch.tensor([[4, 9, 2, 7, 11]])
        out, (h_n, _) = ref(model.embedding(seq))  # (1, 5, 10)
        expected = model.fc(torch.cat([out.mean(1), out.amax(1)], dim=1))
        torch.testing.assert_close(model(torch.tensor([[0, 0, 4, 9, 2, 7, 11]])), expected)
        model.cfg.pooling = "last"
        torch.testing.assert_close(model.features(torch.tensor([[4, 9, 2, 7, 11, 0]])),
                                   torch.cat([h_n[-2], h_n[-1]], dim=1))


def test_ngram_ids_hash_bigrams_and_skip_padding():
    from neuralab.models.sentiment_bow import SentimentNgram, SentimentNgramConfig

    m = SentimentNgram(SentimentNgramConfig(vocab_size=10, buckets=7, embed_dim=4, ngrams=3))
    tokens = torch.tensor([[0, 0, 3, 4, 5]])  # pre-padded: words 3 4 5
    ids, mask = m.ngram_ids(tokens)
    assert ids.shape == (1, 5 + 4 + 3) and mask.shape == ids.shape
    assert mask[0, :5].tolist() == [False, False, True, True, True]
    assert mask[0, 5:9].tolist() == [False, False, True, True]  # bigrams (0,0) (0,3) masked; (3,4) (4,5) kept
    assert mask[0, 9:].tolist() == [False, False, True]  # only (3,4,5) is a real trigram
    assert bool((ids[0, 5:] >= 10).all() and (ids[0, 5:] < 17).all())  # hashed into the bucket rows
    # word order reaches the model through the n-grams: (3,4) and (4,3) differ
    assert m.ngram_ids(torch.tensor([[3, 4]]))[0][0, 2] != m.ngram_ids(torch.tensor([[4, 3]]))[0][0, 2]
    # padding does not change the output (eval mode: no dropout)
    m.eval()
    assert torch.allclose(m(tokens), m(torch.tensor([[3, 4, 5]])), atol=1e-6)
    assert not torch.allclose(m(tokens), m(torch.tensor([[5, 4, 3]])), atol=1e-6)
