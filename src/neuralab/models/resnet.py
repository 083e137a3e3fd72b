"""ResNet (He, Zhang, Ren & Sun 2016) with basic blocks, in the paper's own small-image (CIFAR-10) form.

    y = relu(F(x) + shortcut(x)),   F(x) = BN(conv3x3(relu(BN(conv3x3(x)))))

The residual branch F learns a correction to the input rather than the whole mapping, so a block whose
F is zero passes its input through (up to the final ReLU), and a deep stack is no harder to fit than a
shallow one. The shortcut is the identity when the block keeps the shape, and a projection
(1x1 convolution, stride 2, + BN; the paper's option B) when it halves the map and widens it.

Network: stem conv3x3 (base_width) + BN + ReLU -> stage 1..S, stage s has blocks[s] blocks of width
base_width * 2^(s-1), the first block of every stage after the first with stride 2 -> global average pool
-> Dense num_classes. The default blocks=(3, 3, 3), base_width=16 is the paper's ResNet-20 for CIFAR-10
(section 4.2; 6n+2 layers with n=3); blocks=(2, 2, 2, 2), base_width=64 gives ResNet-18's stages on a
3x3 stem. Global average pooling makes it work for any image_size.

Shape legend (3x32x32 input, defaults): x (B, 3, 32, 32) -> stem (B, 16, 32, 32) -> stage1 (B, 16, 32, 32)
    -> stage2 (B, 32, 16, 16) -> stage3 (B, 64, 8, 8) -> global pool (B, 64, 1, 1) -> flatten (B, 64)
    -> logits (B, classes).

References:
    K. He, X. Zhang, S. Ren, J. Sun, "Deep residual learning for image recognition", CVPR 2016.
    Batch normalisation: S. Ioffe, C. Szegedy, ICML 2015. Course topic "CNN architectures: ResNet".
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from neuralab.models._image import (
    ImageClassifier,
    check_image_config,
    check_int,
    check_ints,
    image_batch,
    init_weights_,
)
from neuralab.models.registry import register_model


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    # No bias: the batch norm that follows has its own shift.
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN layers with a skip connection: y = relu(F(x) + shortcut(x)).

    Args:
        in_channels: channels of x.
        out_channels: channels of y.
        stride: 2 to halve the map (the first block of a stage), else 1.

    Attributes:
        residual: the branch F.
        shortcut: `nn.Identity()` when shape is kept, else a 1x1 stride-`stride` conv + BN projection.

    Shape:
        x (B, in_channels, H, W) -> y (B, out_channels, ceil(H/stride), ceil(W/stride)).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.residual = nn.Sequential(OrderedDict([
            ("conv1", conv3x3(in_channels, out_channels, stride)),
            ("bn1", nn.BatchNorm2d(out_channels)),
            ("relu", nn.ReLU(inplace=True)),
            ("conv2", conv3x3(out_channels, out_channels)),
            ("bn2", nn.BatchNorm2d(out_channels)),
        ]))
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(OrderedDict([
                ("conv", nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)),
                ("bn", nn.BatchNorm2d(out_channels)),
            ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.residual(x) + self.shortcut(x))


@dataclass
class ResNetConfig:
    """Configuration of `resnet`.

    Attributes:
        in_channels: image channels (3 for RGB, 1 for grayscale).
        image_size: side of the square input (any size >= 1).
        num_classes: number of output logits.
        blocks: number of basic blocks in each stage (3, 3, 3: ResNet-20; 2, 2, 2, 2: ResNet-18's stages).
        base_width: channels of the stem and the first stage; each later stage doubles it.
    """

    in_channels: int = 3
    image_size: int = 32
    num_classes: int = 10
    blocks: tuple[int, ...] = (3, 3, 3)
    base_width: int = 16

    def __post_init__(self) -> None:
        self.blocks = tuple(self.blocks)
        check_image_config(self)
        check_ints("blocks", self.blocks)
        check_int("base_width", self.base_width)

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        return image_batch(self, batch_size)


class ResNet(ImageClassifier):
    """Residual network of basic blocks: stem, stages that halve the map and double the width, global pool.

    Attributes:
        features: `stem`, then `stage1` ... `stageS` (each an `nn.Sequential` of `BasicBlock`).

    Shape:
        input (B, in_channels, image_size, image_size) -> logits (B, num_classes).
    """

    def __init__(self, cfg: ResNetConfig) -> None:
        super().__init__()
        w = cfg.base_width
        parts: list[tuple[str, nn.Module]] = [("stem", nn.Sequential(OrderedDict([
            ("conv", conv3x3(cfg.in_channels, w)),
            ("bn", nn.BatchNorm2d(w)),
            ("relu", nn.ReLU(inplace=True)),
        ])))]
        in_ch = w
        for s, n in enumerate(cfg.blocks):
            out_ch = w * 2**s
            stride = 1 if s == 0 else 2
            stage = [BasicBlock(in_ch if b == 0 else out_ch, out_ch, stride if b == 0 else 1) for b in range(n)]
            parts.append((f"stage{s + 1}", nn.Sequential(*stage)))
            in_ch = out_ch
        self.features = nn.Sequential(OrderedDict(parts))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = in_ch
        self.classifier = nn.Linear(in_ch, cfg.num_classes)  # logits: CrossEntropyLoss applies log-softmax
        init_weights_(self, "he")


@register_model("resnet", ResNetConfig,
                "ResNet (He et al. 2016) of basic blocks with identity/projection shortcuts; ResNet-20 by default")
def build_resnet(cfg: ResNetConfig) -> ResNet:
    return ResNet(cfg)
