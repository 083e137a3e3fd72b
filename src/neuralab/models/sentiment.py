"""Many-to-one sentiment network: Embedding -> LSTM -> Dense 1 (course topic "Recurrent networks: many-to-one").

The course's Keras model, size for size (`shared/anchors/keras_reference.py`, "sentiment-lstm"):

    Embedding(10000, 16) -> LSTM(32) -> Dense(1, sigmoid)

Keras' summary counts 166,305 parameters (160,000 + 6,272 + 33); torch's LSTM keeps two bias vectors per gate
(b_ih and b_hh, which only ever act as their sum), 128 more: 166,433.

The Dense layer returns a logit (Keras applies the sigmoid; here `BCEWithLogitsLoss` does, which is the same
loss computed stably). The LSTM is torch's fused `nn.LSTM` (oneDNN on CPU, cuDNN on GPU); the course's gate
equations are written out as a reference cell in `neuralab.nn`, whose tests compare it with this kernel. Weights
start as
Keras starts them (uniform ±0.05 embedding, Glorot-uniform input kernels, orthogonal recurrent kernels, forget
bias 1), so both begin from the same distribution.

The config also builds the stronger network: several layers, bidirectional, a larger embedding, dropout, and
masking of the padding — with `use_lengths` each row's real tokens are left-aligned (and, for the
right-to-left direction, reversed in place), so both directions see only the real tokens whichever side the
padding is on, the backward direction starts at the last real word, and the fused kernel is still used — and
pooling of all hidden states (mean, max or both) instead of the last one.

Shape legend: tokens (B, T) int64 ids, 0 = padding -> embedded (B, T, E) -> LSTM outputs (B, T, D·H) with
D = 2 if bidirectional else 1 -> features (B, D·H) or (B, 2·D·H) for "meanmax" -> logits (B, 1).

References:
    S. Hochreiter, J. Schmidhuber, "Long short-term memory", Neural Computation 9(8), 1997.
    A. Maas et al., "Learning word vectors for sentiment analysis", ACL 2011 (the IMDB data set).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.models.registry import register_model

POOLINGS = ("last", "mean", "max", "meanmax")


@dataclass
class SentimentLSTMConfig:
    """Configuration of `sentiment-lstm` (defaults: the course model).

    Attributes:
        vocab_size: embedding rows (the tokenizer's `max_words`; id 0 is padding).
        embed_dim: embedding size E.
        hidden_size: LSTM units H per direction.
        num_layers: stacked LSTM layers.
        bidirectional: run a second LSTM right-to-left and concatenate.
        dropout: dropout on the embeddings, between LSTM layers and before the dense layer.
        pooling: `last` (the final hidden state, Keras' `return_sequences=False`), or `mean`/`max`/`meanmax` over
            the hidden states of the real (non-padding) tokens.
        use_lengths: mask the padding (left-align the real tokens, reverse them for the backward direction);
            without it the padding tokens are fed to the LSTM as Keras does without `mask_zero`.
        pad_index: the padding id.
    """

    vocab_size: int = 10000
    embed_dim: int = 16
    hidden_size: int = 32
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    pooling: str = "last"
    use_lengths: bool = False
    pad_index: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if not 0 <= self.pad_index < self.vocab_size:
            raise ValueError(f"pad_index must be in [0, vocab_size), got {self.pad_index}")

    @property
    def num_features(self) -> int:
        d = 2 if self.bidirectional else 1
        return d * self.hidden_size * (2 if self.pooling == "meanmax" else 1)

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        x = torch.randint(1, self.vocab_size, (batch_size, 12), generator=g)
        x[0, :3] = self.pad_index  # one pre-padded row, as pad_sequences writes it
        return x


def keras_init_(lstm: nn.LSTM) -> None:
    """Keras' LSTM initialisation: Glorot-uniform input kernel, orthogonal recurrent kernel, zero bias with the
    forget gate's at 1 (`unit_forget_bias`). torch keeps two bias vectors; the 1 goes in one of them.
    Gate order in torch's weights: i, f, g, o (rows k·H .. (k+1)·H)."""
    h = lstm.hidden_size
    for name, p in lstm.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(p)
        elif name.startswith("weight_hh"):
            for k in range(4):  # Keras draws one orthogonal (H, 4H) matrix; per gate block is the same spirit
                nn.init.orthogonal_(p.data[k * h:(k + 1) * h])
        elif name.startswith("bias_ih"):
            nn.init.zeros_(p)
            p.data[h:2 * h] = 1.0
        elif name.startswith("bias_hh"):
            nn.init.zeros_(p)


class SentimentLSTM(nn.Module):
    """Embedding -> (stacked, optionally bidirectional) LSTM -> last state or pooled states -> Dense(1) logit.

    Shape:
        tokens (B, T) int64 -> logits (B, 1).
    """

    def __init__(self, cfg: SentimentLSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        d = 2 if cfg.bidirectional else 1
        if cfg.use_lengths:
            # One single-direction LSTM per layer and direction: each reads only the real tokens (see
            # `_masked_features`), and each stays on the fused kernel, which packed sequences would leave
            # (measured 8-12x slower on CPU for a 64-unit BiLSTM over 400 tokens).
            self.layers = nn.ModuleList(
                nn.ModuleList(nn.LSTM(cfg.embed_dim if i == 0 else d * cfg.hidden_size, cfg.hidden_size,
                                      batch_first=True) for _ in range(d))
                for i in range(cfg.num_layers))
            for layer in self.layers:
                for lstm in layer:
                    keras_init_(lstm)
        else:
            self.lstm = nn.LSTM(cfg.embed_dim, cfg.hidden_size, num_layers=cfg.num_layers, batch_first=True,
                                bidirectional=cfg.bidirectional, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
            keras_init_(self.lstm)
        self.drop = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(cfg.num_features, 1)
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)  # Keras' Embedding default
        nn.init.xavier_uniform_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """The (B, num_features) vector the dense layer reads."""
        cfg = self.cfg
        if cfg.use_lengths:
            return self._masked_features(tokens)
        out, (h_n, _) = self.lstm(self.drop(self.embedding(tokens)))  # out (B, T, D·H); h_n (L·D, B, H)
        if cfg.pooling == "last":
            return self._last_state(h_n)
        return self._pool(out, torch.ones(tokens.shape, dtype=torch.bool, device=tokens.device))

    def _last_state(self, h_n: torch.Tensor) -> torch.Tensor:
        if self.cfg.bidirectional:  # the top layer's forward and backward final states
            return torch.cat([h_n[-2], h_n[-1]], dim=1)  # (B, 2H)
        return h_n[-1]  # (B, H)

    def _pool(self, out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(out.dtype)  # (B, T, 1)
        mean = (out * m).sum(1) / m.sum(1).clamp_min(1.0)
        if self.cfg.pooling == "mean":
            return mean
        mx = out.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
        mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))  # an all-padding row
        return mx if self.cfg.pooling == "max" else torch.cat([mean, mx], dim=1)

    def _masked_features(self, tokens: torch.Tensor) -> torch.Tensor:
        b = tokens.shape[0]
        pad = tokens == self.cfg.pad_index  # (B, T)
        # Left-align: a stable sort of the padding flags moves the real tokens to the front in their order,
        # for 'pre' and 'post' padding alike. A left-to-right LSTM then finishes every real token before it
        # sees any padding, so its outputs at the real positions are exactly those of the unpadded text.
        order = torch.argsort(pad.to(torch.int8), dim=1, stable=True)
        tokens = tokens.gather(1, order)  # (B, T), real tokens first
        lengths = (~pad).sum(1).clamp_min(1)  # an empty text still gets one (padding) step
        t = int(lengths.max())
        tokens = tokens[:, :t]  # (B, T') columns of padding only are never needed
        pos = torch.arange(t, device=tokens.device)[None, :]  # (1, T')
        mask = pos < lengths[:, None]  # (B, T)
        # Reversing each row's real tokens in place (position p <-> len-1-p, padding untouched) gives the
        # right-to-left direction the same property; the permutation is its own inverse.
        rev = torch.where(mask, lengths[:, None] - 1 - pos, pos)  # (B, T)
        x = self.drop(self.embedding(tokens))  # (B, T, E)
        for i, layer in enumerate(self.layers):
            if i:
                x = self.drop(x)  # dropout between layers, as nn.LSTM(dropout=...)
            outs = [layer[0](x)[0]]  # (B, T, H)
            if len(layer) == 2:
                idx = rev[:, :, None].expand(-1, -1, x.shape[2])
                back = layer[1](x.gather(1, idx))[0]  # (B, T, H) in reversed order
                outs.append(back.gather(1, rev[:, :, None].expand(-1, -1, back.shape[2])))
            x = torch.cat(outs, dim=2)  # (B, T, D·H)
        if self.cfg.pooling == "last":
            h = self.cfg.hidden_size
            last = x[torch.arange(b, device=x.device), lengths - 1]  # (B, D·H): each row's last real step
            if self.cfg.bidirectional:  # the right-to-left direction ends at position 0
                return torch.cat([last[:, :h], x[:, 0, h:]], dim=1)
            return last
        return self._pool(x, mask)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.features(tokens)))


def bench_data(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, object]:
    """The Keras reference's synthetic batch for `neuralab bench sentiment-lstm`: ids 1..9999 of shape
    (n, 200), random 0/1 targets (n, 1), binary cross-entropy on the logit."""
    x = torch.randint(1, 10000, (n, 200), generator=gen)  # (N, T) int64 like keras_reference.inputs
    y = torch.randint(0, 2, (n, 1), generator=gen).float()  # (N, 1)
    return x, y, F.binary_cross_entropy_with_logits


@register_model("sentiment-lstm", SentimentLSTMConfig,
                "many-to-one Embedding(10000,16) -> LSTM(32) -> Dense 1 (course); bidirectional/stacked/pooled")
def build_sentiment_lstm(cfg: SentimentLSTMConfig) -> SentimentLSTM:
    return SentimentLSTM(cfg)
