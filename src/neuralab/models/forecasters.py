"""Window forecasters: the course's LSTM(50) -> Dense(1), a GRU and an MLP baseline, with an optional Gaussian head.

    x (B, window, 1) -> LSTM(50) | GRU(50), last state h_T   -> Dense(horizon)            point forecast
                     -> flatten -> Dense(64) -> ReLU -> Dense(64) -> ReLU -> Dense(horizon)  (the MLP)
    gaussian head:   -> (B, horizon, 2): [..., 0] = Dense(horizon) mean, [..., 1] = softplus(Dense(horizon)) + 1e-6
                        variance (trained by Gaussian NLL; one tensor, so the Trainer's predict/evaluate apply)

`horizon` > 1 is the *direct* multi-output strategy (one output per step ahead); `horizon` = 1 with the
forecast fed back is the *recursive* one (`neuralab.forecast.neural`). The recurrent layers are torch's fused
`nn.LSTM` / `nn.GRU` (the cells of the recurrent-networks topic, one kernel call per sequence).

Shape legend: x (B, T=window, F=input_size) -> h_T (B, H) -> mean (B, horizon) | [mean, variance] (B, horizon, 2).

References:
    Course topic "Autoregressive models vs LSTM"; Keras `LSTM(50)` + `Dense(1)` (`keras_reference.py
    lstm-forecaster`); D. Nix, A. Weigend, "Estimating the mean and variance of the target probability
    distribution", ICNN 1994 (the Gaussian head).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.models.registry import register_model

CELLS = ("lstm", "gru", "mlp")


@dataclass
class ForecasterConfig:
    """Configuration of the window forecasters.

    Attributes:
        cell: `lstm`, `gru` (fused torch recurrent layer) or `mlp` (flattened window, two dense layers).
        window: past values per input (10 in the course's example).
        input_size: features per time step (1 for a univariate series).
        hidden_size: recurrent units, or the width of the MLP's hidden layers.
        num_layers: stacked recurrent layers (the MLP always has two hidden layers).
        horizon: values predicted per window (1: one-step / recursive; > 1: direct multi-output).
        gaussian: also predict a variance per output (returns (B, horizon, 2): mean, variance).
    """

    cell: str = "lstm"
    window: int = 10
    input_size: int = 1
    hidden_size: int = 50
    num_layers: int = 1
    horizon: int = 1
    gaussian: bool = False

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell {self.cell!r}: expected one of {', '.join(CELLS)}")
        for name in ("window", "input_size", "hidden_size", "num_layers", "horizon"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        return torch.randn(batch_size, self.window, self.input_size, generator=g)


@dataclass
class LSTMForecasterConfig(ForecasterConfig):
    """`lstm-forecaster`: LSTM(50) -> Dense(1) over windows of 10 (the course's model)."""


@dataclass
class GRUForecasterConfig(ForecasterConfig):
    """`gru-forecaster`: GRU(50) -> Dense(1)."""

    cell: str = "gru"


@dataclass
class MLPForecasterConfig(ForecasterConfig):
    """`mlp-forecaster`: flattened window -> 64 -> 64 -> Dense(1) (ReLU)."""

    cell: str = "mlp"
    hidden_size: int = 64


class WindowForecaster(nn.Module):
    """A window of past values (B, T, F) to the next `horizon` values (B, horizon) [and their variances]."""

    def __init__(self, cfg: ForecasterConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.cell == "mlp":
            self.body = nn.Sequential(
                nn.Flatten(),  # (B, T, F) -> (B, T·F)
                nn.Linear(cfg.window * cfg.input_size, cfg.hidden_size), nn.ReLU(),
                nn.Linear(cfg.hidden_size, cfg.hidden_size), nn.ReLU())
        else:
            rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
            self.body = rnn(cfg.input_size, cfg.hidden_size, num_layers=cfg.num_layers, batch_first=True)
        self.mean = nn.Linear(cfg.hidden_size, cfg.horizon)
        self.var = nn.Linear(cfg.hidden_size, cfg.horizon) if cfg.gaussian else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.cell == "mlp":
            return self.body(x)  # (B, H)
        out, _ = self.body(x)  # (B, T, H)
        return out[:, -1]  # the last state h_T: (B, H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        mean = self.mean(h)  # (B, horizon)
        if self.var is None:
            return mean
        return torch.stack([mean, F.softplus(self.var(h)) + 1e-6], dim=-1)  # variance > 0: (B, horizon, 2)


def gaussian_nll(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of y (B, horizon) under N(out[..., 0], out[..., 1]) (constant dropped)."""
    return F.gaussian_nll_loss(out[..., 0], y, out[..., 1])


def point_mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MSE of the point forecast (the mean out[..., 0] for a Gaussian head's (B, horizon, 2))."""
    return F.mse_loss(out[..., 0] if out.ndim == 3 else out, y)


def bench_data(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, object]:
    """The Keras reference's synthetic inputs: x (n, 10, 1), y (n, 1) standard normal, MSE."""
    x = torch.randn(n, 10, 1, generator=gen)
    y = torch.randn(n, 1, generator=gen)
    return x, y, F.mse_loss


@register_model("lstm-forecaster", LSTMForecasterConfig,
                "window forecaster LSTM(50) -> Dense(1) (course AR-vs-LSTM model; optional Gaussian head)")
def build_lstm_forecaster(cfg: LSTMForecasterConfig) -> WindowForecaster:
    return WindowForecaster(cfg)


@register_model("gru-forecaster", GRUForecasterConfig, "window forecaster GRU(50) -> Dense(1)")
def build_gru_forecaster(cfg: GRUForecasterConfig) -> WindowForecaster:
    return WindowForecaster(cfg)


@register_model("mlp-forecaster", MLPForecasterConfig, "window forecaster: flattened window -> MLP 64-64 -> Dense(1)")
def build_mlp_forecaster(cfg: MLPForecasterConfig) -> WindowForecaster:
    return WindowForecaster(cfg)
