"""The convolutional LSTM (Shi et al. 2015): the LSTM cell with its matrix products replaced by convolutions.

Equations (course topic "ConvLSTM"; ∗ is a 2-D convolution, ∘ the element-wise product):

    i_t = σ(W_xi ∗ X_t + W_hi ∗ H_{t−1} + b_i)            input gate
    f_t = σ(W_xf ∗ X_t + W_hf ∗ H_{t−1} + b_f)            forget gate
    g_t = tanh(W_xc ∗ X_t + W_hc ∗ H_{t−1} + b_c)          candidate cell state (C̃_t)
    C_t = f_t ∘ C_{t−1} + i_t ∘ g_t
    o_t = σ(W_xo ∗ X_t + W_ho ∗ H_{t−1} + b_o)            output gate
    H_t = o_t ∘ tanh(C_t)

Since W_x ∗ X + W_h ∗ H = W ∗ [X, H] (a convolution is linear in its input channels), `ConvLSTMCell` computes
all four gates with ONE convolution over the channel concatenation [X_t, H_{t−1}] with 4·F output channels,
stacked in the order i, f, g, o. `ConvLSTMCell.gate_weights()` splits that kernel back into the eight W_x·/W_h·
kernels of the equations (the test checks the fused cell against a gate-by-gate evaluation of them).

`ConvLSTM` runs the cell over a frame sequence. By default (`fused_input=True`) it uses the same linearity once
more: the input half of the kernel is applied to all T frames in one batched convolution before the loop, so
each step convolves H_{t−1} only (the same numbers as stepping the cell; a test checks it).

Shape legend: B batch, T frames, C input channels, F filters (hidden channels), H×W frame size.
    frames x (B, T, C, H, W) -> sequences (B, T, F, H, W) or last H_T (B, F, H, W); state (h, c) each (B, F, H, W).

References:
    X. Shi, Z. Chen, H. Wang, D.-Y. Yeung, W.-K. Wong, W.-C. Woo, "Convolutional LSTM network: a machine learning
    approach for precipitation nowcasting", NeurIPS 2015. Keras `ConvLSTM2D` (padding="same").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.errors import ConfigError

State = tuple[torch.Tensor, torch.Tensor]
GATES = ("i", "f", "g", "o")  # the stacking order of the fused kernel's output channels


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step, all four gates from one convolution over [X_t, H_{t−1}].

    Args:
        in_channels: C, channels of each input frame.
        hidden_channels: F, the number of filters (channels of H and C).
        kernel_size: odd side of the square kernel ('same' padding keeps the frame size).
        bias: learn the gate biases b_i, b_f, b_c, b_o.
        forget_bias: initial value of b_f (1, as Keras' unit_forget_bias: remember by default).

    Shape:
        x (B, C, H, W), state (h_prev, c_prev) each (B, F, H, W) or None (zeros) -> (h, c) each (B, F, H, W).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3, bias: bool = True,
                 forget_bias: float = 1.0) -> None:
        super().__init__()
        if in_channels < 1 or hidden_channels < 1:
            raise ConfigError(f"ConvLSTMCell needs in_channels, hidden_channels >= 1, got {in_channels}, "
                              f"{hidden_channels}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f"ConvLSTMCell kernel_size must be odd and >= 1 ('same' padding), got {kernel_size}")
        self.in_channels, self.hidden_channels, self.kernel_size = in_channels, hidden_channels, kernel_size
        # W = [W_x | W_h] along input channels; output channels stacked i, f, g, o (F each)
        self.conv = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size,
                              padding=kernel_size // 2, bias=bias)
        if bias:
            with torch.no_grad():
                self.conv.bias.zero_()
                self.conv.bias[hidden_channels:2 * hidden_channels].fill_(forget_bias)

    def init_state(self, x: torch.Tensor) -> State:
        """Zero (h, c) for a batch of frames x (B, C, H, W)."""
        B, _, H, W = x.shape
        z = x.new_zeros(B, self.hidden_channels, H, W)
        return z, z.clone()

    def gates_from(self, z: torch.Tensor, c_prev: torch.Tensor) -> State:
        """(h, c) from the pre-activations z (B, 4F, H, W) = W ∗ [X_t, H_{t−1}] + b."""
        i, f, g, o = z.chunk(4, dim=1)  # each (B, F, H, W)
        c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)  # C_t = f_t∘C_{t−1} + i_t∘g_t
        h = torch.sigmoid(o) * torch.tanh(c)  # H_t = o_t∘tanh(C_t)
        return h, c

    def forward(self, x: torch.Tensor, state: State | None = None) -> State:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ConfigError(f"ConvLSTMCell expects frames (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h_prev, c_prev = state if state is not None else self.init_state(x)
        z = self.conv(torch.cat([x, h_prev], dim=1))  # one convolution for the four gates: (B, 4F, H, W)
        return self.gates_from(z, c_prev)

    def gate_weights(self) -> dict[str, torch.Tensor]:
        """The kernels and biases of the equations by name: W_xi, W_hi, b_i, ..., W_xo, W_ho, b_o (views)."""
        C, Fh = self.in_channels, self.hidden_channels
        w = self.conv.weight  # (4F, C + F, k, k)
        out: dict[str, torch.Tensor] = {}
        for k, gate in enumerate(GATES):
            rows = slice(k * Fh, (k + 1) * Fh)
            out[f"W_x{gate}"] = w[rows, :C]
            out[f"W_h{gate}"] = w[rows, C:]
            out[f"b_{gate}"] = self.conv.bias[rows] if self.conv.bias is not None else w.new_zeros(Fh)
        return out


class ConvLSTM(nn.Module):
    """A ConvLSTM layer: `ConvLSTMCell` over a sequence of frames (Keras `ConvLSTM2D`, padding='same').

    Args:
        in_channels, hidden_channels, kernel_size, bias, forget_bias: as in `ConvLSTMCell`.
        return_sequences: return H_t for every t (B, T, F, H, W) instead of H_T only (B, F, H, W).
        return_state: also return the final state (h_T, c_T).
        fused_input: True (default) precomputes W_x ∗ X_t + b for all frames in one batched convolution, then
            convolves H_{t−1} only at each step; False steps the cell itself, one convolution over [X_t, H_{t−1}]
            per step. Same numbers. Training the bench model (batch 16, one thread) measured 26.7 vs 32.7 ms per
            batch: oneDNN's kernels handle F = 16 channels much better than C + F = 17, and the input half is
            one large convolution instead of T small ones.

    Shape:
        x (B, T, C, H, W), state None or (h0, c0) -> output (and (h_T, c_T) when return_state).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3, bias: bool = True,
                 forget_bias: float = 1.0, return_sequences: bool = False, return_state: bool = False,
                 fused_input: bool = True) -> None:
        super().__init__()
        self.cell = ConvLSTMCell(in_channels, hidden_channels, kernel_size, bias, forget_bias)
        self.return_sequences, self.return_state, self.fused_input = return_sequences, return_state, fused_input

    def forward(self, x: torch.Tensor, state: State | None = None):
        if x.ndim != 5 or x.shape[2] != self.cell.in_channels:
            raise ConfigError(f"ConvLSTM expects frames (B, T, {self.cell.in_channels}, H, W), got {tuple(x.shape)}")
        B, T, C, H, W = x.shape
        cell = self.cell
        h, c = state if state is not None else cell.init_state(x[:, 0])
        outputs = []
        if self.fused_input:
            w, b = cell.conv.weight, cell.conv.bias
            pad = cell.kernel_size // 2
            # W_x ∗ X_t + b for all frames at once: (B·T, C, H, W) -> (B·T, 4F, H, W) -> (B, T, 4F, H, W)
            zx = F.conv2d(x.reshape(B * T, C, H, W), w[:, :C].contiguous(), b, padding=pad).reshape(B, T, -1, H, W)
            w_h = w[:, C:].contiguous()
            # unbind, not zx[:, t]: its backward stacks the T gradients once, where T selects would each fill
            # and add a zero gradient of zx's full size
            for zx_t in zx.unbind(1):
                h, c = cell.gates_from(zx_t + F.conv2d(h, w_h, padding=pad), c)
                if self.return_sequences:
                    outputs.append(h)
        else:
            for t in range(T):
                h, c = cell(x[:, t], (h, c))
                if self.return_sequences:
                    outputs.append(h)
        out = torch.stack(outputs, dim=1) if self.return_sequences else h  # (B, T, F, H, W) or (B, F, H, W)
        return (out, (h, c)) if self.return_state else out
