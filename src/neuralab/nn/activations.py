"""Activation functions and their derivatives, written from the course's equations.

    sigmoid(z)    = 1 / (1 + e^-z)           sigmoid'(z)    = sigmoid(z) (1 - sigmoid(z))
    tanh(z)       = (e^z - e^-z)/(e^z + e^-z) tanh'(z)      = 1 / cosh^2(z) = 1 - tanh^2(z)
    relu(z)       = max(0, z)                 relu'(z)       = 1 if z > 0 else 0
    leaky_relu(z) = z if z > 0 else a z       leaky_relu'(z) = 1 if z > 0 else a   (a = 0.01)

The derivatives are what backpropagation multiplies layer after layer: sigmoid' is at most 0.25, so a
product of many of them vanishes; relu' is 1 on the active side, so it does not. Each pair is tested
against torch.autograd.

Shape legend: every function is elementwise, any shape in, the same shape out.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from neuralab.errors import ConfigError

LEAKY_SLOPE = 0.01


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    # 1 / (1 + e^-z), for z < 0 multiplied through by e^z: e^z / (e^z + 1), the same value; either way only
    # e^-|z| <= 1 is computed, so neither the function nor its autograd overflows for large |z|.
    e = torch.exp(-torch.where(z >= 0, z, -z))  # e^-|z|, in (0, 1]
    return torch.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(z: torch.Tensor) -> torch.Tensor:
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z: torch.Tensor) -> torch.Tensor:
    # (e^z - e^-z) / (e^z + e^-z), divided through by e^|z|: (1 - e^-2|z|) / (1 + e^-2|z|) with the sign of z,
    # so no exponential overflows for large |z|; expm1 keeps the digits 1 - e^-2|z| would lose near z = 0.
    a = torch.where(z >= 0, z, -z)  # |z|, written so autograd sees slope 1 (not torch.abs's 0) at z = 0
    m = torch.expm1(-2.0 * a)  # e^-2|z| - 1, in (-1, 0]
    t = -m / (2.0 + m)
    return torch.where(z >= 0, t, -t)


def tanh_grad(z: torch.Tensor) -> torch.Tensor:
    return 1.0 / torch.cosh(z) ** 2


def relu(z: torch.Tensor) -> torch.Tensor:
    return torch.clamp(z, min=0.0)


def relu_grad(z: torch.Tensor) -> torch.Tensor:
    return (z > 0).to(z.dtype)


def leaky_relu(z: torch.Tensor, slope: float = LEAKY_SLOPE) -> torch.Tensor:
    return torch.where(z > 0, z, slope * z)


def leaky_relu_grad(z: torch.Tensor, slope: float = LEAKY_SLOPE) -> torch.Tensor:
    return torch.where(z > 0, torch.ones_like(z), torch.full_like(z, slope))


def _tanh_via_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x * 2.0).mul_(2.0).sub_(1.0)  # tanh(x) = 2σ(2x) − 1, in place after the sigmoid


class _SigmoidTanh(torch.autograd.Function):
    """tanh(x) = 2σ(2x) − 1 forward; torch's fused tanh' = 1 − tanh² backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = _tanh_via_sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


class Tanh(nn.Tanh):
    """nn.Tanh, computed as 2σ(2x) − 1 for float32 tensors on the CPU.

    torch's CPU tanh is several times slower than its sigmoid (measured 46 vs 7.6 µs for 16,384 values on one
    thread; 0.67 ms of a 3.75 ms lenet5 training step went to the first layer's tanh alone). The identity
    tanh(x) = 2σ(2x) − 1 is exact; in float32 it differs from torch.tanh by at most a few units of 1e-7 (the
    rounding of σ near 1/2), far below what training notices. Other dtypes and devices use torch.tanh.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32 and x.device.type == "cpu":
            return _SigmoidTanh.apply(x) if torch.is_grad_enabled() and x.requires_grad else _tanh_via_sigmoid(x)
        return torch.tanh(x)


# name -> (function, derivative, torch module used in models)
ACTIVATIONS: dict[str, tuple[Callable, Callable, Callable[[], nn.Module]]] = {
    "sigmoid": (sigmoid, sigmoid_grad, nn.Sigmoid),
    "tanh": (tanh, tanh_grad, Tanh),
    "relu": (relu, relu_grad, nn.ReLU),
    "leaky_relu": (leaky_relu, leaky_relu_grad, lambda: nn.LeakyReLU(LEAKY_SLOPE)),
    "identity": (lambda z: z, torch.ones_like, nn.Identity),
}


def activation_module(name: str) -> nn.Module:
    """The torch module for an activation name (`sigmoid|tanh|relu|leaky_relu|identity`)."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name][2]()
