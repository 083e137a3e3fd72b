"""Recurrent cells written from the course's equations, and one sequence wrapper for them.

One-step cells (course topic "Recurrent neural networks"), with the parameters named as in the equations:

    SimpleRNNCell   h_t = g1(W_hh·h_{t−1} + W_xh·x_t + b)              y_t = g2(W_hy·h_t)  (optional head)
    LSTMCell        f_t = σ(W_f·[h_{t−1}, x_t] + b_f)                  forget gate
                    i_t = σ(W_i·[h_{t−1}, x_t] + b_i)                  input gate
                    g_t = C̃_t = tanh(W_C·[h_{t−1}, x_t] + b_C)          candidate cell state
                    C_t = f_t∗C_{t−1} + i_t∗C̃_t
                    o_t = σ(W_o·[h_{t−1}, x_t] + b_o)                  output gate
                    h_t = o_t∗tanh(C_t)
    GRUCell         z_t = σ(W_z·[h_{t−1}, x_t] + b_z)                  update gate
                    r_t = σ(W_r·[h_{t−1}, x_t] + b_r)                  reset gate
                    h̃_t = tanh(W_h·[r_t∗h_{t−1}, x_t] + b_h)            (reset_after=False: the course, Cho 2014)
                    h̃_t = tanh(W_hx·x_t + b_hx + r_t∗(W_hh·h_{t−1} + b_hh))   (reset_after=True: cuDNN/torch)
                    h_t = (1−z_t)∗h_{t−1} + z_t∗h̃_t

`Recurrent` runs a cell over a sequence (layers, directions, initial state, dropout between layers, variable
lengths). `fused=True` calls torch's fused `nn.RNN`/`nn.LSTM`/`nn.GRU`; `fused=False` loops over the reference
cells above. `Recurrent.torch_state_dict()` / `load_torch_state_dict()` move the weights between the two in
torch's layout (`weight_ih_l{k}[_reverse]`, `weight_hh_…`, `bias_ih_…`, `bias_hh_…`), and the tests prove both
paths give the same outputs, final states and gradients.

Mapping to torch's fused kernels (every copy is exact):
    simple RNN   W_xh = weight_ih, W_hh = weight_hh, b = bias_ih + bias_hh (torch keeps two biases that only
                 ever appear summed; copying back puts b in bias_ih and zeros in bias_hh).
    LSTM         torch stacks the gates in the order i, f, g, o, with weight_ih acting on x and weight_hh on h:
                 W_f = [weight_hh[f], weight_ih[f]] (the [h_{t−1}, x_t] order of the equation), b_f = b_ih[f] +
                 b_hh[f], and likewise for i, g (= C̃) and o.
    GRU          torch stacks r, z, n and writes h_t = (1 − z')∗n + z'∗h_{t−1}: its z' is the course's 1 − z.
                 Since σ(−a) = 1 − σ(a), the course's W_z = −[W_hz, W_iz] and b_z = −(b_iz + b_hz). torch also
                 applies r *after* the recurrent product, r∗(W_hn·h + b_hn) — the "reset_after" variant of
                 cuDNN and of Keras' default GRU — which is a different function from the course's W_h·[r∗h, x]
                 (not a re-parametrisation of it). `GRUCell(reset_after=True)` computes torch's variant and is
                 what `Recurrent` uses, so the two paths agree; `GRUCell(reset_after=False)` is the course's.

Shape legend (batch first everywhere): x (B, T, F) inputs; lengths (B,) true lengths; h (B, H) one state;
states in torch's layout (L·D, B, H) with index layer·D + direction (D = 2 when bidirectional, else 1);
sequence outputs (B, T, D·H), last outputs (B, D·H).

References:
    S. Hochreiter, J. Schmidhuber, "Long short-term memory", Neural Computation 9(8), 1997 (forget gate: Gers
    et al. 2000). K. Cho et al., "Learning phrase representations using RNN encoder-decoder for statistical
    machine translation", EMNLP 2014. Course topic "Recurrent neural networks: RNN, LSTM, GRU".
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from neuralab.errors import ConfigError

CELL_TYPES = ("rnn", "lstm", "gru")
NONLINEARITIES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"tanh": torch.tanh, "relu": torch.relu}
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def _uniform_(params: list[nn.Parameter], hidden_size: int) -> None:
    # torch's RNN initialisation U(−1/√H, 1/√H), so a fresh reference cell starts like a fresh fused one
    bound = 1.0 / math.sqrt(hidden_size)
    for p in params:
        nn.init.uniform_(p, -bound, bound)


# ------------------------------------------------------------------------------------------------ cells
class SimpleRNNCell(nn.Module):
    """Elman's simple recurrent cell: h_t = g1(W_hh·h_{t−1} + W_xh·x_t + b), and y_t = g2(W_hy·h_t).

    Args:
        input_size: F, features of x_t.
        hidden_size: H, units of h_t.
        nonlinearity: g1, `tanh` (the course and Keras' default) or `relu`.
        output_size: if given, the cell also holds W_hy (output_size, H) and `output(h)` computes y_t.
        output_activation: g2 applied by `output` (a callable; default identity).

    Shape:
        x (B, F), h_prev (B, H) -> h (B, H); output(h) -> (B, output_size).
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 output_size: int | None = None,
                 output_activation: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        if nonlinearity not in NONLINEARITIES:
            raise ConfigError(f"nonlinearity {nonlinearity!r}: expected one of {', '.join(NONLINEARITIES)}")
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        self.W_xh = nn.Parameter(torch.empty(hidden_size, input_size))
        self.W_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.b = nn.Parameter(torch.empty(hidden_size))
        self.W_hy = nn.Parameter(torch.empty(output_size, hidden_size)) if output_size else None
        self.output_activation = output_activation
        _uniform_([p for p in self.parameters()], hidden_size)

    def forward(self, x: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
        return NONLINEARITIES[self.nonlinearity](h_prev @ self.W_hh.T + x @ self.W_xh.T + self.b)

    def output(self, h: torch.Tensor) -> torch.Tensor:
        """y_t = g2(W_hy·h_t)."""
        if self.W_hy is None:
            raise ConfigError("this SimpleRNNCell has no output weights; build it with output_size=...")
        y = h @ self.W_hy.T
        return self.output_activation(y) if self.output_activation is not None else y

    @torch.no_grad()
    def load_torch(self, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor) -> None:
        """Copy one layer/direction of `nn.RNN`'s weights in."""
        self.W_xh.copy_(w_ih)
        self.W_hh.copy_(w_hh)
        self.b.copy_(b_ih + b_hh)

    @torch.no_grad()
    def torch_weights(self) -> tuple[torch.Tensor, ...]:
        """(weight_ih, weight_hh, bias_ih, bias_hh) for `nn.RNN`."""
        return self.W_xh.clone(), self.W_hh.clone(), self.b.clone(), torch.zeros_like(self.b)


class LSTMCell(nn.Module):
    """The LSTM cell with a forget gate, one weight matrix per gate acting on [h_{t−1}, x_t].

    Gates as in the equations: f (forget), i (input), g = C̃ (candidate), o (output); weights `W_f, W_i, W_C,
    W_o` of shape (H, H + F) — the first H columns multiply h_{t−1}, the rest x_t — and biases `b_f, b_i, b_C,
    b_o` of shape (H,).

    Shape:
        x (B, F), state (h_prev (B, H), c_prev (B, H)) -> (h (B, H), c (B, H)).
    """

    GATES = ("i", "f", "C", "o")  # torch's stacking order (i, f, g, o), with g named C̃ as in the course

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        for gate in self.GATES:
            setattr(self, f"W_{gate}", nn.Parameter(torch.empty(hidden_size, hidden_size + input_size)))
            setattr(self, f"b_{gate}", nn.Parameter(torch.empty(hidden_size)))
        _uniform_([p for p in self.parameters()], hidden_size)

    def gates(self, x: torch.Tensor, h_prev: torch.Tensor) -> dict[str, torch.Tensor]:
        """f_t, i_t, g_t (= C̃_t) and o_t for one step, by name."""
        hx = torch.cat([h_prev, x], dim=1)  # [h_{t−1}, x_t]: (B, H + F)
        return {"f": torch.sigmoid(hx @ self.W_f.T + self.b_f),
                "i": torch.sigmoid(hx @ self.W_i.T + self.b_i),
                "g": torch.tanh(hx @ self.W_C.T + self.b_C),
                "o": torch.sigmoid(hx @ self.W_o.T + self.b_o)}

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        h_prev, c_prev = state
        gate = self.gates(x, h_prev)
        c = gate["f"] * c_prev + gate["i"] * gate["g"]  # C_t = f_t∗C_{t−1} + i_t∗C̃_t
        h = gate["o"] * torch.tanh(c)  # h_t = o_t∗tanh(C_t)
        return h, c

    @torch.no_grad()
    def load_torch(self, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor) -> None:
        """Copy one layer/direction of `nn.LSTM`'s weights (gates stacked i, f, g, o) in."""
        H = self.hidden_size
        for k, gate in enumerate(self.GATES):
            rows = slice(k * H, (k + 1) * H)
            getattr(self, f"W_{gate}").copy_(torch.cat([w_hh[rows], w_ih[rows]], dim=1))
            getattr(self, f"b_{gate}").copy_(b_ih[rows] + b_hh[rows])

    @torch.no_grad()
    def torch_weights(self) -> tuple[torch.Tensor, ...]:
        """(weight_ih, weight_hh, bias_ih, bias_hh) for `nn.LSTM`."""
        H = self.hidden_size
        W = torch.cat([getattr(self, f"W_{g}") for g in self.GATES])  # (4H, H + F)
        b = torch.cat([getattr(self, f"b_{g}") for g in self.GATES])
        return W[:, H:].clone(), W[:, :H].clone(), b.clone(), torch.zeros_like(b)


class GRUCell(nn.Module):
    """The gated recurrent unit: update gate z, reset gate r, candidate h̃, h_t = (1−z_t)∗h_{t−1} + z_t∗h̃_t.

    Args:
        input_size, hidden_size: F and H.
        reset_after: False — the course's (and Cho et al.'s) h̃_t = tanh(W_h·[r_t∗h_{t−1}, x_t] + b_h);
            True — torch's/cuDNN's h̃_t = tanh(W_hx·x_t + b_hx + r_t∗(W_hh·h_{t−1} + b_hh)), which is what
            `nn.GRU` computes (so it is the one `Recurrent` uses and the only one with `load_torch`).

    Parameters: `W_z, W_r` (H, H + F) on [h_{t−1}, x_t] with `b_z, b_r`; reset_after=False: `W_h` (H, H + F),
    `b_h`; reset_after=True: `W_hx` (H, F), `b_hx`, `W_hh` (H, H), `b_hh`.

    Shape:
        x (B, F), h_prev (B, H) -> h (B, H).
    """

    def __init__(self, input_size: int, hidden_size: int, reset_after: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.reset_after = input_size, hidden_size, reset_after
        H, F_ = hidden_size, input_size
        self.W_z, self.b_z = nn.Parameter(torch.empty(H, H + F_)), nn.Parameter(torch.empty(H))
        self.W_r, self.b_r = nn.Parameter(torch.empty(H, H + F_)), nn.Parameter(torch.empty(H))
        if reset_after:
            self.W_hx, self.b_hx = nn.Parameter(torch.empty(H, F_)), nn.Parameter(torch.empty(H))
            self.W_hh, self.b_hh = nn.Parameter(torch.empty(H, H)), nn.Parameter(torch.empty(H))
        else:
            self.W_h, self.b_h = nn.Parameter(torch.empty(H, H + F_)), nn.Parameter(torch.empty(H))
        _uniform_([p for p in self.parameters()], hidden_size)

    def gates(self, x: torch.Tensor, h_prev: torch.Tensor) -> dict[str, torch.Tensor]:
        """z_t, r_t and the candidate h̃_t for one step, by name."""
        hx = torch.cat([h_prev, x], dim=1)  # [h_{t−1}, x_t]: (B, H + F)
        z = torch.sigmoid(hx @ self.W_z.T + self.b_z)
        r = torch.sigmoid(hx @ self.W_r.T + self.b_r)
        if self.reset_after:
            h_tilde = torch.tanh(x @ self.W_hx.T + self.b_hx + r * (h_prev @ self.W_hh.T + self.b_hh))
        else:
            h_tilde = torch.tanh(torch.cat([r * h_prev, x], dim=1) @ self.W_h.T + self.b_h)
        return {"z": z, "r": r, "h_tilde": h_tilde}

    def forward(self, x: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
        gate = self.gates(x, h_prev)
        return (1 - gate["z"]) * h_prev + gate["z"] * gate["h_tilde"]

    def _need_reset_after(self) -> None:
        if not self.reset_after:
            raise ConfigError("torch's nn.GRU applies the reset gate after the recurrent product; only a "
                              "GRUCell(reset_after=True) has the same function and can exchange weights with it")

    @torch.no_grad()
    def load_torch(self, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor) -> None:
        """Copy one layer/direction of `nn.GRU`'s weights (stacked r, z, n) in."""
        self._need_reset_after()
        H = self.hidden_size
        r, z, n = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
        self.W_r.copy_(torch.cat([w_hh[r], w_ih[r]], dim=1))
        self.b_r.copy_(b_ih[r] + b_hh[r])
        # torch's z' = σ(a) multiplies h_{t−1}; the course's z = 1 − z' = σ(−a) multiplies h̃
        self.W_z.copy_(-torch.cat([w_hh[z], w_ih[z]], dim=1))
        self.b_z.copy_(-(b_ih[z] + b_hh[z]))
        self.W_hx.copy_(w_ih[n])
        self.b_hx.copy_(b_ih[n])
        self.W_hh.copy_(w_hh[n])
        self.b_hh.copy_(b_hh[n])  # inside r∗(…): cannot be merged with b_hx

    @torch.no_grad()
    def torch_weights(self) -> tuple[torch.Tensor, ...]:
        """(weight_ih, weight_hh, bias_ih, bias_hh) for `nn.GRU`."""
        self._need_reset_after()
        H = self.hidden_size
        w_ih = torch.cat([self.W_r[:, H:], -self.W_z[:, H:], self.W_hx])
        w_hh = torch.cat([self.W_r[:, :H], -self.W_z[:, :H], self.W_hh])
        b_ih = torch.cat([self.b_r, -self.b_z, self.b_hx])
        b_hh = torch.cat([torch.zeros_like(self.b_r), torch.zeros_like(self.b_z), self.b_hh])
        return w_ih.clone(), w_hh.clone(), b_ih.clone(), b_hh


def make_cell(cell_type: str, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> nn.Module:
    """The reference cell for `cell_type` (`rnn`, `lstm` or `gru`), in the variant `nn.RNN/LSTM/GRU` computes."""
    if cell_type == "rnn":
        return SimpleRNNCell(input_size, hidden_size, nonlinearity)
    if cell_type == "lstm":
        return LSTMCell(input_size, hidden_size)
    if cell_type == "gru":
        return GRUCell(input_size, hidden_size, reset_after=True)
    raise ConfigError(f"cell_type {cell_type!r}: expected one of {', '.join(CELL_TYPES)}")


# ----------------------------------------------------------------------------------------------- wrapper
class Recurrent(nn.Module):
    """A recurrent layer stack over a batch-first sequence: Keras' `SimpleRNN/LSTM/GRU` options on torch.

    Args:
        cell_type: `rnn` (simple RNN), `lstm` or `gru`.
        input_size: F, features per step.
        hidden_size: H, units per direction.
        num_layers: stacked layers; layer k > 0 reads layer k−1's output sequence.
        bidirectional: also run every layer backwards in time and concatenate (output features 2H).
        dropout: dropout on each layer's output sequence before the next layer (training only; needs
            num_layers ≥ 2, as in torch).
        return_sequences: return the output at every step (B, T, D·H); else only the last output (B, D·H) —
            the forward direction's state at each sequence's true last step, concatenated with the backward
            direction's state after reading back to step 0.
        return_state: also return the final state, in torch's layout: h_n (L·D, B, H), for `lstm` (h_n, c_n).
        fused: run torch's fused `nn.RNN/LSTM/GRU` (fast); False loops over the reference cells of this file.
        nonlinearity: g1 of the simple RNN (`tanh` or `relu`).

    Forward:
        `forward(x, state=None, lengths=None)`; `state` is the initial state in the layout of h_n (zeros if
        None); `lengths` (B,) are the true lengths of right-padded sequences (packed sequences on the fused
        path, masks on the reference path): outputs past a sequence's end are 0 and its final state is taken
        at its own last step.

    Returns:
        `output`, or `(output, state)` with return_state.

    Shape:
        x (B, T, F) -> (B, T, D·H) or (B, D·H).
    """

    def __init__(self, cell_type: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, return_sequences: bool = True,
                 return_state: bool = False, fused: bool = True, nonlinearity: str = "tanh") -> None:
        super().__init__()
        if cell_type not in CELL_TYPES:
            raise ConfigError(f"cell_type {cell_type!r}: expected one of {', '.join(CELL_TYPES)}")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if int(value) != value or value < 1:
                raise ConfigError(f"Recurrent {name} must be a positive integer, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"Recurrent dropout must be in [0, 1), got {dropout}")
        if dropout > 0 and num_layers < 2:
            raise ConfigError(f"Recurrent dropout={dropout} acts between layers and needs num_layers >= 2 "
                              f"(got {num_layers}); put an nn.Dropout after the layer instead")
        if cell_type == "rnn" and nonlinearity not in NONLINEARITIES:
            raise ConfigError(f"nonlinearity {nonlinearity!r}: expected one of {', '.join(NONLINEARITIES)}")
        self.cell_type, self.input_size, self.hidden_size = cell_type, input_size, hidden_size
        self.num_layers, self.bidirectional, self.dropout = num_layers, bidirectional, dropout
        self.return_sequences, self.return_state, self.fused = return_sequences, return_state, fused
        self.nonlinearity = nonlinearity
        self.num_directions = 2 if bidirectional else 1
        if fused:
            kwargs = {"nonlinearity": nonlinearity} if cell_type == "rnn" else {}
            rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell_type]
            self.rnn = rnn_cls(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                               bidirectional=bidirectional, dropout=dropout, **kwargs)
        else:
            # cells[layer·D + direction], the order of torch's h_n
            self.cells = nn.ModuleList(
                make_cell(cell_type, input_size if layer == 0 else hidden_size * self.num_directions,
                          hidden_size, nonlinearity)
                for layer in range(num_layers) for _ in range(self.num_directions))

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def extra_repr(self) -> str:
        return (f"{self.cell_type}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"bidirectional={self.bidirectional}, return_sequences={self.return_sequences}, "
                f"return_state={self.return_state}, fused={self.fused}")

    # ------------------------------------------------------------------------------- weights, both paths
    def _torch_names(self, layer: int, direction: int) -> list[str]:
        sfx = f"l{layer}" + ("_reverse" if direction else "")
        return [f"weight_ih_{sfx}", f"weight_hh_{sfx}", f"bias_ih_{sfx}", f"bias_hh_{sfx}"]

    def torch_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights in `nn.RNN/LSTM/GRU`'s layout (copies), whichever path this layer runs."""
        if self.fused:
            return {k: v.detach().clone() for k, v in self.rnn.state_dict().items()}
        out: dict[str, torch.Tensor] = {}
        for layer in range(self.num_layers):
            for d in range(self.num_directions):
                tensors = self.cells[layer * self.num_directions + d].torch_weights()
                out.update(zip(self._torch_names(layer, d), tensors, strict=True))
        return out

    def load_torch_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load weights in `nn.RNN/LSTM/GRU`'s layout (e.g. another Recurrent's `torch_state_dict()`)."""
        if self.fused:
            self.rnn.load_state_dict(state)
            return
        for layer in range(self.num_layers):
            for d in range(self.num_directions):
                names = self._torch_names(layer, d)
                missing = [n for n in names if n not in state]
                if missing:
                    raise ConfigError(f"load_torch_state_dict: missing {', '.join(missing)}")
                self.cells[layer * self.num_directions + d].load_torch(*(state[n] for n in names))

    # ------------------------------------------------------------------------------------------ forward
    def _check(self, x: torch.Tensor, state: State | None, lengths: torch.Tensor | None) -> torch.Tensor | None:
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            raise ConfigError(f"Recurrent expects input (batch, time, {self.input_size}), got {tuple(x.shape)}")
        B, T = x.shape[0], x.shape[1]
        if T == 0:
            raise ConfigError("Recurrent got a sequence of length 0")
        want = (self.num_layers * self.num_directions, B, self.hidden_size)
        parts = () if state is None else (state if isinstance(state, tuple) else (state,))
        if state is not None and len(parts) != (2 if self.cell_type == "lstm" else 1):
            raise ConfigError(f"initial state of a {self.cell_type} layer: expected "
                              f"{'(h0, c0)' if self.cell_type == 'lstm' else 'one tensor h0'}")
        for p in parts:
            if tuple(p.shape) != want:
                raise ConfigError(f"initial state has shape {tuple(p.shape)}; expected (layers·directions, "
                                  f"batch, hidden) = {want}")
        if lengths is None:
            return None
        lengths = torch.as_tensor(lengths).to("cpu", torch.int64)
        if lengths.shape != (B,):
            raise ConfigError(f"lengths must have shape (batch,) = ({B},), got {tuple(lengths.shape)}")
        bad = (lengths < 1) | (lengths > T)
        if bad.any():
            i = int(bad.nonzero()[0])
            raise ConfigError(f"lengths[{i}] = {int(lengths[i])}: every length must be in 1..{T} (the padded "
                              "sequence length)")
        return lengths

    def forward(self, x: torch.Tensor, state: State | None = None, lengths: torch.Tensor | None = None):
        lengths = self._check(x, state, lengths)
        if self.fused:
            output, final = self._fused(x, state, lengths)
        else:
            output, final = self._reference(x, state, lengths)
        h_n = final[0] if isinstance(final, tuple) else final
        if self.return_sequences:
            out = output
        else:
            # the last layer's final state of each direction: (D, B, H) -> (B, D·H)
            out = torch.cat(list(h_n[-self.num_directions:]), dim=1)
        return (out, final) if self.return_state else out

    def _fused(self, x: torch.Tensor, state: State | None, lengths: torch.Tensor | None):
        if lengths is None:
            return self.rnn(x, state)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, final = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # (B, T, D·H), 0 past ends
        return out, final

    def _reference(self, x: torch.Tensor, state: State | None, lengths: torch.Tensor | None):
        B, T = x.shape[0], x.shape[1]
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        lstm = self.cell_type == "lstm"
        if state is None:
            zeros = x.new_zeros(L * D, B, H)
            state = (zeros, zeros) if lstm else zeros
        h0, c0 = state if lstm else (state, None)
        # mask[:, t] is True while step t is inside the sequence: (B, T, 1)
        mask = None if lengths is None else (torch.arange(T) < lengths[:, None]).to(x.device)[..., None]
        layer_in, h_n, c_n = x, [], []
        for layer in range(L):
            outs = []
            for d in range(D):
                k = layer * D + d
                cell = self.cells[k]
                h = h0[k]
                c = c0[k] if lstm else None
                steps: list[torch.Tensor | None] = [None] * T
                for t in (range(T - 1, -1, -1) if d else range(T)):
                    if lstm:
                        h_new, c_new = cell(layer_in[:, t], (h, c))
                    else:
                        h_new = cell(layer_in[:, t], h)
                    if mask is None:
                        h, steps[t] = h_new, h_new
                        if lstm:
                            c = c_new
                    else:
                        # past a sequence's end the state is carried unchanged and the output is 0; the
                        # backward direction therefore starts at each sequence's own last step
                        m = mask[:, t]
                        h = torch.where(m, h_new, h)
                        steps[t] = torch.where(m, h_new, torch.zeros_like(h_new))
                        if lstm:
                            c = torch.where(m, c_new, c)
                outs.append(torch.stack(steps, dim=1))  # (B, T, H)
                h_n.append(h)
                if lstm:
                    c_n.append(c)
            layer_in = torch.cat(outs, dim=2) if D == 2 else outs[0]  # (B, T, D·H)
            if self.dropout and self.training and layer < L - 1:
                layer_in = F.dropout(layer_in, self.dropout, training=True)
        final_h = torch.stack(h_n)  # (L·D, B, H)
        return layer_in, ((final_h, torch.stack(c_n)) if lstm else final_h)


def last_timestep(output: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Each sequence's output at its true last step: (B, T, F) -> (B, F) (step T−1 when `lengths` is None).

    For a bidirectional output use `Recurrent(return_sequences=False)` instead: the backward direction's
    summary is at step 0, not at the last step.
    """
    if lengths is None:
        return output[:, -1]
    idx = (torch.as_tensor(lengths, device=output.device).long() - 1).view(-1, 1, 1)  # (B, 1, 1)
    return output.gather(1, idx.expand(-1, 1, output.shape[2])).squeeze(1)


class TimeDistributed(nn.Module):
    """Apply `module` to every time step independently (Keras' `TimeDistributed`).

    Folds time into the batch, applies the module once, unfolds: the same weights at every step.

    Shape:
        x (B, T, *in) -> (B, T, *out), where `module` maps (N, *in) -> (N, *out).
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 3:
            raise ConfigError(f"TimeDistributed expects (batch, time, ...), got {tuple(x.shape)}")
        B, T = x.shape[0], x.shape[1]
        y = self.module(x.reshape(B * T, *x.shape[2:]))  # (B·T, *in) -> (B·T, *out)
        return y.reshape(B, T, *y.shape[1:])


class RepeatVector(nn.Module):
    """Repeat a vector n times along a new time axis (Keras' `RepeatVector`): the decoder input of an
    encoder-decoder without teacher forcing, and the input of one-to-many networks.

    Shape:
        x (B, F) -> (B, n, F) (a broadcast view; no copy).
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        if int(n) != n or n < 1:
            raise ConfigError(f"RepeatVector n must be a positive integer, got {n!r}")
        self.n = int(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            raise ConfigError(f"RepeatVector expects (batch, features), got {tuple(x.shape)}")
        return x.unsqueeze(1).expand(-1, self.n, -1)

    def extra_repr(self) -> str:
        return f"n={self.n}"


@torch.no_grad()
def keras_init_(layer: Recurrent, unit_forget_bias: bool = True) -> Recurrent:
    """Keras' initialisation: Glorot-uniform input weights, orthogonal recurrent weights, zero biases, and (LSTM)
    forget-gate bias 1 — the starting point of the course's Keras models.

    One difference: Keras draws one orthogonal (H, gates·H) recurrent kernel; here each gate's (H, H) block is
    orthogonal on its own (for the simple RNN, one block: the same thing). Works on either path (through torch's
    layout) and returns `layer`.
    """
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[layer.cell_type]
    H = layer.hidden_size
    state = layer.torch_state_dict()
    for name, w in state.items():
        if name.startswith("weight_ih"):
            # Keras draws one (F, gates·H) kernel; torch's (gates·H, F) block has the same fan in and out
            nn.init.xavier_uniform_(w)
        elif name.startswith("weight_hh"):
            for k in range(gates):
                nn.init.orthogonal_(w[k * H:(k + 1) * H])
        else:
            w.zero_()
            if unit_forget_bias and layer.cell_type == "lstm" and name.startswith("bias_ih"):
                w[H:2 * H] = 1.0  # torch order i, f, g, o
    layer.load_torch_state_dict(state)
    return layer
