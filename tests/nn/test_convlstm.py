"""ConvLSTM: the fused-convolution cell against a gate-by-gate evaluation of the equations (oracle), both sequence
paths against each other, the hand-written BPTT against finite differences (gradcheck), shapes and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neuralab.errors import ConfigError
from neuralab.nn.convlstm import ConvLSTM, ConvLSTMCell, ConvLSTMSequence


def _equations(cell: ConvLSTMCell, x, h_prev, c_prev):
    """f_t = σ(W_xf∗X_t + W_hf∗H_{t−1} + b_f), i_t, g_t, o_t likewise; C_t = f∘C + i∘g; H_t = o∘tanh(C_t)."""
    w = cell.gate_weights()
    pad = cell.kernel_size // 2

    def pre(g):
        return (F.conv2d(x, w[f"W_x{g}"], padding=pad) + F.conv2d(h_prev, w[f"W_h{g}"], padding=pad)
                + w[f"b_{g}"].view(1, -1, 1, 1))

    f, i, o = torch.sigmoid(pre("f")), torch.sigmoid(pre("i")), torch.sigmoid(pre("o"))
    g = torch.tanh(pre("g"))
    c = f * c_prev + i * g
    return o * torch.tanh(c), c


def test_fused_cell_matches_the_gate_equations():
    torch.manual_seed(0)
    cell = ConvLSTMCell(3, 5, kernel_size=3)
    with torch.no_grad():
        cell.conv.bias.normal_()
    x, h, c = torch.randn(2, 3, 6, 7), torch.randn(2, 5, 6, 7), torch.randn(2, 5, 6, 7)
    h1, c1 = cell(x, (h, c))
    h2, c2 = _equations(cell, x, h, c)
    assert torch.allclose(h1, h2, atol=1e-6) and torch.allclose(c1, c2, atol=1e-6)
    assert cell.conv.weight.shape == (4 * 5, 3 + 5, 3, 3)  # ONE convolution for i, f, g, o over [X, H]


def test_forget_bias_and_zero_state():
    cell = ConvLSTMCell(1, 4, forget_bias=1.0)
    assert torch.equal(cell.gate_weights()["b_f"], torch.ones(4))
    assert torch.equal(cell.gate_weights()["b_i"], torch.zeros(4))
    h, c = cell(torch.randn(2, 1, 5, 5))
    assert h.shape == c.shape == (2, 4, 5, 5)


def test_keras_parameter_count():
    # Keras ConvLSTM2D(16, (3, 3)) on 1 channel: 4 · (9 · (1 + 16) · 16 + 16) = 9,856
    assert sum(p.numel() for p in ConvLSTM(1, 16, 3).parameters()) == 9856


def test_sequence_paths_agree_with_stepping_the_cell():
    torch.manual_seed(1)
    x = torch.randn(2, 4, 2, 5, 5, requires_grad=True)
    layer = ConvLSTM(2, 3, return_sequences=True, return_state=True, fused_input=False)
    params = list(layer.parameters())
    seq_a, (h_a, c_a) = layer(x)
    ga, *gpa = torch.autograd.grad(seq_a.square().sum(), [x, *params])
    layer.fused_input = True
    seq_b, (h_b, c_b) = layer(x)
    gb, *gpb = torch.autograd.grad(seq_b.square().sum(), [x, *params])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(gpa, gpb, strict=True))
    h, c = None, None
    steps = []
    for t in range(4):
        h, c = layer.cell(x[:, t], None if h is None else (h, c))
        steps.append(h)
    assert torch.allclose(seq_a, torch.stack(steps, 1), atol=1e-6)
    assert torch.allclose(seq_a, seq_b, atol=1e-5) and torch.allclose(c_a, c_b, atol=1e-5)
    assert torch.allclose(h_a, seq_a[:, -1]) and torch.allclose(ga, gb, atol=1e-5)
    last = ConvLSTM(2, 3)(x)
    assert last.shape == (2, 3, 5, 5)


def test_hand_written_bptt_passes_gradcheck():
    # float64 finite differences for every input of the sequence function: zx, W_h, H_0, C_0
    torch.manual_seed(2)
    T, B, Fh, H, W = 3, 2, 2, 4, 3
    args = [torch.randn(T, B, 4 * Fh, H, W, dtype=torch.float64, requires_grad=True),
            (0.5 * torch.randn(4 * Fh, Fh, 3, 3, dtype=torch.float64)).requires_grad_(),
            torch.randn(B, Fh, H, W, dtype=torch.float64, requires_grad=True),
            torch.randn(B, Fh, H, W, dtype=torch.float64, requires_grad=True)]
    assert torch.autograd.gradcheck(lambda *a: ConvLSTMSequence.apply(*a, 1), args)
    # each output alone (the others get no gradient): every H_t, h_T, c_T; and h_T read from the sequence
    for k in range(3):
        assert torch.autograd.gradcheck(lambda *a, k=k: ConvLSTMSequence.apply(*a, 1)[k], args)
    assert torch.autograd.gradcheck(lambda *a: ConvLSTMSequence.apply(*a, 1)[0][-1], args)


def test_initial_state_gradients_match_autograd_through_the_cell():
    torch.manual_seed(3)
    x = torch.randn(2, 3, 2, 4, 4)
    layer = ConvLSTM(2, 3, return_state=True, fused_input=False)
    grads = []
    for fused in (False, True):
        layer.fused_input = fused
        h0, c0 = torch.randn(2, 3, 4, 4, requires_grad=True), torch.randn(2, 3, 4, 4, requires_grad=True)
        with torch.random.fork_rng():
            torch.manual_seed(4)
            h0.data.normal_(), c0.data.normal_()
        out, (h, c) = layer(x, (h0, c0))
        grads.append(torch.autograd.grad(out.sum() + c.square().sum(), [h0, c0, *layer.parameters()]))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(*grads, strict=True))


def test_outputs_may_be_modified_in_place():
    # e.g. an in-place ReLU after the layer: the outputs are not the buffers the BPTT saved
    torch.manual_seed(6)
    x = torch.randn(2, 3, 1, 4, 4)
    for return_sequences in (False, True):
        layer = ConvLSTM(1, 2, return_sequences=return_sequences, return_state=True)
        ref = torch.autograd.grad(torch.relu(layer(x)[0]).sum(), list(layer.parameters()))
        out, (h, c) = layer(x)
        out.relu_(), c.mul_(0.0)  # (out is h when return_sequences is False)
        got = torch.autograd.grad(out.sum(), list(layer.parameters()))
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(ref, got, strict=True))


def test_inference_without_grad_gives_the_same_numbers():
    torch.manual_seed(5)
    layer, x = ConvLSTM(1, 2, return_sequences=True), torch.randn(2, 3, 1, 4, 4)
    with torch.no_grad():
        a = layer(x)
    assert torch.equal(a, layer(x).detach())


def test_bad_inputs_are_named():
    with pytest.raises(ConfigError, match="kernel_size must be odd"):
        ConvLSTMCell(1, 2, kernel_size=2)
    with pytest.raises(ConfigError, match=r"expects frames \(B, T, 2, H, W\), got \(2, 3, 5, 5\)"):
        ConvLSTM(2, 3)(torch.randn(2, 3, 5, 5))
