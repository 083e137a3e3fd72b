"""Small shared helpers: seeding, device choice, atomic file writes.

These sit below every layer (anything may import them; they import nothing of neuralab's but `errors`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralab.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")

# mkstemp/mkdtemp create owner-only files (0600/0700); atomically written files should get the permissions an
# ordinary open() would give them (0666/0777 minus the umask). Read the umask once: os.umask can only be read
# by setting it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
DIR_MODE = 0o777 & ~_UMASK


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU) from one integer.

    The same seed gives the same weights, the same shuffles and the same dropout masks on the same machine;
    a different seed gives different ones.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn `auto|cpu|cuda|cuda:N|mps` into a torch.device, checking it exists.

    Raises:
        ConfigError: for an unknown name or an accelerator this machine does not have.
    """
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    base, _, index = name.partition(":")
    if base not in DEVICES or (index and not index.isdigit()):
        raise ConfigError(f"unknown device {device!r}: expected one of {', '.join(DEVICES)} (or cuda:N)")
    if base == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available on this machine; use --device cpu")
    if base == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r} requested but this machine has {torch.cuda.device_count()} CUDA "
                          f"device(s) (cuda:0..cuda:{torch.cuda.device_count() - 1})")
    if base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device {device!r} requested but MPS is not available on this machine; use --device cpu")
    return torch.device(name)


@contextlib.contextmanager
def cpu_threads(n: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block with `n` torch intra-op threads when `device` is the CPU, restoring the count afterwards.

    The course's networks are small: their per-op work is too little to share between threads, and on a busy
    2-core machine the hand-offs made training several times slower (each task's comment gives its measurement).
    """
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    before = torch.get_num_threads()
    on_cpu = torch.device(device).type == "cpu"
    if on_cpu:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if on_cpu:
            torch.set_num_threads(before)


_ALLOCATOR_TUNED: bool | None = None


def tune_cpu_allocator() -> bool:
    """Keep freed memory for reuse instead of handing it back to the OS after every batch (glibc only).

    A training step allocates and frees the same large activation and gradient buffers every batch. glibc's
    malloc serves blocks above its mmap threshold with a fresh `mmap` and returns them with `munmap` on free, and
    trims the heap top when it shrinks, so every batch pays page faults and zeroing for memory it just had:
    measured on the 2-core machine, `neuralab bench gesture-cnn` ran at 4,405 samples/s with the defaults and
    7,178 with these two settings (TensorFlow and PyTorch's CUDA path keep caching allocators for this reason):

        M_MMAP_THRESHOLD = 32 MiB   blocks up to 32 MiB come from the heap, so freed ones are reused
        M_TRIM_THRESHOLD = 1 GiB    up to 1 GiB of free heap top is kept instead of trimmed

    Process-wide and idempotent; called by the Trainer on the CPU. `NEURALAB_MALLOC=system` keeps glibc's
    defaults (`tuned`, or unset, applies the settings; any other value is a ConfigError). Returns whether the
    settings are in effect (False on non-glibc platforms).
    """
    global _ALLOCATOR_TUNED
    choice = os.environ.get("NEURALAB_MALLOC", "").strip().lower()
    if choice not in ("", "tuned", "system"):
        raise ConfigError(f"NEURALAB_MALLOC={os.environ['NEURALAB_MALLOC']!r}: expected 'tuned' (the default) or "
                          "'system' (glibc's own malloc settings)")
    if _ALLOCATOR_TUNED is not None:
        return _ALLOCATOR_TUNED
    _ALLOCATOR_TUNED = False
    if choice == "system" or not sys.platform.startswith("linux"):
        return False
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    _ALLOCATOR_TUNED = bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    return _ALLOCATOR_TUNED


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    A reader never sees a half-written file: either the old content or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, FILE_MODE)
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write `obj` as indented, standard JSON to `path` atomically.

    NaN and ±inf (a metric that is undefined, e.g. ROC-AUC with one class) are written as `null`: Python's
    `json` would write the non-standard tokens `NaN`/`Infinity`, which browsers and most parsers reject.
    """
    text = json.dumps(_finite(obj), indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    atomic_write_text(path, text + "\n")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray | torch.Tensor):
        return _finite(obj.tolist())
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray | torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
