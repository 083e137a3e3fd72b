"""Saving and loading: model directories (config.json + model.safetensors) and resumable training checkpoints.

A *model directory* holds exactly two files: `config.json` (the registered model name and its config
dataclass as JSON) and `model.safetensors` (the weights). `load_model(dir)` rebuilds the network from those
two files alone; nothing is pickled.

A *training checkpoint* (`last.pt`) is a dict of state_dicts plus counters and RNG states -- model,
optimizer, callbacks (early stopping, LR schedulers), AMP scaler, epoch, step, history, and the Python,
NumPy and torch random states -- written atomically (temp file + rename) and read with `weights_only=True`.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from neuralab import __version__
from neuralab.errors import DataError
from neuralab.models.registry import get_model, make_config, model_entry
from neuralab.utils import DIR_MODE, atomic_path

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


# --------------------------------------------------------------------------------------------- model dirs
def save_model(model: nn.Module, directory: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write `model` as `directory/config.json` + `directory/model.safetensors`.

    The directory is built beside its final place and renamed in, so a reader never sees a model with new
    weights and an old config. `extra` is stored in config.json under "extra" (e.g. class names, vocab).

    Raises:
        ValueError: if the model was not built by `neuralab.get_model` (it has no name/config to save).
    """
    name = getattr(model, "model_name", None)
    cfg = getattr(model, "config", None)
    if name is None or cfg is None or not dataclasses.is_dataclass(cfg):
        raise ValueError("save_model needs a model built with neuralab.get_model (it has no model_name/config)")
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    _recover(directory)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        os.chmod(tmp, DIR_MODE)  # mkdtemp makes it 0700; the model dir should be as readable as any other
        # safetensors refuses shared or non-contiguous storage: save contiguous CPU copies.
        state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"model": name})
        meta = {"model": name, "config": dataclasses.asdict(cfg), "neuralab_version": __version__}
        if extra:
            meta["extra"] = extra
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        old = None
        if directory.exists():
            old = directory.with_name(f"{_OLD_PREFIX.format(name=directory.name)}{os.getpid()}")
            os.replace(directory, old)
        try:
            os.replace(tmp, directory)
        except BaseException:
            if old is not None and not directory.exists():
                os.replace(old, directory)  # put the previous model back
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return directory


_OLD_PREFIX = ".{name}.old-"  # the previous model dir, moved aside while the new one is renamed in


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: the process exists but belongs to someone else
        return True
    return True


def _recover(directory: Path) -> None:
    """Undo a `save_model` killed between its two renames (the model dir moved aside, the new one not yet in).

    If `directory` is missing and a moved-aside copy from a process that is no longer running is beside it,
    it is renamed back; other such copies of dead processes are removed.
    """
    prefix = _OLD_PREFIX.format(name=directory.name)
    if not directory.parent.is_dir():
        return
    stale = []
    for p in directory.parent.glob(f"{glob.escape(prefix)}*"):
        pid = p.name[len(prefix):]
        if pid.isdigit() and not _pid_alive(int(pid)):
            stale.append(p)
    for p in sorted(stale, key=lambda q: q.stat().st_mtime, reverse=True):
        if not directory.exists() and (p / CONFIG_FILE).is_file():
            os.replace(p, directory)
        else:
            shutil.rmtree(p, ignore_errors=True)


def read_model_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate `directory/config.json`."""
    directory = Path(directory)
    cfg_path = directory / CONFIG_FILE
    if not directory.exists():
        _recover(directory)
    if not directory.is_dir():
        raise DataError(f"model directory {str(directory)!r} does not exist")
    if not cfg_path.is_file() or not (directory / WEIGHTS_FILE).is_file():
        raise DataError(f"{str(directory)!r} is not a model directory: expected {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        meta = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{cfg_path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(meta, dict) or "model" not in meta or "config" not in meta:
        raise DataError(f"{cfg_path}: expected keys 'model' and 'config'")
    return meta


def load_model(directory: str | os.PathLike[str], device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model saved by `save_model` from its config.json and model.safetensors alone.

    Returns:
        The model in eval mode on `device`, with `model.extra` holding config.json's "extra" (or {}).
    """
    meta = read_model_config(directory)
    entry = model_entry(meta["model"])
    cfg = make_config(entry.config_cls, meta["config"])
    model = get_model(meta["model"], cfg)
    state = load_file(str(Path(directory) / WEIGHTS_FILE))
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes in the weights file disagree with config.json
        raise DataError(f"{directory}: weights do not match the config: {exc}") from exc
    if missing or unexpected:
        raise DataError(f"{directory}: weights do not match the config (missing {missing}, unexpected {unexpected})")
    model.extra = meta.get("extra", {})
    return model.to(device).eval()


# ------------------------------------------------------------------------------------- training checkpoints
def rng_state() -> dict[str, Any]:
    """Capture Python, NumPy and torch RNG states in a form `torch.load(weights_only=True)` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write a training checkpoint atomically (temp file, fsync, rename)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True` (no arbitrary objects are unpickled)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise DataError(f"checkpoint {str(path)!r} does not exist") from None
    except Exception as exc:  # a truncated or foreign file: say which file
        raise DataError(f"cannot read checkpoint {str(path)!r}: {exc}") from exc
