"""The CNNs: Keras-equal sizes for the course's networks, shapes for any image size, the residual and
inception blocks, channels_last, the features/classifier split and config errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import neuralab
from neuralab.models.googlenet import GoogLeNetConfig, Inception
from neuralab.models.lenet import LeNet5Config
from neuralab.models.resnet import BasicBlock, ResNetConfig
from neuralab.models.vgg import VGGConfig

CNNS = ["lenet5", "gesture-cnn", "alexnet", "vgg", "resnet", "googlenet"]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(name: str, **cfg) -> nn.Module:
    torch.manual_seed(0)
    return neuralab.get_model(name, **cfg)


# ------------------------------------------------------------------------------ the course's Keras networks
def test_gesture_cnn_pool_then_relu_equals_the_course_order():
    # The course: Conv -> ReLU -> MaxPool. Ours pools first; outputs and every gradient must be the same.
    model = build("gesture-cnn")
    f = model.features
    course = nn.Sequential(f.conv1, nn.ReLU(), nn.MaxPool2d(2), f.conv2, nn.ReLU(), nn.MaxPool2d(2))
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    ours_out = f(x)
    grads_ours = torch.autograd.grad(ours_out.pow(2).sum(), list(f.parameters()))
    course_out = course(x)
    grads_course = torch.autograd.grad(course_out.pow(2).sum(), list(course.parameters()))
    torch.testing.assert_close(ours_out, course_out)
    for a, b in zip(grads_ours, grads_course, strict=True):
        torch.testing.assert_close(a, b)


def test_gesture_cnn_has_the_keras_parameter_count():
    # Keras model.summary() of keras_reference.py "gesture-cnn", input 28x28x1, 24 classes:
    #   Conv2D(32, 3)      3*3*1*32 + 32   =     320     (28 -> 26, pool -> 13)
    #   Conv2D(64, 3)      3*3*32*64 + 64  =  18,496     (13 -> 11, pool -> 5)
    #   Dense(128)         5*5*64*128 + 128 = 204,928    (flatten 5*5*64 = 1600)
    #   Dense(24)          128*24 + 24     =   3,096
    #   total                                 226,840
    model = build("gesture-cnn")
    assert n_params(model) == 320 + 18_496 + 204_928 + 3_096 == 226_840
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 32, (3, 3), (0, 0)), (32, 64, (3, 3), (0, 0))]  # Keras' default padding="valid"
    # pool before ReLU: the same function as the course's Conv(relu) -> MaxPool (checked below), faster
    assert [type(m) for m in model.features] == [nn.Conv2d, nn.MaxPool2d, nn.ReLU] * 2
    assert [type(m) for m in model.classifier] == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert model.classifier.dropout.p == 0.5
    assert model.features(torch.zeros(2, 1, 28, 28)).shape == (2, 64, 5, 5)


def test_lenet5_has_the_keras_parameter_count():
    # Keras model.summary() of keras_reference.py "lenet5", input 28x28x1, 10 classes:
    #   Conv2D(6, 5, same)   5*5*1*6 + 6     =    156    (28 -> 28, avg-pool -> 14)
    #   Conv2D(16, 5)        5*5*6*16 + 16   =  2,416    (14 -> 10, avg-pool -> 5)
    #   Dense(120)           5*5*16*120 + 120 = 48,120   (flatten 5*5*16 = 400)
    #   Dense(84)            120*84 + 84     = 10,164
    #   Dense(10)            84*10 + 10      =    850
    #   total                                  61,706
    model = build("lenet5")
    assert n_params(model) == 156 + 2_416 + 48_120 + 10_164 + 850 == 61_706
    assert all(isinstance(m, t) for m, t in zip(model.features, [nn.Conv2d, nn.Tanh, nn.AvgPool2d] * 2, strict=True))
    assert all(isinstance(m, t) for m, t in zip(model.classifier, [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear],
                                                strict=True))
    assert model.features.conv1.padding == (2, 2)  # Keras padding="same" for a 5x5 kernel
    assert model.features(torch.zeros(2, 1, 28, 28)).shape == (2, 16, 5, 5)


def test_keras_networks_start_from_keras_initialisation():
    # Glorot-uniform weights, zero biases (Keras' defaults): |w| <= sqrt(6 / (fan_in + fan_out)).
    fc1 = build("lenet5").classifier.fc1
    assert torch.all(fc1.bias == 0)
    assert fc1.weight.abs().max() <= (6 / (400 + 120)) ** 0.5


# ------------------------------------------------------------------------------ every CNN, any image size
@pytest.mark.parametrize("name", CNNS)
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32), (3, 48)])
def test_logits_for_several_image_sizes_and_channels(name, channels, size):
    model = build(name, in_channels=channels, image_size=size, num_classes=7).eval()
    x = model.config.example_input(3)
    assert x.shape == (3, channels, size, size)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (3, 7)
    assert torch.isfinite(y).all()
    assert not torch.allclose(y.sum(1), torch.ones(3))  # logits, not softmax probabilities


@pytest.mark.parametrize("name", ["alexnet", "vgg", "resnet", "googlenet"])
def test_adaptive_pooling_makes_the_head_size_agnostic(name):
    sizes = {n_params(build(name, image_size=s)) for s in (9, 32, 80)}
    assert len(sizes) == 1


@pytest.mark.parametrize("name", CNNS)
def test_features_and_classifier_split_for_transfer_learning(name):
    model = build(name).eval()
    x = model.config.example_input(2)
    with torch.no_grad():
        flat = model.forward_features(x)
        assert flat.shape == (2, model.num_features)
        assert torch.equal(model.classifier(flat), model(x))
    assert n_params(model.features) + n_params(model.classifier) == n_params(model)

    # Freeze the features, swap the head: only the new head learns.
    model.features.requires_grad_(False)
    model.classifier = nn.Linear(model.num_features, 3)
    model.train()
    nn.functional.cross_entropy(model(x), torch.tensor([0, 2])).backward()
    assert all(p.grad is None for p in model.features.parameters())
    assert model.classifier.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", CNNS)
def test_channels_last_gives_the_same_logits_and_trains(name):
    model = build(name).eval()
    x = model.config.example_input(2)
    with torch.no_grad():
        expected = model(x)
        model_cl = model.to(memory_format=torch.channels_last)
        got = model_cl(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)

    model_cl.train()
    xg = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    model_cl(xg).square().sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all()


# ------------------------------------------------------------------------------ residual and inception blocks
def test_residual_block_with_zero_branch_is_relu_of_its_input():
    torch.manual_seed(0)
    block = BasicBlock(8, 8).eval()
    assert isinstance(block.shortcut, nn.Identity)
    with torch.no_grad():
        block.residual.conv2.weight.zero_()  # F(x) = BN(0) = beta = 0
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        assert torch.equal(block(x), torch.relu(x))


def test_residual_block_projects_when_the_shape_changes():
    torch.manual_seed(0)
    block = BasicBlock(8, 16, stride=2).eval()
    assert isinstance(block.shortcut.conv, nn.Conv2d)
    assert block.shortcut.conv.kernel_size == (1, 1) and block.shortcut.conv.stride == (2, 2)
    x = torch.randn(2, 8, 7, 7)
    with torch.no_grad():
        assert block(x).shape == (2, 16, 4, 4)
        block.residual.conv2.weight.zero_()
        assert torch.equal(block(x), torch.relu(block.shortcut(x)))


def test_resnet_default_is_resnet20():
    # 6n + 2 layers with n = 3: the stem conv, 3 stages x 3 blocks x 2 convs, the dense layer.
    model = build("resnet")
    convs3x3 = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs3x3) + 1 == 20
    assert [len(getattr(model.features, f"stage{s}")) for s in (1, 2, 3)] == [3, 3, 3]


def test_inception_output_channels_are_the_sum_of_its_branches():
    torch.manual_seed(0)
    block = Inception(12, c1=4, c3_reduce=3, c3=6, c5_reduce=2, c5=5, pool_proj=7).eval()
    assert block.out_channels == 4 + 6 + 5 + 7
    x = torch.randn(2, 12, 9, 9)
    with torch.no_grad():
        y = block(x)
        parts = [block.branch1(x), block.branch3(x), block.branch5(x), block.branch_pool(x)]
    assert y.shape == (2, 22, 9, 9)
    assert [p.shape[1] for p in parts] == [4, 6, 5, 7]
    assert torch.equal(y, torch.cat(parts, dim=1))
    assert block.branch5[1].conv.kernel_size == (5, 5)  # the paper's 5x5 (torchvision uses 3x3)


def test_googlenet_full_width_follows_table_1():
    model = build("googlenet", width_mult=1.0, image_size=16)
    outs = {n: m.out_channels for n, m in model.features.named_children() if isinstance(m, Inception)}
    assert outs["inception3a"] == 256 and outs["inception3b"] == 480
    assert outs["inception4e"] == 832 and outs["inception5b"] == 1024
    assert model.num_features == 1024


# ------------------------------------------------------------------------------ configs
@pytest.mark.parametrize("make, match", [
    (lambda: LeNet5Config(image_size=8), "image_size must be >= 12 .* got 8"),
    (lambda: LeNet5Config(in_channels=0), "in_channels .* got 0"),
    (lambda: LeNet5Config(activation="swish"), "unknown activation 'swish'"),
    (lambda: VGGConfig(widths=(8, 16), depths=(1,)), r"widths=\(8, 16\) and depths=\(1,\)"),
    (lambda: VGGConfig(dropout=1.0), r"dropout must be a probability in \[0, 1\), got 1.0"),
    (lambda: ResNetConfig(blocks=(2, 0)), r"blocks .* got \(2, 0\)"),
    (lambda: ResNetConfig(num_classes=2.5), "num_classes .* got 2.5"),
    (lambda: GoogLeNetConfig(width_mult=0), "width_mult must be a number > 0, got 0"),
    (lambda: GoogLeNetConfig(batch_norm="yes"), "batch_norm must be true or false, got 'yes'"),
])
def test_bad_configs_say_what_they_got(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_non_default_tuple_config_round_trips(tmp_path):
    model = build("vgg", in_channels=1, image_size=28, widths=(8, 16), depths=(1, 2), batch_norm=True).eval()
    loaded = neuralab.load_model(neuralab.save_model(model, tmp_path / "vgg"))
    assert loaded.config == model.config and loaded.config.widths == (8, 16)
    x = model.config.example_input(2)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
