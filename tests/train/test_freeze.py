"""Freezing layers: frozen parameters do not move under a Trainer fit, the others do; optimizer groups get two
learning rates; batch norm under a frozen prefix keeps its running statistics; weights copy by name."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuralab.errors import ConfigError
from neuralab.train import Trainer, make_loader
from neuralab.train.freeze import (
    changed_parameters,
    count_parameters,
    freeze,
    freeze_all_but,
    last_linear,
    load_matching,
    param_groups,
    select_parameters,
    snapshot,
    unfreeze,
)


def _net() -> nn.Module:
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
    classifier = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    return _Net(features, classifier)


class _Net(nn.Module):
    def __init__(self, features: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.features, self.classifier = features, classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _data(n: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 6, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


def _fit(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
    x, y = _data()
    Trainer(model, F.cross_entropy, optimizer=optimizer, lr=1e-2, device="cpu", progress=False, seed=0).fit(
        make_loader(x, y, batch_size=16, shuffle=True), epochs=2)


def test_frozen_parameters_do_not_change_under_a_trainer_fit_and_the_others_do() -> None:
    model = _net()
    frozen = freeze(model, "features")
    assert sorted(frozen) == ["features.0.bias", "features.0.weight", "features.1.bias", "features.1.weight"]
    bn = model.features[1]
    stats = (bn.running_mean.clone(), bn.running_var.clone())
    before_frozen = snapshot(model, frozen)
    before_head = snapshot(model, [n for n, _ in model.named_parameters() if n.startswith("classifier")])
    _fit(model)  # the Trainer's default Adam over model.parameters(): frozen ones get no gradient
    assert changed_parameters(model, before_frozen) == []
    assert sorted(changed_parameters(model, before_head)) == sorted(before_head)
    # the frozen batch norm stayed in eval mode: its running statistics did not move either
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])


def test_unfreeze_makes_everything_train_again_and_batch_norm_update() -> None:
    model = _net()
    freeze(model, "features")
    unfreeze(model)
    assert count_parameters(model)[0] == count_parameters(model)[1]
    bn = model.features[1]
    mean = bn.running_mean.clone()
    before = snapshot(model)
    _fit(model)
    assert sorted(changed_parameters(model, before)) == sorted(before)
    assert not torch.equal(bn.running_mean, mean)


def test_freeze_all_but_the_head_and_count_parameters() -> None:
    model = _net()
    total = sum(p.numel() for p in model.parameters())
    head = last_linear(model)
    assert head == "classifier.2"
    frozen = freeze_all_but(model, head)
    assert "classifier.2.weight" not in frozen and "classifier.0.weight" in frozen
    assert count_parameters(model) == (8 * 3 + 3, total)
    before = snapshot(model, frozen)
    _fit(model)
    assert changed_parameters(model, before) == []


def test_param_groups_give_the_head_and_the_backbone_their_own_learning_rates() -> None:
    model = _net()
    groups = param_groups(model, "classifier", lr=1e-3, backbone_lr=1e-4)
    opt = torch.optim.Adam(groups)
    by_name = {g["name"]: g for g in opt.param_groups}
    assert by_name["head"]["lr"] == 1e-3 and by_name["backbone"]["lr"] == 1e-4
    head_ids = {id(p) for p in model.classifier.parameters()}
    assert {id(p) for p in by_name["head"]["params"]} == head_ids
    assert {id(p) for p in by_name["backbone"]["params"]} == {id(p) for p in model.features.parameters()}
    # frozen parameters are left out, an empty group dropped
    freeze(model, "features")
    assert [g["name"] for g in param_groups(model, "classifier", 1e-3, 1e-4)] == ["head"]
    # the lower rate really is smaller steps: one SGD step moves the backbone 10x less than at the head's rate
    model = _net()
    x, y = _data()
    start = snapshot(model)
    sgd = torch.optim.SGD(param_groups(model, "classifier", lr=1.0, backbone_lr=0.1))
    F.cross_entropy(model(x), y).backward()
    grad = model.features[0].weight.grad.clone()
    sgd.step()
    torch.testing.assert_close(model.features[0].weight.detach(), start["features.0.weight"] - 0.1 * grad)


def test_errors_name_the_layer_and_the_choices() -> None:
    model = _net()
    with pytest.raises(ConfigError, match=r"'backbone' names no parameter of _Net; its top-level modules are "
                                          r"features, classifier"):
        freeze(model, "backbone")
    with pytest.raises(ConfigError, match="non-empty module or parameter name"):
        select_parameters(model, ["features."])
    with pytest.raises(ConfigError, match="learning rates must be > 0"):
        param_groups(model, "classifier", lr=1e-3, backbone_lr=0.0)
    freeze(model)
    with pytest.raises(ConfigError, match="no trainable parameter"):
        param_groups(model, "classifier", lr=1e-3, backbone_lr=1e-4)
    with pytest.raises(ConfigError, match="no nn.Linear"):
        last_linear(nn.Conv2d(1, 1, 1))


def test_a_prefix_selects_whole_names_only() -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.fc2 = nn.Linear(2, 2)

    assert sorted(select_parameters(Two(), "fc")) == ["fc.bias", "fc.weight"]  # not fc2.*


def test_load_matching_copies_same_name_and_shape_and_skips_the_excluded_head() -> None:
    src, dst = _net(), _net()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(1.0)
    dst.classifier[2] = nn.Linear(8, 5)  # another number of classes
    old_head = dst.classifier[2].weight.detach().clone()
    copied, skipped = load_matching(dst, src.state_dict(), exclude=["classifier.0"])
    assert "features.0.weight" in copied and "features.1.running_var" in copied
    assert set(skipped) == {"classifier.0.weight", "classifier.0.bias", "classifier.2.weight", "classifier.2.bias"}
    assert torch.equal(dst.features[0].weight, src.features[0].weight)
    assert not torch.equal(dst.classifier[0].weight, src.classifier[0].weight)
    assert torch.equal(dst.classifier[2].weight, old_head)
