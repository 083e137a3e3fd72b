"""The course's one-to-one recurrent network: a window of a sequence in, one number out.

    x (B, T, F) -> SimpleRNN(50, tanh), last state -> Dense(1) -> y (B, 1)        (trained with MSE)

The recurrent layer is `neuralab.nn.rnn.Recurrent` (fused `nn.RNN` by default; `fused=False` runs the cell of
the equations h_t = tanh(W_hh·h_{t−1} + W_xh·x_t + b), and `cell="lstm"`/`"gru"` swap the cell). The dense head
is y = W_hy·h_T + b_y, the course's y_t = g2(W_hy·h_t) with g2 the identity for regression.

Shape legend: x (B, window, input_size) -> h_T (B, hidden_size·D) -> y (B, output_size).

References:
    Course topic "Recurrent neural networks: the four architectures (one-to-one)"; Keras `SimpleRNN` + `Dense`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from neuralab.models.registry import register_model
from neuralab.nn.rnn import CELL_TYPES, NONLINEARITIES, Recurrent


@dataclass
class RNNRegressorConfig:
    """Configuration of `rnn-regressor`.

    Attributes:
        input_size: features per time step (1 for a univariate series).
        window: time steps per input window (used for `example_input`; any length works at run time).
        hidden_size: recurrent units (50 on the course's slide).
        output_size: numbers predicted per window.
        cell: `rnn` (SimpleRNN, the course's), `lstm` or `gru`.
        nonlinearity: g1 of the simple RNN (`tanh` or `relu`).
        num_layers: stacked recurrent layers.
        bidirectional: read the window in both directions.
        fused: use torch's fused kernel (True) or the reference cell loop (False).
    """

    input_size: int = 1
    window: int = 20
    hidden_size: int = 50
    output_size: int = 1
    cell: str = "rnn"
    nonlinearity: str = "tanh"
    num_layers: int = 1
    bidirectional: bool = False
    fused: bool = True

    def __post_init__(self) -> None:
        for name in ("input_size", "window", "hidden_size", "output_size", "num_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.cell not in CELL_TYPES:
            raise ValueError(f"cell {self.cell!r}: expected one of {', '.join(CELL_TYPES)}")
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity {self.nonlinearity!r}: expected one of {', '.join(NONLINEARITIES)}")

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        return torch.randn(batch_size, self.window, self.input_size, generator=g)


class RNNRegressor(nn.Module):
    """Recurrent layer (last state) -> dense layer: a window (B, T, F) to predictions (B, output_size)."""

    def __init__(self, cfg: RNNRegressorConfig) -> None:
        super().__init__()
        self.recurrent = Recurrent(cfg.cell, cfg.input_size, cfg.hidden_size, num_layers=cfg.num_layers,
                                   bidirectional=cfg.bidirectional, return_sequences=False, fused=cfg.fused,
                                   nonlinearity=cfg.nonlinearity)
        self.head = nn.Linear(self.recurrent.output_size, cfg.output_size)  # y = W_hy·h_T + b_y

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.recurrent(x, lengths=lengths))  # (B, D·H) -> (B, output_size)


@register_model("rnn-regressor", RNNRegressorConfig,
                "one-to-one recurrent regressor: SimpleRNN(50, tanh) over a window -> Dense(1), MSE")
def build_rnn_regressor(cfg: RNNRegressorConfig) -> RNNRegressor:
    return RNNRegressor(cfg)
