"""Shared pieces of the image classifiers (lenet5, gesture-cnn, alexnet, vgg, resnet, googlenet).

Every CNN here has the same outline, so transfer learning can treat them alike:

    x (B, C, H, W) -> features -> (B, F_c, h, w) -> pool -> (B, F_c, h', w') -> flatten -> (B, F) -> classifier
                                                                                          -> logits (B, num_classes)

`features` is the convolutional part (freeze it to fine-tune only the head), `pool` is an adaptive pooling
layer (or `nn.Identity` where the reference network flattens a fixed-size map), `classifier` is the head on
flat vectors of `num_features` values. The outputs are logits, not probabilities: `nn.CrossEntropyLoss`
applies log-softmax itself; take `softmax(logits, dim=1)` for probabilities.

Shape legend: B batch, C input channels, H = W = image_size, F = num_features.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


# ----------------------------------------------------------------------------------------------- validation
def check_int(name: str, value: Any, minimum: int = 1) -> None:
    """Raise ValueError unless `value` is an int (not a bool) >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_ints(name: str, values: tuple[int, ...], minimum: int = 1) -> None:
    """Raise ValueError unless `values` is a non-empty tuple of ints >= `minimum`."""
    if len(values) == 0 or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in values):
        raise ValueError(f"{name} must be a non-empty sequence of integers >= {minimum}, got {values!r}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")


def check_dropout(value: Any, name: str = "dropout") -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")


def check_image_config(cfg: Any, min_size: int = 1) -> None:
    """Validate the fields every image-classifier config has: in_channels, image_size, num_classes.

    `min_size` is the smallest image the network's fixed downsampling can take without a feature map
    shrinking to nothing; the message says so, so the user knows to pick another model or a larger size.
    """
    check_int("in_channels", cfg.in_channels)
    check_int("num_classes", cfg.num_classes)
    check_int("image_size", cfg.image_size)
    if cfg.image_size < min_size:
        raise ValueError(f"image_size must be >= {min_size} for this network (its pooling would shrink the "
                         f"feature map to nothing), got {cfg.image_size}")


def image_batch(cfg: Any, batch_size: int = 2) -> torch.Tensor:
    """A random batch (B, in_channels, image_size, image_size) for a config with those fields."""
    return torch.randn(batch_size, cfg.in_channels, cfg.image_size, cfg.image_size)


# ----------------------------------------------------------------------------------------------- init
def init_weights_(model: nn.Module, scheme: str) -> None:
    """Initialise conv/linear/batch-norm layers in place.

    Args:
        scheme: "glorot" -- Glorot & Bengio (2010) uniform weights, zero biases: Keras' defaults, so the
            course's Keras networks and ours start from the same distribution. "he" -- He et al. (2015)
            normal weights (fan_out, ReLU gain) for convolutions, zero conv biases, torch defaults for
            linear layers: the initialisation the ResNet paper uses for deep ReLU networks.
    """
    if scheme not in ("glorot", "he"):
        raise ValueError(f"unknown init scheme {scheme!r}; expected 'glorot' or 'he'")
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            if scheme == "glorot":
                nn.init.xavier_uniform_(m.weight)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                continue  # "he": torch's default for linear layers
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------------------------- base
class ImageClassifier(nn.Module):
    """Base of the CNNs: `features` -> `pool` -> flatten -> `classifier`. Subclasses set the three parts.

    Attributes:
        features: the convolutional part, (B, C, H, W) -> (B, F_c, h, w).
        pool: adaptive pooling to a fixed grid (or `nn.Identity()`), (B, F_c, h, w) -> (B, F_c, h', w').
        classifier: the head, (B, num_features) -> (B, num_classes) logits.
        num_features: F = F_c * h' * w', the width of the classifier's input.
    """

    features: nn.Module
    pool: nn.Module
    classifier: nn.Module
    num_features: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The flat feature vector the classifier sees: (B, C, H, W) -> (B, num_features)."""
        # flatten (not view) copies when needed, so channels_last inputs work; it flattens in (C, h, w) order.
        return torch.flatten(self.pool(self.features(x)), 1)  # (B, F_c, h', w') -> (B, F)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) for images x (B, C, H, W)."""
        return self.classifier(self.forward_features(x))
