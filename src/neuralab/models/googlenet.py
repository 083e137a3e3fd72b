"""GoogLeNet / Inception v1 (Szegedy et al. 2015), scaled for small images.

An inception block runs four branches on the same input and concatenates them along the channels:

    1x1 conv  |  1x1 reduce -> 3x3 conv  |  1x1 reduce -> 5x5 conv  |  3x3 max pool -> 1x1 projection

so one layer looks at several scales at once; the 1x1 reductions cut the channels before the costly 3x3
and 5x5 convolutions, which is what keeps a 22-layer network cheaper than AlexNet.

Network: stem (conv3x3 64 -> conv1x1 64 -> conv3x3 192) -> max pool -> inception 3a, 3b -> max pool
-> 4a..4e -> max pool -> 5a, 5b -> global average pool -> Dropout 0.4 -> Dense num_classes, with every
channel count of the paper's Table 1 multiplied by `width_mult` (0.25 by default: 5b gives 256 features
instead of 1024). Scaled for small images: the stem's 7x7 stride-2 convolution and first pool become a
3x3 stride-1 convolution, so the three 3x3 stride-2 max pools (padded: side ceil(s/2) after each) take 32
to 16, 8, 4 and 28 to 14, 7, 4. Left out: the auxiliary classifiers (a training aid the paper later found
of little use) and local response normalisation. Each convolution is followed by batch normalisation when
`batch_norm` is true (the default, as torchvision builds it): BN (Ioffe & Szegedy 2015, the "Inception v2"
paper) takes the place of the auxiliary classifiers in getting gradients to the lower layers.

Shape legend (3x32x32 input, width_mult m): x (B, 3, 32, 32) -> stem (B, 192m, 32, 32) -> pool (B, 192m, 16, 16)
    -> 3a, 3b (B, 480m, 16, 16) -> pool -> 4a..4e (B, 832m, 8, 8) -> pool -> 5a, 5b (B, 1024m, 4, 4)
    -> global pool (B, 1024m, 1, 1) -> flatten (B, 1024m) -> logits (B, classes).

References:
    C. Szegedy et al., "Going deeper with convolutions", CVPR 2015 (Table 1 gives the block sizes).
    Course topic "CNN architectures: GoogLeNet / Inception".
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
    image_batch,
    init_weights_,
)
from neuralab.models.registry import register_model

# Table 1 of the paper: name -> (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj); "pool" marks the
# 3x3 stride-2 max pools between the groups.
INCEPTION_TABLE: tuple[tuple[str, tuple[int, int, int, int, int, int] | None], ...] = (
    ("inception3a", (64, 96, 128, 16, 32, 32)),
    ("inception3b", (128, 128, 192, 32, 96, 64)),
    ("pool3", None),
    ("inception4a", (192, 96, 208, 16, 48, 64)),
    ("inception4b", (160, 112, 224, 24, 64, 64)),
    ("inception4c", (128, 128, 256, 24, 64, 64)),
    ("inception4d", (112, 144, 288, 32, 64, 64)),
    ("inception4e", (256, 160, 320, 32, 128, 128)),
    ("pool4", None),
    ("inception5a", (256, 160, 320, 32, 128, 128)),
    ("inception5b", (384, 192, 384, 48, 128, 128)),
)
STEM_WIDTHS = (64, 64, 192)  # conv 7x7 (here 3x3), conv 1x1, conv 3x3


def scaled(channels: int, width_mult: float) -> int:
    """A channel count of the paper times `width_mult`, rounded, at least 1."""
    return max(1, round(channels * width_mult))


class ConvBlock(nn.Sequential):
    """'same' convolution -> [BatchNorm] -> ReLU: (B, in, H, W) -> (B, out, H, W)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, batch_norm: bool) -> None:
        layers: list[tuple[str, nn.Module]] = [
            ("conv", nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=not batch_norm))]
        if batch_norm:
            layers.append(("bn", nn.BatchNorm2d(out_ch)))
        layers.append(("relu", nn.ReLU(inplace=True)))
        super().__init__(OrderedDict(layers))


class Inception(nn.Module):
    """Inception block (Szegedy et al. 2015, Figure 2b): four branches concatenated along the channels.

    Args:
        in_channels: channels of x.
        c1: filters of the 1x1 branch.
        c3_reduce, c3: 1x1 reduction and 3x3 filters of the second branch.
        c5_reduce, c5: 1x1 reduction and 5x5 filters of the third branch.
        pool_proj: 1x1 filters after the 3x3 stride-1 max pool of the fourth branch.
        batch_norm: batch normalisation after every convolution.

    Attributes:
        out_channels: c1 + c3 + c5 + pool_proj.

    Shape:
        x (B, in_channels, H, W) -> y (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int,
                 pool_proj: int, batch_norm: bool = True) -> None:
        super().__init__()
        self.branch1 = ConvBlock(in_channels, c1, 1, batch_norm)
        self.branch3 = nn.Sequential(ConvBlock(in_channels, c3_reduce, 1, batch_norm),
                                     ConvBlock(c3_reduce, c3, 3, batch_norm))
        self.branch5 = nn.Sequential(ConvBlock(in_channels, c5_reduce, 1, batch_norm),
                                     ConvBlock(c5_reduce, c5, 5, batch_norm))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                         ConvBlock(in_channels, pool_proj, 1, batch_norm))
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x))
        return torch.cat(branches, dim=1)  # 4 x (B, c_i, H, W) -> (B, sum c_i, H, W)


@dataclass
class GoogLeNetConfig:
    """Configuration of `googlenet`.

    Attributes:
        in_channels: image channels (3 for RGB, 1 for grayscale).
        image_size: side of the square input (any size >= 1).
        num_classes: number of output logits.
        width_mult: factor on every channel count of the paper's Table 1 (1.0: the paper's widths).
        dropout: dropout probability before the output layer (0.4 in the paper).
        batch_norm: batch normalisation after every convolution (not in the paper; see the module doc).
    """

    in_channels: int = 3
    image_size: int = 32
    num_classes: int = 10
    width_mult: float = 0.25
    dropout: float = 0.4
    batch_norm: bool = True

    def __post_init__(self) -> None:
        check_image_config(self)
        if isinstance(self.width_mult, bool) or not isinstance(self.width_mult, int | float) or self.width_mult <= 0:
            raise ValueError(f"width_mult must be a number > 0, got {self.width_mult!r}")
        check_dropout(self.dropout)
        check_bool("batch_norm", self.batch_norm)

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        return image_batch(self, batch_size)


class GoogLeNet(ImageClassifier):
    """Small-image GoogLeNet: a convolutional stem and nine inception blocks in three groups.

    Attributes:
        features: `stem`, `pool2`, `inception3a` ... `inception5b` with `pool3`, `pool4` between the groups.

    Shape:
        input (B, in_channels, image_size, image_size) -> logits (B, num_classes).
    """

    def __init__(self, cfg: GoogLeNetConfig) -> None:
        super().__init__()
        m, bn = cfg.width_mult, cfg.batch_norm
        s1, s2, s3 = (scaled(c, m) for c in STEM_WIDTHS)
        parts: list[tuple[str, nn.Module]] = [
            ("stem", nn.Sequential(ConvBlock(cfg.in_channels, s1, 3, bn), ConvBlock(s1, s2, 1, bn),
                                   ConvBlock(s2, s3, 3, bn))),
            ("pool2", nn.MaxPool2d(3, stride=2, padding=1)),
        ]
        in_ch = s3
        for name, sizes in INCEPTION_TABLE:
            if sizes is None:
                parts.append((name, nn.MaxPool2d(3, stride=2, padding=1)))
                continue
            block = Inception(in_ch, *(scaled(c, m) for c in sizes), batch_norm=bn)
            parts.append((name, block))
            in_ch = block.out_channels
        self.features = nn.Sequential(OrderedDict(parts))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = in_ch
        self.classifier = nn.Sequential(OrderedDict([
            ("dropout", nn.Dropout(cfg.dropout)),
            ("fc", nn.Linear(in_ch, cfg.num_classes)),  # logits: CrossEntropyLoss applies log-softmax
        ]))
        init_weights_(self, "he")


@register_model("googlenet", GoogLeNetConfig,
                "GoogLeNet (Szegedy et al. 2015) for small images: inception blocks with 1x1 reductions")
def build_googlenet(cfg: GoogLeNetConfig) -> GoogLeNet:
    return GoogLeNet(cfg)
