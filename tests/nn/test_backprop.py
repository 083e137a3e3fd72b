"""Golden values of the course's 2-2-2 example, and the hand-written backward pass vs torch.autograd."""

import pytest
import torch

from neuralab.nn import backprop as bp


def test_forward_pass_matches_the_course_to_four_decimals():
    net, x, t, _ = bp.course_net()
    terms = bp.worked_example_terms(net, x, t)
    assert round(terms["h1"], 4) == 0.6201
    assert round(terms["h2"], 4) == 0.5963
    assert round(terms["o1"], 4) == 0.6486
    # The course rounds o2 = 0.64806 down to 0.6480 and then computes E2 from the rounded value.
    assert terms["o2"] == pytest.approx(0.6480, abs=1e-4)
    assert round(terms["E1"], 4) == 0.1006
    assert terms["E2"] == pytest.approx(0.0116, abs=1e-4)
    assert round(terms["E_total"], 4) == 0.1122


def test_intermediate_terms_match_the_course():
    net, x, t, _ = bp.course_net()
    terms = bp.worked_example_terms(net, x, t)
    assert round(terms["dE/do1"], 4) == 0.4486
    assert round(terms["do1/dnet_o1"], 4) == 0.2279
    assert round(terms["dE/dw5"], 4) == 0.0634
    assert round(terms["dE/dw6"], 4) == -0.0215
    assert terms["dE/dw7"] == pytest.approx(0.0609, abs=1e-4)  # 0.06097 in full precision
    assert round(terms["dE/dw8"], 4) == -0.0207
    assert round(terms["dE1/dw1"], 5) == 0.00096
    assert round(terms["dE2/dw1"], 5) == -0.00016
    assert round(terms["dE/dw1"], 4) == 0.0008


def test_one_step_gives_the_course_weights_and_corrects_w2():
    net, x, t, lr = bp.course_net()
    cache = bp.forward(net, x)
    gw, gb = bp.backward(net, cache, t)
    new = bp.sgd_step(net, gw, gb, lr)
    expected = {"w5": 0.1746, "w6": 0.1086, "w7": 0.2756, "w8": 0.4083, "w1": 0.2997}
    for name, value in expected.items():
        assert round(bp.course_weight(new, name), 4) == value, name
    # The course prints w2 = 0.4007; its gradient is positive so w2 decreases: 0.3997.
    assert gw[0][1, 0] > 0
    assert round(bp.course_weight(new, "w2"), 4) == 0.3997
    # Biases stay fixed in the course's example.
    assert float(new.biases[0]) == 0.25 and float(new.biases[1]) == 0.31


@pytest.mark.parametrize("sizes", [(2, 2, 2), (3, 5, 4, 2), (1, 1, 1), (6, 3, 1)])
def test_hand_backward_equals_autograd(sizes):
    g = torch.Generator().manual_seed(sum(sizes))
    weights = [torch.randn(b, a, generator=g, dtype=torch.float64) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    biases = [torch.randn((), generator=g, dtype=torch.float64) for _ in weights]
    net = bp.SigmoidNet(weights, biases)
    x = torch.randn(sizes[0], generator=g, dtype=torch.float64)
    t = torch.rand(sizes[-1], generator=g, dtype=torch.float64)
    gw, gb = bp.backward(net, bp.forward(net, x), t)
    aw, ab = bp.autograd_gradients(net, x, t)
    for a, b in zip(gw + gb, aw + ab, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_shapes_that_do_not_chain_are_rejected():
    with pytest.raises(ValueError, match="expects 3 inputs"):
        bp.SigmoidNet([torch.zeros(2, 2), torch.zeros(1, 3)], [torch.tensor(0.0), torch.tensor(0.0)])
