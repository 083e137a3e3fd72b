"""Encoder-decoder (sequence-to-sequence) network: the many-to-many recurrent architecture (course topic
"Recurrent networks: machine translation").

    source ids (B, S) -> Embedding -> encoder LSTM/GRU -> outputs (B, S, H), final state
    target ids (B, T) -> Embedding -> decoder LSTM/GRU started from the encoder's final state -> (B, T, H)
        [-> attention over the encoder outputs -> attentional state] -> Dense(V_tgt) logits (B, T, V_tgt)

Training uses teacher forcing: the decoder reads the true previous target token (`<bos>` then y_1..y_{T−1}) and
predicts y_1..y_T. Inference decodes greedily: start from `<bos>`, feed back the most likely token, stop at
`<eos>` or `max_len` (`greedy_decode`).

Attention (optional):
  - `luong` (multiplicative, "general"): score(h_t, s̄_j) = h_tᵀ·W_a·s̄_j over the encoder outputs s̄_j,
    α_t = softmax(scores), c_t = Σ_j α_tj·s̄_j, attentional state h̃_t = tanh(W_c·[c_t; h_t]) -> Dense(V). The
    decoder RNN does not read the context, so with teacher forcing it runs as one fused call over all steps.
  - `bahdanau` (additive): score(s_{t−1}, s̄_j) = vᵀ·tanh(W_1·s̄_j + W_2·s_{t−1}), computed from the decoder's
    *previous* state; the context is concatenated to the input embedding of step t, so the decoder runs step by
    step. Output from [s_t; c_t].
Padding positions of the source (id `pad_index`) are masked out of the softmax; the encoder packs the batch by
length so its final state is that of the last real token.

Shape legend: B batch, S source length, T target length, E embedding size, H hidden units, V vocabulary sizes.

References:
    I. Sutskever, O. Vinyals, Q. Le, "Sequence to sequence learning with neural networks", NeurIPS 2014.
    D. Bahdanau, K. Cho, Y. Bengio, "Neural machine translation by jointly learning to align and translate",
        ICLR 2015.
    M.-T. Luong, H. Pham, C. Manning, "Effective approaches to attention-based neural machine translation",
        EMNLP 2015.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from neuralab.models.registry import register_model

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
ATTENTIONS = ("none", "luong", "bahdanau")


@dataclass
class Seq2SeqConfig:
    """Configuration of `seq2seq`.

    Attributes:
        src_vocab: source vocabulary size (id `pad_index` is padding).
        tgt_vocab: target vocabulary size (ids `pad_index`, `bos_index`, `eos_index` are reserved).
        embed_dim: embedding size E (source and target each have their own embedding).
        hidden_size: units H of the encoder and the decoder.
        num_layers: stacked layers of each.
        cell: `lstm` or `gru`.
        attention: `none`, `luong` or `bahdanau`.
        dropout: dropout on embeddings and before the output layer.
        pad_index, bos_index, eos_index: reserved target (and source padding) ids.
    """

    src_vocab: int = 40
    tgt_vocab: int = 14
    embed_dim: int = 32
    hidden_size: int = 64
    num_layers: int = 1
    cell: str = "lstm"
    attention: str = "luong"
    dropout: float = 0.0
    pad_index: int = 0
    bos_index: int = 1
    eos_index: int = 2

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}, got {self.attention!r}")
        for name in ("src_vocab", "tgt_vocab", "embed_dim", "hidden_size", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("pad_index", "bos_index", "eos_index"):
            if not 0 <= getattr(self, name) < self.tgt_vocab:
                raise ValueError(f"{name} must be in [0, tgt_vocab), got {getattr(self, name)}")
        if self.pad_index >= self.src_vocab:
            raise ValueError(f"pad_index must be < src_vocab, got {self.pad_index}")

    def example_input(self, batch_size: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
        """(source ids (B, 9) with the last row padded after 6 tokens, teacher-forcing target ids (B, 5))."""
        g = torch.Generator().manual_seed(0)
        src = torch.randint(1, self.src_vocab, (batch_size, 9), generator=g)
        src[-1, 6:] = self.pad_index
        tgt = torch.randint(0, self.tgt_vocab, (batch_size, 5), generator=g)
        tgt[:, 0] = self.bos_index
        return src, tgt


class Seq2Seq(nn.Module):
    """Encoder-decoder LSTM/GRU with optional Luong or Bahdanau attention.

    Shape:
        forward(src (B, S) int64, tgt_in (B, T) int64) -> logits (B, T, tgt_vocab).
    """

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        self.cfg = cfg
        E, H = cfg.embed_dim, cfg.hidden_size
        rnn = CELLS[cfg.cell]
        self.src_embed = nn.Embedding(cfg.src_vocab, E, padding_idx=cfg.pad_index)
        self.tgt_embed = nn.Embedding(cfg.tgt_vocab, E, padding_idx=cfg.pad_index)
        self.encoder = rnn(E, H, num_layers=cfg.num_layers, batch_first=True)
        dec_in = E + H if cfg.attention == "bahdanau" else E  # Bahdanau feeds the context c_t with y_{t−1}
        self.decoder = rnn(dec_in, H, num_layers=cfg.num_layers, batch_first=True)
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.attention == "luong":
            self.w_a = nn.Linear(H, H, bias=False)  # score = h_tᵀ W_a s̄_j
            self.w_c = nn.Linear(2 * H, H)  # h̃_t = tanh(W_c [c_t; h_t])
        elif cfg.attention == "bahdanau":
            self.w_1 = nn.Linear(H, H, bias=False)  # W_1 s̄_j
            self.w_2 = nn.Linear(H, H)  # W_2 s_{t−1}
            self.v = nn.Linear(H, 1, bias=False)
        out_in = 2 * H if cfg.attention == "bahdanau" else H
        self.head = nn.Linear(out_in, cfg.tgt_vocab)

    # ------------------------------------------------------------------------------------------ encoder
    def encode(self, src: torch.Tensor):
        """Encoder outputs (B, S, H), final state, and the source mask (B, S) (True = real token)."""
        mask = src != self.cfg.pad_index
        lengths = mask.sum(1).clamp(min=1).cpu()
        emb = self.drop(self.src_embed(src))  # (B, S, E)
        packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.encoder(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # (B, S, H)
        return out, state, mask

    @staticmethod
    def _top(state) -> torch.Tensor:
        h = state[0] if isinstance(state, tuple) else state
        return h[-1]  # last layer's hidden state (B, H)

    # --------------------------------------------------------------------------------------- attention
    def _luong(self, dec_out: torch.Tensor, enc_out: torch.Tensor, mask: torch.Tensor):
        # scores (B, T, S) = dec_out (B, T, H) · W_a enc_out (B, S, H)ᵀ
        scores = dec_out @ self.w_a(enc_out).transpose(1, 2)
        alpha = torch.softmax(scores.masked_fill(~mask[:, None, :], float("-inf")), dim=-1)
        context = alpha @ enc_out  # (B, T, S) @ (B, S, H) -> (B, T, H)
        return torch.tanh(self.w_c(torch.cat([context, dec_out], dim=-1))), alpha

    def _bahdanau_step(self, s_prev: torch.Tensor, keys: torch.Tensor, enc_out: torch.Tensor, mask: torch.Tensor):
        # scores (B, S) = vᵀ tanh(W_1 s̄_j + W_2 s_{t−1}); keys = W_1 s̄ precomputed once per batch
        scores = self.v(torch.tanh(keys + self.w_2(s_prev)[:, None, :])).squeeze(-1)
        alpha = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        return (alpha[:, :, None] * enc_out).sum(1), alpha  # context (B, H), weights (B, S)

    # ---------------------------------------------------------------------------------------- decoding
    def decode(self, tgt_in: torch.Tensor, enc_out: torch.Tensor, state, mask: torch.Tensor):
        """Logits (B, T, V), the decoder's last state and attention weights (B, T, S) or None."""
        emb = self.drop(self.tgt_embed(tgt_in))  # (B, T, E)
        if self.cfg.attention == "bahdanau":
            keys = self.w_1(enc_out)  # (B, S, H)
            outs, alphas = [], []
            for t in range(tgt_in.shape[1]):
                context, alpha = self._bahdanau_step(self._top(state), keys, enc_out, mask)
                step_in = torch.cat([emb[:, t], context], dim=-1)[:, None]  # (B, 1, E + H)
                out, state = self.decoder(step_in, state)
                outs.append(torch.cat([out[:, 0], context], dim=-1))  # (B, 2H)
                alphas.append(alpha)
            feats, attn = torch.stack(outs, 1), torch.stack(alphas, 1)  # (B, T, 2H), (B, T, S)
        else:
            feats, state = self.decoder(emb, state)  # (B, T, H)
            attn = None
            if self.cfg.attention == "luong":
                feats, attn = self._luong(feats, enc_out, mask)
        return self.head(self.drop(feats)), state, attn

    def forward(self, src: torch.Tensor | tuple[torch.Tensor, torch.Tensor], tgt_in: torch.Tensor | None = None
                ) -> torch.Tensor:
        """Teacher-forced logits: src (B, S), tgt_in (B, T) = `<bos>` y_1 .. y_{T−1} -> (B, T, tgt_vocab).

        `src` may also be the pair (src, tgt_in): the Trainer passes a batch's inputs as one object.
        """
        if tgt_in is None:
            src, tgt_in = src
        enc_out, state, mask = self.encode(src)
        logits, _, _ = self.decode(tgt_in, enc_out, state, mask)
        return logits

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Greedy decoding from `<bos>`: the most likely token at every step, fed back.

        Returns:
            tokens (B, max_len) int64 (after a sequence's `<eos>`, `pad_index`), and attention weights
            (B, max_len, S) or None without attention.
        """
        enc_out, state, mask = self.encode(src)
        B = src.shape[0]
        tok = torch.full((B, 1), self.cfg.bos_index, dtype=torch.int64, device=src.device)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        out, alphas = [], []
        for _ in range(max_len):
            logits, state, attn = self.decode(tok, enc_out, state, mask)
            tok = logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
            out.append(tok[:, 0].masked_fill(done, self.cfg.pad_index))
            if attn is not None:
                alphas.append(attn[:, -1])
            done |= tok[:, 0] == self.cfg.eos_index
            if bool(done.all()):
                break
        tokens = torch.full((B, max_len), self.cfg.pad_index, dtype=torch.int64, device=src.device)
        tokens[:, :len(out)] = torch.stack(out, 1)
        attn_all = None
        if alphas:
            attn_all = src.new_zeros(B, max_len, src.shape[1], dtype=enc_out.dtype)
            attn_all[:, :len(alphas)] = torch.stack(alphas, 1)
        return tokens, attn_all


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, pad_index: int = 0) -> torch.Tensor:
    """Mean cross-entropy over the non-padding target tokens: logits (B, T, V), targets (B, T) -> scalar."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=pad_index)


@register_model("seq2seq", Seq2SeqConfig, "many-to-many encoder-decoder LSTM/GRU with teacher forcing, greedy "
                "decoding and optional Luong/Bahdanau attention")
def build_seq2seq(cfg: Seq2SeqConfig) -> Seq2Seq:
    return Seq2Seq(cfg)
