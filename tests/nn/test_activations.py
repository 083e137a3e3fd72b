"""Oracles for the hand-written activations: each function against torch's own, each derivative against
torch.autograd, on a grid that includes z = 0 and the saturated tails; and the derivative maxima of the course."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neuralab.nn import activations as A

TORCH_FN = {
    "sigmoid": F.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
}
NAMES = list(TORCH_FN)


def grid(dtype: torch.dtype) -> torch.Tensor:
    """[-10, 10] in steps of 0.01 (z = 0 exactly), tiny |z| and large |z| up to 1e4."""
    big = torch.tensor([1e-8, 1e-4, 15.0, 20.0, 30.0, 44.0, 50.0, 88.0, 89.0, 100.0, 500.0, 1e4])
    z = torch.cat([torch.arange(-1000, 1001) / 100, big, -big])
    return z.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NAMES)
def test_function_matches_torch(name: str, dtype: torch.dtype) -> None:
    z = grid(dtype)
    got = A.ACTIVATIONS[name][0](z)
    assert got.dtype == dtype and got.shape == z.shape
    assert torch.isfinite(got).all()
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(got, TORCH_FN[name](z), atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_autograd_of_torch_function(name: str, dtype: torch.dtype) -> None:
    z = grid(dtype).requires_grad_(True)
    TORCH_FN[name](z).sum().backward()
    got = A.ACTIVATIONS[name][1](z.detach())
    assert torch.isfinite(got).all()
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(got, z.grad, atol=tol, rtol=tol)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_autograd_of_hand_written_function(name: str) -> None:
    # away from ReLU's kink, where the one-sided derivatives differ and any subgradient is a convention
    z = grid(torch.float64)
    z = z[z != 0].requires_grad_(True)
    fn, grad, _ = A.ACTIVATIONS[name]
    fn(z).sum().backward()
    torch.testing.assert_close(grad(z.detach()), z.grad, atol=1e-12, rtol=1e-12)


def test_tanh_autograd_at_zero_is_one() -> None:
    z = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    A.tanh(z).sum().backward()
    assert z.grad.tolist() == [1.0, 1.0, 1.0]


def test_derivatives_at_the_kink_follow_torch() -> None:
    z = torch.zeros(1)
    assert A.relu_grad(z).item() == 0.0  # torch's relu' at 0
    assert A.leaky_relu_grad(z).item() == pytest.approx(0.01)  # torch's leaky_relu' at 0


@pytest.mark.parametrize(("name", "maximum", "argmax"), [("sigmoid", 0.25, 0.0), ("tanh", 1.0, 0.0)])
def test_derivative_maximum_of_the_smooth_activations(name: str, maximum: float, argmax: float) -> None:
    z = torch.arange(-1000, 1001, dtype=torch.float64) / 100
    d = A.ACTIVATIONS[name][1](z)
    assert d.max().item() == pytest.approx(maximum, abs=1e-15)
    assert z[d.argmax()].item() == argmax
    assert (d <= maximum).all()


def test_relu_family_derivatives() -> None:
    z = torch.tensor([-1e4, -3.0, -1e-6, 1e-6, 2.0, 1e4])
    assert A.relu_grad(z).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert A.leaky_relu_grad(z).tolist() == pytest.approx([0.01, 0.01, 0.01, 1.0, 1.0, 1.0])
    assert A.LEAKY_SLOPE == 0.01


def test_course_values() -> None:
    # sigmoid(0) = 1/2; sigmoid'(0) = 1/4; tanh'(z) = 1 - tanh²(z); sigmoid' saturates: sigmoid'(5) ≈ 0.0066
    z = torch.tensor([0.0, 1.0, 5.0], dtype=torch.float64)
    assert A.sigmoid(z)[0].item() == 0.5
    assert A.sigmoid_grad(z)[0].item() == 0.25
    torch.testing.assert_close(A.tanh_grad(z), 1 - torch.tanh(z) ** 2)
    assert A.sigmoid_grad(z)[2].item() == pytest.approx(0.006648, abs=1e-6)


def test_fast_tanh_module_matches_torch_tanh_values_and_gradients():
    import torch
    from torch import nn

    from neuralab.nn.activations import Tanh, activation_module

    assert isinstance(activation_module("tanh"), nn.Tanh)
    torch.manual_seed(0)
    x = (torch.randn(10_000) * 4).requires_grad_()
    y = Tanh()(x)
    ref = torch.tanh(x)
    assert (y - ref).abs().max() < 3e-7  # float32 on the CPU: 2σ(2x) − 1
    g = torch.randn(10_000)
    (gx,) = torch.autograd.grad(y, x, g)
    assert torch.allclose(gx, g * (1 - y.detach() ** 2), atol=1e-6)
    assert torch.equal(Tanh()(torch.tensor([-30.0, 0.0, 30.0])), torch.tensor([-1.0, 0.0, 1.0]))
    x64 = torch.randn(100, dtype=torch.float64)
    assert torch.equal(Tanh()(x64), torch.tanh(x64))  # other dtypes: torch.tanh itself
    with torch.no_grad():
        assert torch.equal(Tanh()(x.detach()), y.detach())
