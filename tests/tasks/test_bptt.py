"""Task `bptt`: the unrolled gradient measurements against autograd and theory, and an end-to-end quick run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neuralab.errors import ConfigError
from neuralab.nn.rnn import LSTMCell, SimpleRNNCell
from neuralab.tasks import TaskOptions, run_task
from neuralab.tasks.bptt import _StepRecorder, carried_fraction, memory_sum_data, unrolled_gradients


def test_unrolled_gradient_of_a_linear_rnn_is_the_power_of_w_hh():
    # With g1 = identity the Jacobian ∂h_t/∂h_{t−1} is W_hh itself, so ∂L_T/∂h_{T−k} = v·W_hh^k exactly.
    cell = SimpleRNNCell(1, 3).double()
    cell.nonlinearity = "relu"
    with torch.no_grad():
        cell.W_hh.copy_(0.9 * torch.eye(3, dtype=torch.float64))  # positive states keep relu linear
        cell.W_xh.fill_(1.0)
        cell.b.fill_(5.0)
    v = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)
    x = torch.rand(4, 12, 1, dtype=torch.float64)
    h_norms, c_norms, _ = unrolled_gradients(cell, x, v)
    assert c_norms is None
    expected = 3.0 * 0.9 ** np.arange(11, -1, -1)  # ‖v‖ = 3, t = 0..11
    np.testing.assert_allclose(h_norms, expected, rtol=1e-10)


def test_unrolled_gradients_match_autograd_on_the_input_side():
    torch.manual_seed(0)
    cell = LSTMCell(2, 4).double()
    x = torch.randn(3, 7, 2, dtype=torch.float64)
    v = torch.randn(4, dtype=torch.float64)
    h_norms, c_norms, (g_wf,) = unrolled_gradients(cell, x, v, wrt=(cell.W_f,))
    assert h_norms.shape == (7,) and c_norms.shape == (7,)
    # the loss at T depends on h_T directly: ∂L/∂h_T = v for every sequence
    assert h_norms[-1] == pytest.approx(float(v.norm()))
    # the same parameter gradient as a plain backward through the fused LSTM with the weights copied in
    lstm = torch.nn.LSTM(2, 4, batch_first=True).double()
    w_ih, w_hh, b_ih, b_hh = cell.torch_weights()
    lstm.load_state_dict({"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh})
    out, _ = lstm(x)
    (out[:, -1] @ v).sum().backward()
    H = 4
    expected = torch.cat([lstm.weight_hh_l0.grad[H:2 * H], lstm.weight_ih_l0.grad[H:2 * H]], dim=1)
    torch.testing.assert_close(g_wf, expected)


def test_carried_fraction_is_the_forget_gate_mean():
    cell = LSTMCell(1, 2)
    with torch.no_grad():
        cell.W_f.zero_()
        cell.b_f.fill_(1.0)
    assert carried_fraction(cell, torch.randn(2, 5, 1)) == pytest.approx(1 / (1 + np.exp(-1.0)), abs=1e-6)
    assert carried_fraction(SimpleRNNCell(1, 2), torch.randn(2, 5, 1)) is None


def test_memory_sum_target_and_step_recorder():
    x, y = memory_sum_data(2000, 30, seed=0)
    torch.testing.assert_close(y[:, 0], x[:, -10:, 0].sum(1) / 10 ** 0.5)
    assert float(y.var()) == pytest.approx(1.0, abs=0.1)
    model = torch.nn.Linear(3, 1)
    rec = _StepRecorder(model)
    out = model(torch.ones(2, 3)).sum()
    out.backward()
    rec.on_batch_end(None, 1, {"loss": out})
    expected = float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm())
    assert rec.grad_norm == [pytest.approx(expected)] and rec.loss == [pytest.approx(float(out.detach()))]


def test_quick_run_measures_vanishing_exploding_and_clipping(tmp_path):
    res = run_task("bptt", TaskOptions(quick=True, out=tmp_path, epochs=1))
    m = json.loads((res.run_dir / "metrics.json").read_text())
    for cell in ("rnn", "lstm", "gru"):
        curve = m[f"grad_ratio_curve_{cell}"]
        assert curve[0] == pytest.approx(1.0) and len(curve) == m["vanishing_T"]
        assert 0 < m[f"grad_ratio_k10_{cell}"] < 1  # the gradient shrinks going back in time at init
    # the signal grows with the recurrent weight scale, from vanishing (s = 0.5) to exploding (s = 3)
    ratios = m["exploding_end_ratio"]
    assert ratios[0] < 1e-3 < 1e3 < ratios[-1]
    assert all(a < b for a, b in zip(m["exploding_whh_grad_norm"], m["exploding_whh_grad_norm"][1:], strict=False))
    assert m["clip_clipped_max_batch_loss"] <= m["clip_unclipped_max_batch_loss"]
    for name in ("vanishing", "exploding", "clipping"):
        assert (res.run_dir / "plots" / f"{name}.png").exists()
    with pytest.raises(ConfigError, match="takes no --data"):
        run_task("bptt", TaskOptions(quick=True, out=tmp_path, data=tmp_path))
