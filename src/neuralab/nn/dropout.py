"""Inverted dropout, written from its equation (course topic "Regularization: dropout").

Training:   m_i ~ Bernoulli(1 - p)  independently for every unit i,    y = m ⊙ x / (1 - p)
Evaluation: y = x

Each unit is dropped (set to 0) with probability p and every kept unit is scaled by 1/(1 - p), so that

    E[y_i] = (1 - p) · x_i / (1 - p) = x_i

the expected activation during training equals the activation at evaluation: the network trained with dropout
is used at test time unchanged, with no rescaling of the weights ("inverted" dropout; the original paper scaled
the weights by 1 - p at test time instead). `torch.nn.Dropout` implements the same rule; the tests check the
expectation, the exact 1/(1 - p) scale, the dropped fraction against `torch.nn.functional.dropout`, and that
evaluation is the identity.

Shape legend: elementwise, any shape in, the same shape out.

References:
    N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever, R. Salakhutdinov, "Dropout: a simple way to prevent
    neural networks from overfitting", JMLR 15 (2014).
"""

from __future__ import annotations

import torch
from torch import nn

from neuralab.errors import ConfigError


def _check_p(p: float) -> float:
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ConfigError(f"dropout probability p must be in [0, 1), got {p}")
    return p


def dropout_mask(shape: torch.Size | tuple[int, ...], p: float, *, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The keep mask m ~ Bernoulli(1 - p): 1 for a kept unit, 0 for a dropped one.

    Args:
        shape: the mask's shape (that of the activations).
        p: the probability of dropping a unit, in [0, 1).
        generator: the random generator to draw from (default: torch's global one).
        device, dtype: of the mask.

    Returns:
        A tensor of 0s and 1s of `shape`.
    """
    p = _check_p(p)
    # the same draw torch's CPU dropout makes (empty tensor, bernoulli_ with the keep probability)
    return torch.empty(shape, device=device, dtype=dtype).bernoulli_(1.0 - p, generator=generator)


def inverted_dropout(x: torch.Tensor, p: float = 0.5, training: bool = True,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverted dropout: y = m ⊙ x / (1 - p) with m ~ Bernoulli(1 - p) in training, y = x in evaluation.

    Args:
        x: activations, any shape.
        p: the probability of dropping each unit, in [0, 1).
        training: draw a mask (True) or return `x` unchanged (False).
        generator: the random generator for the mask (default: torch's global one).

    Returns:
        The dropped-out, rescaled activations (training) or `x` itself (evaluation, or p = 0).

    Shape:
        x (*) -> y (*), the same shape.
    """
    p = _check_p(p)
    if not training or p == 0.0:
        return x
    m = dropout_mask(x.shape, p, generator=generator, device=x.device, dtype=x.dtype)
    return x * m / (1.0 - p)


class InvertedDropout(nn.Module):
    """`inverted_dropout` as a layer: stochastic in `model.train()`, the identity in `model.eval()`."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _check_p(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return inverted_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
