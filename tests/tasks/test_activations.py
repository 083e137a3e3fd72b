"""The `activations` task end to end (quick mode), its --data CSV path, and the CSV reader's errors."""

from __future__ import annotations

import csv
import json

import pytest
import torch

import neuralab
from neuralab.data.tabular_classification import read_feature_label_csv
from neuralab.errors import DataError
from neuralab.tasks import TaskOptions, run_task


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_task("activations", TaskOptions(quick=True, out=out, progress=False))


def test_writes_a_complete_run(result):
    d = result.run_dir
    for name in ("metrics.json", "history.csv", "report.md", "report.html", "model/config.json",
                 "model/model.safetensors", "plots/activations.png", "plots/grad_norms.png",
                 "plots/learning_curves.png", "plots/history_curves.png"):
        assert (d / name).is_file(), name
    assert json.loads((d / "run.json").read_text())["status"] == "done"
    assert json.loads((d / "metrics.json").read_text()) == json.loads(json.dumps(result.metrics))
    with (d / "history.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == result.metrics["epochs"] and "val_accuracy" in rows[0]
    html = (d / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4
    assert "vanishing gradient" in html


def test_derivative_maxima(result):
    m = result.metrics
    assert m["deriv_max_sigmoid"] == pytest.approx(0.25)
    assert m["deriv_argmax_sigmoid"] == 0.0 and m["deriv_argmax_tanh"] == 0.0
    for name in ("tanh", "relu", "leaky_relu"):
        assert m[f"deriv_max_{name}"] == pytest.approx(1.0)
    assert m["deriv_min_relu"] == 0.0 and m["deriv_min_leaky_relu"] == pytest.approx(0.01)
    assert m["deriv_at_5_sigmoid"] < 0.01
    assert max(v for k, v in m.items() if k.startswith("deriv_autograd_max_err_")) < 1e-12


def test_sigmoid_gradient_vanishes_relu_does_not(result):
    m = result.metrics
    layers = m["depth"] + 1
    for act in ("sigmoid", "tanh", "relu"):
        assert len(m["grad_norms"][act]["init"]) == len(m["grad_norms"][act]["trained"]) == layers
    # orders of magnitude apart, at initialisation and after training
    assert m["grad_ratio_init_sigmoid"] * 1000 < m["grad_ratio_init_relu"]
    assert m["grad_ratio_trained_sigmoid"] * 100 < m["grad_ratio_trained_relu"]
    assert m["first_layer_grad_init_sigmoid"] * 100 < m["first_layer_grad_init_relu"]
    assert m["orders_of_magnitude_relu_over_sigmoid_init"] > 2
    # the sigmoid net's gradient shrinks layer after layer towards the input
    g = m["grad_norms"]["sigmoid"]["init"]
    assert all(a < b for a, b in zip(g[:-1], g[1:], strict=True))
    assert m["first_layer_weight_change_sigmoid"] * 100 < m["first_layer_weight_change_relu"]


def test_relu_learns_sigmoid_does_not_in_quick_mode(result):
    m = result.metrics
    assert m["val_accuracy_relu"] > 0.4
    assert m["val_accuracy_tanh"] > 0.6
    assert m["val_accuracy_relu"] > m["val_accuracy_sigmoid"] + 0.2


def test_saved_model_reloads(result):
    model = neuralab.load_model(result.run_dir / "model")
    assert model.config.activation == "relu"
    assert len(model.linears) == result.metrics["depth"] + 1
    extra = json.loads((result.run_dir / "model" / "config.json").read_text())["extra"]
    assert extra["classes"] == list(range(10)) and len(extra["feature_mean"]) == 64


def test_every_number_in_the_text_is_a_metric(result):
    # the report quotes measured values; spot-check the ones a learner reads first
    md = (result.run_dir / "report.md").read_text()
    m = result.metrics
    assert f"{m['grad_ratio_init_sigmoid']:.2g}" in md
    assert f"{m['val_accuracy_relu']:.1%}" in md
    assert f"0.25^{m['depth']} = {m['sigmoid_deriv_max_pow_depth']:.2g}" in md


def write_blobs(path, n=150, features=5, labels=(3, 7, 9)):
    g = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(len(labels), features, generator=g)
    lines = [",".join([f"x{i}" for i in range(features)] + ["label"])]
    for i in range(n):
        k = i % len(labels)
        x = centres[k] + torch.randn(features, generator=g)
        lines.append(",".join(f"{v:.4f}" for v in x.tolist()) + f",{labels[k]}")
    path.write_text("\n".join(lines) + "\n")


def test_runs_on_a_user_csv(tmp_path):
    path = tmp_path / "blobs.csv"
    write_blobs(path)
    r = run_task("activations", TaskOptions(quick=True, epochs=2, data=path, out=tmp_path / "runs", progress=False))
    m = r.metrics
    assert m["n_classes"] == 3 and m["n_train"] + m["n_val"] == 150 and m["n_val"] == 30
    assert m["grad_ratio_init_sigmoid"] * 100 < m["grad_ratio_init_relu"]
    extra = json.loads((r.run_dir / "model" / "config.json").read_text())["extra"]
    assert extra["classes"] == [3, 7, 9] and len(extra["feature_mean"]) == 5


# ------------------------------------------------------------------------------------------------ reader
def test_reader_with_and_without_header(tmp_path):
    with_header = tmp_path / "a.csv"
    with_header.write_text("f1,f2,label\n1,2.5,0\n\n-3,4e-1,1\n")
    no_header = tmp_path / "b.csv"
    no_header.write_text("1,2.5,0\r\n-3,0.4,1.0\r\n")
    for path in (with_header, no_header):
        X, y = read_feature_label_csv(path)
        assert X.dtype == torch.float32 and y.dtype == torch.int64
        torch.testing.assert_close(X, torch.tensor([[1.0, 2.5], [-3.0, 0.4]]))
        assert y.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("content", "fragments"),
    [("", ["is empty"]),
     ("\n\n", ["is empty"]),
     ("a,b,label\n", ["header row (line 1)", "no data rows"]),
     ("1,2,0\n3,x,1\n", ["line 2, column 2", "'x' is not a finite number"]),
     ("a,b,label\n1,2,0\n3,,1\n", ["line 3, column 2 ('b')", "is empty"]),
     ("1,2,0\n3,nan,1\n", ["line 2, column 2", "'nan'"]),
     ("1,2,0\n3,4,1\n5,6\n", ["line 3 has 2 columns but line 1 has 3"]),
     ("1,2,0\n3,4,1,7\n", ["line 2 has 4 columns but line 1 has 3"]),
     ("1,2,0\n3,4,1.5\n", ["line 2, column 3", "label '1.5' is not an integer"]),
     ("x,label\n1,cat\n", ["line 2, column 2 ('label')", "label 'cat' is not an integer"]),
     ("1;2;0\n3;4;1\n", ["line 1 has 1 column", "';'"]),
     ("1,2,0\n3,4,0\n", ["at least two classes"])],
)
def test_reader_errors_name_file_line_and_column(tmp_path, content, fragments):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError) as info:
        read_feature_label_csv(path)
    msg = str(info.value)
    assert str(path) in msg
    for fragment in fragments:
        assert fragment in msg, msg


def test_reader_missing_file(tmp_path):
    with pytest.raises(DataError, match="is not a file"):
        read_feature_label_csv(tmp_path / "nope.csv")


def test_too_few_rows_for_a_stratified_split(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("1,2,0\n3,4,1\n5,6,1\n")
    with pytest.raises(DataError, match="stratified"):
        run_task("activations", TaskOptions(quick=True, data=path, out=tmp_path / "runs", progress=False))


def test_same_seed_same_numbers(result, tmp_path):
    again = run_task("activations", TaskOptions(quick=True, out=tmp_path, progress=False))
    assert again.metrics == result.metrics
