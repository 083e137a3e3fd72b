"""Generated data sets that need no files: the noisy sinusoid of the curve-fitting lectures.

    t = sin(2πx) + ε,    ε ~ N(0, σ²),    x in [0, 1]

The course (after Bishop, *Pattern Recognition and Machine Learning*, §1.1) fits this curve from a handful of
noisy points to show under-fitting, over-fitting and what regularisation does about it. The training inputs are
drawn by stratified sampling, one uniform draw in each of the N equal bins of [0, 1], so that a small training
set has no large gap (each x is still uniform on its bin, the set as a whole covers [0, 1] the way Bishop's
evenly spaced points do); validation and test inputs are plain uniform draws. All three sets share the target
process and the noise level.

Shape legend: every split is (x, t) with x (N, 1) and t (N, 1), float32.
"""

from __future__ import annotations

import math

import torch

from neuralab.errors import ConfigError

Split = tuple[torch.Tensor, torch.Tensor]  # x (N, 1), t (N, 1)


def sinusoid(x: torch.Tensor) -> torch.Tensor:
    """The noise-free curve sin(2πx), elementwise."""
    return torch.sin(2 * math.pi * x)


def noisy_sinusoid(n_train: int = 15, n_val: int = 100, n_test: int = 200, noise: float = 0.3,
                   seed: int = 0) -> dict[str, Split]:
    """Train, validation and test sets from t = sin(2πx) + N(0, noise²), deterministic given `seed`.

    Args:
        n_train: training points (stratified: one in each of `n_train` equal bins of [0, 1]).
        n_val: validation points (x uniform on [0, 1]).
        n_test: test points (x uniform on [0, 1]).
        noise: standard deviation σ of the Gaussian noise on the targets.
        seed: seeds a private generator; the global RNG is neither used nor moved.

    Returns:
        `{"train": (x, t), "val": (x, t), "test": (x, t)}`.

    Shape:
        x (N, 1), t (N, 1) for each split, N = n_train, n_val, n_test.

    References:
        C. M. Bishop, Pattern Recognition and Machine Learning (2006), §1.1 "Polynomial curve fitting".
    """
    if min(n_train, n_val, n_test) < 1:
        raise ConfigError(f"every split needs at least one point, got n_train={n_train}, n_val={n_val}, "
                          f"n_test={n_test}")
    if noise < 0:
        raise ConfigError(f"noise must be >= 0, got {noise}")
    g = torch.Generator().manual_seed(int(seed))

    def targets(x: torch.Tensor) -> torch.Tensor:
        return sinusoid(x) + noise * torch.randn(x.shape, generator=g)

    # stratified: bin n holds x = (n + u) / N, u ~ U(0, 1)
    x_train = (torch.arange(n_train, dtype=torch.float32).unsqueeze(1) + torch.rand(n_train, 1, generator=g))
    x_train = x_train / n_train  # (n_train, 1)
    out = {"train": (x_train, targets(x_train))}
    for name, n in (("val", n_val), ("test", n_test)):
        x = torch.rand(n, 1, generator=g)  # (n, 1)
        out[name] = (x, targets(x))
    return out
