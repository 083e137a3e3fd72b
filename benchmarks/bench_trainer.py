"""Trainer overhead: `Trainer.fit` vs the bare loop it wraps, same model/data/optimizer/batch size.

The engine adds validation, logging, callbacks and checkpoints around zero_grad/forward/backward/step; this
measures what that costs. Prints one JSON line per case with both throughputs and their ratio (best of N).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import neuralab
from neuralab.train import Trainer, make_loader
from neuralab.utils import resolve_device

CASES = {
    "small-mlp": dict(in_features=16, hidden=(32,), out_features=1, n=20000, batch=64),
    "wide-mlp": dict(in_features=256, hidden=(1024, 1024), out_features=10, n=20000, batch=256),
}


def _data(case: dict, device: torch.device):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(case["n"], case["in_features"], generator=g)
    y = torch.randn(case["n"], case["out_features"], generator=g)
    return x, y


def bare(case: dict, device: torch.device, epochs: int) -> float:
    neuralab.seed_everything(0)
    model = neuralab.get_model("mlp", **{k: case[k] for k in ("in_features", "hidden", "out_features")}).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = make_loader(*_data(case, device), batch_size=case["batch"], shuffle=True)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return case["n"] * epochs / (time.perf_counter() - t0)


def engine(case: dict, device: torch.device, epochs: int) -> float:
    neuralab.seed_everything(0)
    model = neuralab.get_model("mlp", **{k: case[k] for k in ("in_features", "hidden", "out_features")})
    trainer = Trainer(model, torch.nn.functional.mse_loss, lr=1e-3, device=device, progress=False, amp=False)
    loader = make_loader(*_data(case, device), batch_size=case["batch"], shuffle=True)
    t0 = time.perf_counter()
    trainer.fit(loader, epochs=epochs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return case["n"] * epochs / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    device = resolve_device(args.device)
    for name, case in CASES.items():
        # Interleaved, best of N: background load hits both sides alike.
        bs, es = [], []
        for _ in range(args.repeats):
            bs.append(bare(case, device, args.epochs))
            es.append(engine(case, device, args.epochs))
        b, e = max(bs), max(es)
        print(json.dumps({"case": name, "device": str(device), "bare_samples_per_s": round(b),
                          "trainer_samples_per_s": round(e), "trainer_over_bare": round(e / b, 3)}))


if __name__ == "__main__":
    main()
