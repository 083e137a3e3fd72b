"""Average pooling written as the convolution it is, for the channels-last maps where that is faster.

A K×K average pool with stride K is a depthwise convolution (groups = C) whose every kernel is the constant 1/K²:

    avg:  Y[b, c, i, j] = Σ_{m,n} X[b, c, i·K + m, j·K + n] · (1/K²)     = conv2d(X, 1/K², stride K, groups C)

(`neuralab.nn.conv` writes the pooling equations out; this module only chooses the faster of two exact ways to
compute them.) torch's channels-last average-pool kernel vectorises along the channels, so a map with fewer
channels than one AVX-512 vector (16 floats) runs it mostly scalar: LeNet-5's first pool, 6 channels of 28×28 in
a batch of 64, measured 200-230 µs forward and 186-210 µs backward, against 56-84 and 132-143 µs as the
depthwise convolution (oneDNN). With 16 channels (LeNet-5's second pool) torch's kernel is the faster one (24 +
29 µs against 48 + 95 µs), so `AvgPool2d` uses the convolution only below `CONV_BELOW_CHANNELS`.

Shape legend: x (B, C, H, W) -> (B, C, ⌊H/K⌋, ⌊W/K⌋).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CONV_BELOW_CHANNELS = 16  # channels-last maps with fewer channels pool as a depthwise convolution


class AvgPool2d(nn.AvgPool2d):
    """nn.AvgPool2d(kernel_size) (stride = kernel, no padding); computed as a depthwise convolution with the
    constant kernel 1/K² for channels-last float maps with fewer than CONV_BELOW_CHANNELS channels. Same values
    (up to float rounding) and gradients either way."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__(kernel_size)
        self._kernels: dict[tuple, torch.Tensor] = {}

    def _as_conv(self, x: torch.Tensor) -> bool:
        return (x.ndim == 4 and x.is_floating_point() and x.shape[1] < CONV_BELOW_CHANNELS
                and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._as_conv(x):
            return super().forward(x)
        k, C = int(self.kernel_size), x.shape[1]
        key = (C, x.dtype, x.device)
        w = self._kernels.get(key)
        if w is None:  # the constant kernel 1/K², one per channel: (C, 1, K, K)
            w = torch.full((C, 1, k, k), 1.0 / (k * k), dtype=x.dtype, device=x.device)
            self._kernels[key] = w = w.contiguous(memory_format=torch.channels_last)
        return F.conv2d(x, w, stride=k, groups=C)
