"""The `regularization` task end to end (quick mode), its --data CSV path, the data generator and the CSV reader."""

from __future__ import annotations

import csv
import json
import math
from types import SimpleNamespace

import pytest
import torch

import neuralab
from neuralab.data.synthetic import noisy_sinusoid, sinusoid
from neuralab.data.tabular import read_xy_csv, split_xy
from neuralab.errors import DataError
from neuralab.tasks import TaskContext, TaskOptions, run_task

PLOTS = ("capacity_errors", "capacity_fits", "l2_sweep", "l2_fits", "l1_sweep", "early_stopping", "dropout_outputs",
         "history_curves")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_task("regularization", TaskOptions(quick=True, out=out, progress=False))


def _short(tmp_path, seed, **kw):
    # a cut-down run (few epochs) for the determinism checks: the numbers, not their quality, are compared
    return run_task("regularization", TaskOptions(quick=True, epochs=10, seed=seed, out=tmp_path / f"s{seed}",
                                                  progress=False, **kw)).metrics


# ------------------------------------------------------------------------------------------------ the run
def test_writes_a_complete_run(result):
    d = result.run_dir
    for name in ("metrics.json", "history.csv", "report.md", "report.html", "model/config.json",
                 "model/model.safetensors", *(f"plots/{p}.png" for p in PLOTS)):
        assert (d / name).is_file(), name
    assert json.loads((d / "run.json").read_text())["status"] == "done"
    assert json.loads((d / "metrics.json").read_text()) == json.loads(json.dumps(result.metrics))
    with (d / "history.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == result.metrics["epochs"] and "val_loss" in rows[0] and "train_penalty" in rows[0]
    html = (d / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(PLOTS)
    for words in ("Under- and over-fitting", "L2 regularisation", "L1 regularisation", "Early stopping", "Dropout"):
        assert words in html
    # every fit got its own resumable directory
    assert (d / "fits" / "capacity_M1" / "checkpoints" / "last.pt").is_file()
    assert (d / "fits" / "early_stopping" / "history.csv").is_file()


def test_metrics_hold_every_number(result):
    m = result.metrics
    assert m["n_train"] == 15 and m["n_val"] == 100 and m["n_test"] == 200 and m["large_M"] == 50
    assert [r["M"] for r in m["capacity"]] == [1, 3, 50]
    assert [r["lambda"] for r in m["l2_sweep"]][0] == 0.0 and len(m["l2_sweep"]) >= 2
    assert [r["lambda"] for r in m["l1_sweep"]][0] == 0.0 and len(m["l1_sweep"]) >= 2
    for rec in (*m["capacity"], *m["l2_sweep"], *m["l1_sweep"]):
        assert all(math.isfinite(rec[f"{s}_rmse"]) and rec[f"{s}_rmse"] >= 0 for s in ("train", "val", "test"))
    assert m["l1_zero_threshold"] == 1e-3
    assert m["l2_best_lambda"] in [r["lambda"] for r in m["l2_sweep"]]
    assert set(m["early_stopping"]) >= {"best_epoch", "stop_epoch", "test_rmse_restored", "test_rmse_full"}
    assert len(m["summary_test_rmse"]) == 6
    # the noise floor: the true curve's own RMSE is close to σ = 0.3
    assert 0.2 < m["noise_rmse_test"] < 0.4


def test_capacity_more_units_fit_the_training_points_better(result):
    m = result.metrics
    # quick mode trains 300 epochs, too few for the full over-fit (the full run: see the report); the direction
    # already shows: the large net fits its training points better than M = 1 and better than unseen points
    assert m["train_rmse_large"] < 0.85 * m["train_rmse_M1"]
    assert m["train_rmse_large"] < m["val_rmse_large"]
    assert m["overfit_ratio_large"] == pytest.approx(m["val_rmse_large"] / m["train_rmse_large"])
    assert m["capacity"][0]["params"] == 4 and m["capacity"][-1]["params"] == 151  # 3M + 1


def test_l2_shrinks_weights_and_raises_training_error(result):
    sweep = result.metrics["l2_sweep"]
    assert sweep[-1]["sum_w2"] < 0.2 * sweep[0]["sum_w2"]
    assert sweep[-1]["train_rmse"] > sweep[0]["train_rmse"]
    best = min(sweep, key=lambda r: r["val_rmse"])
    assert result.metrics["l2_best_lambda"] == best["lambda"]
    assert result.metrics["l2_test_rmse_best"] == best["test_rmse"]


def test_l1_drives_weights_to_zero(result):
    m = result.metrics
    sweep = m["l1_sweep"]
    assert m["l1_n_zero_none"] == sweep[0]["n_zero"] <= 2
    assert m["l1_n_zero_max"] == sweep[-1]["n_zero"] > 50
    assert sweep[-1]["active_units"] < sweep[0]["active_units"] == 50
    assert all(r["n_weights"] == 100 for r in sweep)


def test_early_stopping_epochs(result):
    es = result.metrics["early_stopping"]
    assert 1 <= es["best_epoch"] <= es["stop_epoch"] <= es["max_epochs"]
    if es["stopped"]:
        assert es["stop_epoch"] - es["best_epoch"] == es["patience"]
    assert es["test_rmse_full"] == result.metrics["test_rmse_large"]


def test_dropout_train_mode_is_stochastic_eval_mode_deterministic(result):
    d = result.metrics["dropout"]
    assert d["train_mode_max_diff"] > 1e-3
    assert d["eval_mode_max_diff"] == 0.0
    assert d["inverted_dropout_frac_zero"] == pytest.approx(d["p"], abs=0.005)
    assert d["inverted_dropout_kept_value"] == pytest.approx(1 / (1 - d["p"]), rel=1e-6)
    assert d["inverted_dropout_mean"] == pytest.approx(1.0, abs=0.01)
    assert d["val_rmse_no_dropout"] == result.metrics["val_rmse_large"]


def test_saved_model_is_the_best_l2_network(result):
    m = result.metrics
    model = neuralab.load_model(result.run_dir / "model")
    assert model.config.hidden == (50,) and model.extra["l2"] == m["l2_best_lambda"]
    # rebuild the test error from the saved weights, the stored standardisation and regenerated data
    seed = TaskContext.seed_for(SimpleNamespace(opts=TaskOptions()), "data")  # the run's data seed
    x, t = noisy_sinusoid(15, 100, 200, 0.3, seed=seed)["test"]
    e = model.extra
    with torch.no_grad():
        y = model((x - e["x_mean"]) / e["x_std"]) * e["t_std"] + e["t_mean"]
    assert float(((y - t) ** 2).mean().sqrt()) == pytest.approx(m["l2_test_rmse_best"], rel=1e-5)


def test_same_seed_same_metrics_different_seed_different(tmp_path):
    a, b, c = _short(tmp_path / "a", 0), _short(tmp_path / "b", 0), _short(tmp_path / "c", 1)
    assert a == b
    assert a["capacity"] != c["capacity"] and a["noise_rmse_test"] != c["noise_rmse_test"]


# ------------------------------------------------------------------------------------------------ --data
def test_runs_on_a_user_csv(tmp_path):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(40, generator=g) * 4
    y = x ** 2 + 0.1 * torch.randn(40, generator=g)
    path = tmp_path / "curve.csv"
    path.write_text("x,y\n" + "".join(f"{a:.5f},{b:.5f}\n" for a, b in zip(x.tolist(), y.tolist(), strict=True)))
    m = run_task("regularization", TaskOptions(quick=True, epochs=10, data=path, out=tmp_path / "runs",
                                               progress=False)).metrics
    assert m["data"] == str(path) and "noise_sd" not in m
    assert (m["n_train"], m["n_val"], m["n_test"]) == (24, 8, 8)


def test_too_small_csv_is_refused(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("0,1\n1,2\n2,3\n")
    with pytest.raises(DataError, match=r"tiny\.csv has 3 rows.*at least 4"):
        run_task("regularization", TaskOptions(quick=True, data=path, out=tmp_path / "runs", progress=False))


# ------------------------------------------------------------------------------------------------ readers
def test_read_xy_csv_with_and_without_header(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("x, y\n0.5, 1\n\n# a comment\n1.5,-2e-1\n")
    x, y = read_xy_csv(a)
    assert x.tolist() == [0.5, 1.5] and y.tolist() == pytest.approx([1.0, -0.2])
    b = tmp_path / "b.csv"
    b.write_text("0,0\n1,1\n")
    assert read_xy_csv(b)[0].shape == (2,)


@pytest.mark.parametrize(("text", "pattern"), [
    ("x,y\n1,2\n3,abc\n", r"bad\.csv: line 3, column 2 \(y\): 'abc' is not a finite number"),
    ("1,2\n3,nan\n", r"bad\.csv: line 2, column 2 \(y\): 'nan' is not a finite number"),
    ("1,2\n,4\n", r"bad\.csv: line 2, column 1 \(x\): is empty"),
    ("1,2\n3,4,5\n", r"bad\.csv: line 2 has 3 columns; expected exactly 2"),
    ("1;2\n", r"bad\.csv: line 1 has 1 column; expected exactly 2 .*comma-separated"),
    ("1,x\n", r"bad\.csv: line 1, column 2 \(y\): 'x' is not a finite number"),
    ("x,y\n", r"bad\.csv has a header row \(line 1\) but no data rows"),
    ("\n\n", r"bad\.csv is empty"),
])
def test_read_xy_csv_errors_name_file_and_line(tmp_path, text, pattern):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=pattern):
        read_xy_csv(path)


def test_read_xy_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing.csv.*not a file"):
        read_xy_csv(tmp_path / "missing.csv")


def test_split_xy_is_fixed_and_complete():
    x, y = torch.arange(20.0), torch.arange(20.0) * 2
    a, b = split_xy(x, y, seed=0), split_xy(x, y, seed=0)
    assert [len(a[s][0]) for s in ("train", "val", "test")] == [12, 4, 4]
    assert all(torch.equal(a[s][0], b[s][0]) for s in a)
    assert sorted(torch.cat([a[s][0] for s in a]).squeeze(1).tolist()) == x.tolist()
    assert all(torch.equal(a[s][1], 2 * a[s][0]) for s in a)  # pairs stay together
    with pytest.raises(DataError, match="spread"):
        split_xy(torch.ones(10), torch.arange(10.0))


# ------------------------------------------------------------------------------------------------ generator
def test_noisy_sinusoid_is_deterministic_and_stratified():
    a, b, c = noisy_sinusoid(seed=4), noisy_sinusoid(seed=4), noisy_sinusoid(seed=5)
    assert all(torch.equal(a[s][i], b[s][i]) for s in a for i in (0, 1))
    assert not torch.equal(a["train"][1], c["train"][1])
    x_train = a["train"][0].squeeze(1)
    assert x_train.shape == (15,) and a["val"][0].shape == (100, 1) and a["test"][1].shape == (200, 1)
    # one point in each bin [n/15, (n+1)/15)
    assert torch.equal((x_train * 15).floor(), torch.arange(15.0))
    # noise-free targets when σ = 0; residual spread ≈ σ otherwise
    x0, t0 = noisy_sinusoid(noise=0.0, seed=1)["test"]
    torch.testing.assert_close(t0, sinusoid(x0))
    x1, t1 = noisy_sinusoid(n_test=5000, noise=0.3, seed=1)["test"]
    assert float((t1 - sinusoid(x1)).std()) == pytest.approx(0.3, abs=0.02)
