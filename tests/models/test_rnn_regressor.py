"""The one-to-one `rnn-regressor`: the course's sizes, both recurrent paths, config errors."""

from __future__ import annotations

import pytest
import torch

import neuralab
from neuralab.errors import ConfigError


def test_course_sizes_and_parameter_count():
    model = neuralab.get_model("rnn-regressor")
    assert model.recurrent.cell_type == "rnn" and model.recurrent.hidden_size == 50
    assert model(model.config.example_input(3)).shape == (3, 1)
    n = sum(p.numel() for p in model.parameters())
    # Keras: SimpleRNN(50) on 1 feature = 1·50 + 50·50 + 50 = 2,600 and Dense(1) = 51; torch's nn.RNN keeps
    # two bias vectors (b_ih + b_hh, always summed), 50 more
    assert n == 2600 + 50 + 51


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_fused_and_reference_models_agree(cell):
    torch.manual_seed(0)
    fused = neuralab.get_model("rnn-regressor", cell=cell, hidden_size=8, input_size=2, num_layers=2)
    ref = neuralab.get_model("rnn-regressor", cell=cell, hidden_size=8, input_size=2, num_layers=2, fused=False)
    ref.recurrent.load_torch_state_dict(fused.recurrent.torch_state_dict())
    ref.head.load_state_dict(fused.head.state_dict())
    x = torch.randn(5, 7, 2)
    torch.testing.assert_close(ref(x), fused(x), atol=1e-5, rtol=0)
    lengths = torch.tensor([7, 3, 1, 7, 5])
    torch.testing.assert_close(ref(x, lengths), fused(x, lengths), atol=1e-5, rtol=0)
    # a padded window predicts what the unpadded one does
    torch.testing.assert_close(fused(x, lengths)[1], fused(x[1:2, :3])[0], atol=1e-6, rtol=0)


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match="hidden_size must be a positive integer, got 0"):
        neuralab.get_model("rnn-regressor", hidden_size=0)
    with pytest.raises(ConfigError, match="cell 'tcn': expected one of rnn, lstm, gru"):
        neuralab.get_model("rnn-regressor", cell="tcn")
    with pytest.raises(ConfigError, match="nonlinearity 'gelu'"):
        neuralab.get_model("rnn-regressor", nonlinearity="gelu")
