"""What `neuralab vitals train` and `neuralab vitals evaluate` do, as functions (the CLI only parses and prints).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neuralab.anomaly.detectors import DETECTORS, Detector, load_detector, make_detector
from neuralab.anomaly.evaluate import evaluate_detector
from neuralab.errors import ConfigError, DataError


def parse_params(items: Sequence[str] | None) -> dict[str, Any]:
    """`KEY=VALUE` strings -> dict; values are read as JSON when they parse (numbers, lists), else as text."""
    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set window=12")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def read_records(paths: Sequence[str | Path], limit: int | None = None, skip_bad: bool = False):
    from neuralab.data.vitals import read_vitals_many

    if not paths:
        raise DataError("no --data given; pass CSV files, folders of them, or PhysioNet 2012 record folders")
    records = read_vitals_many(list(paths), on_error="skip" if skip_bad else "raise", limit=limit)
    if not records:
        raise DataError(f"no readable vital-sign records in {', '.join(map(str, paths))}")
    return records


def train(paths: Sequence[str | Path], detector: str, out: str | Path, *, epochs: int = 10, device: str = "cpu",
          seed: int = 0, params: dict[str, Any] | None = None, channels: Sequence[str] | None = None,
          limit: int | None = None, skip_bad: bool = False, records=None, precision: str = "auto"
          ) -> tuple[Detector, dict]:
    """Train `detector` on normal records read from `paths` and save it to `out`; returns it and a summary."""
    if detector not in DETECTORS:
        raise ConfigError(f"unknown detector {detector!r}; expected one of {', '.join(DETECTORS)}")
    if epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, got {epochs}")
    import torch

    from neuralab.train.trainer import amp_dtype
    from neuralab.utils import resolve_device, seed_everything

    dev = str(resolve_device(device))
    amp_dtype(precision, torch.device(dev))  # a bad name, or fp16 on the CPU: fail before reading anything
    seed_everything(seed)
    t0 = time.perf_counter()
    records = records if records is not None else read_records(paths, limit, skip_bad)
    det = make_detector(detector, params, channels)
    det.fit(records, epochs=epochs, device=dev, seed=seed, precision=precision)
    det.save(out)
    summary = {"detector": detector, "records": len(records), "samples": sum(len(r) for r in records),
               "channels": det.channels, "threshold": det.threshold.value, "seconds": time.perf_counter() - t0,
               "precision": precision}
    return det, summary


def evaluate(model_dir: str | Path, paths: Sequence[str | Path], out: str | Path | None = None, *,
             records=None) -> dict:
    """Evaluate a saved detector on labelled records; writes `<out>/metrics.json` when `out` is given."""
    det = load_detector(model_dir)
    records = records if records is not None else read_records(paths)
    unlabelled = [r.source for r in records if r.truth is None]
    if unlabelled:
        raise DataError(f"{unlabelled[0]}: not a labelled file; evaluation needs the columns label, anomaly_kind "
                        "(as written by `neuralab vitals simulate`)")
    t0 = time.perf_counter()
    metrics = evaluate_detector(det, records)
    metrics["seconds"] = time.perf_counter() - t0
    metrics["model"] = str(model_dir)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics
