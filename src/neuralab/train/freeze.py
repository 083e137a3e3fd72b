"""Frozen and trainable layers, for transfer learning (course topic "Transfer learning").

A pretrained network is reused in two steps: first its layers are **frozen** (`requires_grad = False`, so
backpropagation computes no gradient for them and the optimizer never moves them) and only a new head is
trained; then everything is **unfrozen** and fine-tuned, the pretrained part at a lower learning rate than the
head, so the first large updates of a still-random head do not wreck the features.

Layers are chosen by their names in `model.named_parameters()`: a name selects the parameter of that name and
every parameter under that module (`"features"` selects `features.conv1.weight`, `features.conv1.bias`, ...;
`"classifier.fc2"` only the last layer of the classifier). Nothing here knows any particular model.

Frozen batch-norm layers are also kept in evaluation mode (a forward pre-hook), because a Trainer puts the whole
model in training mode every epoch and batch norm would otherwise keep updating its running statistics, which
are buffers, not parameters, and would change the frozen network anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from neuralab.errors import ConfigError

_NORM_TYPES = (nn.modules.batchnorm._BatchNorm,)  # BatchNorm1d/2d/3d, SyncBatchNorm
_HOOK_ATTR = "_neuralab_frozen_eval_hook"


# ----------------------------------------------------------------------------------------------- selecting by name
def _selects(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _as_prefixes(names: str | Iterable[str]) -> list[str]:
    out = [names] if isinstance(names, str) else list(names)
    for p in out:
        if not isinstance(p, str) or not p or p != p.strip("."):
            raise ConfigError(f"a layer name must be a non-empty module or parameter name such as 'features', "
                              f"got {p!r}")
    return out


def module_names(model: nn.Module) -> list[str]:
    """The names of the model's direct children (what a user usually freezes: `features`, `classifier`, ...)."""
    return [n for n, _ in model.named_children()]


def select_parameters(model: nn.Module, names: str | Iterable[str]) -> dict[str, nn.Parameter]:
    """`{name: parameter}` for every parameter of `model` under one of `names` (module or parameter names).

    Raises:
        ConfigError: a name that selects no parameter (the message lists the model's top-level modules).
    """
    prefixes = _as_prefixes(names)
    params = dict(model.named_parameters())
    for p in prefixes:
        if not any(_selects(n, [p]) for n in params):
            raise ConfigError(f"{p!r} names no parameter of {type(model).__name__}; its top-level modules are "
                              f"{', '.join(module_names(model)) or 'none'}")
    return {n: t for n, t in params.items() if _selects(n, prefixes)}


def last_linear(model: nn.Module) -> str:
    """The name of the model's last `nn.Linear` in registration order (the output layer of a classifier).

    Raises:
        ConfigError: the model has no linear layer.
    """
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ConfigError(f"{type(model).__name__} has no nn.Linear layer to use as the head")
    return names[-1]


# ----------------------------------------------------------------------------------------------- freezing
def _keep_eval(module: nn.Module, args: Any) -> None:
    module.train(False)  # before every forward: running statistics stay as they are


def freeze(model: nn.Module, names: str | Iterable[str] | None = None) -> list[str]:
    """Freeze the parameters under `names` (all of them when `names` is None); returns the names frozen.

    Frozen batch-norm modules under `names` also stay in eval mode, whatever `model.train()` says.
    """
    selected = dict(model.named_parameters()) if names is None else select_parameters(model, names)
    for p in selected.values():
        p.requires_grad_(False)
    prefixes = None if names is None else _as_prefixes(names)
    for n, m in model.named_modules():
        if isinstance(m, _NORM_TYPES) and (prefixes is None or _selects(n, prefixes)) \
                and not hasattr(m, _HOOK_ATTR):
            setattr(m, _HOOK_ATTR, m.register_forward_pre_hook(_keep_eval))
    return list(selected)


def unfreeze(model: nn.Module, names: str | Iterable[str] | None = None) -> list[str]:
    """Make the parameters under `names` (all when None) trainable again; returns the names unfrozen."""
    selected = dict(model.named_parameters()) if names is None else select_parameters(model, names)
    for p in selected.values():
        p.requires_grad_(True)
    prefixes = None if names is None else _as_prefixes(names)
    for n, m in model.named_modules():
        if hasattr(m, _HOOK_ATTR) and (prefixes is None or _selects(n, prefixes)):
            getattr(m, _HOOK_ATTR).remove()
            delattr(m, _HOOK_ATTR)
    return list(selected)


def freeze_all_but(model: nn.Module, names: str | Iterable[str]) -> list[str]:
    """Freeze every parameter except those under `names` (e.g. the head); returns the names frozen."""
    keep = select_parameters(model, names)
    frozen = [n for n in dict(model.named_parameters()) if n not in keep]
    unfreeze(model)
    # freeze parameter by parameter, then hook the norm layers none of whose parameters is kept
    for n, p in model.named_parameters():
        if n not in keep:
            p.requires_grad_(False)
    for _, m in model.named_modules():
        if isinstance(m, _NORM_TYPES) and not any(p.requires_grad for p in m.parameters(recurse=False)) \
                and not hasattr(m, _HOOK_ATTR):
            setattr(m, _HOOK_ATTR, m.register_forward_pre_hook(_keep_eval))
    return frozen


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) numbers of parameter values."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


# ----------------------------------------------------------------------------------------------- optimizer groups
def param_groups(model: nn.Module, head: str | Iterable[str], lr: float, backbone_lr: float
                 ) -> list[dict[str, Any]]:
    """Optimizer parameter groups: the trainable parameters under `head` at `lr`, every other trainable
    parameter (the pretrained backbone) at `backbone_lr`. Frozen parameters are left out; an empty group is
    dropped. Pass the result to any torch optimizer: `torch.optim.Adam(param_groups(...))`.

    Raises:
        ConfigError: a learning rate that is not positive, or no trainable parameter at all.
    """
    if not lr > 0 or not backbone_lr > 0:
        raise ConfigError(f"learning rates must be > 0, got lr={lr}, backbone_lr={backbone_lr}")
    head_params = select_parameters(model, head)
    heads = [p for p in head_params.values() if p.requires_grad]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and n not in head_params]
    groups = [g for g in ({"params": heads, "lr": lr, "name": "head"},
                          {"params": rest, "lr": backbone_lr, "name": "backbone"}) if g["params"]]
    if not groups:
        raise ConfigError(f"{type(model).__name__} has no trainable parameter; unfreeze some layers first")
    return groups


# ----------------------------------------------------------------------------------------------- weights
def snapshot(model: nn.Module, names: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    """Copies of the named parameters (all when None), to check later that training left them alone."""
    params = dict(model.named_parameters())
    keys = list(params) if names is None else list(names)
    return {k: params[k].detach().clone() for k in keys}


def changed_parameters(model: nn.Module, before: Mapping[str, torch.Tensor]) -> list[str]:
    """The names in `before` whose values are no longer bit-identical (`torch.equal`) to the snapshot."""
    params = dict(model.named_parameters())
    return [k for k, v in before.items() if not torch.equal(params[k].detach().to(v.device), v)]


def load_matching(model: nn.Module, state: Mapping[str, torch.Tensor], exclude: Iterable[str] = ()
                  ) -> tuple[list[str], list[str]]:
    """Copy the entries of `state` (a pretrained state dict) into `model` where name and shape agree.

    Entries under `exclude` (e.g. the old head) are not copied. Returns (copied, skipped) names of the model's
    state: skipped are those left at their own values (excluded, missing from `state`, or of another shape).
    """
    prefixes = list(exclude)
    own = model.state_dict()
    copied, skipped = [], []
    with torch.no_grad():
        for k, v in own.items():
            src = state.get(k)
            if src is None or _selects(k, prefixes) or tuple(src.shape) != tuple(v.shape):
                skipped.append(k)
                continue
            v.copy_(src)
            copied.append(k)
    return copied, skipped
