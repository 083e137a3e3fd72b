"""The one model registry: `register_model`, `get_model`, `list_models`.

Every complete network is registered by name with a typed config dataclass. `get_model(name, **config)`
builds the config (rejecting unknown keys with the list of valid ones), builds the model, and attaches
`model.config` and `model.model_name` so that `neuralab.save_model` can write `config.json` and
`neuralab.load_model` can rebuild the network from that file and the weights alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuralab.errors import ConfigError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    config_cls: type
    builder: Callable[[Any], nn.Module]
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, config_cls: type, description: str = ""):
    """Decorator: register `builder(config) -> nn.Module` under `name`.

    Raises:
        ValueError: if `name` is already registered (duplicate names are a bug).
    """
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"config class for {name!r} must be a dataclass, got {config_cls!r}")

    def deco(builder: Callable[[Any], nn.Module]) -> Callable[[Any], nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered")
        desc = description or (builder.__doc__ or "").strip().splitlines()[0]
        _REGISTRY[name] = ModelEntry(name, config_cls, builder, desc)
        return builder

    return deco


def list_models() -> dict[str, str]:
    """Return `{name: one-line description}` for every registered model, sorted by name."""
    _load_builtin()
    return {k: _REGISTRY[k].description for k in sorted(_REGISTRY)}


def model_entry(name: str) -> ModelEntry:
    _load_builtin()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


IMAGE_FIELDS = frozenset({"in_channels", "image_size", "num_classes"})


def image_classifiers() -> list[str]:
    """Registered models whose config takes `in_channels`, `image_size` and `num_classes` (image classifiers)."""
    return [n for n in list_models()
            if IMAGE_FIELDS <= {f.name for f in dataclasses.fields(model_entry(n).config_cls)}]


def require_image_classifier(name: str, option: str = "arch") -> str:
    """`name` if it is a registered image classifier, else ConfigError naming the option and the choices."""
    images = image_classifiers()
    if name not in images:
        known = "unknown model" if name not in list_models() else "not an image classifier"
        raise ConfigError(f"option {option}={name!r}: {known}; expected one of {', '.join(images)}")
    return name


def make_config(config_cls: type, values: dict[str, Any]) -> Any:
    """Build `config_cls(**values)`, naming unknown keys and turning JSON lists back into tuples."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for {config_cls.__name__}; valid: {', '.join(fields)}"
        )
    fixed = {}
    for key, val in values.items():
        default = fields[key].default
        fixed[key] = tuple(val) if isinstance(val, list) and isinstance(default, tuple) else val
    try:
        return config_cls(**fixed)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad {config_cls.__name__}: {exc}") from exc


def get_model(name: str, config: Any = None, **overrides: Any) -> nn.Module:
    """Build the registered model `name`.

    Args:
        name: a name from `list_models()`.
        config: an instance of the model's config dataclass (optional).
        **overrides: config fields to set (applied on top of `config` or the defaults).

    Returns:
        The model, with `model.model_name` and `model.config` set.
    """
    entry = model_entry(name)
    if config is None:
        cfg = make_config(entry.config_cls, overrides)
    else:
        if not isinstance(config, entry.config_cls):
            raise ConfigError(f"model {name!r} takes a {entry.config_cls.__name__}, got {type(config).__name__}")
        cfg = dataclasses.replace(config, **overrides) if overrides else config
    model = entry.builder(cfg)
    model.model_name = name
    model.config = cfg
    return model


def example_input(model: nn.Module, batch_size: int = 2) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """An input batch of the right shape for a registered model (its config's `example_input`)."""
    cfg = getattr(model, "config", None)
    if cfg is None or not hasattr(cfg, "example_input"):
        raise ConfigError("model has no config with example_input(); build it with neuralab.get_model")
    return cfg.example_input(batch_size)


def _load_builtin() -> None:
    # Importing the package registers every built-in model (each file registers on import).
    import neuralab.models  # noqa: F401
