"""AvgPool2d: the depthwise-convolution path gives torch's average pool, values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neuralab.nn.pooling import CONV_BELOW_CHANNELS, AvgPool2d


@pytest.mark.parametrize("channels", [1, 6, CONV_BELOW_CHANNELS])
@pytest.mark.parametrize("channels_last", [True, False])
def test_avg_pool_equals_torch_values_and_gradients(channels, channels_last):
    torch.manual_seed(channels)
    x = torch.randn(3, channels, 9, 8)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    pool = AvgPool2d(2)
    assert pool._as_conv(x) == (channels_last and 1 < channels < CONV_BELOW_CHANNELS)  # C = 1 is also NCHW
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    ya, yb = pool(a), F.avg_pool2d(b, 2)  # 9x8 -> 4x4: the odd row is dropped, as torch's floor
    assert ya.shape == yb.shape == (3, channels, 4, 4)
    assert torch.allclose(ya, yb, atol=1e-6)
    g = torch.randn_like(yb)
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-6)


def test_lenet5_first_pool_takes_the_convolution_path():
    import neuralab

    model = neuralab.get_model("lenet5").to(memory_format=torch.channels_last)
    x = torch.rand(2, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    f = model.features
    assert f.pool1._as_conv(f.act1(f.conv1(x)))  # 6 channels
