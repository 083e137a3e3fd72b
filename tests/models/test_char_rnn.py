"""`char-rnn`: the hand-written BPTT of the simple RNN vs torch's nn.RNN (oracle), the reference sizes, state
carry-over, one-hot vs ids, generation (seeded, temperature), the benchmark data."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import neuralab
from neuralab.bench import SPECS
from neuralab.models.char_rnn import TanhRecurrence, bench_data, sequence_cross_entropy


def _grads(model, x, h0):
    model.zero_grad()
    logits, state = model(x, h0, return_state=True)
    g = torch.Generator().manual_seed(3)
    ((logits * torch.randn(logits.shape, generator=g, dtype=logits.dtype)).sum() + (state * 0.5).sum()).backward()
    return logits.detach(), state.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("layers", [1, 2])
def test_hand_written_bptt_matches_torch_rnn(layers):
    torch.manual_seed(0)
    model = neuralab.get_model("char-rnn", vocab_size=7, hidden_size=6, num_layers=layers).double()
    x = F.one_hot(torch.randint(0, 7, (3, 9)), 7).double().requires_grad_()
    h0 = (0.3 * torch.randn(layers, 3, 6, dtype=torch.float64)).requires_grad_()
    fast = _grads(model, x, h0)  # CPU + grad enabled: TanhRecurrence
    gx_fast, gh_fast = x.grad.clone(), h0.grad.clone()
    x.grad, h0.grad = None, None
    model.zero_grad()
    logits, state = model.rnn(x, h0)  # torch's own nn.RNN on the same weights
    ref_logits = model.head(logits)
    g = torch.Generator().manual_seed(3)
    ((ref_logits * torch.randn(ref_logits.shape, generator=g, dtype=torch.float64)).sum()
     + (state * 0.5).sum()).backward()
    assert torch.allclose(fast[0], ref_logits.detach(), atol=1e-10)
    assert torch.allclose(fast[1], state.detach(), atol=1e-10)
    for name, p in model.named_parameters():
        assert torch.allclose(fast[2][name], p.grad, atol=1e-10), name
    assert torch.allclose(gx_fast, x.grad, atol=1e-10)
    assert torch.allclose(gh_fast, h0.grad, atol=1e-10)


def test_tanh_recurrence_gradcheck():
    torch.manual_seed(1)
    a = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    w = (0.5 * torch.randn(3, 3, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(TanhRecurrence.apply, (a, h0, w))


def test_default_is_the_keras_reference_model():
    model = neuralab.get_model("char-rnn")
    cfg = model.config
    assert (cfg.vocab_size, cfg.cell, cfg.hidden_size, cfg.num_layers, cfg.one_hot) == (65, "rnn", 128, 1, True)
    # Keras: 65·128 + 128·128 + 128 + 128·65 + 65 = 33,217; torch keeps a second RNN bias (+128)
    assert sum(p.numel() for p in model.parameters()) == 33_217 + 128
    assert SPECS["char-rnn"]["config"] == {"vocab_size": 65, "cell": "rnn", "embed_dim": 0, "hidden_size": 128,
                                           "num_layers": 1}


def test_bench_spec_matches_the_keras_reference(shared_data):
    ref = Path(shared_data).parent / "anchors" / "keras_reference.py"
    if not ref.is_file():
        pytest.skip("keras_reference.py not found")
    tree = ast.parse(ref.read_text())
    specs = next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "SPECS")
    entry = next(v for k, v in zip(specs.keys, specs.values, strict=True) if ast.literal_eval(k) == "char-rnn")
    keras = {kw.arg: ast.literal_eval(kw.value) for kw in entry.keywords}  # dict(vocab=65, ...)
    ours = SPECS["char-rnn"]
    assert keras == {"vocab": 65, "seq_len": 100, "units": 128, "batch_size": 128}
    assert (ours["config"]["vocab_size"], ours["seq_len"], ours["config"]["hidden_size"], ours["batch_size"]) == \
        (keras["vocab"], keras["seq_len"], keras["units"], keras["batch_size"])


def test_bench_data_is_one_hot_with_next_character_targets():
    x, y, loss_fn = bench_data(5, torch.Generator().manual_seed(0))
    assert x.shape == (5, 100, 65) and x.dtype == torch.float32 and y.shape == (5, 100) and y.dtype == torch.int64
    ids = x.argmax(-1)
    assert torch.equal(x.sum(-1), torch.ones(5, 100))
    assert torch.equal(y[:, :-1], ids[:, 1:]) and torch.equal(y[:, -1], ids[:, 0])  # np.roll(idx, -1)
    logits = torch.randn(5, 100, 65)
    assert torch.allclose(loss_fn(logits, y), F.cross_entropy(logits.permute(0, 2, 1), y))
    assert loss_fn is sequence_cross_entropy


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_state_carries_over_between_chunks(cell):
    torch.manual_seed(0)
    model = neuralab.get_model("char-rnn", vocab_size=11, cell=cell, embed_dim=5, hidden_size=8,
                               num_layers=2).eval()
    x = torch.randint(0, 11, (2, 10))
    with torch.no_grad():
        full = model(x)
        a, state = model(x[:, :4], return_state=True)
        b = model(x[:, 4:], state)
    assert full.shape == (2, 10, 11)
    assert torch.allclose(torch.cat([a, b], 1), full, atol=1e-6)


def test_one_hot_floats_and_ids_give_the_same_logits():
    torch.manual_seed(0)
    for embed in (0, 4):
        model = neuralab.get_model("char-rnn", vocab_size=6, cell="gru", embed_dim=embed, hidden_size=5).eval()
        ids = torch.randint(0, 6, (3, 7))
        with torch.no_grad():
            assert torch.allclose(model(ids), model(F.one_hot(ids, 6).float()), atol=1e-6)
    with pytest.raises(ValueError, match=r"one-hot vectors \(B, T, 6\)"):
        model(torch.zeros(3, 7, 5))


def test_generate_is_seeded_and_temperature_zero_is_greedy():
    torch.manual_seed(0)
    model = neuralab.get_model("char-rnn", vocab_size=9, cell="lstm", embed_dim=4, hidden_size=8)
    seed = torch.tensor([1, 2, 3])

    def gen(s, t=1.0):
        return model.generate(seed, 30, temperature=t, generator=torch.Generator().manual_seed(s))

    assert torch.equal(gen(0), gen(0))
    assert not torch.equal(gen(0), gen(1))
    greedy = gen(0, 0.0)
    assert torch.equal(greedy, gen(5, 0.0))
    # greedy decoding = the argmax of the model's logits for its own output fed back
    with torch.no_grad():
        logits = model.eval()(torch.cat([seed, greedy])[None])[0]
    assert torch.equal(logits[len(seed) - 1:-1].argmax(-1), greedy)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(seed, 3, temperature=-1)
    with pytest.raises(ValueError, match="non-empty"):
        model.generate(torch.tensor([], dtype=torch.int64), 3)


def test_config_errors():
    with pytest.raises(neuralab.errors.ConfigError, match="cell must be one of rnn, lstm, gru"):
        neuralab.get_model("char-rnn", cell="transformer")
    with pytest.raises(neuralab.errors.ConfigError, match="embed_dim must be >= 0"):
        neuralab.get_model("char-rnn", embed_dim=-1)


def test_one_hot_lookup_gives_the_dense_products_gradients():
    from neuralab.models.char_rnn import one_hot_ids

    torch.manual_seed(0)
    model = neuralab.get_model("char-rnn", vocab_size=7, hidden_size=5).double()
    ids = torch.randint(0, 7, (3, 6))
    x = F.one_hot(ids, 7).double()
    assert torch.equal(one_hot_ids(x), ids)
    assert one_hot_ids(0.5 * x) is None and one_hot_ids(x.clone().requires_grad_()) is None
    not_one_hot = x.clone()
    not_one_hot[0, 0] = 0.0
    not_one_hot[0, 1, (ids[0, 1] + 1) % 7] = 1.0  # same number of non-zeros: one row empty, one with two 1s
    assert one_hot_ids(not_one_hot) is None
    negative = x.clone()
    negative[1, 2, (ids[1, 2] + 1) % 7] = -1.0  # a 1 plus a -1 still sums to 0
    assert one_hot_ids(negative) is None
    grads = []
    for inp in (x, x.clone().requires_grad_(), ids):  # lookup, dense product, lookup from ids
        model.zero_grad()
        out = model(inp)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for other in grads[1:]:
        for a, b in zip(grads[0], other, strict=True):
            assert torch.allclose(a, b, atol=1e-12)


def test_sequence_cross_entropy_reads_time_major_views_without_reordering_the_mean():
    from neuralab.models.char_rnn import sequence_cross_entropy

    torch.manual_seed(0)
    time_major = torch.randn(7, 3, 5, requires_grad=True)  # (T, B, V) storage
    targets = torch.randint(0, 5, (3, 7))
    view = time_major.transpose(0, 1)  # (B, T, V), not contiguous
    assert not view.is_contiguous()
    a = sequence_cross_entropy(view, targets)
    b = F.cross_entropy(view.contiguous().reshape(-1, 5), targets.reshape(-1))
    assert torch.allclose(a, b, atol=1e-6)
    ga, = torch.autograd.grad(a, time_major)
    gb, = torch.autograd.grad(b, time_major)
    assert torch.allclose(ga, gb, atol=1e-7)


def test_loop_threads_runs_the_faster_count_and_rechecks_the_other():
    from neuralab.models.char_rnn import LoopThreads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        lt = LoopThreads(recheck=4, probe=2)

        def seen():  # thread count at each of 5 steps of one loop
            out = []
            with lt.run("forward") as loop:
                for _ in range(5):
                    loop.step()
                    out.append(torch.get_num_threads())
            assert torch.get_num_threads() == 2  # restored
            return out

        assert seen() == [1, 1, 2, 2, 2]  # nothing known: probe 1 thread, then all threads; both timed
        assert set(lt.cost) == {("forward", 1), ("forward", 2)}
        lt.cost = {("forward", 1): 1.0, ("forward", 2): 5.0}  # one thread measured faster (a busy machine)
        assert seen() == [1] * 5 and seen() == [1] * 5  # calls 2, 3
        assert seen() == [2, 2, 1, 1, 1]  # call 4: a short probe of the other count, then the best again
        assert lt.cost[("forward", 2)] < 5.0  # the probe's real timing moved the estimate
    finally:
        torch.set_num_threads(before)
