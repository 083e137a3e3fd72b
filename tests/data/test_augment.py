"""Augmentation: spec parsing and its errors, shapes and ranges, eval-mode identity, seeded repeatability."""

from __future__ import annotations

import pytest
import torch

from neuralab.data.augment import (
    Augmentation,
    AugmentConfig,
    augmentation_grid,
    build_augmentation,
    parse_augment_spec,
    rescale,
    resize,
)
from neuralab.errors import ConfigError

pytest.importorskip("kornia")

SPEC = "rotate=15,flip=h,noise=0.05,scale=0.1,crop=2,brightness=0.2,contrast=0.2"
ACCEPTED = "accepted keys: rotate, scale, translate, flip, crop, resized_crop, noise, brightness, contrast, saturation"


def batch(channels: int = 1, n: int = 8, size: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------- parsing
def test_parse_spec() -> None:
    cfg = parse_augment_spec(SPEC)
    assert cfg == AugmentConfig(rotate=15.0, flip="h", noise=0.05, scale=0.1, crop=2, brightness=0.2, contrast=0.2)
    assert isinstance(cfg.crop, int) and cfg.enabled
    assert parse_augment_spec(cfg.to_spec()) == cfg  # the spec written to config.json reads back
    assert parse_augment_spec(" Rotate = 5 , flip=VH ,").to_dict()["flip"] == "hv"
    for empty in (None, "", "none", " off "):
        assert parse_augment_spec(empty) == AugmentConfig() and not parse_augment_spec(empty).enabled
    assert AugmentConfig().to_spec() == "none"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rotate=15,spin=3", "unknown augmentation key 'spin' (value '3'); " + ACCEPTED),
        ("rotate=abc", "augmentation rotate='abc': expected a number (degrees); " + ACCEPTED),
        ("rotate=200", "augmentation rotate='200': expected 0..180 (degrees); " + ACCEPTED),
        ("noise=-0.1", "augmentation noise='-0.1': expected 0..1"),
        ("crop=1.5", "augmentation crop='1.5': expected an integer (padding pixels)"),
        ("flip=diagonal", "augmentation flip='diagonal': expected one of none, h, v, hv"),
        ("scale=0.1,scale=0.2", "augmentation key 'scale' given twice (value '0.2')"),
        ("rotate", "augmentation item 'rotate' is not key=value; " + ACCEPTED),
        ("resized_crop=0.01", "augmentation resized_crop='0.01': expected 0 (off) or 0.05..1"),
    ],
)
def test_spec_errors_name_key_value_and_accepted_keys(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_augment_spec(spec)
    assert message in str(info.value)


def test_config_validates_direct_construction() -> None:
    with pytest.raises(ConfigError, match=r"augmentation crop=2\.0: expected an integer"):
        AugmentConfig(crop=2.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="augmentation contrast=True"):
        AugmentConfig(contrast=True)


def test_build_errors() -> None:
    with pytest.raises(ConfigError, match="augmentation saturation=0.3: saturation needs RGB"):
        build_augmentation("saturation=0.3", channels=1)
    with pytest.raises(ConfigError, match="1 or 3 channels, got channels=2"):
        build_augmentation(SPEC, channels=2)
    with pytest.raises(ConfigError, match="unknown augmentation key"):
        build_augmentation("blur=1", channels=1)


# ----------------------------------------------------------------------------------------------- the module
@pytest.mark.parametrize(("channels", "spec"), [(1, SPEC), (3, SPEC.replace("flip=h", "flip=hv") + ",saturation=0.3"),
                                                (1, "resized_crop=0.5,translate=0.1")])
def test_output_shape_range_and_eval_identity(channels: int, spec: str) -> None:
    x = batch(channels)
    aug = build_augmentation(spec, channels)
    assert isinstance(aug, Augmentation) and aug.training
    assert list(aug.parameters()) == [] and aug.state_dict() == {}  # nothing added to a model's weights
    y = aug(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert not torch.allclose(y, x)
    aug.eval()
    assert aug(x) is x
    x_other = batch(channels, size=20)  # crops adapt to each batch's size
    aug.train()
    assert aug(x_other).shape == x_other.shape


def test_no_augmentation_is_identity_in_training_too() -> None:
    x = batch()
    assert build_augmentation("none", 1)(x) is x
    assert build_augmentation(None, 3)(batch(3)).shape == (8, 3, 12, 12)


def test_same_seed_same_batch_different_seed_different() -> None:
    x = batch(3)
    aug = build_augmentation(SPEC + ",saturation=0.2", 3)
    torch.manual_seed(7)
    first = aug(x)
    torch.manual_seed(7)
    again = aug(x)
    torch.manual_seed(8)
    other = aug(x)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_wrong_channel_count_is_reported() -> None:
    with pytest.raises(ValueError, match=r"built for 1-channel images .* got shape \(8, 3, 12, 12\)"):
        build_augmentation(SPEC, 1)(batch(3))


def test_resize_and_rescale() -> None:
    x = batch(size=8)
    assert resize(x, 16).shape == (8, 1, 16, 16)
    assert resize(x, (4, 6)).shape == (8, 1, 4, 6)
    assert resize(x, 8) is x
    assert rescale(x, 2.0).shape == (8, 1, 16, 16)
    assert torch.allclose(resize(torch.full((1, 1, 8, 8), 0.25), 3), torch.full((1, 1, 3, 3), 0.25))


def test_augmentation_grid() -> None:
    from matplotlib.figure import Figure

    aug = build_augmentation(SPEC, 1).eval()
    fig = augmentation_grid(batch(n=5), aug, n=3)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4 * 5  # originals + 3 augmented rows, one column per image
    assert not aug.training  # mode restored
    fig_rgb = augmentation_grid(batch(3, n=12), build_augmentation("flip=h", 3), n=1, columns=4)
    assert len(fig_rgb.axes) == 2 * 4
