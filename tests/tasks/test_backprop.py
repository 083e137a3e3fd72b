"""The `backprop` task end to end: files, the course's numbers, the erratum, custom examples."""

import json

import pytest

from neuralab.errors import DataError
from neuralab.tasks import TaskOptions, run_task


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_task("backprop", TaskOptions(quick=True, out=out, progress=False))


def test_writes_a_complete_run(result):
    d = result.run_dir
    for name in ("metrics.json", "report.md", "report.html", "run.json", "model/config.json",
                 "model/model.safetensors", "plots/error_curve.png"):
        assert (d / name).is_file(), name
    assert json.loads((d / "run.json").read_text())["status"] == "done"
    html = (d / "report.html").read_text()
    assert "data:image/png;base64," in html and "0.4007" in html and "0.3997" in html


def test_every_course_value_matches_and_methods_agree(result):
    m = result.metrics
    assert m["course_values_mismatched"] == []
    assert m["course_values_checked"] >= 20
    assert m["max_abs_diff_hand_vs_autograd"] < 1e-12
    assert m["max_abs_diff_hand_vs_trainer"] < 1e-12
    assert round(m["updated_weights"]["w2"], 4) == 0.3997
    assert m["course_errata"]["w2"]["course"] == 0.4007


def test_training_converges(result):
    m = result.metrics
    assert m["final_error"] < 1e-6 < m["initial_error"]
    assert m["iterations_to_error_below_1e_4"] is not None


def test_custom_example_from_json(tmp_path):
    spec = {"x": [1.0, 0.0, 0.5], "t": [0.9], "hidden_weights": [[0.1, 0.2, 0.3], [0.0, -0.1, 0.2]],
            "hidden_bias": 0.1, "output_weights": [[0.5, -0.5]], "output_bias": 0.0, "lr": 0.5}
    path = tmp_path / "ex.json"
    path.write_text(json.dumps(spec))
    r = run_task("backprop", TaskOptions(quick=True, data=path, out=tmp_path / "runs", progress=False))
    assert r.metrics["max_abs_diff_hand_vs_autograd"] < 1e-12
    assert r.metrics["final_error"] < r.metrics["initial_error"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "invalid JSON at line 1"),
     ('{"x": [1]}', "missing key"),
     ('{"x": [1, 2], "t": [0.5], "hidden_weights": [[1, 2, 3]], "hidden_bias": 0, "output_weights": [[1]],'
      ' "output_bias": 0, "lr": 0.1}', "shapes do not chain"),
     ('{"x": [1], "t": [2.0], "hidden_weights": [[1]], "hidden_bias": 0, "output_weights": [[1]],'
      ' "output_bias": 0, "lr": 0.1}', "targets must lie in")],
)
def test_bad_example_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        run_task("backprop", TaskOptions(quick=True, data=path, out=tmp_path / "runs", progress=False))
    assert "bad.json" in str(info.value)
