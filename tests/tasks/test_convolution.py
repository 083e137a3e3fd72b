"""The `convolution` task end to end: files, every course value in metrics.json, a user image, bad images."""

import json

import numpy as np
import pytest

from neuralab.errors import DataError
from neuralab.tasks import TaskOptions, run_task


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_task("convolution", TaskOptions(quick=True, out=out, progress=False))


def test_writes_a_complete_run(result):
    d = result.run_dir
    for name in ("metrics.json", "report.md", "report.html", "run.json", "summary.json", "plots/binary_image.png",
                 "plots/sobel_step.png", "plots/sobel_image.png", "plots/pooling.png"):
        assert (d / name).is_file(), name
    assert json.loads((d / "run.json").read_text())["status"] == "done"
    assert not (d / "model").exists()  # nothing is trained
    html = (d / "report.html").read_text()
    assert "data:image/png;base64," in html and "308 − 498 + 164 + 1 = −25" in html
    assert json.loads((d / "metrics.json").read_text())["checks_failed"] == []
    lines = json.loads((d / "summary.json").read_text())
    assert any("[3, 8, 14, 20, 26, 14, 5]" in line for line in lines)
    assert lines[-1] == f"checks passed: {result.metrics['checks_total']}/{result.metrics['checks_total']}"


def test_every_check_passes(result):
    m = result.metrics
    assert m["checks_failed"] == []
    assert m["checks_total"] == m["checks_passed"] >= 30
    assert all(m["checks"].values())


def test_course_values_in_metrics(result):
    m = result.metrics
    c1 = m["conv1d_plan_x_patients"]
    assert c1["neuralab"] == c1["numpy_convolve"] == c1["torch_conv1d_flipped"] == [3, 8, 14, 20, 26, 14, 5]
    corr = m["correlation"]
    assert corr["neuralab"] == corr["numpy_correlate"] == corr["torch_conv1d"] == [17, 22, 39, 44]
    assert corr["true_convolution_valid"] == [23, 18, 25, 40]
    assert m["binary_image"]["neuralab"] == m["binary_image"]["torch_conv2d"] == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    assert m["sobel_step"]["vertical"] == [[0, 40, 40, 0]] * 4
    assert m["sobel_step"]["true_convolution_vertical"] == [[0, -40, -40, 0]] * 4
    assert m["rgb"]["neuralab"] == {"R": 308, "G": -498, "B": 164, "output": -25}
    assert m["rgb"]["torch_conv2d_output"] == -25
    assert m["pooling"]["max"] == m["pooling"]["torch_max"] == [[3, 3, 3], [3, 3, 3], [3, 2, 3]]
    assert m["pooling"]["avg_times_9"] == [[15, 15, 15], [9, 11, 16], [10, 7, 12]]
    assert all(row["ok"] for row in m["padding_stride"])
    assert abs(sum(m["forward_pass"]["probabilities"]) - 1) < 1e-5
    assert m["sobel_image"]["source"].startswith("scikit-learn's digits")


def test_edges_of_a_user_image(tmp_path):
    from PIL import Image

    y, x = np.mgrid[0:40, 0:300]
    Image.fromarray(np.where(x < 150, 200, 20).astype(np.uint8)).convert("RGB").save(tmp_path / "step.png")
    r = run_task("convolution", TaskOptions(data=tmp_path / "step.png", out=tmp_path / "runs", progress=False))
    s = r.metrics["sobel_image"]
    assert s["padding"] == "valid" and s["shape"] == [1, 1, 34, 256]  # longest side shrunk to 256
    assert s["max_abs_diff_vs_torch"] < 1e-9 and s["max_magnitude"] > 100
    assert r.metrics["checks_failed"] == []


def test_unreadable_image_is_named(tmp_path):
    path = tmp_path / "broken.png"
    path.write_text("not an image")
    with pytest.raises(DataError, match="broken.png: Pillow cannot read this image"):
        run_task("convolution", TaskOptions(data=path, out=tmp_path / "runs", progress=False))


def test_wrong_suffix_is_refused(tmp_path):
    path = tmp_path / "pic.bmp"
    path.write_bytes(b"BM")
    with pytest.raises(DataError, match=r"reads \.png, \.jpg, \.jpeg files"):
        run_task("convolution", TaskOptions(data=path, out=tmp_path / "runs", progress=False))
