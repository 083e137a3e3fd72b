"""The training loop: short, explicit, the same on CPU and GPU.

    for each epoch:
        for each batch:  zero_grad -> forward -> loss (+ λ1·Σ|w| + λ2·Σw²) -> backward -> clip -> step
        validate, log, call callbacks, checkpoint

`fit` returns a `History` (one row per epoch) and, given `out_dir`, writes it as `history.csv` and keeps a
resumable checkpoint `checkpoints/last.pt` (model, optimizer, callbacks, AMP scaler, counters, RNG states).
Shuffling is reseeded from (seed, epoch) at every epoch, so a run resumed from the checkpoint of epoch k
replays epochs k+1.. exactly as the uninterrupted run does.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import RandomSampler

from neuralab.errors import ConfigError
from neuralab.train.callbacks import LRScheduler
from neuralab.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from neuralab.utils import atomic_write_text, resolve_device, tune_cpu_allocator

MetricFn = Callable[[torch.Tensor, torch.Tensor], float]


class History:
    """Per-epoch records of a fit: `history["val_loss"]` is a list, `history.records` the rows."""

    def __init__(self, records: Sequence[dict[str, Any]] | None = None) -> None:
        self.records: list[dict[str, Any]] = [dict(r) for r in (records or [])]

    def append(self, row: dict[str, Any]) -> None:
        self.records.append(row)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list[Any]:
        return [r.get(key) for r in self.records]

    def keys(self) -> list[str]:
        keys: list[str] = []
        for r in self.records:
            keys.extend(k for k in r if k not in keys)
        return keys

    def last(self) -> dict[str, Any]:
        return self.records[-1] if self.records else {}

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.keys(), lineterminator="\n")
        writer.writeheader()
        for r in self.records:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
        return buf.getvalue()

    def write_csv(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_csv())


class TensorLoader:
    """Batches of in-memory tensors, cut from one permutation per epoch.

    A `DataLoader` over a `TensorDataset` indexes every sample and re-stacks the batch in Python (measured:
    a third of a small CNN's training step on a 2-core CPU); this loader takes each batch with one index
    operation per tensor. Shuffling draws `torch.randperm(n, generator=self.generator)`, the same permutation a
    `RandomSampler` with that generator draws, and the Trainer reseeds `generator` every epoch (resumable).
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int = 32, shuffle: bool = False,
                 drop_last: bool = False) -> None:
        if not tensors:
            raise ConfigError("make_loader needs at least one tensor")
        n = len(tensors[0])
        for i, t in enumerate(tensors):
            if len(t) != n:
                raise ConfigError(f"make_loader: tensor {i} has {len(t)} samples, tensor 0 has {n}; "
                                  "inputs and targets must have the same first dimension")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.tensors, self.batch_size, self.shuffle, self.drop_last = tensors, batch_size, shuffle, drop_last
        self.generator = torch.Generator()
        self.generator.manual_seed(0)

    def __len__(self) -> int:
        n = len(self.tensors[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n, bs = len(self.tensors[0]), self.batch_size
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for b in range(len(self)):
            if order is None:
                yield tuple(t[b * bs:(b + 1) * bs] for t in self.tensors)
            else:
                idx = order[b * bs:(b + 1) * bs]
                yield tuple(t[idx] for t in self.tensors)


def make_loader(*tensors: torch.Tensor, batch_size: int = 32, shuffle: bool = False,
                drop_last: bool = False) -> TensorLoader:
    """Batches over in-memory tensors; shuffling uses the loader's own generator (reseeded by the Trainer)."""
    return TensorLoader(*tensors, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last)


def weight_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters L1/L2 penalties act on: weights (ndim >= 2), not biases or norm scales."""
    return [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]


class Trainer:
    """Fits a model with the explicit loop of DESIGN.md.

    Args:
        model: any nn.Module mapping a batch's inputs to outputs.
        loss_fn: `loss_fn(outputs, targets) -> scalar` (the data term).
        optimizer: a torch optimizer over `model`'s parameters (default: Adam with `lr`).
        lr: learning rate of the default optimizer.
        weight_decay: the default optimizer's decoupled weight decay (separate from `l2`).
        l1, l2: penalty strengths λ1, λ2; the loss minimised and logged is data + λ1·Σ|w| + λ2·Σw².
        clip_norm: clip the global gradient norm to this value (None: no clipping).
        clip_value: clip every gradient component to [-clip_value, clip_value].
        metrics: `{name: fn(outputs, targets) -> float}` computed on the whole validation set.
        callbacks: duck-typed callbacks (see `neuralab.train.callbacks`).
        scheduler: a torch LR scheduler, stepped per `scheduler_interval` ("epoch" or "step").
        device: `auto|cpu|cuda|cuda:N|mps`.
        amp: mixed precision on CUDA when `precision` is "auto" (bf16 where supported, else fp16 with a
            GradScaler); False: float32 everywhere.
        precision: "auto" (the default: `amp` on CUDA, float32 elsewhere), "fp32", "bf16" (bfloat16 autocast on
            any device, float32 weights and optimizer; fast on CPUs with AVX512-BF16 or AMX, emulated and
            slow on others) or "fp16" (CUDA only, with a GradScaler).
        out_dir: where `history.csv` and `checkpoints/last.pt` go (None: nothing written).
        checkpoint_every: write the resumable checkpoint every this many epochs (and at the end).
        seed: base seed for per-epoch shuffling (default: torch's initial seed).
        progress: show a tqdm bar (default: only when stderr is a terminal).
        channels_last: keep the model and 4-D image batches in channels-last memory format (faster
            convolutions on CPUs with oneDNN and on tensor-core GPUs).
        batch_transform: a callable (e.g. a kornia augmentation `nn.Module`) applied to the inputs of each
            *training* batch on the device, after the move and before the forward pass; never to validation.
    """

    def __init__(self, model: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
                 optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3, weight_decay: float = 0.0,
                 l1: float = 0.0, l2: float = 0.0, clip_norm: float | None = None,
                 clip_value: float | None = None, metrics: dict[str, MetricFn] | None = None,
                 callbacks: Iterable[Any] = (), scheduler: Any = None, scheduler_interval: str = "epoch",
                 device: str | torch.device = "auto", amp: bool = True, precision: str = "auto",
                 out_dir: str | Path | None = None,
                 checkpoint_every: int = 1, seed: int | None = None, progress: bool | None = None,
                 channels_last: bool = False, batch_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
                 ) -> None:
        if l1 < 0 or l2 < 0:
            raise ConfigError(f"penalty strengths must be >= 0, got l1={l1}, l2={l2}")
        if clip_norm is not None and clip_norm <= 0:
            raise ConfigError(f"clip_norm must be > 0, got {clip_norm}")
        if clip_value is not None and clip_value <= 0:
            raise ConfigError(f"clip_value must be > 0, got {clip_value}")
        if checkpoint_every < 1:
            raise ConfigError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        self.device = resolve_device(device)
        if self.device.type == "cpu":
            tune_cpu_allocator()  # reuse freed batch buffers instead of mmap/munmap per batch (see its docstring)
        self.channels_last = channels_last
        self.batch_transform = batch_transform
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.to(self.device)
        self.loss_fn = loss_fn
        # The fused Adam kernel updates every parameter in one pass (measured 2.3x faster than the foreach
        # kernel on a 227k-parameter CNN on CPU); same arithmetic as the default implementation.
        fused = self.device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in model.parameters())
        self.optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay,
                                                       fused=fused or None)
        self.l1, self.l2 = float(l1), float(l2)
        self.clip_norm, self.clip_value = clip_norm, clip_value
        self.metrics = dict(metrics or {})
        self.callbacks = list(callbacks)
        if scheduler is not None:
            self.callbacks.append(LRScheduler(scheduler, interval=scheduler_interval))
        self.amp_dtype = amp_dtype(precision, self.device, amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.checkpoint_every = checkpoint_every
        self.seed = int(seed) if seed is not None else int(torch.initial_seed() % 2**63)
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.history = History()
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken
        self.stop_training = False
        self.last_grad_norm: float | None = None

    # ------------------------------------------------------------------------------------------ helpers
    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / "checkpoints" / "last.pt" if self.out_dir else None

    def penalty(self) -> torch.Tensor:
        """λ1·Σ|w| + λ2·Σw² over the weights (not the biases)."""
        total = torch.zeros((), device=self.device)
        if self.l1 or self.l2:
            for p in weight_parameters(self.model):
                if self.l1:
                    total = total + self.l1 * p.abs().sum()
                if self.l2:
                    total = total + self.l2 * p.pow(2).sum()
        return total

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _to_device(self, batch: Any) -> Any:
        if isinstance(batch, torch.Tensor):
            if self.channels_last and batch.ndim == 4 and batch.is_floating_point():
                return batch.to(self.device, non_blocking=True, memory_format=torch.channels_last)
            return batch.to(self.device, non_blocking=True)
        if isinstance(batch, list | tuple):
            return type(batch)(self._to_device(b) for b in batch)
        if isinstance(batch, dict):
            return {k: self._to_device(v) for k, v in batch.items()}
        return batch

    @staticmethod
    def _split(batch: Any) -> tuple[Any, Any]:
        if isinstance(batch, list | tuple) and len(batch) == 2:
            return batch[0], batch[1]
        raise ConfigError("each batch must be a pair (inputs, targets)")

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self, *args)

    def _reseed_shuffle(self, loader: Iterable[Any], epoch: int) -> None:
        if isinstance(loader, TensorLoader):
            loader.generator.manual_seed((self.seed * 1_000_003 + epoch) % 2**63)
        sampler = getattr(loader, "sampler", None)
        if isinstance(sampler, RandomSampler) and sampler.generator is not None:
            sampler.generator.manual_seed((self.seed * 1_000_003 + epoch) % 2**63)
        set_epoch = getattr(sampler, "set_epoch", None)  # DistributedSampler
        if callable(set_epoch):
            set_epoch(epoch)

    # ----------------------------------------------------------------------------------- checkpointing
    def _stateful_callbacks(self) -> list[tuple[str, Any]]:
        # Keyed by class name and rank among stateful callbacks of that class ("EarlyStopping",
        # "ModelCheckpoint#1"), not by list position, so a stateless callback added or removed on resume
        # (a logger, a profiler) does not shift the keys and silently drop the scheduler's state.
        out: list[tuple[str, Any]] = []
        seen: dict[str, int] = {}
        for cb in self.callbacks:
            if hasattr(cb, "state_dict"):
                name = type(cb).__name__
                n = seen[name] = seen.get(name, -1) + 1
                out.append((name if n == 0 else f"{name}#{n}", cb))
        return out

    def state_dict(self, finished: bool = False) -> dict[str, Any]:
        cfg = getattr(self.model, "config", None)
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "callbacks": {key: cb.state_dict() for key, cb in self._stateful_callbacks()},
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history.records,
            "rng": rng_state(),
            "finished": finished,
            "model_name": getattr(self.model, "model_name", None),
            "model_config": _config_dict(cfg),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        saved = state.get("callbacks", {})
        for key, cb in self._stateful_callbacks():
            if hasattr(cb, "load_state_dict") and key in saved:
                cb.load_state_dict(saved[key])
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.history = History(state["history"])
        set_rng_state(state["rng"])

    def save(self, finished: bool = False) -> None:
        if self.checkpoint_path is not None:
            save_checkpoint(self.checkpoint_path, self.state_dict(finished=finished))
            self.history.write_csv(self.out_dir / "history.csv")

    # ------------------------------------------------------------------------------------------- loops
    def fit(self, train_data: Iterable[Any], val_data: Iterable[Any] | None = None, epochs: int = 10,
            resume: bool = False) -> History:
        """Train for `epochs` epochs (fewer if a callback stops it) and return the history.

        With `resume=True` and a checkpoint in `out_dir`, training continues from the last saved epoch;
        a checkpoint of a finished fit is loaded and returned without training.
        """
        if epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {epochs}")
        if resume and self.checkpoint_path is not None and self.checkpoint_path.exists():
            # Load on the CPU: RNG states must stay CPU tensors (torch.set_rng_state, numpy), and
            # load_state_dict moves weights and optimizer state to the parameters' device anyway.
            state = load_checkpoint(self.checkpoint_path, map_location="cpu")
            self.load_state_dict(state)
            if state.get("finished"):
                return self.history
        self.stop_training = False
        self._call("on_fit_start")
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=epochs, initial=self.epoch, desc="epochs", unit="ep", leave=False)
        while self.epoch < epochs and not self.stop_training:
            epoch = self.epoch
            t0 = time.perf_counter()
            self._call("on_epoch_start", epoch)
            lr = float(self.optimizer.param_groups[0]["lr"])  # the rate this epoch starts with
            logs = {"epoch": epoch + 1, **self._train_epoch(train_data, epoch)}
            if val_data is not None:
                logs.update(self.evaluate(val_data, prefix="val_"))
            logs["lr"] = lr
            logs["seconds"] = time.perf_counter() - t0
            self.history.append(logs)
            self._call("on_epoch_end", epoch, logs)
            self.epoch += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()
                                 if k.endswith(("loss", *self.metrics)) and isinstance(v, float)})
            if self.epoch % self.checkpoint_every == 0 and self.epoch < epochs and not self.stop_training:
                self.save()
        if bar is not None:
            bar.close()
        self._call("on_fit_end")
        self.save(finished=True)
        return self.history

    def _train_epoch(self, loader: Iterable[Any], epoch: int) -> dict[str, float]:
        self.model.train()
        self._reseed_shuffle(loader, epoch)
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)  # total, data, penalty (x batch size)
        count = 0
        grad_norm_max = 0.0
        for batch in loader:
            x, y = self._split(self._to_device(batch))
            if self.batch_transform is not None:
                with torch.no_grad():
                    x = self.batch_transform(x)
                if self.channels_last and x.ndim == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
            self.optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                out = self.model(x)
            # the loss in float32, outside autocast: log-softmax and squared errors lose digits in 16 bits
            data_loss = self.loss_fn(_float32(out) if self.amp_dtype is not None else out, y)
            penalty = self.penalty()
            loss = data_loss.float() + penalty
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch + 1}, step {self.step + 1}; "
                                         "lower the learning rate or enable gradient clipping")
            self.scaler.scale(loss).backward()
            if self.clip_norm is not None or self.clip_value is not None:
                self.scaler.unscale_(self.optimizer)
                params = [p for p in self.model.parameters() if p.grad is not None]
                if self.clip_norm is not None and self.clip_value is not None:
                    # the logged norm is the one before any clipping, value clipping included
                    pre = torch.nn.utils.get_total_norm([p.grad for p in params])
                    grad_norm_max = max(grad_norm_max, float(pre))
                if self.clip_value is not None:
                    torch.nn.utils.clip_grad_value_(params, self.clip_value)
                if self.clip_norm is not None:
                    norm = torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
                    if self.clip_value is None:
                        grad_norm_max = max(grad_norm_max, float(norm))
            self._call("on_before_optimizer_step")
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.step += 1
            n = _batch_size(y)
            sums += torch.stack([loss.detach(), data_loss.detach().float(), penalty.detach()]).double() * n
            count += n
            self._call("on_batch_end", self.step, {"loss": loss})
        if count == 0:
            raise ConfigError("the training data produced no batches (empty data set, or drop_last with "
                              "fewer samples than one batch)")
        total, data, pen = (sums / count).tolist()
        logs = {"train_loss": total, "train_data_loss": data, "train_penalty": pen}
        if self.clip_norm is not None:
            logs["grad_norm_max_before_clip"] = grad_norm_max
        return logs

    @torch.no_grad()
    def predict(self, loader: Iterable[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the model in eval mode over `loader`; return (outputs, targets) concatenated on the CPU."""
        self.model.eval()
        outs, ys = [], []
        for batch in loader:
            x, y = self._split(self._to_device(batch))
            with self._autocast():
                out = self.model(x)
            outs.append(out.float().cpu())
            ys.append(y.cpu())
        if not outs:
            raise ConfigError("the evaluation data produced no batches (empty data set)")
        return torch.cat(outs), torch.cat(ys)

    def evaluate(self, loader: Iterable[Any], prefix: str = "") -> dict[str, float]:
        """Data loss (no penalty) and every metric on `loader`."""
        out, y = self.predict(loader)
        logs = {f"{prefix}loss": float(self.loss_fn(out, y))}
        for name, fn in self.metrics.items():
            logs[f"{prefix}{name}"] = float(fn(out, y))
        return logs


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def _float32(out: Any) -> Any:
    """A model output (tensor, tuple, list or dict of them) with its 16-bit float tensors cast to float32."""
    if isinstance(out, torch.Tensor):
        return out.float() if out.dtype in (torch.bfloat16, torch.float16) else out
    if isinstance(out, dict):
        return {k: _float32(v) for k, v in out.items()}
    if isinstance(out, tuple) and hasattr(out, "_fields"):  # a NamedTuple
        return type(out)(*(_float32(v) for v in out))
    if isinstance(out, tuple | list):
        return type(out)(_float32(v) for v in out)
    return out


def amp_dtype(precision: str, device: torch.device, amp: bool = True) -> torch.dtype | None:
    """The autocast dtype of a `precision` name on `device` (None: float32, no autocast)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision == "fp32" or (precision == "auto" and (not amp or device.type != "cuda")):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"precision fp16 needs a CUDA device (got {device}); use bf16 on the CPU")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"precision {precision} is supported on cpu and cuda, not {device.type}")
    return torch.bfloat16 if precision == "bf16" else torch.float16


def _batch_size(y: Any) -> int:
    if isinstance(y, torch.Tensor):
        return int(y.shape[0]) if y.ndim else 1
    return len(y)


def _config_dict(cfg: Any) -> dict[str, Any] | None:
    import dataclasses

    if cfg is not None and dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    return None


def is_finite(x: float) -> bool:
    return not (math.isnan(x) or math.isinf(x))
