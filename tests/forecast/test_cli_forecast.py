"""`neuralab forecast`: the files it writes and the one-line errors on bad input."""

import csv

import numpy as np
from typer.testing import CliRunner

from neuralab.cli import app
from neuralab.tasks.ar_vs_lstm import ar2

runner = CliRunner()


def _series(tmp_path, n=120):
    y = ar2(n, np.random.default_rng(0))
    p = tmp_path / f"s{n}.csv"
    p.write_text("t,y\n" + "".join(f"{2000 + i},{v:.5f}\n" for i, v in enumerate(y)))
    return p


def test_forecast_writes_csv_and_png(tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["forecast", str(_series(tmp_path)), "--column", "y", "--time-column", "t",
                            "--horizon", "5", "--model", "ar", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((out / "forecast.csv").open()))
    assert [row["step"] for row in rows] == ["1", "2", "3", "4", "5"]
    assert rows[0]["time"] == "2120"
    for row in rows:
        v = {k: float(row[k]) for k in ("mean", "lower_80", "upper_80", "lower_95", "upper_95")}
        assert v["lower_95"] < v["lower_80"] < v["mean"] < v["upper_80"] < v["upper_95"]
    assert (out / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == ["forecast.csv", "forecast.png"]  # no temporary files left


def test_forecast_with_a_neural_model(tmp_path):
    out = tmp_path / "o"
    r = runner.invoke(app, ["forecast", str(_series(tmp_path, 80)), "--column", "y", "--horizon", "3",
                            "--model", "mlp", "--window", "5", "--out", str(out), "--device", "cpu",
                            "--epochs", "20"])
    assert r.exit_code == 0, r.output
    assert "model: mlp" in r.output
    assert len(list(csv.DictReader((out / "forecast.csv").open()))) == 3


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("t,y\n1,1\n2,x\n")
    cases = [
        (["forecast", str(bad), "--column", "y"], "line 3, column 'y': 'x' is not a number"),
        (["forecast", str(_series(tmp_path)), "--column", "y", "--model", "prophet"], "--model 'prophet'"),
        (["forecast", str(_series(tmp_path)), "--column", "y", "--horizon", "0"], "--horizon must be >= 1"),
        (["forecast", str(_series(tmp_path, 15)), "--column", "y", "--model", "lstm"],
         "has 15 points; a window of 11 and a horizon of 1 need at least 24"),
        (["forecast", str(tmp_path / "none.csv"), "--column", "y"], "does not exist"),
        (["forecast", str(_series(tmp_path, 50)), "--column", "y", "--epochs", "0"], "--epochs must be >= 1"),
    ]
    for args, msg in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert msg in r.output, (msg, r.output)
        assert "Traceback" not in r.output
