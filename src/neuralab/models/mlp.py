"""Multi-layer perceptron: the fully connected network of the backpropagation lectures.

    h_0 = x,   h_l = g(W_l h_{l-1} + b_l)  for l = 1..L-1,   y = g_out(W_L h_{L-1} + b_L)

Shape legend: x (B, in_features) -> y (B, out_features).

References:
    Course topics "Backpropagation", "Activation functions", "Regularization (dropout)".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from neuralab.models.registry import register_model
from neuralab.nn.activations import ACTIVATIONS, activation_module


@dataclass
class MLPConfig:
    """Configuration of `mlp`.

    Attributes:
        in_features: input width.
        hidden: widths of the hidden layers (empty tuple: a linear model).
        out_features: output width.
        activation: hidden activation (`sigmoid|tanh|relu|leaky_relu|identity`).
        out_activation: activation on the output (`identity` for logits / regression).
        dropout: dropout probability after each hidden activation (inverted dropout, 0 disables).
    """

    in_features: int = 2
    hidden: tuple[int, ...] = (16,)
    out_features: int = 1
    activation: str = "relu"
    out_activation: str = "identity"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.in_features < 1 or self.out_features < 1 or any(h < 1 for h in self.hidden):
            raise ValueError(f"layer widths must be >= 1, got in={self.in_features} hidden={self.hidden} "
                             f"out={self.out_features}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for act in (self.activation, self.out_activation):
            if act not in ACTIVATIONS:
                raise ValueError(f"unknown activation {act!r}; expected one of {', '.join(ACTIVATIONS)}")

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        return torch.randn(batch_size, self.in_features)


class MLP(nn.Module):
    """Fully connected network; `self.linears` lists the affine layers in order (for per-layer analysis)."""

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        widths = [cfg.in_features, *cfg.hidden, cfg.out_features]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            last = i == len(widths) - 2
            layers.append(activation_module(cfg.out_activation if last else cfg.activation))
            if not last and cfg.dropout > 0:
                layers.append(nn.Dropout(cfg.dropout))
        self.net = nn.Sequential(*layers)

    @property
    def linears(self) -> list[nn.Linear]:
        return [m for m in self.net if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, in) -> (B, out)


@register_model("mlp", MLPConfig, "multi-layer perceptron (any depth, activation and dropout)")
def build_mlp(cfg: MLPConfig) -> MLP:
    return MLP(cfg)
