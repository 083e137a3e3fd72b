"""`neuralab.bench.SPECS` uses exactly the sizes of the Keras speed reference (`../shared/anchors/keras_reference.py`),
for every model both name; and `neuralab bench MODEL --json` prints one JSON line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from neuralab.bench import SPECS
from neuralab.cli import app

# Image specs: the reference writes the input (H, W, C), we write (C, H, W); `classes` and `batch_size` by name.
IMAGE_KEYS = ("input", "classes", "batch_size")
# Our config's names for the reference's sizes, where they differ (model configs name them their own way).
CONFIG_ALIASES = {"vocab": ("vocab", "vocab_size", "num_embeddings"), "seq_len": ("seq_len", "max_len"),
                  "classes": ("classes", "num_classes"), "features": ("features", "n_features", "input_size"),
                  "units": ("units", "hidden", "hidden_size"), "embed": ("embed", "embed_dim", "embedding_dim")}


@pytest.fixture
def keras_reference(shared_data: Path) -> ModuleType:
    path = shared_data.parent / "anchors" / "keras_reference.py"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    spec = importlib.util.spec_from_file_location("keras_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports only numpy at module level
    return module


def _our_value(ours: dict[str, Any], key: str) -> tuple[bool, Any]:
    """The value our spec stores for the reference's `key`: a top-level key, else a config field (or alias)."""
    if key in ours:
        return True, ours[key]
    config = ours.get("config", {})
    for name in CONFIG_ALIASES.get(key, (key,)):
        if name in config:
            return True, config[name]
    return False, None


def mismatches(name: str, ours: dict[str, Any], ref: dict[str, Any]) -> list[str]:
    """Every size the reference and our spec both state but state differently (keys we don't store are skipped)."""
    out = []
    if "input" in ref:
        h, w, c = ref["input"]
        if "input" in ours and tuple(ours["input"]) != (c, h, w):
            out.append(f"{name}: input (C, H, W) {tuple(ours['input'])} but the reference's (H, W, C) is "
                       f"{tuple(ref['input'])}")
        config = ours.get("config", {})
        for field, want in (("in_channels", c), ("image_size", h)):
            if field in config and config[field] != want:
                out.append(f"{name}: config {field}={config[field]} but the reference input is {tuple(ref['input'])}")
    for key, want in ref.items():
        if key == "input":
            continue
        found, value = _our_value(ours, key)
        if found and value != want:
            out.append(f"{name}: {key}={value!r} but the reference has {want!r}")
    if "classes" in ref and ours.get("config", {}).get("num_classes", ref["classes"]) != ref["classes"]:
        out.append(f"{name}: config num_classes={ours['config']['num_classes']} but classes={ref['classes']}")
    return out


def test_every_shared_spec_has_the_reference_sizes(keras_reference: ModuleType) -> None:
    shared = sorted(set(SPECS) & set(keras_reference.SPECS))
    assert {"gesture-cnn", "lenet5"} <= set(shared)
    problems = [p for name in shared for p in mismatches(name, SPECS[name], keras_reference.SPECS[name])]
    assert problems == []
    for name in shared:  # image specs state all three sizes, so the comparison above cannot pass by skipping
        if "input" in keras_reference.SPECS[name]:
            assert all(k in SPECS[name] for k in IMAGE_KEYS), name


def test_the_comparison_catches_a_wrong_size() -> None:
    ref = {"input": (28, 28, 1), "classes": 24, "batch_size": 64}
    good = {"config": {"in_channels": 1, "image_size": 28, "num_classes": 24}, "input": (1, 28, 28),
            "classes": 24, "batch_size": 64}
    assert mismatches("m", good, ref) == []
    assert mismatches("m", {**good, "input": (28, 28, 1)}, ref) == [
        "m: input (C, H, W) (28, 28, 1) but the reference's (H, W, C) is (28, 28, 1)"]
    assert mismatches("m", {**good, "batch_size": 32}, ref) == ["m: batch_size=32 but the reference has 64"]
    assert mismatches("m", {**good, "config": {**good["config"], "num_classes": 10}}, ref) == [
        "m: config num_classes=10 but classes=24"]
    assert mismatches("m", {**good, "config": {**good["config"], "image_size": 32}}, ref) == [
        "m: config image_size=32 but the reference input is (28, 28, 1)"]
    seq = {"vocab": 10000, "seq_len": 200, "embed": 16, "units": 32, "batch_size": 32}
    ours = {"data": "x:y", "batch_size": 32, "config": {"vocab_size": 10000, "hidden_size": 64}}
    assert mismatches("s", ours, seq) == ["s: units=64 but the reference has 32"]  # seq_len, embed: not stored


def test_bench_cli_prints_one_json_line() -> None:
    result = CliRunner().invoke(app, ["bench", "gesture-cnn", "--samples", "128", "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["model"] == "gesture-cnn" and rec["samples"] == 128 and rec["batch_size"] == 64
    assert rec["samples_per_s"] > 0 and rec["seconds"] > 0
    assert rec["precision"] == "auto"


def test_bench_cli_precision_bf16_and_a_bad_name() -> None:
    result = CliRunner().invoke(app, ["bench", "lenet5", "--samples", "128", "--json", "--device", "cpu",
                                      "--precision", "bf16"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["precision"] == "bf16"
    bad = CliRunner().invoke(app, ["bench", "lenet5", "--samples", "128", "--precision", "half"])
    assert bad.exit_code != 0 and "--precision 'half' is not one of auto, fp32, bf16, fp16" in bad.output
    bad = CliRunner().invoke(app, ["run", "gestures", "--quick", "--device", "cpu", "--precision", "fp16"])
    assert bad.exit_code != 0 and "fp16 needs a CUDA device" in bad.output


def test_run_with_bf16_says_so_in_metrics_and_summary(tmp_path) -> None:
    from neuralab.tasks import TaskOptions, run_task

    res = run_task("gestures", TaskOptions(quick=True, epochs=1, device="cpu", precision="bf16",
                                           run_dir=tmp_path / "run", progress=False))
    assert res.metrics["precision"] == "bf16" and 0.0 <= res.metrics["test_accuracy"] <= 1.0
    assert "precision bf16: every fit of this run trained under bf16 autocast" in (
        (tmp_path / "run" / "report.md").read_text())
