"""Recurrent cells from the course's equations vs torch's fused kernels, and the sequence wrapper's options."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from neuralab.errors import ConfigError
from neuralab.nn.rnn import (
    GRUCell,
    LSTMCell,
    Recurrent,
    RepeatVector,
    SimpleRNNCell,
    TimeDistributed,
    keras_init_,
    last_timestep,
)

B, T, F_IN, H = 4, 6, 3, 5
LENGTHS = torch.tensor([6, 2, 1, 4])


def _pair(cell_type: str, dtype=torch.float64, **kwargs) -> tuple[Recurrent, Recurrent]:
    torch.manual_seed(0)
    fused = Recurrent(cell_type, F_IN, H, fused=True, **kwargs).to(dtype)
    ref = Recurrent(cell_type, F_IN, H, fused=False, **kwargs).to(dtype)
    ref.load_torch_state_dict(fused.torch_state_dict())
    return fused, ref


def _states(final) -> list[torch.Tensor]:
    return list(final) if isinstance(final, tuple) else [final]


def _ref_grads_in_torch_layout(ref: Recurrent) -> dict[str, torch.Tensor]:
    """The reference cells' gradients mapped to nn.RNN/LSTM/GRU's layout.

    The map torch -> cell is a signed permutation of the weights (its transpose is `torch_weights`) and a sum
    b = b_ih + b_hh of the biases (whose transpose gives both biases the gradient of b).
    """
    saved = [p.data for p in ref.parameters()]
    for p in ref.parameters():
        p.data = p.grad
    grads = ref.torch_state_dict()
    for p, data in zip(ref.parameters(), saved, strict=True):
        p.data = data
    for name in [n for n in grads if n.startswith("bias_hh")]:
        b_ih = grads[name.replace("bias_hh", "bias_ih")]
        if ref.cell_type == "gru":  # only r and z are summed; n keeps its own b_hh inside r∗(…)
            grads[name] = torch.cat([b_ih[:2 * H], grads[name][2 * H:]])
        else:
            grads[name] = b_ih.clone()
    return grads


@pytest.mark.parametrize("cell_type", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("variable_lengths", [False, True])
def test_reference_cells_match_fused_kernels(cell_type, num_layers, bidirectional, variable_lengths):
    fused, ref = _pair(cell_type, num_layers=num_layers, bidirectional=bidirectional, return_state=True)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, T, F_IN, generator=g, dtype=torch.float64)
    shape = (num_layers * (2 if bidirectional else 1), B, H)
    h0 = torch.randn(shape, generator=g, dtype=torch.float64)
    state = (h0, torch.randn(shape, generator=g, dtype=torch.float64)) if cell_type == "lstm" else h0
    lengths = LENGTHS if variable_lengths else None
    w_out = torch.randn(B, T, fused.output_size, generator=g, dtype=torch.float64)
    results = []
    for layer in (fused, ref):
        xi = x.clone().requires_grad_()
        out, final = layer(xi, state, lengths=lengths)
        # a loss that depends on every output and on the final state(s)
        loss = (out * w_out).sum() + sum((s ** 2).sum() for s in _states(final))
        loss.backward()
        results.append((out.detach(), [s.detach() for s in _states(final)], xi.grad))
    (out_f, st_f, gx_f), (out_r, st_r, gx_r) = results
    torch.testing.assert_close(out_r, out_f, atol=1e-5, rtol=0)
    for a, b in zip(st_r, st_f, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(gx_r, gx_f, atol=1e-5, rtol=0)
    fused_grads = {n: p.grad for n, p in fused.rnn.named_parameters()}
    ref_grads = _ref_grads_in_torch_layout(ref)
    assert sorted(ref_grads) == sorted(fused_grads)
    for name, grad in fused_grads.items():
        torch.testing.assert_close(ref_grads[name], grad, atol=1e-5, rtol=0, msg=name)
    if variable_lengths:  # outputs past each sequence's end are zero on both paths
        pad = torch.arange(T)[None, :] >= LENGTHS[:, None]
        assert out_f[pad].abs().max() == 0 and out_r[pad].abs().max() == 0


@pytest.mark.parametrize("cell_type", ["rnn", "lstm", "gru"])
def test_float32_paths_agree_to_1e_5_and_round_trip_weights(cell_type):
    fused, ref = _pair(cell_type, torch.float32, num_layers=2, bidirectional=True)
    x = torch.randn(B, T, F_IN, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(ref(x), fused(x), atol=1e-5, rtol=0)
    back = ref.torch_state_dict()
    fused2 = Recurrent(cell_type, F_IN, H, num_layers=2, bidirectional=True)
    fused2.load_torch_state_dict(back)
    torch.testing.assert_close(fused2(x), fused(x), atol=1e-6, rtol=0)


def test_variable_lengths_final_state_is_taken_at_each_sequence_end():
    for fused in (True, False):
        torch.manual_seed(0)
        layer = Recurrent("lstm", F_IN, H, bidirectional=True, return_sequences=False, return_state=True,
                          fused=fused)
        x = torch.randn(B, T, F_IN)
        last, (h_n, c_n) = layer(x, lengths=LENGTHS)
        for b, n in enumerate(LENGTHS.tolist()):
            alone_last, (alone_h, alone_c) = layer(x[b:b + 1, :n])  # the sequence without its padding
            torch.testing.assert_close(last[b], alone_last[0], atol=1e-6, rtol=0)
            torch.testing.assert_close(h_n[:, b], alone_h[:, 0], atol=1e-6, rtol=0)
            torch.testing.assert_close(c_n[:, b], alone_c[:, 0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("cell_type", ["rnn", "lstm", "gru"])
def test_return_sequences_and_return_state_shapes(cell_type, fused):
    x = torch.randn(B, T, F_IN)
    seq = Recurrent(cell_type, F_IN, H, num_layers=2, bidirectional=True, fused=fused)(x)
    assert seq.shape == (B, T, 2 * H)
    torch.manual_seed(0)
    layer = Recurrent(cell_type, F_IN, H, num_layers=2, bidirectional=True, return_sequences=False,
                      return_state=True, fused=fused)
    last, final = layer(x)
    assert last.shape == (B, 2 * H)
    states = _states(final)
    assert len(states) == (2 if cell_type == "lstm" else 1)
    assert all(s.shape == (4, B, H) for s in states)
    layer.return_sequences = True
    out, _ = layer(x)
    # the last output: forward direction at step T−1, backward direction at step 0
    torch.testing.assert_close(last, torch.cat([out[:, -1, :H], out[:, 0, H:]], dim=1))
    torch.testing.assert_close(last, torch.cat([states[0][-2], states[0][-1]], dim=1))
    uni = Recurrent(cell_type, F_IN, H, fused=fused)
    torch.testing.assert_close(last_timestep(uni(x)), uni(x)[:, -1])


def test_zero_initial_state_is_the_default():
    for fused in (True, False):
        layer = Recurrent("lstm", F_IN, H, num_layers=2, fused=fused)
        x = torch.randn(B, T, F_IN)
        zeros = torch.zeros(2, B, H)
        torch.testing.assert_close(layer(x), layer(x, (zeros, zeros)))


def test_dropout_acts_between_layers_in_training_only():
    for fused in (True, False):
        torch.manual_seed(0)
        layer = Recurrent("gru", F_IN, H, num_layers=2, dropout=0.5, fused=fused)
        x = torch.randn(B, T, F_IN)
        layer.eval()
        a, b = layer(x), layer(x)
        torch.testing.assert_close(a, b)
        layer.train()
        assert (layer(x) - a).abs().max() > 1e-3
    with pytest.raises(ConfigError, match="dropout=0.2 acts between layers and needs num_layers >= 2"):
        Recurrent("lstm", F_IN, H, dropout=0.2)


def test_last_timestep_with_lengths():
    out = torch.arange(B * T * 2, dtype=torch.float32).view(B, T, 2)
    got = last_timestep(out, LENGTHS)
    for b, n in enumerate(LENGTHS.tolist()):
        torch.testing.assert_close(got[b], out[b, n - 1])


# ------------------------------------------------------------------------ the equations, term by term
def _d(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _sig(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a))


def test_simple_rnn_cell_equation_by_hand():
    cell = SimpleRNNCell(2, 1, output_size=1, output_activation=torch.sigmoid).double()
    with torch.no_grad():
        cell.W_xh.copy_(_d([[0.5, -1.0]]))
        cell.W_hh.copy_(_d([[0.8]]))
        cell.b.copy_(_d([0.1]))
        cell.W_hy.copy_(_d([[2.0]]))
    x, h_prev = torch.tensor([[1.0, 0.25]], dtype=torch.float64), torch.tensor([[0.3]], dtype=torch.float64)
    h = cell(x, h_prev)
    # h_t = tanh(W_hh·h_{t−1} + W_xh·x_t + b) = tanh(0.8·0.3 + 0.5·1 − 1·0.25 + 0.1) = tanh(0.59)
    assert h.item() == pytest.approx(math.tanh(0.59), abs=1e-12)
    # y_t = g2(W_hy·h_t) with g2 = σ
    assert cell.output(h).item() == pytest.approx(_sig(2 * math.tanh(0.59)), abs=1e-12)


def test_lstm_cell_equations_by_hand():
    cell = LSTMCell(1, 1).double()
    # W_gate = [w on h_{t−1}, w on x_t]
    weights = {"f": (0.5, 1.0, 0.2), "i": (-0.3, 0.7, 0.0), "C": (0.9, -0.4, 0.1), "o": (0.2, 0.6, -0.5)}
    with torch.no_grad():
        for gate, (wh, wx, b) in weights.items():
            getattr(cell, f"W_{gate}").copy_(_d([[wh, wx]]))
            getattr(cell, f"b_{gate}").copy_(_d([b]))
    h_prev, c_prev, x = 0.4, -0.6, 1.5
    gates = cell.gates(torch.tensor([[x]], dtype=torch.float64), torch.tensor([[h_prev]], dtype=torch.float64))
    f = _sig(0.5 * h_prev + 1.0 * x + 0.2)  # f_t = σ(W_f·[h_{t−1}, x_t] + b_f) = σ(1.9)
    assert f == pytest.approx(_sig(1.9))
    i = _sig(-0.3 * h_prev + 0.7 * x)
    c_tilde = math.tanh(0.9 * h_prev - 0.4 * x + 0.1)
    o = _sig(0.2 * h_prev + 0.6 * x - 0.5)
    for name, value in (("f", f), ("i", i), ("g", c_tilde), ("o", o)):
        assert gates[name].item() == pytest.approx(value, abs=1e-12), name
    h, c = cell(torch.tensor([[x]], dtype=torch.float64),
                (torch.tensor([[h_prev]], dtype=torch.float64), torch.tensor([[c_prev]], dtype=torch.float64)))
    c_expected = f * c_prev + i * c_tilde  # C_t = f_t∗C_{t−1} + i_t∗C̃_t
    assert c.item() == pytest.approx(c_expected, abs=1e-12)
    assert h.item() == pytest.approx(o * math.tanh(c_expected), abs=1e-12)  # h_t = o_t∗tanh(C_t)


def test_gru_cell_course_equations_by_hand():
    cell = GRUCell(1, 1, reset_after=False).double()
    with torch.no_grad():
        cell.W_z.copy_(_d([[0.6, -0.2]]))
        cell.W_r.copy_(_d([[-0.5, 0.8]]))
        cell.W_h.copy_(_d([[1.2, 0.3]]))
        for b in (cell.b_z, cell.b_r, cell.b_h):
            b.zero_()  # the course's GRU has no biases
    h_prev, x = 0.5, -1.0
    z = _sig(0.6 * h_prev - 0.2 * x)  # z_t = σ(W_z·[h_{t−1}, x_t])
    r = _sig(-0.5 * h_prev + 0.8 * x)  # r_t = σ(W_r·[h_{t−1}, x_t])
    h_tilde = math.tanh(1.2 * r * h_prev + 0.3 * x)  # h̃_t = tanh(W·[r_t∗h_{t−1}, x_t])
    xt, ht = torch.tensor([[x]], dtype=torch.float64), torch.tensor([[h_prev]], dtype=torch.float64)
    gates = cell.gates(xt, ht)
    assert gates["z"].item() == pytest.approx(z, abs=1e-12)
    assert gates["r"].item() == pytest.approx(r, abs=1e-12)
    assert gates["h_tilde"].item() == pytest.approx(h_tilde, abs=1e-12)
    assert cell(xt, ht).item() == pytest.approx((1 - z) * h_prev + z * h_tilde, abs=1e-12)


def test_gru_update_gate_is_one_minus_torchs_and_course_variant_differs():
    torch.manual_seed(0)
    gru = nn.GRU(F_IN, H, batch_first=True).double()
    cell = GRUCell(F_IN, H).double()
    cell.load_torch(gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
    x, h = torch.randn(B, F_IN, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    w_ih, w_hh, b_ih, b_hh = gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0
    z_torch = torch.sigmoid(x @ w_ih[H:2 * H].T + b_ih[H:2 * H] + h @ w_hh[H:2 * H].T + b_hh[H:2 * H])
    torch.testing.assert_close(cell.gates(x, h)["z"], 1 - z_torch)
    torch.testing.assert_close(cell(x, h), gru(x[:, None], h[None])[1][0])
    # the course's candidate W·[r∗h, x] is a different function, not a re-parametrisation
    course = GRUCell(F_IN, H, reset_after=False).double()
    with pytest.raises(ConfigError, match="reset gate after the recurrent product"):
        course.load_torch(w_ih, w_hh, b_ih, b_hh)
    with torch.no_grad():
        course.W_z.copy_(cell.W_z)
        course.W_r.copy_(cell.W_r)
        course.b_z.copy_(cell.b_z)
        course.b_r.copy_(cell.b_r)
        course.W_h.copy_(torch.cat([cell.W_hh, cell.W_hx], dim=1))
        course.b_h.copy_(cell.b_hx + cell.b_hh)
    assert (course(x, h) - cell(x, h)).abs().max() > 1e-3


# ------------------------------------------------------------------------------- helpers and errors
def test_time_distributed_applies_the_same_module_at_every_step():
    torch.manual_seed(0)
    dense = nn.Linear(F_IN, 2)
    x = torch.randn(B, T, F_IN)
    y = TimeDistributed(dense)(x)
    assert y.shape == (B, T, 2)
    for t in range(T):
        torch.testing.assert_close(y[:, t], dense(x[:, t]))
    conv = TimeDistributed(nn.Conv2d(1, 3, 3, padding=1))
    assert conv(torch.randn(B, T, 1, 8, 8)).shape == (B, T, 3, 8, 8)


def test_repeat_vector_feeds_a_decoder():
    v = torch.randn(B, H)
    rep = RepeatVector(T)(v)
    assert rep.shape == (B, T, H)
    assert all(torch.equal(rep[:, t], v) for t in range(T))
    assert Recurrent("lstm", H, 2)(rep).shape == (B, T, 2)
    with pytest.raises(ConfigError, match="positive integer, got 0"):
        RepeatVector(0)
    with pytest.raises(ConfigError, match=r"expects \(batch, features\), got \(4, 6, 5\)"):
        RepeatVector(2)(torch.randn(B, T, H))


def test_keras_init_forget_bias_and_orthogonal_recurrent_weights():
    for fused in (True, False):
        layer = keras_init_(Recurrent("lstm", F_IN, H, fused=fused))
        sd = layer.torch_state_dict()
        b = sd["bias_ih_l0"] + sd["bias_hh_l0"]
        torch.testing.assert_close(b[H:2 * H], torch.ones(H))  # forget gate (torch order i, f, g, o)
        assert b[:H].abs().max() == 0 and b[2 * H:].abs().max() == 0
        w = sd["weight_hh_l0"][:H]
        torch.testing.assert_close(w @ w.T, torch.eye(H), atol=1e-5, rtol=0)


def test_errors_name_what_was_received_and_expected():
    layer = Recurrent("gru", F_IN, H, num_layers=2)
    with pytest.raises(ConfigError, match=r"expects input \(batch, time, 3\), got \(4, 6, 2\)"):
        layer(torch.randn(B, T, 2))
    with pytest.raises(ConfigError, match=r"lengths\[1\] = 0: every length must be in 1..6"):
        layer(torch.randn(B, T, F_IN), lengths=torch.tensor([6, 0, 1, 2]))
    with pytest.raises(ConfigError, match=r"lengths must have shape \(batch,\) = \(4,\), got \(3,\)"):
        layer(torch.randn(B, T, F_IN), lengths=torch.tensor([6, 1, 1]))
    with pytest.raises(ConfigError, match=r"initial state has shape \(1, 4, 5\); expected .* \(2, 4, 5\)"):
        layer(torch.randn(B, T, F_IN), torch.zeros(1, B, H))
    with pytest.raises(ConfigError, match=r"expected \(h0, c0\)"):
        Recurrent("lstm", F_IN, H)(torch.randn(B, T, F_IN), torch.zeros(1, B, H))
    with pytest.raises(ConfigError, match="cell_type 'transformer': expected one of rnn, lstm, gru"):
        Recurrent("transformer", F_IN, H)
    with pytest.raises(ConfigError, match="hidden_size must be a positive integer, got 0"):
        Recurrent("rnn", F_IN, 0)
