"""Model directories (config.json + model.safetensors) and training checkpoints: round trips and clear errors."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

import neuralab
from neuralab.errors import ConfigError, DataError
from neuralab.train.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    load_checkpoint,
    read_model_config,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def _model(**kw):
    neuralab.seed_everything(0)
    return neuralab.get_model("mlp", in_features=3, hidden=(8, 4), out_features=2, dropout=0.5, **kw)


def test_save_load_round_trip(tmp_path):
    model = _model(activation="tanh")
    path = neuralab.save_model(model, tmp_path / "m", extra={"classes": ["a", "b"]})
    assert sorted(p.name for p in path.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]

    meta = json.loads((path / CONFIG_FILE).read_text())
    assert meta["model"] == "mlp"
    assert meta["config"]["hidden"] == [8, 4] and meta["config"]["activation"] == "tanh"

    loaded = neuralab.load_model(path)
    assert not loaded.training  # eval mode: dropout off
    assert loaded.config == model.config  # JSON lists turned back into tuples
    assert loaded.extra == {"classes": ["a", "b"]}
    x = torch.randn(5, 3)
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_save_over_existing_dir_replaces_it_cleanly(tmp_path):
    first, second = _model(), _model()
    with torch.no_grad():
        next(second.parameters()).add_(1.0)
    neuralab.save_model(first, tmp_path / "m")
    neuralab.save_model(second, tmp_path / "m")
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temp or .old dirs left behind
    loaded = neuralab.load_model(tmp_path / "m")
    assert torch.equal(next(loaded.parameters()), next(second.parameters()))


def test_a_failed_swap_puts_the_previous_model_back(tmp_path, monkeypatch):
    import os

    from neuralab.train import checkpoint

    first, second = _model(), _model()
    with torch.no_grad():
        next(second.parameters()).add_(1.0)
    neuralab.save_model(first, tmp_path / "m")
    real_replace, calls = os.replace, []

    def failing_replace(src, dst):  # the second rename (new dir into place) fails, e.g. a full disk
        calls.append((src, dst))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        neuralab.save_model(second, tmp_path / "m")
    monkeypatch.setattr(checkpoint.os, "replace", real_replace)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert torch.equal(next(neuralab.load_model(tmp_path / "m").parameters()), next(first.parameters()))


def test_a_save_killed_between_its_renames_is_recovered(tmp_path):
    model = _model()
    neuralab.save_model(model, tmp_path / "m")
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    (tmp_path / "m").rename(tmp_path / f".m.old-{dead_pid}")  # what SIGKILL between the renames leaves
    loaded = neuralab.load_model(tmp_path / "m")  # the moved-aside model is found and put back
    assert torch.equal(next(loaded.parameters()), next(model.parameters()))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    (tmp_path / f".m.old-{dead_pid}").mkdir()  # a stale leftover beside a complete model is removed on save
    neuralab.save_model(model, tmp_path / "m")
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_model_dir_has_ordinary_permissions(tmp_path):
    neuralab.save_model(_model(), tmp_path / "m")
    (tmp_path / "plain").mkdir()
    assert (tmp_path / "m").stat().st_mode == (tmp_path / "plain").stat().st_mode  # not mkdtemp's 0700


def test_save_model_needs_a_registered_model(tmp_path):
    with pytest.raises(ValueError, match="get_model"):
        neuralab.save_model(torch.nn.Linear(2, 2), tmp_path / "m")


def test_load_model_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match=r"'.*nowhere' does not exist"):
        neuralab.load_model(tmp_path / "nowhere")

    path = neuralab.save_model(_model(), tmp_path / "m")
    (path / WEIGHTS_FILE).unlink()
    with pytest.raises(DataError, match=r"not a model directory: expected config\.json and model\.safetensors"):
        neuralab.load_model(path)

    path = neuralab.save_model(_model(), tmp_path / "m")
    (path / CONFIG_FILE).write_text('{"model": "mlp", "config": {"hidden": [8, 4],}')
    with pytest.raises(DataError, match=r"config\.json: invalid JSON at line 1"):
        neuralab.load_model(path)

    (path / CONFIG_FILE).write_text('{"config": {}}')
    with pytest.raises(DataError, match="'model' and 'config'"):
        read_model_config(path)

    (path / CONFIG_FILE).write_text('{"model": "no_such_net", "config": {}}')
    with pytest.raises(ConfigError, match="unknown model 'no_such_net'.*mlp"):
        neuralab.load_model(path)

    (path / CONFIG_FILE).write_text('{"model": "mlp", "config": {"in_features": 3, "widht": 4}}')
    with pytest.raises(ConfigError, match="widht"):
        neuralab.load_model(path)


def test_weights_that_disagree_with_config_are_a_data_error(tmp_path):
    path = neuralab.save_model(_model(), tmp_path / "m")
    meta = json.loads((path / CONFIG_FILE).read_text())
    meta["config"]["hidden"] = [8, 5]  # shapes no longer match the weights
    (path / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(DataError, match="weights do not match the config"):
        neuralab.load_model(path)

    meta["config"]["hidden"] = [8, 4]
    meta["config"]["dropout"] = 0.0  # no Dropout modules: the layers get other names (missing/unexpected keys)
    (path / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"missing \['net\.2\.weight'.*unexpected \[.*'net\.6\.weight'"):
        neuralab.load_model(path)


def test_checkpoint_round_trip_weights_only(tmp_path):
    model = _model()
    state = {"model": model.state_dict(), "epoch": 3, "history": [{"loss": 0.5}], "rng": rng_state(),
             "best": float("inf"), "none": None}
    save_checkpoint(tmp_path / "ck" / "last.pt", state)
    assert [p.name for p in (tmp_path / "ck").iterdir()] == ["last.pt"]
    back = load_checkpoint(tmp_path / "ck" / "last.pt")
    assert back["epoch"] == 3 and back["history"] == [{"loss": 0.5}] and back["best"] == float("inf")
    assert all(torch.equal(back["model"][k], v) for k, v in model.state_dict().items())
    torch.load(tmp_path / "ck" / "last.pt", weights_only=True)  # nothing needs unpickling


def test_rng_state_restores_python_numpy_torch():
    neuralab.seed_everything(42)
    state = rng_state()
    first = (random.random(), float(np.random.rand()), float(torch.rand(())))
    neuralab.seed_everything(7)
    set_rng_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == first


def test_truncated_or_missing_checkpoint_is_a_data_error_naming_the_file(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": _model().state_dict(), "epoch": 1})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cannot read checkpoint '.*last\.pt'"):
        load_checkpoint(path)
    path.write_text("not a checkpoint at all")
    with pytest.raises(DataError, match=r"last\.pt"):
        load_checkpoint(path)
    with pytest.raises(DataError, match=r"checkpoint '.*missing\.pt' does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
