"""Task `rnn-regressor`: the generated problem's right answer, the baselines, the CSV reader, an end-to-end run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuralab.errors import ConfigError, DataError
from neuralab.tasks import TaskOptions, run_task
from neuralab.tasks.rnn_regressor import NOISE_STD, generated_series, linear_ar, make_windows, read_series_csv


def test_generated_series_is_predictable_up_to_its_noise():
    s = generated_series(3000, seed=0)
    clean = generated_series(3000, seed=0, noise=0.0)
    assert np.std(s - clean) == pytest.approx(NOISE_STD, rel=0.05)
    w = make_windows(s, 20, "gen")
    # the sum of two sinusoids obeys a linear recurrence, so least squares on the window nearly reaches σ
    pred = w.to_units(linear_ar(w))
    rmse = float(np.sqrt(np.mean((pred - w.to_units(w.y["test"])) ** 2)))
    assert NOISE_STD * 0.9 < rmse < NOISE_STD * 1.2
    assert not np.array_equal(generated_series(50, seed=1), generated_series(50, seed=2))


def test_windows_are_split_in_time_and_standardised_on_train():
    s = np.arange(100, dtype=np.float64)
    w = make_windows(s, 5, "ramp")
    assert len(w.y["train"]) == 66 and len(w.y["val"]) == 14 and len(w.y["test"]) == 15
    assert w.t["train"].max() < w.t["val"].min() and w.t["val"].max() < w.t["test"].min()
    # window i holds s[i : i+5] and its target s[i+5]
    np.testing.assert_allclose(w.to_units(w.x["val"][0]), s[66:71])
    np.testing.assert_allclose(w.to_units(w.y["val"][0]), [71.0])
    assert w.mean == pytest.approx(np.mean(s[:71]))
    with pytest.raises(DataError, match="12 values give 7 windows of 5; need at least 45 values"):
        make_windows(s[:12], 5, "short")
    with pytest.raises(DataError, match="constant over its training part"):
        make_windows(np.ones(100), 5, "flat")


def test_read_series_csv_columns_and_errors(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("Date,Passengers\n1949-01,112\n1949-02,118\n\n1949-03,132\n")
    values, name = read_series_csv(p)
    assert name == "Passengers" and values.tolist() == [112, 118, 132]
    assert read_series_csv(p, "Passengers")[0].tolist() == [112, 118, 132]
    q = tmp_path / "nohead.csv"
    q.write_text("1,5\n2,6\n")
    assert read_series_csv(q, "1")[0].tolist() == [1, 2] and read_series_csv(q)[1] == "column 2"
    with pytest.raises(DataError, match="no column named 'Sales'; the header's columns are Date, Passengers"):
        read_series_csv(p, "Sales")
    with pytest.raises(DataError, match="column=3 but the first row has 2 column"):
        read_series_csv(p, "3")
    p.write_text("Date,Passengers\n1949-01,112\n1949-02,n/a\n")
    with pytest.raises(DataError, match=r"s.csv, line 3, column 2 \('Passengers'\): 'n/a' is not a finite number"):
        read_series_csv(p)
    p.write_text("Date,Passengers\n1949-01\n")
    with pytest.raises(DataError, match="line 2: 1 field"):
        read_series_csv(p)
    p.write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        read_series_csv(p)
    p.write_text("Date,Passengers\n")
    with pytest.raises(DataError, match="a header row but no data rows"):
        read_series_csv(p)
    p.write_bytes(b"x\n\xff\xfe1\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_series_csv(p)


def test_quick_run_beats_the_naive_forecast(tmp_path):
    res = run_task("rnn-regressor", TaskOptions(quick=True, out=tmp_path, epochs=4))
    m = json.loads((res.run_dir / "metrics.json").read_text())
    assert m["epochs_run"] == 4 and m["parameters"] == 2701
    assert m["test_rmse_rnn"] < m["test_rmse_persistence"] < m["test_rmse_mean"]
    assert (res.run_dir / "plots" / "predictions.png").exists()
    assert (res.run_dir / "model" / "config.json").exists()
    with pytest.raises(ConfigError, match="window=0"):
        run_task("rnn-regressor", TaskOptions(quick=True, out=tmp_path, extra={"window": "0"}))


def test_real_series_from_shared_data(shared_data, tmp_path):
    path = shared_data / "univariate_ts" / "statsmodels" / "sunspots.csv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    res = run_task("rnn-regressor", TaskOptions(quick=True, out=tmp_path, data=path, epochs=4,
                                                 extra={"column": "SUNACTIVITY"}))
    m = res.metrics
    assert m["n_train"] + m["n_val"] + m["n_test"] == 309 - 20
    assert m["test_rmse_rnn"] < m["test_rmse_mean"]


def test_same_seed_same_fit_different_seed_different_fit():
    import torch
    import torch.nn.functional as F

    import neuralab
    from neuralab.train import make_loader
    from neuralab.train.trainer import Trainer
    from neuralab.utils import seed_everything

    w = make_windows(generated_series(200, seed=0), 10, "gen")

    def fit(seed: int) -> torch.Tensor:
        seed_everything(seed)
        model = neuralab.get_model("rnn-regressor", window=10, hidden_size=8)
        trainer = Trainer(model, F.mse_loss, device="cpu", seed=seed, progress=False)
        trainer.fit(make_loader(w.x["train"], w.y["train"], batch_size=32, shuffle=True), epochs=2)
        return trainer.predict(make_loader(w.x["test"], w.y["test"]))[0]

    a, b, c = fit(1), fit(1), fit(2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
