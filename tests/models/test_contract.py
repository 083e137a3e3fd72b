"""The contract every registered model keeps (DESIGN.md, tests kind 1).

Parametrized over `neuralab.list_models()` at collection time, so a newly registered model is tested
without touching this file: default build, forward on `example_input`, parameter count, config + weights
round trip, gradients reaching the inputs, clear config errors.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

import neuralab
from neuralab.errors import ConfigError
from neuralab.models.registry import example_input, model_entry, register_model

MODELS = sorted(neuralab.list_models())


def _as_tuple(inputs) -> tuple:
    return inputs if isinstance(inputs, tuple) else (inputs,)


def _tensors(out) -> list[torch.Tensor]:
    """Every tensor in a (possibly nested) model output, in order."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _tensors(v)]
    if isinstance(out, list | tuple):
        return [t for v in out for t in _tensors(v)]
    return []


def _build(name: str):
    torch.manual_seed(0)
    return neuralab.get_model(name)


def _forward(model, inputs):
    torch.manual_seed(1)  # in case a model samples (noise, reparametrisation) even in eval mode
    return model(*inputs)


def test_registry_is_not_empty():
    assert "mlp" in MODELS
    assert all(isinstance(d, str) and d for d in neuralab.list_models().values())


@pytest.mark.parametrize("name", MODELS)
def test_default_build_forward_and_parameters(name):
    model = _build(name)
    assert model.model_name == name
    assert dataclasses.is_dataclass(model.config)
    assert sum(p.numel() for p in model.parameters()) > 0
    model.eval()
    inputs = _as_tuple(example_input(model, 2))
    with torch.no_grad():
        outs = _tensors(_forward(model, inputs))
    assert outs, f"{name} returned no tensor"
    assert outs[0].shape[0] == 2, f"{name}: output {tuple(outs[0].shape)} has no batch dim of 2"
    for t in outs:
        if t.is_floating_point():
            assert torch.isfinite(t).all(), f"{name}: non-finite output"


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip_gives_identical_outputs(name, tmp_path):
    model = _build(name).eval()
    inputs = _as_tuple(example_input(model, 2))
    path = neuralab.save_model(model, tmp_path / name)
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = neuralab.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    with torch.no_grad():
        expected, got = _tensors(_forward(model, inputs)), _tensors(_forward(loaded, inputs))
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", MODELS)
def test_gradients_reach_float_inputs(name):
    model = _build(name).train()
    inputs = tuple(t.clone().requires_grad_() if isinstance(t, torch.Tensor) and t.is_floating_point() else t
                   for t in _as_tuple(example_input(model, 2)))
    float_inputs = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    if not float_inputs:
        pytest.skip(f"{name} takes no float inputs (e.g. token ids)")
    outs = [t for t in _tensors(_forward(model, inputs)) if t.is_floating_point() and t.requires_grad]
    assert outs, f"{name}: no differentiable output"
    # A random weighting, not a plain sum: the sum of a softmax (or a normalised output) is constant.
    g = torch.Generator().manual_seed(2)
    sum((o * torch.randn(o.shape, generator=g)).sum() for o in outs).backward()
    for t in float_inputs:
        assert t.grad is not None, f"{name}: no gradient reached an input"
        assert torch.isfinite(t.grad).all()
        assert t.grad.abs().sum() > 0, f"{name}: gradient at the input is identically zero"


@pytest.mark.parametrize("name", MODELS)
def test_unknown_config_key_lists_valid_ones(name):
    fields = [f.name for f in dataclasses.fields(model_entry(name).config_cls)]
    with pytest.raises(ConfigError, match="no_such_option") as info:
        neuralab.get_model(name, no_such_option=1)
    for field in fields:
        assert field in str(info.value)


def test_duplicate_registration_is_an_error():
    entry = model_entry("mlp")
    with pytest.raises(ValueError, match="'mlp' is already registered"):
        register_model("mlp", entry.config_cls)(entry.builder)
    assert model_entry("mlp") is entry  # the original entry is untouched


def test_registry_errors():
    with pytest.raises(ConfigError, match="unknown model 'nope'; available: .*mlp"):
        neuralab.get_model("nope")
    with pytest.raises(TypeError, match="dataclass"):
        register_model("not_a_dataclass_model", dict)
    with pytest.raises(ConfigError, match="bad MLPConfig: dropout must be in"):
        neuralab.get_model("mlp", dropout=1.5)
    with pytest.raises(ConfigError, match="takes a MLPConfig"):
        neuralab.get_model("mlp", config={"in_features": 3})


def _flat_grads(model, inputs, dtype):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
        outs = [t for t in _tensors(_forward(model, inputs)) if t.is_floating_point() and t.requires_grad]
    g = torch.Generator().manual_seed(2)
    sum((o.float() * torch.randn(o.shape, generator=g)).sum() for o in outs).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize("name", MODELS)
def test_bfloat16_autocast_gives_float32_like_gradients(name):
    # `--precision bf16` trains every model under CPU autocast: the weights and their gradients stay float32,
    # and the gradient direction is the float32 one up to bfloat16's 8-bit mantissa
    model = _build(name).eval()  # eval: no dropout draw differs between the two passes
    inputs = _as_tuple(example_input(model, 2))
    if hasattr(model, "fit_ratios"):  # sentiment-nbsvm learns its Naive Bayes ratios first
        model.fit_ratios(inputs[0], torch.tensor([0, 1]))
    ref, got = _flat_grads(model, inputs, None), _flat_grads(model, inputs, torch.bfloat16)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    assert torch.nn.functional.cosine_similarity(ref, got, dim=0) > 0.98, name
