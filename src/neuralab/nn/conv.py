"""Convolution, pooling and the CNN's output layer, written out from the course's equations.

1-D convolution (with the flip) and the sliding dot product (cross-correlation, no flip):

    (a ∗ v)[n] = Σ_k a[k] · v[n − k]                 n = 0 .. N + M − 2           ('full')
    (a ⋆ v)[n] = Σ_k a[n + k] · v[k]                 n = 0 .. N − M               ('valid')
    a ∗ v      = a ⋆ flip(v)                         (convolution = correlation with the kernel reversed)

A CNN layer computes the correlation (`torch.nn.functional.conv1d/conv2d` do too); since its kernel is learnt,
whether it is called flipped or not makes no difference to what the network can represent.

2-D convolution layer (cross-correlation), C_in channels summed, one bias per output channel:

    Y[b, o, i, j] = bias[o] + Σ_c Σ_m Σ_n  X̃[b, c, i·S + m·D, j·S + n·D] · W[o, c, m, n]

where X̃ is X zero-padded by P. The output size along each axis is

    out = ⌊(in + 2P − D·(K − 1) − 1) / S⌋ + 1          (= ⌊(in + 2P − K)/S⌋ + 1 when D = 1)

'valid' means P = 0; 'same' means out = ⌈in / S⌉, reached with TensorFlow's rule
total pad = max((⌈in/S⌉ − 1)·S + D·(K − 1) + 1 − in, 0), split with the extra pixel at the end (bottom/right).

Pooling (window K, stride S, default S = K):

    max:  Y[b, c, i, j] = max_{m,n} X̃[b, c, i·S + m, j·S + n]          (padding with −∞: never the max)
    avg:  Y[b, c, i, j] = 1/(K_h·K_w) Σ_{m,n} X̃[b, c, i·S + m, j·S + n] (padding with 0, counted, as torch)

Then flatten (B, C, H, W) → (B, C·H·W), ReLU max(0, z), and the softmax output p_k = e^{z_k} / Σ_j e^{z_j}.

Every sum above is computed as "shift and add": one loop over the K_h·K_w kernel offsets (m, n), each adding
a strided slice of the padded input times one kernel tap. That is the equation read literally, vectorised
over the batch, channels and output positions, and fast enough for real images.

Shape legend: B batch, C / C_in input channels, O / C_out output channels, H × W image, K_h × K_w kernel,
L signal length, M kernel length, OH × OW output. Images are batch first, (B, C, H, W); kernels (O, C, K_h, K_w)
as in torch. 1-D vector helpers (`convolve1d`, `correlate1d`) take plain (N,) and (M,) tensors.

References:
    Course topic "Convolutional neural networks" (the 1-D dosing example, the binary-image and RGB examples,
    Sobel edges, padding/stride, pooling); Dumoulin & Visin, "A guide to convolution arithmetic for deep
    learning", 2016; TensorFlow's `tf.nn.convolution` padding documentation.
"""

from __future__ import annotations

import math

import torch

from neuralab.errors import ConfigError
from neuralab.nn.activations import relu

__all__ = [
    "SOBEL_HORIZONTAL", "SOBEL_VERTICAL", "avg_pool2d", "conv1d", "conv2d", "convolve1d", "convolve2d",
    "correlate1d", "flatten", "max_pool2d", "output_size", "relu", "same_padding", "sobel_edges", "softmax",
]

Padding1d = int | tuple[int, int] | str
Padding2d = int | tuple[int, int] | str

# Sobel kernels, named by the edges they find (applied as a CNN applies them: cross-correlation).
# SOBEL_VERTICAL responds to a change from left to right (bright left → positive), i.e. a vertical edge;
# SOBEL_HORIZONTAL is its transpose and responds to a change from top to bottom (bright top → positive).
SOBEL_VERTICAL = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))
SOBEL_HORIZONTAL = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))


# ------------------------------------------------------------------------------------------- sizes and padding
def output_size(n_in: int, kernel: int, stride: int = 1, padding: int | str = 0, dilation: int = 1) -> int:
    """out = ⌊(in + 2P − D·(K − 1) − 1)/S⌋ + 1, the length of a convolution's or pooling's output.

    Args:
        n_in: input length along one axis.
        kernel: kernel (window) size K.
        stride: step S between windows.
        padding: P zeros on each side, or 'valid' (P = 0) or 'same' (out = ⌈in/S⌉, padding as TensorFlow).
        dilation: spacing D between kernel taps (1 = contiguous).

    Returns:
        The output length (≥ 0; 0 when the kernel does not fit).
    """
    if isinstance(padding, str):
        before, after = _named_padding(padding, n_in, kernel, stride, dilation)
        return max((n_in + before + after - dilation * (kernel - 1) - 1) // stride + 1, 0)
    return max((n_in + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1, 0)


def same_padding(n_in: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """(before, after) zeros for 'same' output size ⌈in/S⌉ (TensorFlow's rule; the odd pixel goes after).

    total = max((⌈in/S⌉ − 1)·S + D·(K − 1) + 1 − in, 0), before = ⌊total/2⌋, after = total − before.
    """
    span = dilation * (kernel - 1) + 1
    total = max((math.ceil(n_in / stride) - 1) * stride + span - n_in, 0)
    return total // 2, total - total // 2


def _named_padding(name: str, n_in: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    if name == "valid":
        return 0, 0
    if name == "same":
        return same_padding(n_in, kernel, stride, dilation)
    if name == "full":
        return dilation * (kernel - 1), dilation * (kernel - 1)
    raise ConfigError(f"unknown padding {name!r}; expected 'valid', 'same', 'full' or a number of pixels")


def _pair(value: int | tuple[int, int], what: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ConfigError(f"{what} must be an int or a pair of ints, got {value!r}")
    return pair  # type: ignore[return-value]


def _check_positive(**values: tuple[int, ...]) -> None:
    for name, v in values.items():
        if min(v) < 1:
            raise ConfigError(f"{name} must be >= 1, got {v}")


def _resolve_padding(padding: Padding2d, sizes: tuple[int, ...], kernel: tuple[int, ...],
                     stride: tuple[int, ...], dilation: tuple[int, ...]) -> list[tuple[int, int]]:
    """(before, after) per spatial axis from an int, a per-axis tuple, or 'valid' / 'same' / 'full'."""
    if isinstance(padding, str):
        return [_named_padding(padding, n, k, s, d) for n, k, s, d in zip(sizes, kernel, stride, dilation,
                                                                           strict=True)]
    per_axis = (padding,) * len(sizes) if isinstance(padding, int) else tuple(padding)
    if len(per_axis) != len(sizes) or not all(isinstance(p, int) and p >= 0 for p in per_axis):
        raise ConfigError(f"padding must be a non-negative int, {len(sizes)} of them, or 'valid'/'same', "
                          f"got {padding!r}")
    return [(p, p) for p in per_axis]


def pad2d(x: torch.Tensor, top: int, bottom: int, left: int, right: int, value: float = 0.0) -> torch.Tensor:
    """X surrounded by rows/columns of `value`. Shape: (..., H, W) → (..., top + H + bottom, left + W + right)."""
    h, w = x.shape[-2:]
    out = x.new_full((*x.shape[:-2], top + h + bottom, left + w + right), value)
    out[..., top:top + h, left:left + w] = x
    return out


# ------------------------------------------------------------------------------------------------------- 1-D
def convolve1d(a: torch.Tensor, v: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """True convolution (a ∗ v)[n] = Σ_k a[k]·v[n − k], with the flip, as `numpy.convolve`.

    Read as the course's dosing example: a[k] patients start on day k, each takes plan v over the following
    days, so day n's total is Σ_k a[k]·v[n − k]: every input sample adds a scaled copy of the kernel.

    Args:
        a: first signal, shape (N,).
        v: second signal (kernel), shape (M,). Convolution is commutative: the order does not matter.
        mode: 'full' (length N + M − 1), 'same' (length max(N, M), centred as numpy) or 'valid'
            (length max(N, M) − min(N, M) + 1: only where the signals overlap completely).

    Returns:
        The convolution, shape as given by `mode`.
    """
    if a.ndim != 1 or v.ndim != 1 or len(a) == 0 or len(v) == 0:
        raise ValueError(f"convolve1d takes two non-empty 1-D tensors, got shapes {tuple(a.shape)}, "
                         f"{tuple(v.shape)}")
    n, m = len(a), len(v)
    out = torch.zeros(n + m - 1, dtype=torch.result_type(a, v), device=a.device)
    for k in range(n):
        out[k:k + m] += a[k] * v  # sample k scatters a[k]·v onto positions k .. k + M − 1
    short, long = min(n, m), max(n, m)
    if mode == "full":
        return out
    if mode == "valid":
        return out[short - 1:long]
    if mode == "same":
        start = (short - 1) // 2
        return out[start:start + long]
    raise ConfigError(f"unknown mode {mode!r}; expected 'full', 'same' or 'valid'")


def correlate1d(a: torch.Tensor, v: torch.Tensor, mode: str = "valid") -> torch.Tensor:
    """The sliding dot product (a ⋆ v)[n] = Σ_k a[n + k]·v[k] (no flip) — what a CNN layer computes.

    Args:
        a: signal, shape (N,).
        v: kernel, shape (M,).
        mode: 'valid' (length N − M + 1), 'full' (M − 1 zeros each side, as `numpy.correlate`) or 'same'
            (length N, CNN padding: for even M the extra zero goes at the end, where numpy puts it at the start).

    Returns:
        The correlation, shape as given by `mode`.
    """
    if a.ndim != 1 or v.ndim != 1:
        raise ValueError(f"correlate1d takes two 1-D tensors, got shapes {tuple(a.shape)}, {tuple(v.shape)}")
    if mode not in ("valid", "same", "full"):
        raise ConfigError(f"unknown mode {mode!r}; expected 'full', 'same' or 'valid'")
    return conv1d(a[None, None], v[None, None], padding=mode)[0, 0]  # (N,) -> (1, 1, N) and back


def conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
           padding: Padding1d = 0, dilation: int = 1) -> torch.Tensor:
    """A 1-D convolution layer (cross-correlation), Y[b, o, i] = bias[o] + Σ_c Σ_m X̃[b, c, i·S + m·D]·W[o, c, m].

    The same numbers as `torch.nn.functional.conv1d`; a true convolution is this with `weight.flip(-1)`.

    Args:
        x: input, shape (B, C_in, L).
        weight: kernels, shape (C_out, C_in, M).
        bias: one per output channel, shape (C_out,), or None.
        stride: step S.
        padding: zeros each side (int), (before, after), or 'valid' / 'same' (out = ⌈L/S⌉) / 'full'.
        dilation: spacing D between taps.

    Returns:
        Shape (B, C_out, L_out) with L_out = `output_size(L, M, S, P, D)`.
    """
    if x.ndim != 3 or weight.ndim != 3:
        raise ValueError(f"conv1d expects x (B, C_in, L) and weight (C_out, C_in, M), got {tuple(x.shape)} "
                         f"and {tuple(weight.shape)}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but the kernels expect {weight.shape[1]}")
    _check_positive(stride=(stride,), dilation=(dilation,))
    m = weight.shape[-1]
    if isinstance(padding, tuple):
        before, after = padding
    elif isinstance(padding, str):
        before, after = _named_padding(padding, x.shape[-1], m, stride, dilation)
    else:
        before = after = padding
    if min(before, after) < 0:
        raise ConfigError(f"padding must be >= 0, got {padding!r}")
    xp = pad2d(x, 0, 0, before, after)  # pads the last axis only: (B, C_in, L + P_b + P_a)
    n_out = (xp.shape[-1] - dilation * (m - 1) - 1) // stride + 1
    if n_out < 1:
        raise ValueError(f"kernel of length {m} (dilation {dilation}) does not fit a padded input of length "
                         f"{xp.shape[-1]}")
    y = x.new_zeros(x.shape[0], weight.shape[0], n_out)
    for k in range(m):
        start = k * dilation
        window = xp[:, :, start:start + stride * (n_out - 1) + 1:stride]  # (B, C_in, L_out): tap k of every window
        y = y + torch.einsum("bcl,oc->bol", window, weight[:, :, k])
    if bias is not None:
        y = y + bias[None, :, None]
    return y


# ------------------------------------------------------------------------------------------------------- 2-D
def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride: int | tuple[int, int] = 1, padding: Padding2d = 0,
           dilation: int | tuple[int, int] = 1) -> torch.Tensor:
    """A 2-D convolution layer: Y[b, o, i, j] = bias[o] + Σ_c Σ_m Σ_n X̃[b, c, i·S + m·D, j·S + n·D]·W[o, c, m, n].

    The same numbers as `torch.nn.functional.conv2d` (which, like every CNN layer, cross-correlates);
    padding='same' also works with strides and even kernels (TensorFlow's rule, extra zero at bottom/right).

    Args:
        x: images, shape (B, C_in, H, W).
        weight: kernels, shape (C_out, C_in, K_h, K_w).
        bias: one per output channel, shape (C_out,), or None.
        stride: S, an int or (S_h, S_w).
        padding: zeros each side (int or (P_h, P_w)), or 'valid' / 'same' (out = ⌈in/S⌉) / 'full'.
        dilation: D, an int or (D_h, D_w).

    Returns:
        Shape (B, C_out, OH, OW), OH = `output_size(H, K_h, S_h, P_h, D_h)` and likewise OW.
    """
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d expects x (B, C_in, H, W) and weight (C_out, C_in, K_h, K_w), got "
                         f"{tuple(x.shape)} and {tuple(weight.shape)}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but the kernels expect {weight.shape[1]}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"bias must have shape ({weight.shape[0]},), one per output channel, got "
                         f"{tuple(bias.shape)}")
    kh, kw = weight.shape[-2:]
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    _check_positive(stride=(sh, sw), dilation=(dh, dw))
    (top, bottom), (left, right) = _resolve_padding(padding, tuple(x.shape[-2:]), (kh, kw), (sh, sw), (dh, dw))
    xp = pad2d(x, top, bottom, left, right)  # (B, C_in, H + P_t + P_b, W + P_l + P_r)
    oh = (xp.shape[-2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[-1] - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"kernel {kh}x{kw} (dilation {dh}x{dw}) does not fit the padded input "
                         f"{xp.shape[-2]}x{xp.shape[-1]}")
    y = x.new_zeros(x.shape[0], weight.shape[0], oh, ow)
    for m in range(kh):
        for n in range(kw):
            r, c = m * dh, n * dw
            # X̃[:, :, i·S + m·D, j·S + n·D] for every output (i, j): (B, C_in, OH, OW)
            window = xp[:, :, r:r + sh * (oh - 1) + 1:sh, c:c + sw * (ow - 1) + 1:sw]
            y = y + torch.einsum("bchw,oc->bohw", window, weight[:, :, m, n])
    if bias is not None:
        y = y + bias[None, :, None, None]
    return y


def convolve2d(image: torch.Tensor, kernel: torch.Tensor, padding: Padding2d = "valid") -> torch.Tensor:
    """True 2-D convolution of one image with one kernel: correlation with the kernel flipped on both axes.

    Shape: image (H, W), kernel (K_h, K_w) → (OH, OW).
    """
    return conv2d(image[None, None], kernel.flip(0, 1)[None, None], padding=padding)[0, 0]


def sobel_edges(images: torch.Tensor, padding: Padding2d = "same") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Vertical-edge map G_v, horizontal-edge map G_h and magnitude √(G_v² + G_h²) of grey images.

    Args:
        images: shape (B, 1, H, W).
        padding: as `conv2d` ('same' keeps H × W; 'valid' avoids false edges at the zero-padded border).

    Returns:
        (G_v, G_h, magnitude), each (B, 1, OH, OW).
    """
    kernels = torch.tensor([SOBEL_VERTICAL, SOBEL_HORIZONTAL], dtype=images.dtype, device=images.device)
    g = conv2d(images, kernels[:, None], padding=padding)  # (2, 1, 3, 3) kernels -> (B, 2, OH, OW)
    gv, gh = g[:, :1], g[:, 1:]
    return gv, gh, torch.sqrt(gv**2 + gh**2)


# --------------------------------------------------------------------------------------------------- pooling
def _pool(x: torch.Tensor, kernel: int | tuple[int, int], stride: int | tuple[int, int] | None, padding: int,
          pad_value: float, combine: str) -> torch.Tensor:
    if x.ndim != 4:
        raise ValueError(f"pooling expects (B, C, H, W), got shape {tuple(x.shape)}")
    kh, kw = _pair(kernel, "kernel")
    sh, sw = _pair(stride if stride is not None else (kh, kw), "stride")
    ph, pw = _pair(padding, "padding")
    _check_positive(kernel=(kh, kw), stride=(sh, sw))
    if ph > kh // 2 or pw > kw // 2 or min(ph, pw) < 0:
        raise ConfigError(f"pooling padding must be between 0 and half the window ({kh}x{kw}), got {padding}")
    xp = pad2d(x, ph, ph, pw, pw, value=pad_value)  # (B, C, H + 2P_h, W + 2P_w)
    oh = (xp.shape[-2] - kh) // sh + 1
    ow = (xp.shape[-1] - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"window {kh}x{kw} does not fit the padded input {xp.shape[-2]}x{xp.shape[-1]}")
    y = None
    for m in range(kh):
        for n in range(kw):
            window = xp[:, :, m:m + sh * (oh - 1) + 1:sh, n:n + sw * (ow - 1) + 1:sw]  # (B, C, OH, OW)
            if y is None:
                y = window.clone()
            elif combine == "max":
                y = torch.maximum(y, window)
            else:
                y = y + window
    return y if combine == "max" else y / (kh * kw)


def max_pool2d(x: torch.Tensor, kernel: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
               padding: int = 0) -> torch.Tensor:
    """Max pooling, Y[b, c, i, j] = max_{m,n} X̃[b, c, i·S + m, j·S + n] (as `torch.nn.functional.max_pool2d`).

    Args:
        x: shape (B, C, H, W).
        kernel: window K (int or (K_h, K_w)).
        stride: S; default K (non-overlapping windows).
        padding: P each side (at most K/2), filled with −∞ so it is never the maximum.

    Returns:
        Shape (B, C, OH, OW), OH = ⌊(H + 2P − K)/S⌋ + 1.
    """
    return _pool(x, kernel, stride, padding, float("-inf"), "max")


def avg_pool2d(x: torch.Tensor, kernel: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
               padding: int = 0) -> torch.Tensor:
    """Average pooling, Y = 1/(K_h·K_w) Σ_{m,n} X̃[b, c, i·S + m, j·S + n] (as `torch.nn.functional.avg_pool2d`).

    Args:
        x: shape (B, C, H, W).
        kernel: window K (int or (K_h, K_w)).
        stride: S; default K.
        padding: P each side (at most K/2), zeros that count in the average (torch's `count_include_pad=True`).

    Returns:
        Shape (B, C, OH, OW), OH = ⌊(H + 2P − K)/S⌋ + 1.
    """
    return _pool(x, kernel, stride, padding, 0.0, "avg")


# ----------------------------------------------------------------------------------------- the output layer
def flatten(x: torch.Tensor) -> torch.Tensor:
    """Feature maps to one vector per example, channel by channel, row by row: (B, C, H, W) → (B, C·H·W)."""
    return x.reshape(x.shape[0], -1)


def softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """p_k = e^{z_k} / Σ_j e^{z_j} along `dim`; positive, summing to 1 (the class probabilities).

    Subtracting max z first changes nothing mathematically (it cancels in the ratio) but keeps e^z finite.
    """
    e = torch.exp(z - z.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)
