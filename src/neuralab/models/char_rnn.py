"""Character-level generator: the one-to-many recurrent network (course topic "Recurrent networks: text generation").

    chars (B, T) ids  --one-hot or Embedding-->  (B, T, F)  --RNN/LSTM/GRU x L-->  (B, T, H)
        --Dropout--> Dense(V) at every step (Keras' TimeDistributed(Dense(V, softmax)))  -->  logits (B, T, V)

Trained to predict character t+1 from characters 0..t (cross-entropy over every step, flattened over time), it
generates text one character at a time: feed the seed, sample the next character from softmax(logits / τ),
feed it back with the recurrent state (`generate`). A low temperature τ sharpens the distribution towards the
most likely character (repetitive text), τ = 1 samples the model's own distribution, higher τ flattens it.

The defaults are the course's Keras model, size for size (`shared/anchors/keras_reference.py`, "char-rnn"):
one-hot inputs over a 65-character alphabet, SimpleRNN(128, return_sequences=True), Dense(65) at every step:
8,320 + 16,384 + 128 + 8,385 = 33,217 parameters in Keras; torch's RNN keeps two bias vectors, 128 more: 33,345.
The last layer returns logits (Keras applies the softmax; `cross_entropy` applies log-softmax).

Fast path: LSTM and GRU use torch's fused `nn.LSTM`/`nn.GRU` (oneDNN on CPU, cuDNN on GPU). torch's CPU
`nn.RNN` (tanh) has no fused kernel: it runs an autograd graph of ~5 small ops per step, and measured 98
samples/s on the reference sizes on a 2-core CPU. On CPU the simple RNN therefore runs `TanhRecurrence`, the
recurrence h_t = tanh(a_t + W_hh·h_{t−1}) with the input projection a_t = W_xh·x_t + b for all steps done as one
matrix product and a hand-written backward pass through time (per step: one product and one product-and-add),
645 samples/s on the same machine; a test proves it gives `nn.RNN`'s outputs and gradients. Its loop runs the
recurrence through the logistic function (tanh(x) = 2σ(2x) − 1; torch's CPU sigmoid is ~6x faster than its
tanh), which took the reference sizes from 3,300 to 3,600-3,700 samples/s on one thread; `LoopThreads` then
picks one or all threads for the per-step loops by timing both, as the machine's load allows. The weights live in
an `nn.RNN` either way, so a model moves between the paths (and to cuDNN on GPU) unchanged. One-hot inputs
(ids, or exact one-hot float vectors that need no gradient) make W_xh·x_t a column lookup instead of a
(T·B, V) x (V, H) product.

Shape legend: B batch, T time steps, V vocabulary size, E embedding size (F = E, or V for one-hot inputs),
H hidden units, L layers; recurrent state (L, B, H), or a pair of them (h, c) for the LSTM.

References:
    A. Karpathy, "The unreasonable effectiveness of recurrent neural networks", 2015 (char-rnn).
    I. Sutskever, J. Martens, G. Hinton, "Generating text with recurrent neural networks", ICML 2011.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.models.registry import register_model

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


# ------------------------------------------------------------------------------------------------- helpers
class LoopThreads:
    """The intra-op thread count of the per-step loops, chosen by measuring (like cuDNN's benchmark mode).

    The per-step products are small, (B, H) x (H, H). On an idle machine two threads share them well (the
    reference char-rnn trained 20 vs 24 ms per batch with two threads for its loops on the 2-core machine), but
    on a busy machine every hand-off waits for a descheduled thread (measured 80x slower per step with two CPU
    hogs running). So each loop kind ("forward", "backward") keeps a moving average of the time per step with 1
    and with all threads and runs the faster; the first `probe` steps of every `recheck`-th loop run the other
    count instead, so the choice follows the machine's load at a small cost. The products outside the loops
    always keep every thread. Per process; `reset()` forgets the timings.

    Usage:  with LOOP_THREADS.run("forward") as loop: for t in ...: loop.step(); ...
    """

    def __init__(self, recheck: int = 32, probe: int = 8) -> None:
        self.recheck, self.probe = recheck, probe
        self.reset()

    def reset(self) -> None:
        self.cost: dict[tuple[str, int], float] = {}  # (kind, threads) -> seconds per step (moving average)
        self.calls: dict[str, int] = {}

    def record(self, kind: str, threads: int, seconds_per_step: float) -> None:
        old = self.cost.get((kind, threads))
        self.cost[(kind, threads)] = seconds_per_step if old is None else 0.7 * old + 0.3 * seconds_per_step

    def best(self, kind: str, options: tuple[int, ...]) -> int:
        known = [k for k in options if (kind, k) in self.cost]
        return min(known, key=lambda k: self.cost[(kind, k)]) if known else options[-1]

    @contextlib.contextmanager
    def run(self, kind: str) -> Iterator[_Loop]:
        """A loop with the chosen thread count (restored afterwards); call `.step()` at the start of each step."""
        before = torch.get_num_threads()
        options = (1, before) if before > 1 else (1,)
        n = self.calls[kind] = self.calls.get(kind, 0) + 1
        best = self.best(kind, options)
        untried = [k for k in options if (kind, k) not in self.cost]
        other = untried[0] if untried else next((k for k in options if k != best), best)
        probing = other != best and (bool(untried) or n % self.recheck == 0)
        loop = _Loop(self, kind, other if probing else best, best if probing else None)
        try:
            yield loop
        finally:
            loop.finish()
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)


class _Loop:
    """One timed loop of `LoopThreads.run`: with a probe, its first `probe` steps run `threads` and the rest `then`."""

    def __init__(self, owner: LoopThreads, kind: str, threads: int, then: int | None) -> None:
        self.owner, self.kind, self.threads, self.then = owner, kind, threads, then
        torch.set_num_threads(threads)
        self.calls, self.phase_start, self.t0 = 0, 0, time.perf_counter()

    def step(self) -> None:
        """Call at the start of every step: ends the probe after `probe` steps."""
        if self.then is not None and self.calls == self.owner.probe:
            self._record()
            self.threads, self.then = self.then, None
            torch.set_num_threads(self.threads)
            self.phase_start, self.t0 = self.calls, time.perf_counter()
        self.calls += 1

    def _record(self) -> None:
        steps = self.calls - self.phase_start
        if steps > 0:
            self.owner.record(self.kind, self.threads, (time.perf_counter() - self.t0) / steps)

    def finish(self) -> None:
        self._record()


LOOP_THREADS = LoopThreads()


class TanhRecurrence(torch.autograd.Function):
    """h_t = tanh(a_t + h_{t−1}·W_hhᵀ) for t = 1..T, with backpropagation through time written out.

    Forward input a (T, B, H) holds W_xh·x_t + b for every step; returns every h_t, (T, B, H).
    Backward, from e_t = ∂E/∂h_t (the output's gradient plus what flows back from step t+1):
        δ_t = e_t ∗ (1 − h_t²)        (tanh' = 1 − tanh²)
        e_{t−1} = g_{t−1} + δ_t·W_hh   ∂E/∂W_hh = Σ_t δ_tᵀ·h_{t−1}   ∂E/∂a_t = δ_t   ∂E/∂h_0 = δ_1·W_hh
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, h0: torch.Tensor, w_hh: torch.Tensor) -> torch.Tensor:
        # The loop runs on s_t = (h_t + 1) / 2 = σ(2·(a_t + h_{t−1}·W_hhᵀ)), because tanh(x) = 2σ(2x) − 1 and
        # torch's CPU sigmoid is ~6x faster than its tanh (measured 7.6 vs 46 µs on a 128x128 batch, one
        # thread). Substituting h_{t−1} = 2s_{t−1} − 1:
        #     s_t = σ(z_t),  z_t = 2a_t − 2·W_hh·1 + s_{t−1}·(4W_hh)ᵀ
        # so each step is one product-and-add in place and one sigmoid; h = 2s − 1 once for all steps after.
        ss = torch.add((w_hh.sum(1) * -2.0).to(a.dtype), a, alpha=2.0)  # 2a_t − 2·W_hh·1, (T, B, H)
        s, w4_t = (h0 + 1.0) * 0.5, (w_hh * 4.0).t()
        with LOOP_THREADS.run("forward") as loop:
            for t in range(a.shape[0]):
                loop.step()
                s = ss[t].addmm_(s, w4_t).sigmoid_()
        hs = ss.mul_(2.0).sub_(1.0)  # every h_t = 2s_t − 1
        ctx.save_for_backward(hs, h0, w_hh)
        return hs

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        hs, h0, w_hh = ctx.saved_tensors
        grad = grad.contiguous()
        # tanh'(·) = 1 − h_t² for every step at once; overwritten in place with δ_t below
        delta = torch.addcmul(torch.ones((), dtype=hs.dtype, device=hs.device), hs, hs, value=-1.0)
        e = grad[-1]
        with LOOP_THREADS.run("backward") as loop:
            for t in range(hs.shape[0] - 1, 0, -1):
                loop.step()
                d = delta[t].mul_(e)
                e = torch.addmm(grad[t - 1], d, w_hh)
            d0 = delta[0].mul_(e)
        dh0 = d0 @ w_hh
        H = hs.shape[-1]
        # ∂E/∂W_hh = Σ_t δ_tᵀ h_{t−1}: one product over all (t, b) pairs instead of T small ones
        dw = delta[1:].reshape(-1, H).t() @ hs[:-1].reshape(-1, H) + d0.t() @ h0
        return delta, dh0, dw


def one_hot_ids(x: torch.Tensor) -> torch.Tensor | None:
    """The ids of a float batch of exact one-hot vectors (B, T, V) -> (B, T), or None if it is not one."""
    if x.requires_grad or x.numel() == 0:
        return None  # a gradient with respect to the vectors themselves needs the dense product
    # Two passes over x: if every row's largest entry is 1 and x has exactly one non-zero per row, that
    # non-zero is the 1 and every other entry is 0.
    ids = x.argmax(-1)
    if bool((x.gather(-1, ids.unsqueeze(-1)) == 1).all()) and int(x.count_nonzero()) == ids.numel():
        return ids
    return None


def tanh_rnn_layer(rnn: nn.RNN, layer: int, x: torch.Tensor, h0: torch.Tensor,
                   ids: torch.Tensor | None = None) -> torch.Tensor:
    """One layer of `rnn` (tanh, batch_first) through `TanhRecurrence`: x (B, T, F), h0 (B, H) -> (B, T, H).

    With `ids` (B, T), x is the one-hot encoding of `ids` and W_xh·x_t is column ids[t] of W_xh: a lookup
    instead of a (T·B, V) x (V, H) product, forward and backward.
    """
    w_ih, w_hh = getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")
    b = getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")
    B, T, _ = x.shape
    # time-major for contiguous per-step slices: (B, T, F) -> (T·B, F) -> (T, B, H)
    if ids is not None:
        a = F.embedding(ids.t().reshape(-1), w_ih.t() + b).view(T, B, -1)  # bias folded into the (V, H) table
    else:
        a = torch.addmm(b, x.transpose(0, 1).reshape(T * B, -1), w_ih.t()).view(T, B, -1)
    return TanhRecurrence.apply(a, h0, w_hh).transpose(0, 1)  # (B, T, H)


# ------------------------------------------------------------------------------------------------- network
@dataclass
class CharRNNConfig:
    """Configuration of `char-rnn` (defaults: the course's Keras model of `keras_reference.py`).

    Attributes:
        vocab_size: number of characters V.
        cell: `rnn` (SimpleRNN, tanh), `lstm` or `gru`.
        embed_dim: 0 feeds one-hot vectors (as the course); > 0 learns an Embedding(V, embed_dim).
        hidden_size: units H per layer.
        num_layers: stacked recurrent layers.
        dropout: dropout between recurrent layers and before the output layer (training only).
    """

    vocab_size: int = 65
    cell: str = "rnn"
    embed_dim: int = 0
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("vocab_size", "hidden_size", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.embed_dim < 0:
            raise ValueError(f"embed_dim must be >= 0 (0: one-hot inputs), got {self.embed_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def one_hot(self) -> bool:
        return self.embed_dim == 0

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        """Character ids (B, 12); float one-hot vectors (B, 12, V) when the model takes one-hot inputs."""
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(0, self.vocab_size, (batch_size, 12), generator=g)
        return F.one_hot(ids, self.vocab_size).float() if self.one_hot else ids


class CharRNN(nn.Module):
    """One-hot or embedded characters -> stacked RNN/LSTM/GRU -> Dense(V) logits at every step.

    Shape:
        x: ids (B, T) int64, or float one-hot vectors (B, T, V) -> logits (B, T, V).
    """

    def __init__(self, cfg: CharRNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = None if cfg.one_hot else nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        in_size = cfg.vocab_size if cfg.one_hot else cfg.embed_dim
        self.rnn = CELLS[cfg.cell](in_size, cfg.hidden_size, num_layers=cfg.num_layers, batch_first=True,
                                   dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():
            if x.ndim != 3 or x.shape[-1] != self.cfg.vocab_size:
                raise ValueError(f"float inputs must be one-hot vectors (B, T, {self.cfg.vocab_size}), "
                                 f"got {tuple(x.shape)}")
            if self.embed is None:
                return x
            return x @ self.embed.weight  # one-hot rows select embedding rows: (B, T, V) @ (V, E)
        if x.ndim != 2:
            raise ValueError(f"character ids must be (B, T), got {tuple(x.shape)}")
        if self.embed is None:
            return F.one_hot(x, self.cfg.vocab_size).to(self.head.weight.dtype)  # (B, T) -> (B, T, V)
        return self.embed(x)

    def _fast_rnn(self, x: torch.Tensor, state: torch.Tensor | None, ids: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        B = x.shape[0]
        hs = []
        for layer in range(self.cfg.num_layers):
            h0 = x.new_zeros(B, self.cfg.hidden_size) if state is None else state[layer]
            if layer:
                x = F.dropout(x, self.cfg.dropout, self.training)  # nn.RNN's dropout between layers
            x = tanh_rnn_layer(self.rnn, layer, x, h0, ids=None if layer else ids)
            hs.append(x[:, -1])
        return x, torch.stack(hs)  # (B, T, H), (L, B, H)

    def forward(self, x: torch.Tensor, state: State | None = None, return_state: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, State]:
        """Logits for every step (and the final recurrent state with `return_state`)."""
        z = self._inputs(x)
        if self.cfg.cell == "rnn" and z.device.type == "cpu" and torch.is_grad_enabled():
            ids = None
            if self.cfg.one_hot:
                ids = x if not x.is_floating_point() else one_hot_ids(x)
            out, state = self._fast_rnn(z, state, ids)
        else:
            out, state = self.rnn(z, state)
        if out.ndim == 3 and not out.is_contiguous() and out.transpose(0, 1).is_contiguous():
            # the CPU fast path stores the steps time-major (T, B, H): apply the head there and hand back a
            # (B, T, V) view, so neither direction copies the hidden states (sequence_cross_entropy reads it as is)
            logits = self.head(self.drop(out.transpose(0, 1))).transpose(0, 1)
        else:
            logits = self.head(self.drop(out))
        return (logits, state) if return_state else logits

    @torch.no_grad()
    def generate(self, seed_ids: torch.Tensor, length: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample `length` characters after the seed.

        Args:
            seed_ids: ids (T0,) of the seed text, T0 >= 1 (its last character starts the generation).
            length: number of characters to generate.
            temperature: τ > 0 samples from softmax(logits / τ); τ = 0 takes the most likely character.
            generator: a seeded torch.Generator for reproducible samples.

        Returns:
            The generated ids (length,), int64, on the CPU.
        """
        if seed_ids.ndim != 1 or len(seed_ids) < 1:
            raise ValueError(f"seed_ids must be a non-empty 1-D tensor, got shape {tuple(seed_ids.shape)}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        was_training = self.training
        self.eval()
        dev = self.head.weight.device
        logits, state = self(seed_ids.to(dev)[None], return_state=True)  # warm the state up on the seed
        out = torch.empty(length, dtype=torch.int64)
        for i in range(length):
            last = logits[0, -1].float()
            if temperature == 0:
                nxt = int(last.argmax())
            else:
                probs = torch.softmax(last / temperature, dim=-1).cpu()
                nxt = int(torch.multinomial(probs, 1, generator=generator))
            out[i] = nxt
            logits, state = self(torch.tensor([[nxt]], device=dev), state, return_state=True)
        self.train(was_training)
        return out


def sequence_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every step: logits (B, T, V), targets (B, T) -> scalar (nats per character)."""
    V = logits.shape[-1]
    if logits.ndim == 3 and not logits.is_contiguous() and logits.transpose(0, 1).is_contiguous():
        # a (B, T, V) view of time-major logits (CharRNN's CPU path): the mean over all (t, b) pairs does not
        # depend on their order, so read them time-major instead of copying them batch-major
        return F.cross_entropy(logits.transpose(0, 1).reshape(-1, V), targets.transpose(0, 1).reshape(-1))
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))  # (B·T, V) vs (B·T,)


def bench_data(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, object]:
    """The Keras reference's synthetic char-rnn batch: one-hot x (n, 100, 65), next-character ids y (n, 100).

    As `keras_reference.inputs("char-rnn")`: random ids, targets rolled by one step (Keras uses one-hot targets
    and categorical cross-entropy; integer targets with `cross_entropy` are the same loss).
    """
    vocab, seq_len = 65, 100
    idx = torch.randint(0, vocab, (n, seq_len), generator=gen)
    x = F.one_hot(idx, vocab).float()  # (n, T) -> (n, T, V)
    y = torch.roll(idx, -1, dims=1)
    return x, y, sequence_cross_entropy


@register_model("char-rnn", CharRNNConfig, "one-to-many character generator: one-hot/embedded chars -> "
                "RNN/LSTM/GRU -> Dense(V) at every step (course default: SimpleRNN 128, one-hot)")
def build_char_rnn(cfg: CharRNNConfig) -> CharRNN:
    return CharRNN(cfg)
