"""`neuralab vitals train` / `evaluate`: a run end to end, metrics.json keys, one-line errors with exit 2."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from neuralab.cli import app
from neuralab.data.vitals_sim import simulate, write_vitals_csv

runner = CliRunner()


def test_train_then_evaluate_writes_metrics(tmp_path):
    write_vitals_csv(simulate(0.5, 1.0, 1, anomalies=False), tmp_path / "normal.csv")
    write_vitals_csv(simulate(0.5, 1.0, 2, n_events=3, kinds=["spike", "dropout"]), tmp_path / "test.csv")
    r = runner.invoke(app, ["vitals", "train", "--data", str(tmp_path / "normal.csv"), "--detector", "ar",
                            "--out", str(tmp_path / "model"), "--set", "order=3"])
    assert r.exit_code == 0, r.output
    assert "trained ar on 1 record(s), 1,800 samples" in r.output
    r = runner.invoke(app, ["vitals", "evaluate", "--model", str(tmp_path / "model"), "--data",
                            str(tmp_path / "test.csv"), "--out", str(tmp_path / "eval")])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    for key in ("point_f1", "event_f1", "roc_auc", "pr_auc", "recall_by_kind", "false_alarms_per_hour"):
        assert key in m
    assert m["roc_auc"] > 0.6 and m["counts"]["true_events"] == 3


def test_errors_are_one_line(tmp_path):
    write_vitals_csv(simulate(0.1, 1.0, 1, anomalies=False), tmp_path / "normal.csv")
    r = runner.invoke(app, ["vitals", "train", "--data", str(tmp_path / "normal.csv"), "--detector", "knn",
                            "--out", str(tmp_path / "m")])
    assert r.exit_code == 2 and "error: unknown detector 'knn'; expected one of lstm-autoencoder" in r.output
    r = runner.invoke(app, ["vitals", "train", "--data", str(tmp_path / "normal.csv"), "--detector", "ar",
                            "--out", str(tmp_path / "m"), "--set", "order"])
    assert r.exit_code == 2 and "expected KEY=VALUE" in r.output
    runner.invoke(app, ["vitals", "train", "--data", str(tmp_path / "normal.csv"), "--detector", "ar",
                        "--out", str(tmp_path / "m")])
    import pandas as pd

    df = pd.read_csv(tmp_path / "normal.csv")
    df[[c for c in df.columns if not c.startswith(("label", "anomaly"))]].to_csv(tmp_path / "plain.csv", index=False)
    r = runner.invoke(app, ["vitals", "evaluate", "--model", str(tmp_path / "m"), "--data",
                            str(tmp_path / "plain.csv")])
    assert r.exit_code == 2 and "not a labelled file" in r.output


def test_train_a_neural_detector_in_bf16(tmp_path, monkeypatch):
    from neuralab.anomaly.detectors import load_detector
    from neuralab.train import trainer as trainer_module

    seen = []  # the autocast dtype of every Trainer the training builds (it imports the Trainer when it trains)

    class Spy(trainer_module.Trainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            seen.append(self.amp_dtype)

    monkeypatch.setattr(trainer_module, "Trainer", Spy)
    write_vitals_csv(simulate(0.25, 1.0, 1, anomalies=False), tmp_path / "normal.csv")
    r = runner.invoke(app, ["vitals", "train", "--data", str(tmp_path / "normal.csv"), "--detector",
                            "lstm-autoencoder", "--out", str(tmp_path / "m"), "--epochs", "1", "--precision", "bf16",
                            "--set", "window=10", "--set", "units=[8,4]"])
    assert r.exit_code == 0, r.output
    import torch

    assert seen == [torch.bfloat16]
    det = load_detector(tmp_path / "m")
    assert all(p.dtype == torch.float32 for p in det.model.parameters())  # saved and scored in float32
    r = runner.invoke(app, ["vitals", "train", "--data", str(tmp_path / "normal.csv"), "--detector", "ar",
                            "--out", str(tmp_path / "m2"), "--precision", "fp16"])
    assert r.exit_code == 2 and "fp16 needs a CUDA device" in r.output and not (tmp_path / "m2").exists()
