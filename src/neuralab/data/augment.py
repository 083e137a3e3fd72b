"""Batched image augmentation on the device (kornia), configured by one short spec string.

    parse_augment_spec("rotate=15,flip=h,noise=0.05,scale=0.1,crop=2,brightness=0.2,contrast=0.2")
        -> AugmentConfig -> build_augmentation(cfg, channels) -> nn.Module

The module transforms a whole batch at once, on whatever device the batch is on, with fresh random parameters
per image drawn from torch's global generator (so `seed_everything` makes it repeatable). It is active in
training mode only: after `.eval()` it returns its input unchanged, so validation and test images are never
augmented. Apply it to [0, 1] images before normalising; its output is clamped back to [0, 1].

Keys (0 or "none" turns one off):

    rotate=D       rotate by a uniform angle in [-D, D] degrees
    scale=S        zoom by a uniform factor in [1 - S, 1 + S]
    translate=T    shift by up to T x width and T x height
    flip=h|v|hv    mirror left-right and/or top-bottom, each with probability 1/2
    crop=P         pad P pixels (zeros) on every side, then crop a random window of the original size
    resized_crop=A crop a random window of A..1 of the area (aspect 3:4..4:3) and resize it to the original size
    noise=SD       add Gaussian noise of standard deviation SD
    brightness=B   add a uniform shift in [-B, B]
    contrast=C     scale contrast by a uniform factor in [1 - C, 1 + C]
    saturation=S   scale saturation by a uniform factor in [1 - S, 1 + S] (RGB images only)

`resize` and `rescale` change the size of a batch deterministically (for any split, not augmentation).

Shape legend: x (B, C, H, W) float in [0, 1], C = 1 or 3; every augmentation keeps the shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

from neuralab.errors import ConfigError

FLIPS = ("none", "h", "v", "hv")
# key -> (kind, lowest, highest, what it means): the one table parsing, validation and messages read from
_KEYS: dict[str, tuple[type, float, float, str]] = {
    "rotate": (float, 0.0, 180.0, "degrees"),
    "scale": (float, 0.0, 0.9, "zoom fraction"),
    "translate": (float, 0.0, 0.5, "fraction of the size"),
    "flip": (str, 0, 0, "h, v or hv"),
    "crop": (int, 0, 1024, "padding pixels"),
    "resized_crop": (float, 0.0, 1.0, "smallest area fraction kept, 0 = off"),
    "noise": (float, 0.0, 1.0, "noise standard deviation"),
    "brightness": (float, 0.0, 1.0, "largest shift"),
    "contrast": (float, 0.0, 1.0, "largest factor change"),
    "saturation": (float, 0.0, 1.0, "largest factor change"),
}
ACCEPTED = ", ".join(_KEYS)


@dataclass(frozen=True)
class AugmentConfig:
    """What `parse_augment_spec` reads; every field at its default means no augmentation."""

    rotate: float = 0.0
    scale: float = 0.0
    translate: float = 0.0
    flip: str = "none"
    crop: int = 0
    resized_crop: float = 0.0
    noise: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            _check(f.name, getattr(self, f.name))

    @property
    def enabled(self) -> bool:
        return self != AugmentConfig()

    def to_spec(self) -> str:
        """The spec string this config parses from (only the keys that differ from the default); "none" if empty."""
        default = AugmentConfig()
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        items = [f"{k}={v}" if isinstance(v, str) else f"{k}={v:g}" for k, v in values.items()
                 if v != getattr(default, k)]
        return ",".join(items) or "none"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _fail(key: str, value: Any, why: str) -> ConfigError:
    return ConfigError(f"augmentation {key}={value!r}: {why}; accepted keys: {ACCEPTED}")


def _check(key: str, value: Any, shown: Any = None) -> None:
    """Raise ConfigError unless `value` suits `key`; `shown` is what the user wrote (default: the value)."""
    kind, low, high, meaning = _KEYS[key]
    shown = value if shown is None else shown
    if kind is str:
        if value not in FLIPS:
            raise _fail(key, shown, f"expected one of {', '.join(FLIPS)}")
        return
    if isinstance(value, bool) or not isinstance(value, kind if kind is int else int | float):
        raise _fail(key, shown, f"expected {'an integer' if kind is int else 'a number'} ({meaning})")
    if not (math.isfinite(value) and low <= value <= high):
        raise _fail(key, shown, f"expected {low:g}..{high:g} ({meaning})")
    if key == "resized_crop" and 0.0 < value < 0.05:
        raise _fail(key, shown, "expected 0 (off) or 0.05..1 (smallest area fraction kept)")


def parse_augment_spec(spec: str | None) -> AugmentConfig:
    """Parse `"key=value,key=value"` (see the module docstring for the keys) into an `AugmentConfig`.

    An empty spec, None or "none" means no augmentation.

    Raises:
        ConfigError: an unknown or repeated key, an item without `=`, or a value of the wrong kind or out of
            range; the message names the key, the value received and the accepted keys.
    """
    if spec is None or spec.strip().lower() in ("", "none", "off"):
        return AugmentConfig()
    values: dict[str, Any] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        key, sep, raw = (part.strip() for part in item.partition("="))
        key = key.lower()
        if not sep:
            raise ConfigError(f"augmentation item {item.strip()!r} is not key=value; accepted keys: {ACCEPTED}")
        if key not in _KEYS:
            raise ConfigError(f"unknown augmentation key {key!r} (value {raw!r}); accepted keys: {ACCEPTED}")
        if key in values:
            raise ConfigError(f"augmentation key {key!r} given twice (value {raw!r}); accepted keys: {ACCEPTED}")
        kind = _KEYS[key][0]
        if kind is str:
            values[key] = {"0": "none", "off": "none", "": "none", "vh": "hv"}.get(raw.lower(), raw.lower())
            _check(key, values[key], raw)
            continue
        try:
            number = float(raw)
        except ValueError:
            raise _fail(key, raw, f"expected {'an integer' if kind is int else 'a number'} "
                                  f"({_KEYS[key][3]})") from None
        if kind is int and not number.is_integer():
            raise _fail(key, raw, f"expected an integer ({_KEYS[key][3]})")
        values[key] = int(number) if kind is int else number
        _check(key, values[key], raw)
    return AugmentConfig(**values)


# ----------------------------------------------------------------------------------------------- the module
def _kornia() -> Any:
    try:
        import kornia.augmentation as K
    except ImportError as exc:
        raise ImportError("image augmentation needs kornia: pip install 'neuralab[vision]'") from exc
    return K


class Augmentation(nn.Module):
    """A chain of kornia augmentations applied to training batches; the identity in eval mode.

    It has no parameters, and the buffers kornia keeps (sampling ranges) are not saved, so putting it in front
    of a model leaves the model's state_dict, and so its weight file, unchanged.

    Shape:
        x (B, C, H, W) -> (B, C, H, W), values clamped to [0, 1] when `clamp`.
    """

    def __init__(self, ops: Sequence[nn.Module], channels: int, spec: str = "none", clamp: bool = True) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)
        for module in self.ops.modules():  # keep them out of state_dict (they still follow .to(device))
            module._non_persistent_buffers_set.update(module._buffers)
        self.channels = channels
        self.spec = spec
        self.clamp = clamp

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> Augmentation:
        out = super()._apply(fn, *args, **kwargs)
        # kornia moves its random sampling to the device a module is moved to; keep it on the CPU, as for the
        # crops built per batch size, so one seed gives one augmentation on every device. The cost is copying a
        # few numbers per image to the device.
        for module in self.ops.modules():
            if hasattr(module, "set_rng_device_and_dtype"):
                module.set_rng_device_and_dtype(torch.device("cpu"), module.dtype)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or len(self.ops) == 0:
            return x
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"augmentation built for {self.channels}-channel images (B, C, H, W) got shape "
                             f"{tuple(x.shape)}")
        for op in self.ops:
            x = op(x)
        return x.clamp(0.0, 1.0) if self.clamp else x

    def extra_repr(self) -> str:
        return f"spec={self.spec!r}, channels={self.channels}"


def build_augmentation(cfg: AugmentConfig | str | None, channels: int, *, clamp: bool = True) -> Augmentation:
    """The `Augmentation` module for `cfg` (an `AugmentConfig` or a spec string) and images of `channels`.

    Geometric changes (rotate, scale, translate) are one affine warp, so each image is resampled once, not once
    per change. `crop` and `resized_crop` keep the image size, so the model's input shape never changes.

    Raises:
        ConfigError: a bad spec, `channels` not 1 or 3, or saturation asked of grayscale images.
    """
    if cfg is None or isinstance(cfg, str):
        cfg = parse_augment_spec(cfg)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ConfigError(f"augmentation needs images of 1 or 3 channels, got channels={channels!r}")
    if cfg.saturation and channels != 3:
        raise _fail("saturation", cfg.saturation, f"saturation needs RGB (3-channel) images, these have {channels}")
    if not cfg.enabled:
        return Augmentation([], channels, "none", clamp)
    K = _kornia()
    ops: list[nn.Module] = []
    if cfg.crop:
        ops.append(_CropSameSize(K, cfg.crop))
    if cfg.resized_crop:
        ops.append(_ResizedCropSameSize(K, cfg.resized_crop))
    if cfg.rotate or cfg.scale or cfg.translate:
        ops.append(K.RandomAffine(degrees=cfg.rotate,
                                  translate=(cfg.translate, cfg.translate) if cfg.translate else None,
                                  scale=(1.0 - cfg.scale, 1.0 + cfg.scale) if cfg.scale else None, p=1.0))
    if "h" in cfg.flip:
        ops.append(K.RandomHorizontalFlip(p=0.5))
    if "v" in cfg.flip:
        ops.append(K.RandomVerticalFlip(p=0.5))
    if cfg.brightness:
        ops.append(K.RandomBrightness(brightness=(1.0 - cfg.brightness, 1.0 + cfg.brightness), p=1.0))
    if cfg.contrast:
        ops.append(K.RandomContrast(contrast=(1.0 - cfg.contrast, 1.0 + cfg.contrast), p=1.0))
    if cfg.saturation:
        ops.append(K.RandomSaturation(saturation=(1.0 - cfg.saturation, 1.0 + cfg.saturation), p=1.0))
    if cfg.noise:
        ops.append(K.RandomGaussianNoise(mean=0.0, std=cfg.noise, p=1.0))
    return Augmentation(ops, channels, cfg.to_spec(), clamp)


class _CropSameSize(nn.Module):
    """Pad `padding` pixels, then a random crop of the input's own size (kornia's RandomCrop needs the size
    up front; this builds it for each batch's size, cached)."""

    def __init__(self, K: Any, padding: int) -> None:
        super().__init__()
        self._K, self.padding = K, padding
        self._ops: dict[tuple[int, int], nn.Module] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2], x.shape[-1])
        if size not in self._ops:
            self._ops[size] = self._K.RandomCrop(size, padding=self.padding, p=1.0)
        return self._ops[size](x)


class _ResizedCropSameSize(nn.Module):
    """kornia's RandomResizedCrop back to the input's own size."""

    def __init__(self, K: Any, min_area: float) -> None:
        super().__init__()
        self._K, self.min_area = K, min_area
        self._ops: dict[tuple[int, int], nn.Module] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2], x.shape[-1])
        if size not in self._ops:
            self._ops[size] = self._K.RandomResizedCrop(size, scale=(self.min_area, 1.0), p=1.0)
        return self._ops[size](x)


# ----------------------------------------------------------------------------------------------- resize, grid
def resize(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize a batch (B, C, H, W) to `size` (side or (H, W)), bilinear, antialiased when shrinking."""
    from kornia.geometry.transform import resize as _resize

    out_size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == out_size:
        return x
    return _resize(x, out_size, interpolation="bilinear", antialias=True)


def rescale(x: torch.Tensor, factor: float | tuple[float, float]) -> torch.Tensor:
    """Scale a batch (B, C, H, W) by `factor` (e.g. 2.0 doubles height and width), bilinear, antialiased."""
    from kornia.geometry.transform import rescale as _rescale

    return _rescale(x, factor, interpolation="bilinear", antialias=True)


def augmentation_grid(images: torch.Tensor, aug: nn.Module, n: int = 4, columns: int = 8) -> Any:
    """A matplotlib Figure: the first row shows up to `columns` original images, the next `n` rows augmented
    versions of them (the module run in training mode; its mode is restored afterwards).

    Args:
        images: (B, C, H, W) in [0, 1], C = 1 or 3.
    """
    from matplotlib.figure import Figure

    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"augmentation_grid needs images (B, 1|3, H, W), got shape {tuple(images.shape)}")
    originals = images[:columns]
    was_training = aug.training
    aug.train()
    try:
        with torch.no_grad():
            rows = [originals] + [aug(originals) for _ in range(n)]
    finally:
        aug.train(was_training)
    k = len(originals)
    fig = Figure(figsize=(1.2 * k, 1.2 * (n + 1)))
    axes = fig.subplots(n + 1, k, squeeze=False)
    for r, batch in enumerate(rows):
        for c in range(k):
            img = batch[c].detach().float().clamp(0, 1).cpu()
            ax = axes[r][c]
            if img.shape[0] == 1:
                ax.imshow(img[0].numpy(), cmap="gray", vmin=0.0, vmax=1.0)
            else:
                ax.imshow(img.permute(1, 2, 0).numpy())  # (C, H, W) -> (H, W, C)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel("original" if r == 0 else f"augmented {r}", fontsize=7)
    fig.suptitle(getattr(aug, "spec", type(aug).__name__), fontsize=8)
    return fig
