"""AlexNet (Krizhevsky, Sutskever & Hinton 2012), scaled for small images (28x28 digits, 32x32 CIFAR-like).

    5 ReLU convolutions (widths w, 3w, 6w, 4w, 4w), local response normalisation after the first two,
    overlapping 3x3 stride-2 max pooling after conv 1, 2 and 5,
    then Dropout -> Dense -> ReLU -> Dropout -> Dense -> ReLU -> Dense num_classes.

What is kept from the paper: the five-conv/three-dense layout and its width ratios (torchvision's
64-192-384-256-256 is w = 64), ReLU, LRN (k=2, n=5, alpha=1e-4, beta=0.75), overlapping pooling, dropout 0.5
in the two hidden dense layers. What is scaled for small images: the 11x11 stride-4 first convolution
becomes 3x3 stride 1 (a 28-pixel image has no room for a stride of 4), the pools pad by 1 so every size
down to 1 pixel keeps a map (side ceil(s/2) after each), adaptive average pooling to a 2x2 grid makes the
head independent of image_size (torchvision does the same with a 6x6 grid), and the dense layers are
`hidden` wide instead of 4096.

Shape legend (3x32x32 input, width w): x (B, 3, 32, 32) -> conv1 (B, w, 32, 32) -> pool (B, w, 16, 16)
    -> conv2 (B, 3w, 16, 16) -> pool (B, 3w, 8, 8) -> conv3..5 (B, 4w, 8, 8) -> pool (B, 4w, 4, 4)
    -> adaptive pool (B, 4w, 2, 2) -> flatten (B, 16w) -> (B, hidden) -> (B, hidden) -> (B, classes).

References:
    A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet classification with deep convolutional neural
    networks", NeurIPS 2012. Course topic "CNN architectures: AlexNet".
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from neuralab.models._image import (
    ImageClassifier,
    check_bool,
    check_dropout,
    check_image_config,
    check_int,
    image_batch,
    init_weights_,
)
from neuralab.models.registry import register_model

POOL_GRID = 2  # side of the adaptive-pooling grid the classifier reads


def conv_relu(in_ch: int, out_ch: int, kernel: int) -> list[tuple[str, nn.Module]]:
    """A 'same' convolution and its ReLU, as (name suffix, module) pairs."""
    return [("conv", nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2)), ("relu", nn.ReLU(inplace=True))]


@dataclass
class AlexNetConfig:
    """Configuration of `alexnet`.

    Attributes:
        in_channels: image channels (3 for RGB, 1 for grayscale).
        image_size: side of the square input (any size >= 1; 28 and 32 are the intended ones).
        num_classes: number of output logits.
        width: base width w; the five convolutions have w, 3w, 6w, 4w, 4w filters (64 gives torchvision's).
        hidden: width of the two hidden dense layers (4096 in the paper).
        dropout: dropout probability before each hidden dense layer (0.5 in the paper).
        local_response_norm: apply the paper's LRN after the first two convolutions.
    """

    in_channels: int = 3
    image_size: int = 32
    num_classes: int = 10
    width: int = 32
    hidden: int = 512
    dropout: float = 0.5
    local_response_norm: bool = True

    def __post_init__(self) -> None:
        check_image_config(self)
        check_int("width", self.width)
        check_int("hidden", self.hidden)
        check_dropout(self.dropout)
        check_bool("local_response_norm", self.local_response_norm)

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        return image_batch(self, batch_size)


class AlexNet(ImageClassifier):
    """Small-image AlexNet: five ReLU convolutions with LRN and overlapping pooling, three dense layers.

    Shape:
        input (B, in_channels, image_size, image_size) -> logits (B, num_classes).
    """

    def __init__(self, cfg: AlexNetConfig) -> None:
        super().__init__()
        w = cfg.width
        widths = [cfg.in_channels, w, 3 * w, 6 * w, 4 * w, 4 * w]
        kernels = [3, 5, 3, 3, 3]  # paper: 11 (stride 4), 5, 3, 3, 3
        layers: list[tuple[str, nn.Module]] = []
        for i, k in enumerate(kernels, start=1):
            layers += [(f"{name}{i}", m) for name, m in conv_relu(widths[i - 1], widths[i], k)]
            if i <= 2 and cfg.local_response_norm:
                layers.append((f"lrn{i}", nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)))
            if i in (1, 2, 5):
                # Overlapping pooling (window 3 > stride 2), padded so a small map never vanishes.
                layers.append((f"pool{i}", nn.MaxPool2d(3, stride=2, padding=1)))
        self.features = nn.Sequential(OrderedDict(layers))
        self.pool = nn.AdaptiveAvgPool2d(POOL_GRID)
        self.num_features = widths[-1] * POOL_GRID * POOL_GRID
        self.classifier = nn.Sequential(OrderedDict([
            ("dropout1", nn.Dropout(cfg.dropout)),
            ("fc1", nn.Linear(self.num_features, cfg.hidden)),
            ("relu1", nn.ReLU(inplace=True)),
            ("dropout2", nn.Dropout(cfg.dropout)),
            ("fc2", nn.Linear(cfg.hidden, cfg.hidden)),
            ("relu2", nn.ReLU(inplace=True)),
            ("fc3", nn.Linear(cfg.hidden, cfg.num_classes)),  # logits: CrossEntropyLoss applies log-softmax
        ]))
        init_weights_(self, "he")


@register_model("alexnet", AlexNetConfig,
                "AlexNet (Krizhevsky et al. 2012) for small images: 5 convs with LRN, 3 dense layers with dropout")
def build_alexnet(cfg: AlexNetConfig) -> AlexNet:
    return AlexNet(cfg)
