"""VGG (Simonyan & Zisserman 2014), with configurable stages, scaled for small images.

    stage s = depths[s] x (Conv 3x3 widths[s] -> [BatchNorm] -> ReLU), then MaxPool 2      (s = 1..S)
    -> adaptive average pool 1x1 -> Dense hidden -> ReLU -> Dropout -> Dense hidden -> ReLU -> Dropout
    -> Dense num_classes

The paper's idea is depth from stacks of 3x3 convolutions (two 3x3 see what one 5x5 sees, with fewer
weights and one more non-linearity), doubling the width after each 2x2 max pool. The default is VGG-11
("configuration A": 1, 1, 2, 2, 2 convolutions per stage) at half its widths (32..256 instead of 64..512),
with `hidden`-wide dense layers instead of 4096. Setting widths=(64, 128, 256, 512, 512) and
depths=(2, 2, 3, 3, 3) gives VGG-16's convolutions. The pools round up (ceil_mode), so a 28x28 image passes
five of them (28, 14, 7, 4, 2, 1) as a 32x32 one does (32, 16, 8, 4, 2, 1); the adaptive pool makes the
head independent of image_size. `batch_norm=True` gives the VGG-BN variant (Ioffe & Szegedy 2015), which
the paper predates.

Shape legend (3x32x32 input, 5 stages): x (B, 3, 32, 32) -> stage1 (B, widths[0], 16, 16) -> ...
    -> stage5 (B, widths[4], 1, 1) -> adaptive pool (B, widths[-1], 1, 1) -> flatten (B, widths[-1])
    -> (B, hidden) -> (B, hidden) -> (B, classes).

References:
    K. Simonyan, A. Zisserman, "Very deep convolutional networks for large-scale image recognition",
    arXiv:1409.1556, 2014 (ICLR 2015). Course topic "CNN architectures: VGG".
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
    check_ints,
    image_batch,
    init_weights_,
)
from neuralab.models.registry import register_model


def vgg_stage(in_ch: int, out_ch: int, depth: int, batch_norm: bool) -> nn.Sequential:
    """`depth` 3x3 'same' convolutions (+BN) with ReLU, then a 2x2 max pool: (B, in, h, w) -> (B, out, h/2, w/2)."""
    layers: list[tuple[str, nn.Module]] = []
    for i in range(1, depth + 1):
        layers.append((f"conv{i}", nn.Conv2d(in_ch if i == 1 else out_ch, out_ch, 3, padding=1, bias=not batch_norm)))
        if batch_norm:
            layers.append((f"bn{i}", nn.BatchNorm2d(out_ch)))
        layers.append((f"relu{i}", nn.ReLU(inplace=True)))
    layers.append(("pool", nn.MaxPool2d(2, ceil_mode=True)))  # rounds up: odd sides keep their last row
    return nn.Sequential(OrderedDict(layers))


@dataclass
class VGGConfig:
    """Configuration of `vgg`.

    Attributes:
        in_channels: image channels (3 for RGB, 1 for grayscale).
        image_size: side of the square input (any size >= 1).
        num_classes: number of output logits.
        widths: filters of the convolutions of each stage.
        depths: number of 3x3 convolutions in each stage (same length as widths).
        hidden: width of the two hidden dense layers (4096 in the paper).
        dropout: dropout probability after each hidden dense layer (0.5 in the paper).
        batch_norm: batch normalisation after every convolution (the later VGG-BN variant).
    """

    in_channels: int = 3
    image_size: int = 32
    num_classes: int = 10
    widths: tuple[int, ...] = (32, 64, 128, 256, 256)
    depths: tuple[int, ...] = (1, 1, 2, 2, 2)
    hidden: int = 256
    dropout: float = 0.5
    batch_norm: bool = False

    def __post_init__(self) -> None:
        self.widths, self.depths = tuple(self.widths), tuple(self.depths)
        check_image_config(self)
        check_ints("widths", self.widths)
        check_ints("depths", self.depths)
        if len(self.widths) != len(self.depths):
            raise ValueError(f"widths and depths must have one entry per stage, got widths={self.widths!r} "
                             f"and depths={self.depths!r}")
        check_int("hidden", self.hidden)
        check_dropout(self.dropout)
        check_bool("batch_norm", self.batch_norm)

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        return image_batch(self, batch_size)


class VGG(ImageClassifier):
    """Stacks of 3x3 convolutions between 2x2 max pools, then three dense layers with dropout.

    Attributes:
        features: `stage1` ... `stageS`, each a `vgg_stage`.

    Shape:
        input (B, in_channels, image_size, image_size) -> logits (B, num_classes).
    """

    def __init__(self, cfg: VGGConfig) -> None:
        super().__init__()
        ins = (cfg.in_channels, *cfg.widths[:-1])
        self.features = nn.Sequential(OrderedDict(
            (f"stage{s}", vgg_stage(i, o, d, cfg.batch_norm))
            for s, (i, o, d) in enumerate(zip(ins, cfg.widths, cfg.depths, strict=True), start=1)
        ))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = cfg.widths[-1]
        self.classifier = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(self.num_features, cfg.hidden)),
            ("relu1", nn.ReLU(inplace=True)),
            ("dropout1", nn.Dropout(cfg.dropout)),
            ("fc2", nn.Linear(cfg.hidden, cfg.hidden)),
            ("relu2", nn.ReLU(inplace=True)),
            ("dropout2", nn.Dropout(cfg.dropout)),
            ("fc3", nn.Linear(cfg.hidden, cfg.num_classes)),  # logits: CrossEntropyLoss applies log-softmax
        ]))
        init_weights_(self, "he")


@register_model("vgg", VGGConfig,
                "VGG (Simonyan & Zisserman 2014) for small images: stacks of 3x3 convs, VGG-11 layout by default")
def build_vgg(cfg: VGGConfig) -> VGG:
    return VGG(cfg)
