"""What every task shares: options, a registry, the run directory, and seeded, resumable fits.

A task is a function `run(ctx: TaskContext) -> None` registered with `@register_task`. It reads data, builds
models, trains them through `ctx.trainer(...)` (which gives each fit its own resumable checkpoint under the
run directory) and fills `ctx.report` (blocks, plots, metrics). `run_task` creates the run directory, seeds,
calls the task and writes the report.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from neuralab.errors import ConfigError, DataError
from neuralab.report import Report, read_status, timestamp
from neuralab.train.trainer import Trainer, amp_dtype
from neuralab.utils import resolve_device, seed_everything


@dataclass
class TaskOptions:
    """The options every task takes (the CLI's `neuralab run TASK ...`).

    Attributes:
        data: a user file or folder to run on instead of the embedded default.
        epochs: override the task's number of training epochs.
        quick: a smoke run (small sizes, few epochs) that finishes in seconds.
        device: `auto|cpu|cuda|mps`.
        precision: the Trainer's `precision` for every fit of the run (`auto|fp32|bf16|fp16`).
        seed: the one seed of the run.
        out: the runs root; the run goes to `<out>/<task>/<timestamp>/` unless `run_dir` is given.
        resume: continue the latest unfinished run of this task under `<out>/<task>/` (or `run_dir`).
        run_dir: an explicit run directory (used by `neuralab demo`).
        extra: the task's own options (`--set KEY=VALUE`, `--arch`, `--augment`, ...), as strings; a task
            declares the keys it takes in `register_task(options=...)` and reads them with `ctx.option`.
    """

    data: Path | None = None
    epochs: int | None = None
    quick: bool = False
    device: str = "auto"
    seed: int = 0
    out: Path = Path("runs")
    resume: bool = False
    run_dir: Path | None = None
    progress: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    precision: str = "auto"


@dataclass(frozen=True)
class TaskEntry:
    name: str
    fn: Callable[[TaskContext], None]
    description: str
    default_data: str
    title: str
    options: dict[str, str] = field(default_factory=dict)


_TASKS: dict[str, TaskEntry] = {}


def register_task(name: str, description: str, default_data: str, title: str = "",
                  options: dict[str, str] | None = None):
    """Decorator registering a task function under `name` (duplicate names are an error).

    `options` maps each task-specific option key (given as `--set KEY=VALUE` or a CLI shorthand such as
    `--arch`) to a one-line help text; any other key is refused before the task starts.
    """

    def deco(fn: Callable[[TaskContext], None]) -> Callable[[TaskContext], None]:
        if name in _TASKS:
            raise ValueError(f"task name {name!r} is already registered")
        _TASKS[name] = TaskEntry(name, fn, description, default_data, title or name, dict(options or {}))
        return fn

    return deco


def list_tasks() -> dict[str, TaskEntry]:
    import neuralab.tasks  # noqa: F401  (registers the built-in tasks)

    return {k: _TASKS[k] for k in sorted(_TASKS)}


def task_entry(name: str) -> TaskEntry:
    tasks = list_tasks()
    if name not in tasks:
        raise ConfigError(f"unknown task {name!r}; available: {', '.join(tasks)} (see `neuralab list`)")
    return tasks[name]


class TaskContext:
    """Handed to a task: its options, device, report, and helpers for seeded, resumable fits."""

    def __init__(self, name: str, opts: TaskOptions, report: Report) -> None:
        self.name = name
        self.opts = opts
        self.report = report
        self.device = resolve_device(opts.device)
        self.run_dir = report.run_dir

    @property
    def quick(self) -> bool:
        return self.opts.quick

    def epochs(self, full: int, quick: int) -> int:
        """The number of epochs: `--epochs` if given, else `quick` in quick mode, else `full`."""
        if self.opts.epochs is not None:
            return self.opts.epochs
        return quick if self.opts.quick else full

    def option(self, key: str, default: Any = None, type: Callable[[str], Any] = str) -> Any:  # noqa: A002
        """The task option `key` (from `--set key=value` or a CLI shorthand) converted by `type`, or `default`.

        Raises:
            ConfigError: the value does not convert (names the option, the value and the expected type).
        """
        raw = self.opts.extra.get(key)
        if raw is None:
            return default
        if not isinstance(raw, str):
            return raw
        try:
            return type(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"option {key}={raw!r} of task {self.name!r}: expected "
                              f"{getattr(type, '__name__', type)} ({exc})") from None

    def seed_for(self, key: str) -> int:
        """A seed derived from the run's seed and a name: each fit gets its own, reproducibly."""
        return (self.opts.seed * 1_000_003 + zlib.crc32(key.encode())) % 2**31

    def seed(self, key: str) -> int:
        s = self.seed_for(key)
        seed_everything(s)
        return s

    def data_path(self, *suffixes: str, kind: str = "file") -> Path | None:
        """The `--data` path, checked to exist (and to be a file/folder with one of `suffixes`)."""
        path = self.opts.data
        if path is None:
            return None
        path = Path(path)
        if not path.exists():
            raise DataError(f"--data path {str(path)!r} does not exist")
        if kind == "file" and not path.is_file():
            raise DataError(f"--data {str(path)!r} is a folder; task {self.name!r} expects a file")
        if kind == "dir" and not path.is_dir():
            raise DataError(f"--data {str(path)!r} is a file; task {self.name!r} expects a folder")
        if suffixes and path.is_file() and not path.name.lower().endswith(suffixes):
            raise DataError(f"--data {str(path)!r}: task {self.name!r} reads {', '.join(suffixes)} files")
        return path

    def trainer(self, name: str, model: torch.nn.Module, loss_fn: Callable, **kwargs: Any) -> Trainer:
        """A Trainer whose history and checkpoint live in `<run_dir>/fits/<name>/`, seeded from `name`.

        Seeds everything from (run seed, name) before the caller builds anything else, so call it right
        after building the model with `ctx.seed(name)`.
        """
        kwargs.setdefault("device", self.device)
        kwargs.setdefault("precision", self.opts.precision)
        kwargs.setdefault("progress", self.opts.progress)
        kwargs.setdefault("seed", self.seed_for(name))
        return Trainer(model, loss_fn, out_dir=self.run_dir / "fits" / name, **kwargs)

    def fit(self, trainer: Trainer, *args: Any, **kwargs: Any):
        """`trainer.fit(...)` resuming from its checkpoint when the run is resumed."""
        kwargs.setdefault("resume", self.opts.resume)
        return trainer.fit(*args, **kwargs)


@dataclass
class RunResult:
    task: str
    run_dir: Path
    report_html: Path
    metrics: dict[str, Any]


def _resume_dir(root: Path, name: str) -> Path:
    base = root / name
    candidates = sorted(p for p in base.glob("*") if p.is_dir()) if base.is_dir() else []
    unfinished = [p for p in candidates if read_status(p).get("status") != "done"]
    if not unfinished:
        raise ConfigError(f"--resume: no unfinished run of {name!r} under {str(base)!r}")
    return unfinished[-1]


def _new_dir(root: Path, name: str) -> Path:
    base = root / name / timestamp()
    path, i = base, 1
    while path.exists():
        path = base.with_name(f"{base.name}-{i}")
        i += 1
    return path


def run_task(name: str, opts: TaskOptions | None = None) -> RunResult:
    """Run task `name` with `opts`; returns where its report went and its metrics."""
    opts = opts or TaskOptions()
    entry = task_entry(name)
    if opts.epochs is not None and opts.epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, got {opts.epochs}")
    unknown = sorted(set(opts.extra) - set(entry.options))
    if unknown:
        takes = ", ".join(f"{k} ({v})" for k, v in entry.options.items()) or "no options"
        raise ConfigError(f"task {name!r} does not take option(s) {', '.join(unknown)}; it takes: {takes}")
    amp_dtype(opts.precision, resolve_device(opts.device))  # fail before creating any directory
    if opts.run_dir is not None:
        run_dir = Path(opts.run_dir)
    elif opts.resume:
        run_dir = _resume_dir(Path(opts.out), name)
    else:
        run_dir = _new_dir(Path(opts.out), name)
    report = Report(run_dir, entry.title, task=name)
    report.info = {"options": {k: (str(v) if isinstance(v, Path) else v)
                               for k, v in dataclasses.asdict(opts).items()}}
    ctx = TaskContext(name, opts, report)
    if opts.precision != "auto":  # the numbers of this run come from another arithmetic than the default's
        report.add_metrics(precision=opts.precision)
        report.say(f"precision {opts.precision}: every fit of this run trained under "
                   + ("float32 only" if opts.precision == "fp32" else f"{opts.precision} autocast"))
    ctx.seed("task")
    try:
        entry.fn(ctx)
    except BaseException as exc:
        report.fail(f"{type(exc).__name__}: {exc}")
        raise
    html_path = report.finish()
    return RunResult(name, run_dir, html_path, report.metrics)
