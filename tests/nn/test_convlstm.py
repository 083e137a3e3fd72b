"""ConvLSTM: the fused-convolution cell against a gate-by-gate evaluation of the equations (oracle), both sequence
paths against each other, shapes and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neuralab.errors import ConfigError
from neuralab.nn.convlstm import ConvLSTM, ConvLSTMCell


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


def test_bad_inputs_are_named():
    with pytest.raises(ConfigError, match="kernel_size must be odd"):
        ConvLSTMCell(1, 2, kernel_size=2)
    with pytest.raises(ConfigError, match=r"expects frames \(B, T, 2, H, W\), got \(2, 3, 5, 5\)"):
        ConvLSTM(2, 3)(torch.randn(2, 3, 5, 5))
