"""`neuralab bench`: training throughput of a registered model, on the sizes of the Keras speed reference.

The course's Keras models (`../shared/anchors/keras_reference.py`) are timed by `model.fit` over N synthetic
samples after a warm-up; `benchmark()` does the same for the registry model of the same name through the
Trainer (the path users train with), so the two numbers compare like for like:

    warm-up: one short fit on 4 batches; then: one epoch over `samples` samples, timed -> samples/s

Models without a reference spec are timed on their config's `example_input` shape with an MSE target.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from neuralab.errors import ConfigError
from neuralab.models.registry import get_model, model_entry
from neuralab.train.trainer import Trainer, make_loader
from neuralab.utils import resolve_device, seed_everything

# Model name -> the sizes of keras_reference.py's SPECS (kept identical; a test checks them against it).
# An image spec gives "input" (C, H, W) and "classes" (cross-entropy on random labels); any other spec gives
# "data": "module:function", a function (n: int, gen: torch.Generator) -> (x, y, loss_fn) that builds the
# reference's synthetic inputs and loss for that model (see keras_reference.inputs).
SPECS: dict[str, dict[str, Any]] = {
    "gesture-cnn": {"config": {"in_channels": 1, "image_size": 28, "num_classes": 24},
                    "input": (1, 28, 28), "classes": 24, "batch_size": 64},
    "lenet5": {"config": {"in_channels": 1, "image_size": 28, "num_classes": 10},
               "input": (1, 28, 28), "classes": 10, "batch_size": 64},
    # Embedding(10000, 16) -> LSTM(32) -> Dense(1); 200-token sequences.
    "sentiment-lstm": {"config": {"vocab_size": 10000, "embed_dim": 16, "hidden_size": 32},
                       "seq_len": 200, "batch_size": 32, "data": "neuralab.models.sentiment:bench_data"},
    # One-hot (B, 100, 65) -> SimpleRNN(128, return_sequences) -> Dense(65) at every step.
    "char-rnn": {"config": {"vocab_size": 65, "cell": "rnn", "embed_dim": 0, "hidden_size": 128, "num_layers": 1},
                 "seq_len": 100, "batch_size": 128, "data": "neuralab.models.char_rnn:bench_data"},
    # Windows (B, 10, 1) -> LSTM(50) -> Dense(1), MSE.
    "lstm-forecaster": {"config": {"window": 10, "hidden_size": 50}, "window": 10, "units": 50, "batch_size": 32,
                        "data": "neuralab.models.forecasters:bench_data"},
    # Windows (B, 30, 5) -> LSTM 64 -> Dropout -> LSTM 32 -> RepeatVector -> LSTM 64 -> Dropout -> Dense 5; y = x.
    "lstm-autoencoder": {"config": {"n_features": 5, "seq_len": 30}, "seq_len": 30, "features": 5, "batch_size": 64,
                         "data": "neuralab.models.anomaly:bench_data_autoencoder"},
    # Frames (B, 10, 1, 16, 16) -> ConvLSTM 16 filters 3x3 -> Flatten -> Dense 1, MSE.
    "convlstm": {"config": {"frames": 10, "size": 16, "channels": 1, "filters": 16}, "frames": 10, "size": 16,
                 "channels": 1, "filters": 16, "batch_size": 16, "data": "neuralab.models.anomaly:bench_data_convlstm"},
}


@dataclass
class BenchResult:
    model: str
    samples: int
    batch_size: int
    seconds: float
    samples_per_s: float
    device: str
    channels_last: bool
    threads: int
    precision: str = "auto"

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "backend": "neuralab-torch", "samples": self.samples,
                "batch_size": self.batch_size, "seconds": round(self.seconds, 3),
                "samples_per_s": round(self.samples_per_s, 1), "device": self.device,
                "channels_last": self.channels_last, "threads": self.threads, "precision": self.precision}


def _synthetic(name: str, model: torch.nn.Module, n: int, gen: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, Any, int]:
    if name in SPECS and "data" in SPECS[name]:
        module_name, fn_name = SPECS[name]["data"].split(":")
        x, y, loss_fn = getattr(importlib.import_module(module_name), fn_name)(n, gen)
        return x, y, loss_fn, SPECS[name]["batch_size"]
    if name in SPECS:
        s = SPECS[name]
        x = torch.rand(n, *s["input"], generator=gen)  # (N, C, H, W) like keras' rng.random
        y = torch.randint(0, s["classes"], (n,), generator=gen)
        return x, y, F.cross_entropy, s["batch_size"]
    cfg = model.config
    x1 = cfg.example_input(1)
    if not isinstance(x1, torch.Tensor):
        raise ConfigError(f"bench: model {name!r} takes several inputs; it has no benchmark spec")
    with torch.no_grad():
        out1 = model.eval()(x1)
    x = torch.rand(n, *x1.shape[1:], generator=gen) if x1.is_floating_point() else \
        torch.randint(0, int(x1.max()) + 1, (n, *x1.shape[1:]), generator=gen)
    y = torch.randn(n, *out1.shape[1:], generator=gen)
    return x, y, F.mse_loss, 32


def benchmark(name: str, samples: int = 4096, device: str = "auto", channels_last: bool | None = None,
              batch_size: int | None = None, precision: str = "auto") -> BenchResult:
    """Time one training epoch of `name` over `samples` synthetic samples (after a warm-up)."""
    model_entry(name)
    if samples < 1:
        raise ConfigError(f"--samples must be >= 1, got {samples}")
    dev = resolve_device(device)
    seed_everything(0)
    cfg = SPECS.get(name, {}).get("config", {})
    model = get_model(name, **cfg)
    gen = torch.Generator().manual_seed(0)
    x, y, loss_fn, bs = _synthetic(name, model, samples, gen)
    bs = batch_size or bs
    if channels_last is None:
        channels_last = x.ndim == 4
    trainer = Trainer(model, loss_fn, lr=1e-3, device=dev, progress=False, channels_last=channels_last,
                      precision=precision)
    trainer.fit(make_loader(x[: 4 * bs], y[: 4 * bs], batch_size=bs, shuffle=True), epochs=1)  # warm-up
    loader = make_loader(x, y, batch_size=bs, shuffle=True)
    trainer.epoch = 0  # run the timed epoch as a fresh one-epoch fit
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    trainer.fit(loader, epochs=1)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return BenchResult(name, samples, bs, dt, samples / dt, str(dev), bool(channels_last), torch.get_num_threads(),
                       precision)
