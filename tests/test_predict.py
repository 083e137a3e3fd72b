"""`neuralab predict` with an image classifier saved by the `gestures` task: a CLI round trip and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import neuralab
from neuralab.cli import app
from neuralab.data.images import Normalizer, load_digits_images
from neuralab.errors import ConfigError, DataError
from neuralab.predict import predict

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    r = runner.invoke(app, ["run", "gestures", "--quick", "--out", str(out), "--arch", "lenet5",
                            "--augment", "rotate=5", "--image-size", "16", "--set", "train_limit=600"])
    assert r.exit_code == 0, r.output
    assert "lenet5: test accuracy" in r.output
    (run_dir,) = (out / "gestures").iterdir()
    return run_dir / "model"


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory) -> tuple[list[str], np.ndarray, torch.Tensor]:
    """20 digits written as 16x16 8-bit PNGs; returns (paths, labels, the pixels as the files hold them)."""
    folder = tmp_path_factory.mktemp("digits")
    ds = load_digits_images(image_size=16)
    idx = np.arange(0, 1797, 90)[:20]
    pixels = (ds.images[idx, 0] * 255).round().to(torch.uint8)  # (20, 16, 16)
    paths = []
    for i, img in zip(idx, pixels, strict=True):
        path = folder / f"digit_{i}.png"
        Image.fromarray(img.numpy(), mode="L").save(path)
        paths.append(str(path))
    return paths, ds.labels[idx].numpy(), pixels.float().div(255).unsqueeze(1)


def test_cli_round_trip(model_dir, digit_files):
    paths, labels, pixels = digit_files
    r = runner.invoke(app, ["predict", str(model_dir), *paths, "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.strip().splitlines()]
    assert [row["input"] for row in rows] == paths
    model = neuralab.load_model(model_dir)
    norm = Normalizer.from_dict(model.extra["normalizer"])
    with torch.no_grad():
        expected = torch.softmax(model(norm(pixels)), dim=1)  # the model applied to the files' own pixels
    for row, exp in zip(rows, expected, strict=True):
        probs = row["probabilities"]
        assert list(probs) == [str(k) for k in range(10)]
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert row["label"] == max(probs, key=probs.get) and row["probability"] == probs[row["label"]]
        assert list(probs.values()) == pytest.approx(exp.tolist(), abs=1e-5)
    correct = sum(int(row["label"]) == y for row, y in zip(rows, labels, strict=True))
    assert correct >= 16  # of 20; chance is 2


def test_cli_text_output_and_other_formats(model_dir, digit_files, tmp_path):
    """An RGB JPEG of another size is converted to the model's 1-channel 16x16 input."""
    gray = np.asarray(Image.open(digit_files[0][0]))
    rgb = tmp_path / "digit.jpg"
    Image.fromarray(np.stack([gray] * 3, axis=-1)).resize((56, 56)).save(rgb, quality=95)
    r = runner.invoke(app, ["predict", str(model_dir), str(rgb), "--top", "2"])
    assert r.exit_code == 0, r.output
    line = r.output.strip()
    assert line.startswith(f"{rgb}: ") and line.count("[") == 1 and line.count(",") == 1  # two of the ten classes
    (pred,) = predict(model_dir, [str(rgb)], device="cpu")
    assert pred.label == json.loads(runner.invoke(app, ["predict", str(model_dir), digit_files[0][0],
                                                        "--json"]).output)["label"]


def test_corrupt_and_missing_images_are_named(model_dir, digit_files, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    r = runner.invoke(app, ["predict", str(model_dir), digit_files[0][0], str(bad)])
    assert r.exit_code == 2
    assert f"error: {bad}: Pillow cannot read this image" in r.output and "Traceback" not in r.output
    with pytest.raises(DataError, match=r"image '.*nothere.png' does not exist"):
        predict(model_dir, [str(tmp_path / "nothere.png")], device="cpu")
    with pytest.raises(DataError, match="nothing to predict"):
        predict(model_dir, [], device="cpu")


def test_model_dir_errors(model_dir, tmp_path):
    r = runner.invoke(app, ["predict", str(tmp_path / "nomodel"), "a.png"])
    assert r.exit_code == 2 and "model directory" in r.output and "does not exist" in r.output
    # a model directory without the predictor kind (saved by hand)
    plain = tmp_path / "plain"
    neuralab.save_model(neuralab.get_model("lenet5", num_classes=10), plain)
    with pytest.raises(ConfigError, match=r"declares no predictor kind"):
        predict(plain, ["a.png"], device="cpu")
    # an image classifier whose preprocessing is missing
    broken = tmp_path / "broken"
    neuralab.save_model(neuralab.get_model("lenet5", num_classes=10), broken, extra={"kind": "image-classifier"})
    with pytest.raises(DataError, match=r"extra needs classes, normalizer, image_size and channels"):
        predict(broken, ["a.png"], device="cpu")
