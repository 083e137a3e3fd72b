"""LeNet-5: the convolutional network of LeCun et al. (1998), as the course's Keras slide builds it.

    Conv 6@5x5 'same' -> tanh -> AvgPool 2 -> Conv 16@5x5 -> tanh -> AvgPool 2
        -> Flatten -> Dense 120 -> tanh -> Dense 84 -> tanh -> Dense num_classes

Layer for layer and size for size the network of `shared/anchors/keras_reference.py` ("lenet5"), so both
report the same parameter count (61,706 for 1x28x28 inputs and 10 classes). Two differences from Keras
that do not change the network: the last layer returns logits (Keras applies softmax; here
`nn.CrossEntropyLoss` applies log-softmax), and Flatten reads the map in (C, H, W) order where Keras reads
(H, W, C), so porting Keras weights into the first dense layer needs that permutation.

Shape legend (1x28x28 input): x (B, 1, 28, 28) -> conv1 (B, 6, 28, 28) -> pool (B, 6, 14, 14)
    -> conv2 (B, 16, 10, 10) -> pool (B, 16, 5, 5) -> flatten (B, 400) -> (B, 120) -> (B, 84) -> (B, classes).

References:
    Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to document recognition",
    Proc. IEEE 86(11), 1998. Course topic "Convolutional neural networks: LeNet-5".
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from neuralab.models._image import ImageClassifier, check_image_config, image_batch, init_weights_
from neuralab.models.registry import register_model
from neuralab.nn.activations import ACTIVATIONS, activation_module
from neuralab.nn.pooling import AvgPool2d


def lenet_map_size(image_size: int) -> int:
    """Side of the last feature map: 'same' conv, pool /2, valid 5x5 conv (-4), pool /2 (floors, as Keras)."""
    return (image_size // 2 - 4) // 2


@dataclass
class LeNet5Config:
    """Configuration of `lenet5`.

    Attributes:
        in_channels: image channels (1 for grayscale digits).
        image_size: side of the square input; at least 12 (the second pooling needs a 2x2 map).
        num_classes: number of output logits.
        activation: hidden activation (`tanh` as in the paper and the slide; `relu` for the modern variant).
    """

    in_channels: int = 1
    image_size: int = 28
    num_classes: int = 10
    activation: str = "tanh"

    def __post_init__(self) -> None:
        check_image_config(self, min_size=12)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; expected one of {', '.join(ACTIVATIONS)}")

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        return image_batch(self, batch_size)


class LeNet5(ImageClassifier):
    """LeNet-5 (Keras-slide version): two tanh conv + average-pool stages, then three dense layers.

    Shape:
        input (B, in_channels, image_size, image_size) -> logits (B, num_classes).
    """

    def __init__(self, cfg: LeNet5Config) -> None:
        super().__init__()
        act = cfg.activation
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(cfg.in_channels, 6, 5, padding=2)),  # Keras padding="same" for a 5x5 kernel
            ("act1", activation_module(act)),
            ("pool1", AvgPool2d(2)),
            ("conv2", nn.Conv2d(6, 16, 5)),
            ("act2", activation_module(act)),
            ("pool2", AvgPool2d(2)),
        ]))
        self.pool = nn.Identity()  # the reference flattens the map as it is; its size follows image_size
        side = lenet_map_size(cfg.image_size)
        self.num_features = 16 * side * side
        self.classifier = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(self.num_features, 120)),
            ("act3", activation_module(act)),
            ("fc2", nn.Linear(120, 84)),
            ("act4", activation_module(act)),
            ("fc3", nn.Linear(84, cfg.num_classes)),  # logits: CrossEntropyLoss applies log-softmax
        ]))
        init_weights_(self, "glorot")


@register_model("lenet5", LeNet5Config, "LeNet-5 (LeCun et al. 1998): 2 tanh conv/avg-pool stages + 3 dense layers")
def build_lenet5(cfg: LeNet5Config) -> LeNet5:
    return LeNet5(cfg)
