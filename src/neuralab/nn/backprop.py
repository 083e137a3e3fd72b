"""Backpropagation written out by hand, as the course derives it, for a fully connected sigmoid network.

Forward (layer l = 1..L, h_0 = x, one shared bias b_l per layer as in the worked example):

    net_l = W_l h_{l-1} + b_l          h_l = σ(net_l)          o = h_L
    E = ½ Σ_k (t_k − o_k)²

Backward (the chain rule, from the output back):

    ∂E/∂o_k        = −(t_k − o_k) = o_k − t_k
    ∂o_k/∂net_k    = o_k (1 − o_k)                         (σ' written with σ itself)
    δ_L            = (o − t) ⊙ o ⊙ (1 − o)                 ∂E/∂W_L = δ_L h_{L−1}ᵀ
    δ_l            = (W_{l+1}ᵀ δ_{l+1}) ⊙ h_l ⊙ (1 − h_l)    ∂E/∂W_l = δ_l h_{l−1}ᵀ
    ∂E/∂b_l        = Σ_j δ_l,j                              (the bias is shared by the layer's units)
    W_l ← W_l − η ∂E/∂W_l

`worked_example_terms` spells out the course's 2-2-2 example term by term (∂E/∂w5 = ∂E/∂o1 · ∂o1/∂net_o1 ·
∂net_o1/∂w5, ...), with the course's weight names w1..w8.

Shape legend: x (n_in,), t (n_out,), W_l (n_l, n_{l−1}), b_l scalar; no batch dimension (one example).

References:
    Course topic "Backpropagation" (the worked 2-2-2 example); Rumelhart, Hinton & Williams, 1986.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from neuralab.nn.activations import sigmoid


@dataclass
class SigmoidNet:
    """Weights and shared biases of a fully connected sigmoid network (one example at a time)."""

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.biases):
            raise ValueError(f"{len(self.weights)} weight matrices but {len(self.biases)} biases")
        for i in range(1, len(self.weights)):
            if self.weights[i].shape[1] != self.weights[i - 1].shape[0]:
                raise ValueError(f"layer {i + 1} expects {self.weights[i].shape[1]} inputs but layer {i} "
                                 f"has {self.weights[i - 1].shape[0]} units")

    def clone(self) -> SigmoidNet:
        return SigmoidNet([w.clone() for w in self.weights], [b.clone() for b in self.biases])


@dataclass
class ForwardCache:
    x: torch.Tensor
    nets: list[torch.Tensor] = field(default_factory=list)  # net_l, shape (n_l,)
    outs: list[torch.Tensor] = field(default_factory=list)  # h_l = σ(net_l); outs[-1] is o

    @property
    def output(self) -> torch.Tensor:
        return self.outs[-1]


def forward(net: SigmoidNet, x: torch.Tensor) -> ForwardCache:
    """net_l = W_l h_{l−1} + b_l, h_l = σ(net_l); keeps every net_l and h_l for the backward pass."""
    cache = ForwardCache(x=x)
    h = x
    for w, b in zip(net.weights, net.biases, strict=True):
        z = w @ h + b  # (n_l, n_{l-1}) @ (n_{l-1},) -> (n_l,)
        h = sigmoid(z)
        cache.nets.append(z)
        cache.outs.append(h)
    return cache


def errors(o: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """E_k = ½ (t_k − o_k)², one per output; E_total is their sum."""
    return 0.5 * (t - o) ** 2


def backward(net: SigmoidNet, cache: ForwardCache, t: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """∂E_total/∂W_l and ∂E_total/∂b_l for every layer, by the chain rule written out above."""
    o = cache.output
    delta = (o - t) * o * (1.0 - o)  # δ_L = ∂E/∂o ⊙ ∂o/∂net
    grads_w: list[torch.Tensor] = []
    grads_b: list[torch.Tensor] = []
    for layer in range(len(net.weights) - 1, -1, -1):
        h_prev = cache.x if layer == 0 else cache.outs[layer - 1]
        grads_w.append(torch.outer(delta, h_prev))  # ∂net_j/∂w_ji = h_prev_i
        grads_b.append(delta.sum())
        if layer > 0:
            h = cache.outs[layer - 1]
            delta = (net.weights[layer].T @ delta) * h * (1.0 - h)  # back through W, then σ'
    return grads_w[::-1], grads_b[::-1]


def sgd_step(net: SigmoidNet, grads_w: list[torch.Tensor], grads_b: list[torch.Tensor], lr: float,
             update_biases: bool = False) -> SigmoidNet:
    """W ← W − η ∂E/∂W (biases too if `update_biases`; the course's example keeps them fixed)."""
    new = net.clone()
    for i, gw in enumerate(grads_w):
        new.weights[i] = net.weights[i] - lr * gw
        if update_biases:
            new.biases[i] = net.biases[i] - lr * grads_b[i]
    return new


def autograd_gradients(net: SigmoidNet, x: torch.Tensor, t: torch.Tensor
                       ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The same gradients from torch.autograd (the oracle the hand-written pass is tested against)."""
    ws = [w.detach().clone().requires_grad_(True) for w in net.weights]
    bs = [b.detach().clone().requires_grad_(True) for b in net.biases]
    h = x
    for w, b in zip(ws, bs, strict=True):
        h = torch.sigmoid(w @ h + b)
    errors(h, t).sum().backward()
    return [w.grad for w in ws], [b.grad for b in bs]


# --------------------------------------------------------------------------- the course's 2-2-2 example
# Course weight names -> (layer, row = receiving unit, column = sending unit).
COURSE_WEIGHTS = {
    "w1": (0, 0, 0), "w2": (0, 1, 0), "w3": (0, 0, 1), "w4": (0, 1, 1),  # x -> h
    "w5": (1, 0, 0), "w6": (1, 1, 0), "w7": (1, 0, 1), "w8": (1, 1, 1),  # h -> o
}


def course_net(dtype: torch.dtype = torch.float64) -> tuple[SigmoidNet, torch.Tensor, torch.Tensor, float]:
    """The worked example: x = (0.2, 0.3), t = (0.2, 0.8), b1 = 0.25, b2 = 0.31, η = 0.4, and w1..w8."""
    w = {"w1": 0.3, "w2": 0.4, "w3": 0.6, "w4": 0.2, "w5": 0.2, "w6": 0.1, "w7": 0.3, "w8": 0.4}
    net = SigmoidNet([torch.zeros(2, 2, dtype=dtype), torch.zeros(2, 2, dtype=dtype)],
                     [torch.tensor(0.25, dtype=dtype), torch.tensor(0.31, dtype=dtype)])
    for name, (layer, r, c) in COURSE_WEIGHTS.items():
        net.weights[layer][r, c] = w[name]
    return net, torch.tensor([0.2, 0.3], dtype=dtype), torch.tensor([0.2, 0.8], dtype=dtype), 0.4


def course_weight(net: SigmoidNet, name: str) -> float:
    layer, r, c = COURSE_WEIGHTS[name]
    return float(net.weights[layer][r, c])


def worked_example_terms(net: SigmoidNet, x: torch.Tensor, t: torch.Tensor) -> dict[str, float]:
    """Every intermediate quantity of the 2-2-2 example, named as the course names it."""
    cache = forward(net, x)
    (h1, h2), (o1, o2) = cache.outs[0].tolist(), cache.outs[1].tolist()
    e1, e2 = errors(cache.output, t).tolist()
    t1, t2 = t.tolist()
    x1 = float(x[0])
    w = {k: course_weight(net, k) for k in COURSE_WEIGHTS}
    dE_do1, dE_do2 = o1 - t1, o2 - t2  # ∂E_total/∂o_k = −(t_k − o_k)
    do1_dnet, do2_dnet = o1 * (1 - o1), o2 * (1 - o2)
    dh1_dnet = h1 * (1 - h1)
    d_o1, d_o2 = dE_do1 * do1_dnet, dE_do2 * do2_dnet  # δ_o1, δ_o2
    dE1_dw1 = d_o1 * w["w5"] * dh1_dnet * x1  # path through o1
    dE2_dw1 = d_o2 * w["w6"] * dh1_dnet * x1  # path through o2
    return {
        "h1": h1, "h2": h2, "o1": o1, "o2": o2, "E1": e1, "E2": e2, "E_total": e1 + e2,
        "dE/do1": dE_do1, "do1/dnet_o1": do1_dnet, "dnet_o1/dw5": h1,
        "dE/dw5": d_o1 * h1, "dE/dw6": d_o2 * h1, "dE/dw7": d_o1 * h2, "dE/dw8": d_o2 * h2,
        "dE1/dw1": dE1_dw1, "dE2/dw1": dE2_dw1, "dE/dw1": dE1_dw1 + dE2_dw1,
    }
