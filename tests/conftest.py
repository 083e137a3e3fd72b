"""Shared fixtures: tiny generated data sets that train in milliseconds on a 2-core CPU."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

# Tiny models gain nothing from intra-op threads, and on a busy 2-core machine the thread hand-offs dominate
# (measured: a 20-epoch fit of a 4-32-16-1 MLP took 0.2-0.5 s with one thread, 8-9 s with two, while other
# test processes were running).
torch.set_num_threads(1)

Split = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@pytest.fixture
def tiny_regression() -> Callable[..., Split]:
    """Factory: `tiny_regression(n_train=64, n_val=32, features=4, seed=0)` ->
    (x_train, y_train, x_val, y_val), y = sin(x·w) + 0.1·noise, shapes (N, features) and (N, 1).

    Drawn from its own generator, so it neither depends on nor moves the global RNG.
    """

    def make(n_train: int = 64, n_val: int = 32, features: int = 4, seed: int = 0) -> Split:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n_train + n_val, features, generator=g)
        w = torch.randn(features, 1, generator=g)
        y = torch.sin(x @ w) + 0.1 * torch.randn(n_train + n_val, 1, generator=g)
        return x[:n_train], y[:n_train], x[n_train:], y[n_train:]

    return make


@pytest.fixture
def tiny_classification() -> Callable[..., Split]:
    """Factory: `tiny_classification(n_train=96, n_val=48, features=4, classes=3, seed=0)` ->
    (x_train, y_train, x_val, y_val): Gaussian blobs around random centres; y holds int64 class indices (N,).
    """

    def make(n_train: int = 96, n_val: int = 48, features: int = 4, classes: int = 3, seed: int = 0) -> Split:
        g = torch.Generator().manual_seed(seed)
        n = n_train + n_val
        centres = 2.0 * torch.randn(classes, features, generator=g)
        y = torch.randint(0, classes, (n,), generator=g)
        x = centres[y] + torch.randn(n, features, generator=g)
        return x[:n_train], y[:n_train], x[n_train:], y[n_train:]

    return make


@pytest.fixture
def shared_data() -> Path:
    """The shared real-data folder ($NEURALAB_DATA or ../shared/data beside the repository); skips when absent."""
    root = Path(os.environ.get("NEURALAB_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (set NEURALAB_DATA)")
    return root
