"""Golden values of the course's convolution and pooling examples, and every hand-written operation in
`nn/conv.py` against numpy and torch.nn.functional."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuralab.errors import ConfigError
from neuralab.nn import conv

F64 = torch.float64


def t(values):
    return torch.tensor(values, dtype=F64)


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# ------------------------------------------------------------------------------------------ golden values
def test_course_1d_convolution_plan_times_patients():
    out = conv.convolve1d(t([3, 2, 1]), t([1, 2, 3, 4, 5]))
    assert out.tolist() == [3, 8, 14, 20, 26, 14, 5]
    assert conv.convolve1d(t([1, 2, 3, 4, 5]), t([3, 2, 1])).tolist() == out.tolist()  # commutative


def test_course_sliding_dot_product():
    out = conv.correlate1d(t([5, 3, 2, 5, 9, 7]), t([1, 2, 3]))
    assert out.tolist()[:2] == [17, 22]  # 5+6+6, 3+4+15: the course's two windows
    assert out.tolist() == [17, 22, 39, 44]


def test_convolution_is_correlation_with_the_kernel_flipped_and_they_differ():
    a, b = t([5, 3, 2, 5, 9, 7]), t([1, 2, 3])
    true_conv = conv.convolve1d(a, b, "valid")
    assert true_conv.tolist() == [23, 18, 25, 40]
    assert true_conv.tolist() != conv.correlate1d(a, b).tolist()
    assert torch.equal(true_conv, conv.correlate1d(a, b.flip(0)))
    # F.conv1d cross-correlates: it gives the correlation, and the convolution only with the kernel flipped.
    assert F.conv1d(a[None, None], b[None, None])[0, 0].tolist() == [17, 22, 39, 44]
    assert F.conv1d(a[None, None], b.flip(0)[None, None])[0, 0].tolist() == [23, 18, 25, 40]
    full = F.conv1d(t([1, 2, 3, 4, 5])[None, None], t([1, 2, 3])[None, None], padding=2)[0, 0]  # [3 2 1] flipped
    assert full.tolist() == [3, 8, 14, 20, 26, 14, 5]


def test_course_binary_image_with_x_filter():
    img = t([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]])
    filt = t([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
    out = conv.conv2d(img[None, None], filt[None, None])
    assert out[0, 0].tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    assert torch.equal(out, F.conv2d(img[None, None], filt[None, None]))


def test_course_rgb_example_with_bias():
    x = t([[[0, 0, 0], [0, 156, 155], [0, 153, 154]],
           [[0, 0, 0], [0, 167, 166], [0, 164, 165]],
           [[0, 0, 0], [0, 163, 162], [0, 160, 161]]])[None]  # (1, 3, 3, 3)
    w = t([[[-1, -1, 1], [0, 1, -1], [0, 1, 1]],
           [[1, 0, 0], [1, -1, -1], [1, 0, -1]],
           [[0, 1, 1], [0, 1, 0], [1, -1, 1]]])[None]  # (1, 3, 3, 3)
    per_channel = [float(conv.conv2d(x[:, c:c + 1], w[:, c:c + 1])) for c in range(3)]
    assert per_channel == [308, -498, 164]
    assert float(conv.conv2d(x, w, t([1]))) == -25
    assert float(F.conv2d(x, w, t([1]))) == -25
    # The same output from the 2×2 corners with the zero padding done by conv2d.
    assert float(conv.conv2d(x[:, :, 1:, 1:], w, t([1]), padding=1)[0, 0, 0, 0]) == -25


def test_sobel_on_the_step_image():
    step = t([[10, 10, 10, 0, 0, 0]] * 6)[None, None]
    gv, gh, mag = conv.sobel_edges(step, padding="valid")
    assert gv[0, 0].tolist() == [[0, 40, 40, 0]] * 4
    assert gh[0, 0].tolist() == [[0, 0, 0, 0]] * 4
    assert torch.equal(mag, gv)
    gv_top, gh_top, _ = conv.sobel_edges(step.transpose(-1, -2), padding="valid")
    assert gh_top[0, 0].tolist() == [[0, 0, 0, 0], [40, 40, 40, 40], [40, 40, 40, 40], [0, 0, 0, 0]]
    assert not gv_top.any()
    assert torch.equal(gv, F.conv2d(step, t(conv.SOBEL_VERTICAL)[None, None]))
    # True convolution flips the antisymmetric kernel into its negative.
    assert conv.convolve2d(step[0, 0], t(conv.SOBEL_VERTICAL)).tolist() == [[0, -40, -40, 0]] * 4
    assert conv.sobel_edges(step)[0].shape == (1, 1, 6, 6)  # 'same' keeps the size


POOL_GRID = [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]]


def test_course_max_and_average_pooling():
    grid = t(POOL_GRID)[None, None]
    mx = conv.max_pool2d(grid, 3, stride=1)
    av = conv.avg_pool2d(grid, 3, stride=1)
    assert mx[0, 0].tolist() == [[3, 3, 3], [3, 3, 3], [3, 2, 3]]
    assert torch.allclose(av[0, 0] * 9, t([[15, 15, 15], [9, 11, 16], [10, 7, 12]]), atol=1e-12)
    assert torch.equal(mx, F.max_pool2d(grid, 3, stride=1))
    assert torch.allclose(av, F.avg_pool2d(grid, 3, stride=1), atol=1e-15)


# ------------------------------------------------------------------------------------------ sizes and padding
@pytest.mark.parametrize(("n", "k", "s", "p", "d", "expected"),
                         [(5, 3, 1, 0, 1, 3), (6, 3, 1, 0, 1, 4), (7, 3, 2, 1, 1, 4), (32, 5, 1, 2, 1, 32),
                          (28, 2, 2, 0, 1, 14), (9, 3, 1, 0, 2, 5), (7, 4, 3, "same", 1, 3), (7, 3, 1, "valid", 1, 5)])
def test_output_size_formula(n, k, s, p, d, expected):
    assert conv.output_size(n, k, s, p, d) == expected
    if not isinstance(p, str):
        assert expected == math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1


@pytest.mark.parametrize(("n", "k", "s", "expected"),
                         [(5, 2, 1, (0, 1)), (5, 3, 1, (1, 1)), (7, 3, 2, (1, 1)), (6, 3, 2, (0, 1)),
                          (8, 4, 3, (1, 1)), (4, 1, 2, (0, 0)), (7, 4, 1, (1, 2)), (6, 2, 2, (0, 0))])
def test_same_padding_follows_tensorflow(n, k, s, expected):
    assert conv.same_padding(n, k, s) == expected
    before, after = expected
    assert (n + before + after - k) // s + 1 == math.ceil(n / s)


# ------------------------------------------------------------------------------------------ oracles: 1-D
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(("n", "m"), [(5, 3), (6, 4), (3, 5), (7, 1), (4, 4), (6, 2)])
def test_convolve1d_equals_numpy(mode, n, m):
    a, v = rand(n, seed=n), rand(m, seed=10 + m)
    np.testing.assert_allclose(conv.convolve1d(a, v, mode).numpy(), np.convolve(a.numpy(), v.numpy(), mode),
                               atol=1e-12)


@pytest.mark.parametrize(("n", "m"), [(6, 3), (7, 1), (5, 5), (8, 4)])
def test_correlate1d_equals_numpy(n, m):
    a, v = rand(n, seed=n), rand(m, seed=m)
    for mode in ("valid", "full"):
        np.testing.assert_allclose(conv.correlate1d(a, v, mode).numpy(), np.correlate(a.numpy(), v.numpy(), mode),
                                   atol=1e-12)
    same = conv.correlate1d(a, v, "same")
    assert same.shape == (n,)
    if m % 2:  # odd kernels centre the same way in numpy and in a CNN
        np.testing.assert_allclose(same.numpy(), np.correlate(a.numpy(), v.numpy(), "same"), atol=1e-12)
    else:  # even kernels: the extra zero goes at the end (numpy puts it at the start)
        ref = F.conv1d(F.pad(a[None, None], ((m - 1) // 2, m // 2)), v[None, None])[0, 0]
        torch.testing.assert_close(same, ref)


@pytest.mark.parametrize(("stride", "padding", "dilation", "bias"),
                         [(1, 0, 1, False), (2, 1, 1, True), (3, 2, 1, True), (1, 3, 2, True), (2, "valid", 1, False),
                          (1, "same", 1, True), (1, "same", 2, True)])
def test_conv1d_equals_torch(stride, padding, dilation, bias):
    x, w = rand(3, 4, 13, seed=1), rand(5, 4, 3, seed=2)
    b = rand(5, seed=3) if bias else None
    torch.testing.assert_close(conv.conv1d(x, w, b, stride, padding, dilation),
                               F.conv1d(x, w, b, stride, padding, dilation))


def test_conv1d_same_with_stride_and_even_kernel():
    x, w = rand(2, 3, 11, seed=4), rand(2, 3, 4, seed=5)
    out = conv.conv1d(x, w, stride=2, padding="same")
    assert out.shape[-1] == math.ceil(11 / 2)
    before, after = conv.same_padding(11, 4, 2)
    torch.testing.assert_close(out, F.conv1d(F.pad(x, (before, after)), w, stride=2))


# ------------------------------------------------------------------------------------------ oracles: 2-D
@pytest.mark.parametrize(("c_in", "c_out", "k", "stride", "padding", "dilation"),
                         [(1, 1, 3, 1, 0, 1), (3, 4, 3, 1, 1, 1), (3, 2, 5, 2, 2, 1), (2, 3, (3, 2), (2, 1), (1, 0), 1),
                          (4, 2, 3, 1, 2, 2), (3, 8, 1, 2, 0, 1), (2, 2, 4, 3, 1, (2, 1)), (3, 4, 3, 1, "valid", 1),
                          (3, 4, 3, 1, "same", 1), (3, 4, 4, 1, "same", 1), (2, 3, 2, 1, "same", 2)])
def test_conv2d_equals_torch(c_in, c_out, k, stride, padding, dilation):
    kh, kw = (k, k) if isinstance(k, int) else k
    x, w, b = rand(2, c_in, 11, 10, seed=c_in), rand(c_out, c_in, kh, kw, seed=c_out), rand(c_out, seed=7)
    for bias in (b, None):
        with warnings.catch_warnings():  # torch warns that even 'same' kernels copy the input
            warnings.simplefilter("ignore", UserWarning)
            ref = F.conv2d(x, w, bias, stride, padding, dilation)
        torch.testing.assert_close(conv.conv2d(x, w, bias, stride, padding, dilation), ref)


@pytest.mark.parametrize(("h", "w", "k", "s"), [(7, 7, 3, 2), (8, 9, 4, 3), (6, 6, 2, 2), (5, 8, 4, 2), (9, 7, 5, 4)])
def test_conv2d_same_padding_for_even_kernels_and_strides(h, w, k, s):
    x, wt = rand(2, 3, h, w, seed=h), rand(4, 3, k, k, seed=k)
    out = conv.conv2d(x, wt, stride=s, padding="same")
    assert out.shape[-2:] == (math.ceil(h / s), math.ceil(w / s))
    (top, bottom), (left, right) = conv.same_padding(h, k, s), conv.same_padding(w, k, s)
    assert bottom >= top and right >= left  # the odd zero goes at the bottom/right
    torch.testing.assert_close(out, F.conv2d(F.pad(x, (left, right, top, bottom)), wt, stride=s))


def test_conv2d_gradients_equal_torch():
    x, w, b = rand(2, 3, 6, 6, seed=1), rand(4, 3, 3, 3, seed=2), rand(4, seed=3)
    grads = []
    for fn in (conv.conv2d, F.conv2d):
        leaves = [v.clone().requires_grad_() for v in (x, w, b)]
        fn(*leaves, stride=2, padding=1).square().sum().backward()
        grads.append([v.grad for v in leaves])
    for mine, ref in zip(*grads, strict=True):
        torch.testing.assert_close(mine, ref)


@pytest.mark.parametrize(("k", "s", "p"), [(2, None, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0), ((3, 2), (2, 1), (1, 1)),
                                           (4, 3, 2)])
def test_pooling_equals_torch(k, s, p):
    x = rand(2, 3, 9, 8, seed=11)
    torch.testing.assert_close(conv.max_pool2d(x, k, s, p), F.max_pool2d(x, k, s, p))
    torch.testing.assert_close(conv.avg_pool2d(x, k, s, p), F.avg_pool2d(x, k, s, p))


def test_flatten_relu_softmax_equal_torch():
    x = rand(3, 2, 4, 5, seed=12)
    assert conv.flatten(x).shape == (3, 40)
    torch.testing.assert_close(conv.flatten(x), torch.flatten(x, 1))
    torch.testing.assert_close(conv.relu(x), F.relu(x))
    z = rand(4, 10, seed=13) * 5
    for dim in (-1, 0):
        torch.testing.assert_close(conv.softmax(z, dim), F.softmax(z, dim=dim))
    p = conv.softmax(z)
    assert (p > 0).all() and torch.allclose(p.sum(-1), torch.ones(4, dtype=F64))
    huge = t([[1000, 1001, 1002]])
    assert torch.isfinite(conv.softmax(huge)).all()
    torch.testing.assert_close(conv.softmax(huge), F.softmax(huge, dim=-1))


# ------------------------------------------------------------------------------------------ errors
def test_errors_say_what_was_received():
    x = rand(1, 3, 5, 5)
    with pytest.raises(ValueError, match="x has 3 channels but the kernels expect 2"):
        conv.conv2d(x, rand(4, 2, 3, 3))
    with pytest.raises(ConfigError, match="unknown padding 'samee'"):
        conv.conv2d(x, rand(4, 3, 3, 3), padding="samee")
    with pytest.raises(ValueError, match="does not fit the padded input 5x5"):
        conv.conv2d(x, rand(4, 3, 7, 7))
    with pytest.raises(ValueError, match=r"expects x \(B, C_in, H, W\)"):
        conv.conv2d(rand(3, 5, 5), rand(4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        conv.conv2d(x, rand(4, 3, 3, 3), rand(3))
    with pytest.raises(ConfigError, match="stride must be >= 1"):
        conv.conv2d(x, rand(4, 3, 3, 3), stride=0)
    with pytest.raises(ConfigError, match="pooling padding must be between 0 and half the window"):
        conv.max_pool2d(x, 2, padding=2)
    with pytest.raises(ConfigError, match="unknown mode 'wide'"):
        conv.convolve1d(t([1, 2]), t([1]), "wide")
