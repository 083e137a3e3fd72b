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
each step convolves H_{t−1} only, and the loop and its backpropagation through time are written by hand
(`ConvLSTMSequence`, below; the same numbers as stepping the cell under autograd, which a test checks).

Backpropagation through time (BPTT), from the equations above, with δX = ∂loss/∂X, for t = T, ..., 1:

    δH_t  = ∂loss/∂H_t (from the output) + W_h ⋆ δz_{t+1}          (⋆: the convolution's input gradient)
    δC_t  = δC_{t+1} ∘ f_{t+1} + δH_t ∘ o_t ∘ (1 − tanh²(C_t))
    δz_o = δH_t ∘ tanh(C_t) ∘ o_t(1 − o_t)          δz_f = δC_t ∘ C_{t−1} ∘ f_t(1 − f_t)
    δz_i = δC_t ∘ g_t ∘ i_t(1 − i_t)                δz_g = δC_t ∘ i_t ∘ (1 − g_t²)
    δW_h = Σ_t H_{t−1} ⋆ δz_t

δz_t is also the gradient of W_x ∗ X_t + b, which autograd carries into the input convolution. Both tanh are
computed as 2σ(2x) − 1 (torch's CPU tanh costs several sigmoids), so each step's four gates take one sigmoid.

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


class ConvLSTMSequence(torch.autograd.Function):
    """The ConvLSTM loop over T steps with the input half precomputed, and its hand-written BPTT.

    Inputs: zx (T, B, 4F, H, W) = W_x ∗ X_t + b (time-major, contiguous), w_h (4F, F, k, k), h0, c0 (B, F, H, W),
    pad. Outputs: hs (T + 1, B, F, H, W), H_0 (a copy of h0) then every H_t; h_T and c_T (B, F, H, W), copies (a
    caller who needs only the last step leaves hs without a gradient, so the BPTT adds no zeros). No output is a
    view (a view of a saved buffer could not be modified in place). The gradients are the BPTT equations of the
    module docstring.
    """

    @staticmethod
    def forward(ctx, zx: torch.Tensor, w_h: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, pad: int):
        T, B, F4, H, W = zx.shape
        Fh = F4 // 4
        ctx.dtypes = w_h.dtype, h0.dtype, c0.dtype
        w_h = w_h.to(zx.dtype)  # under autocast zx is bfloat16/float16: the whole loop runs in its dtype
        hs = zx.new_empty(T + 1, B, Fh, H, W)  # H_0 .. H_T
        cs = zx.new_empty(T + 1, B, Fh, H, W)  # C_0 .. C_T
        acts = zx.new_empty(T, B, F4, H, W)  # i_t, f_t, g_t, o_t after their activations
        tcs = zx.new_empty(T, B, Fh, H, W)  # tanh(C_t)
        hs[0].copy_(h0)
        cs[0].copy_(c0)
        g_rows = slice(2 * Fh, 3 * Fh)
        for t in range(T):
            z = F.conv2d(hs[t], w_h, padding=pad).add_(zx[t])  # z_t = W_h ∗ H_{t−1} + (W_x ∗ X_t + b)
            z[:, g_rows].mul_(2.0)
            a = torch.sigmoid(z, out=acts[t])  # σ(z_i), σ(z_f), σ(2 z_g), σ(z_o)
            i, f, g, o = a.chunk(4, dim=1)
            g.mul_(2.0).sub_(1.0)  # g_t = tanh(z_g) = 2σ(2 z_g) − 1
            c = torch.mul(f, cs[t], out=cs[t + 1]).addcmul_(i, g)  # C_t = f_t∘C_{t−1} + i_t∘g_t
            tc = torch.sigmoid(c * 2.0, out=tcs[t]).mul_(2.0).sub_(1.0)  # tanh(C_t)
            torch.mul(o, tc, out=hs[t + 1])  # H_t = o_t∘tanh(C_t)
        ctx.pad = pad
        ctx.save_for_backward(w_h, hs, cs, acts, tcs)
        ctx.set_materialize_grads(False)  # an unused output's gradient arrives as None, not as zeros
        return hs, hs[T].clone(), cs[T].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_hs: torch.Tensor | None, d_hT: torch.Tensor | None, d_cT: torch.Tensor | None):
        w_h, hs, cs, acts, tcs = ctx.saved_tensors
        pad = ctx.pad
        T = acts.shape[0]
        dz = torch.empty_like(acts)  # δz_t for every step
        dc = torch.zeros_like(cs[0]) if d_cT is None else d_cT.clone()
        dh_rec = None  # W_h ⋆ δz_{t+1}
        d_w = None
        need_h0 = ctx.needs_input_grad[2]
        need_w = ctx.needs_input_grad[1]
        # σ(1 − σ)·δ and (1 − g²)·δ written straight into δz's gate chunks (aten's out= variants)
        sig_back, tanh_back = torch.ops.aten.sigmoid_backward.grad_input, torch.ops.aten.tanh_backward.grad_input
        tmp = torch.empty_like(cs[0])  # scratch for the products below
        for t in range(T - 1, -1, -1):
            i, f, g, o = acts[t].chunk(4, dim=1)
            dzi, dzf, dzg, dzo = dz[t].chunk(4, dim=1)
            tc = tcs[t]
            # δH_t: its output gradients (d_hs[t + 1]; d_hs[0] is H_0's; d_hT for t = T) + W_h ⋆ δz_{t+1}
            terms = [d for d in (None if d_hs is None else d_hs[t + 1], d_hT if t == T - 1 else None, dh_rec)
                     if d is not None]
            dh = torch.zeros_like(tc) if not terms else terms[0] if len(terms) == 1 else sum(terms[1:], terms[0])
            sig_back(torch.mul(dh, tc, out=tmp), o, grad_input=dzo)  # δz_o = δH∘tanh(C)∘o(1 − o)
            dc.add_(tanh_back(torch.mul(dh, o, out=tmp), tc, grad_input=tmp))  # δC += δH∘o∘(1 − tanh²C)
            sig_back(torch.mul(dc, cs[t], out=tmp), f, grad_input=dzf)  # δz_f = δC∘C_{t−1}∘f(1 − f)
            sig_back(torch.mul(dc, g, out=tmp), i, grad_input=dzi)  # δz_i = δC∘g∘i(1 − i)
            tanh_back(torch.mul(dc, i, out=tmp), g, grad_input=dzg)  # δz_g = δC∘i∘(1 − g²)
            dc.mul_(f)  # δC_{t−1} (before its own step's term) = δC_t∘f_t
            if t > 0 or need_h0 or need_w:
                # δH_{t−1} = W_h ⋆ δz_t and this step's term of δW_h = Σ_t H_{t−1} ⋆ δz_t, in one call. (One
                # weight-gradient call over all T·B stacked steps was measured 2.4x slower in oneDNN.)
                dh_prev, dw_t, _ = torch.ops.aten.convolution_backward(
                    dz[t], hs[t], w_h, None, [1, 1], [pad, pad], [1, 1], False, [0, 0], 1,
                    [t > 0 or need_h0, need_w, False])
                dh_rec = dh_prev
                if need_w:  # summed in float32 even when the loop runs in 16 bits under autocast
                    d_w = dw_t.float() if d_w is None else d_w.add_(dw_t)
        d_h0 = None
        if need_h0:
            d_h0 = (dh_rec if d_hs is None else dh_rec + d_hs[0]).to(ctx.dtypes[1])
        d_c0 = dc.to(ctx.dtypes[2]) if ctx.needs_input_grad[3] else None
        return dz, None if d_w is None else d_w.to(ctx.dtypes[0]), d_h0, d_c0, None


class ConvLSTM(nn.Module):
    """A ConvLSTM layer: `ConvLSTMCell` over a sequence of frames (Keras `ConvLSTM2D`, padding='same').

    Args:
        in_channels, hidden_channels, kernel_size, bias, forget_bias: as in `ConvLSTMCell`.
        return_sequences: return H_t for every t (B, T, F, H, W) instead of H_T only (B, F, H, W).
        return_state: also return the final state (h_T, c_T).
        fused_input: True (default) precomputes W_x ∗ X_t + b for all frames in one batched convolution, then
            runs `ConvLSTMSequence` (each step convolves H_{t−1} only; hand-written BPTT); False steps the cell
            itself under autograd, one convolution over [X_t, H_{t−1}] per step. Same numbers. Training the bench
            model (batch 16, one thread) measured 26.7 vs 32.7 ms per batch for the batched input convolution
            (oneDNN's kernels handle F = 16 channels much better than C + F = 17, and the input half is one large
            convolution instead of T small ones), then 24.6 vs 27.7 ms (medians, two threads 14.8 vs 16.3) for
            the hand-written BPTT against autograd's (one sigmoid for the four gates, no graph of ~20 nodes per
            step). One weight-gradient convolution over all T·B steps, tried too, was 2.4x slower than T.

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
            # W_x ∗ X_t + b for all frames at once, time-major: (T·B, C, H, W) -> (T, B, 4F, H, W)
            x_tm = x.transpose(0, 1).reshape(T * B, C, H, W)
            zx = F.conv2d(x_tm, w[:, :C].contiguous(), b, padding=pad).view(T, B, -1, H, W)
            hs, h, c = ConvLSTMSequence.apply(zx, w[:, C:].contiguous(), h, c, pad)
            if self.return_sequences:  # a copy, so that callers may modify it in place (the BPTT keeps hs)
                seq = hs[1:].transpose(0, 1).contiguous()  # (B, T, F, H, W)
                return (seq, (h, c)) if self.return_state else seq
        else:
            for t in range(T):
                h, c = cell(x[:, t], (h, c))
                if self.return_sequences:
                    outputs.append(h)
        out = torch.stack(outputs, dim=1) if self.return_sequences else h  # (B, T, F, H, W) or (B, F, H, W)
        return (out, (h, c)) if self.return_state else out
