"""Task `transfer`: end to end in quick mode, source/target of different sizes and channel counts, the labelled
draw, and the errors for bad options and data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralab.data.images import ImageDataset
from neuralab.errors import ConfigError, DataError
from neuralab.tasks import TaskOptions, run_task
from neuralab.tasks.transfer import HEAD_LRS, draw_labelled

TINY = {"seeds": "1", "source_epochs": "1", "source_limit": "200", "val_per_class": "5"}


def _npz(path: Path, n_per_class: int, classes: int, shape: tuple[int, ...], seed: int) -> Path:
    """Images whose class is a bright square in one of `classes` places (uint8, NHW or NHWC)."""
    rng = np.random.default_rng(seed)
    n = n_per_class * classes
    y = np.repeat(np.arange(classes), n_per_class)
    x = rng.integers(0, 60, size=(n, *shape), dtype=np.uint8)
    side = shape[0] // 2
    for i, k in enumerate(y):
        r, c = divmod(int(k), 2)
        x[i, r * side:(r + 1) * side, c * side:(c + 1) * side] = 220
    np.savez(path, x=x, y=y)
    return path


def test_quick_run_end_to_end(tmp_path: Path) -> None:
    res = run_task("transfer", TaskOptions(quick=True, epochs=2, run_dir=tmp_path / "run", progress=False,
                                           extra=dict(TINY)))
    m = res.metrics
    for key in ("frozen_test_accuracy", "finetune_test_accuracy", "scratch_test_accuracy"):
        assert 0.0 <= m[key] <= 1.0 and len(m[key.replace("accuracy", "accuracies")]) == 1
    assert m["frozen_params_unchanged"] is True and m["frozen_params_changed"] == []
    assert m["draw_spread"] == 0.0  # one draw
    assert m["transfer_gain"] == pytest.approx(m["finetune_test_accuracy"] - m["scratch_test_accuracy"])
    # head=classifier: the conv layers (2 weights + 2 biases) frozen, the new dense head trains
    assert m["frozen_param_tensors"] == 4
    assert m["trainable_params_frozen"] < m["trainable_params_finetune"] == m["total_params"]
    assert m["n_target_train"] == 5 * 10 and m["per_class"] == 10 and m["image_size"] == 16
    assert m["epochs"] == 2 and m["source_epochs"] == 1
    # head_lr=auto (the default): each candidate's frozen stage on draw 1, the better validation accuracy wins
    assert set(m["head_lr_validation"]) == {f"{lr:g}" for lr in HEAD_LRS}
    best = max(HEAD_LRS, key=lambda lr: m["head_lr_validation"][f"{lr:g}"])
    assert m["head_lr"] == best
    for lr in HEAD_LRS:
        assert (res.run_dir / "fits" / f"head_lr_probe_{lr:g}" / "history.csv").exists()
    assert (res.run_dir / "plots" / "transfer_curves.png").stat().st_size > 0
    assert json.loads((res.run_dir / "model" / "config.json").read_text())["extra"]["kind"] == "image-classifier"
    for fit in ("pretrain", "frozen0", "finetune0", "scratch0"):
        assert (res.run_dir / "fits" / fit / "history.csv").exists()
    # the scratch network trains for the budget of frozen + fine-tune
    scratch = (res.run_dir / "fits" / "scratch0" / "history.csv").read_text().strip().splitlines()
    assert len(scratch) == 1 + 4


def test_source_and_target_of_other_sizes_and_channels_are_converted(tmp_path: Path) -> None:
    source = _npz(tmp_path / "source.npz", 30, 3, (12, 12, 3), seed=0)  # RGB 12x12, NHWC
    target = _npz(tmp_path / "target.npz", 12, 4, (14, 14), seed=1)  # gray 14x14
    res = run_task("transfer", TaskOptions(quick=True, epochs=1, run_dir=tmp_path / "run", progress=False,
                                           extra={**TINY, "source": str(source), "target": str(target),
                                                  "per_class": "3", "val_per_class": "2"}))
    m = res.metrics
    assert (m["image_size"], m["channels"], m["target_classes"]) == (14, 1, 4)
    assert m["n_target_train"] == 12 and m["n_target_val"] == 8 and m["n_source"] == 81
    assert m["frozen_params_unchanged"] is True


def test_image_size_option_resizes_both(tmp_path: Path) -> None:
    target = _npz(tmp_path / "target.npz", 12, 2, (20, 20), seed=1)
    res = run_task("transfer", TaskOptions(quick=True, epochs=1, run_dir=tmp_path / "run", progress=False,
                                           extra={**TINY, "target": str(target), "per_class": "2",
                                                  "image_size": "12", "head": "output", "head_lr": "0.005"}))
    assert res.metrics["image_size"] == 12 and res.metrics["head"] == "output"
    assert res.metrics["head_lr"] == 0.005 and res.metrics["head_lr_validation"] == {}  # given: no probe
    assert res.metrics["frozen_params_unchanged"] is True


def test_draw_labelled_is_per_class_disjoint_and_seeded() -> None:
    labels = torch.arange(3).repeat_interleave(8)
    ds = ImageDataset(torch.rand(24, 1, 4, 4), labels, ["a", "b", "c"], "generated")
    train, val = draw_labelled(ds, 3, 2, seed=0)
    assert train.class_counts() == [3, 3, 3] and val.class_counts() == [2, 2, 2]
    rows = {tuple(x.flatten().tolist()) for x in torch.cat([train.images, val.images])}
    assert len(rows) == 15  # no image in both
    again, _ = draw_labelled(ds, 3, 2, seed=0)
    other, _ = draw_labelled(ds, 3, 2, seed=1)
    assert torch.equal(again.images, train.images) and not torch.equal(other.images, train.images)
    with pytest.raises(DataError, match=r"target class 'a' has 8 image\(s\) outside the test set; per_class=8 "
                                        r"needs at least 9"):
        draw_labelled(ds, 8, 2, seed=0)


def test_bad_options_and_data_get_clear_errors(tmp_path: Path) -> None:
    def run(**extra: str) -> None:
        run_task("transfer", TaskOptions(quick=True, epochs=1, run_dir=tmp_path / "run", progress=False,
                                         extra={**TINY, **extra}))

    with pytest.raises(ConfigError, match="option head='all': expected 'classifier' or 'output'"):
        run(head="all")
    with pytest.raises(ConfigError, match="option per_class=0: expected a positive integer"):
        run(per_class="0")
    with pytest.raises(ConfigError, match="option head_lr='fast': expected a positive number or auto"):
        run(head_lr="fast")
    with pytest.raises(ConfigError, match="option head_lr=0.0: expected a positive number"):
        run(head_lr="0")
    with pytest.raises(ConfigError, match="option arch='mlp': not an image classifier"):
        run(arch="mlp")
    with pytest.raises(DataError, match="source path '.*nowhere' does not exist"):
        run(source=str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"per_class=500 needs at least 501"):
        run(per_class="500")
    wide = tmp_path / "wide.npz"
    np.savez(wide, x=np.zeros((20, 10, 16), dtype=np.uint8), y=np.arange(20) % 2)
    with pytest.raises(ConfigError, match=r"target images are 16x10 \(width x height\).*--image-size"):
        run(target=str(wide))
    small = _npz(tmp_path / "small.npz", 12, 2, (8, 8), seed=0)
    with pytest.raises(ConfigError, match="arch=gesture-cnn with 8x8 images: .*image_size must be >= 10"):
        run(target=str(small), per_class="2", arch="gesture-cnn")
