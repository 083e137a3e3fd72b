"""The window forecasters: the course's sizes, the Gaussian head, the bench data."""

import pytest
import torch

import neuralab
from neuralab.models.forecasters import bench_data, gaussian_nll, point_mse


def test_lstm_forecaster_is_the_course_model():
    m = neuralab.get_model("lstm-forecaster")
    assert (m.cfg.window, m.cfg.hidden_size, m.cfg.horizon) == (10, 50, 1)
    # Keras LSTM(50) on 1 feature: 4·50·(1 + 50 + 1) = 10,400 + Dense 51 = 10,451; torch keeps two bias
    # vectors per gate (b_ih and b_hh), 200 more: 10,651.
    assert sum(p.numel() for p in m.parameters()) == 10_651
    assert isinstance(m.body, torch.nn.LSTM)
    assert isinstance(neuralab.get_model("gru-forecaster").body, torch.nn.GRU)


@pytest.mark.parametrize("name", ["lstm-forecaster", "gru-forecaster", "mlp-forecaster"])
def test_gaussian_head_and_direct_outputs(name):
    m = neuralab.get_model(name, gaussian=True, horizon=3, window=7)
    out = m(torch.randn(5, 7, 1))
    assert out.shape == (5, 3, 2) and (out[..., 1] > 0).all()
    y = torch.randn(5, 3)
    loss = gaussian_nll(out, y)
    ref = torch.nn.functional.gaussian_nll_loss(out[..., 0], y, out[..., 1])
    assert torch.allclose(loss, ref)
    assert torch.allclose(point_mse(out, y), torch.nn.functional.mse_loss(out[..., 0], y))


def test_bench_data_matches_the_keras_reference():
    x, y, loss = bench_data(64, torch.Generator().manual_seed(0))
    assert x.shape == (64, 10, 1) and y.shape == (64, 1)
    assert loss is torch.nn.functional.mse_loss
    from neuralab.bench import SPECS

    s = SPECS["lstm-forecaster"]
    assert (s["window"], s["units"], s["batch_size"]) == (10, 50, 32)


def test_bad_config():
    with pytest.raises(neuralab.errors.ConfigError, match="cell 'rnn'"):
        neuralab.get_model("lstm-forecaster", cell="rnn")
    with pytest.raises(neuralab.errors.ConfigError, match="horizon must be a positive integer"):
        neuralab.get_model("mlp-forecaster", horizon=0)
