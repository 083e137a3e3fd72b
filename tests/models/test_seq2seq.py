"""`seq2seq`: teacher forcing vs greedy decoding (oracle: the teacher-forced argmax of the model's own output),
padding masked out of the encoder and the attention, the masked loss, and a learns-something floor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import neuralab
from neuralab.models.seq2seq import masked_cross_entropy

KINDS = [(cell, att) for cell in ("lstm", "gru") for att in ("none", "luong", "bahdanau")]


def _model(cell, attention, **kw):
    torch.manual_seed(0)
    return neuralab.get_model("seq2seq", src_vocab=9, tgt_vocab=7, embed_dim=6, hidden_size=8, cell=cell,
                              attention=attention, **kw).eval()


@pytest.mark.parametrize("cell, attention", KINDS)
def test_greedy_decoding_is_the_teacher_forced_argmax_of_its_own_output(cell, attention):
    model = _model(cell, attention)
    src = torch.randint(3, 9, (4, 6))
    src[1, 4:] = 0
    tokens, attn = model.greedy_decode(src, max_len=5)
    assert tokens.shape == (4, 5)
    # feed <bos> + the greedy tokens back with teacher forcing: every step's argmax is the greedy token
    tgt_in = torch.cat([torch.full((4, 1), 1), tokens[:, :-1]], 1)
    with torch.no_grad():
        logits = model(src, tgt_in)
    assert logits.shape == (4, 5, 7)
    pred = logits.argmax(-1)
    live = torch.ones_like(tokens, dtype=torch.bool)  # positions up to and including each row's first <eos>
    for i, row in enumerate(tokens.tolist()):
        if 2 in row:
            live[i, row.index(2) + 1:] = False
    assert torch.equal(pred[live], tokens[live])
    assert (attn is None) == (attention == "none")
    if attn is not None:
        assert attn.shape == (4, 5, 6)


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_padding_changes_nothing_and_gets_no_attention(attention):
    model = _model("lstm", attention)
    src = torch.randint(3, 9, (2, 5))
    padded = torch.cat([src, torch.zeros(2, 3, dtype=torch.int64)], 1)
    tgt_in = torch.randint(0, 7, (2, 4))
    with torch.no_grad():
        assert torch.allclose(model(src, tgt_in), model(padded, tgt_in), atol=1e-6)
    _, attn = model.greedy_decode(padded, max_len=4)
    assert torch.allclose(attn.sum(-1)[attn.sum(-1) > 0], torch.ones(1), atol=1e-6)
    assert attn[..., 5:].abs().max() == 0


def test_pair_input_is_the_same_as_two_arguments():
    model = _model("gru", "luong")
    src, tgt = model.config.example_input(3)
    with torch.no_grad():
        assert torch.equal(model((src, tgt)), model(src, tgt))


def test_masked_cross_entropy_ignores_padding():
    logits = torch.randn(2, 3, 5)
    targets = torch.tensor([[3, 4, 0], [2, 0, 0]])
    keep = targets != 0
    expected = F.cross_entropy(logits[keep], targets[keep])
    assert torch.allclose(masked_cross_entropy(logits, targets), expected)


def test_config_errors():
    with pytest.raises(neuralab.errors.ConfigError, match="attention must be one of none, luong, bahdanau"):
        neuralab.get_model("seq2seq", attention="transformer")
    with pytest.raises(neuralab.errors.ConfigError, match="cell must be one of lstm, gru"):
        neuralab.get_model("seq2seq", cell="rnn")


def test_learns_to_reverse_short_strings():
    # learns-something floor: reverse 4 symbols of 5 (625 possible inputs) in 60 steps
    torch.manual_seed(0)
    model = neuralab.get_model("seq2seq", src_vocab=8, tgt_vocab=8, embed_dim=16, hidden_size=32,
                               attention="luong")
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        src = torch.randint(3, 8, (64, 4), generator=g)
        tgt_out = torch.cat([src.flip(1), torch.full((64, 1), 2)], 1)
        tgt_in = torch.cat([torch.full((64, 1), 1), src.flip(1)], 1)
        opt.zero_grad()
        masked_cross_entropy(model(src, tgt_in), tgt_out).backward()
        opt.step()
    src = torch.randint(3, 8, (200, 4), generator=g)
    tokens, _ = model.eval().greedy_decode(src, max_len=5)
    exact = (tokens[:, :4] == src.flip(1)).all(1) & (tokens[:, 4] == 2)
    assert exact.float().mean() > 0.9
