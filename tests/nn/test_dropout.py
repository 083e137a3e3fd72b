"""Inverted dropout against its equation: y = m ⊙ x / (1 - p), m ~ Bernoulli(1 - p) in training, y = x in eval."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neuralab.errors import ConfigError
from neuralab.nn.dropout import InvertedDropout, dropout_mask, inverted_dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_expected_value_is_preserved(p):
    # E[y] = (1 - p) x / (1 - p) = x: the mean over many independent masks converges to x
    x = torch.linspace(-2.0, 3.0, 11, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    samples = torch.stack([inverted_dropout(x, p, generator=gen) for _ in range(20_000)])  # (S, 11)
    # standard error of the mean: |x| sqrt(p / (1 - p)) / sqrt(S); allow 5 of them
    tol = 5 * x.abs() * (p / (1 - p)) ** 0.5 / 20_000 ** 0.5 + 1e-12
    assert ((samples.mean(0) - x).abs() <= tol).all()


@pytest.mark.parametrize("p", [0.2, 0.5, 0.75])
def test_kept_units_are_scaled_by_exactly_one_over_one_minus_p(p):
    x = torch.randn(4096, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = inverted_dropout(x, p, generator=torch.Generator().manual_seed(2))
    kept = y != 0
    assert 0 < int(kept.sum()) < x.numel()
    torch.testing.assert_close(y[kept], x[kept] / (1 - p), rtol=1e-15, atol=0)
    assert (y[~kept] == 0).all()


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_fraction_dropped_matches_torch_dropout(p):
    x = torch.ones(200_000)
    torch.manual_seed(123)
    ours = inverted_dropout(x, p)
    torch.manual_seed(456)
    theirs = F.dropout(x, p, training=True)
    frac_ours, frac_theirs = float((ours == 0).float().mean()), float((theirs == 0).float().mean())
    # binomial standard deviation sqrt(p (1 - p) / n) <= 0.0011; allow 5 of them
    assert frac_ours == pytest.approx(p, abs=0.006)
    assert frac_theirs == pytest.approx(p, abs=0.006)
    assert frac_ours == pytest.approx(frac_theirs, abs=0.008)
    # the kept values agree too: both equal 1 / (1 - p)
    torch.testing.assert_close(ours[ours != 0].unique(), theirs[theirs != 0].unique())


def test_same_seed_gives_torch_dropouts_mask_on_cpu():
    # The mask is drawn as torch's CPU dropout draws it (bernoulli_ with the keep probability), so from the same
    # global seed the very same units are dropped.
    x = torch.randn(64, 33)
    torch.manual_seed(7)
    theirs = F.dropout(x, 0.3, training=True)
    torch.manual_seed(7)
    ours = inverted_dropout(x, 0.3)
    assert torch.equal(ours == 0, theirs == 0)
    torch.testing.assert_close(ours, theirs)


def test_same_generator_seed_same_mask_and_global_rng_untouched():
    x = torch.randn(1000)
    before = torch.random.get_rng_state()
    a = inverted_dropout(x, 0.4, generator=torch.Generator().manual_seed(5))
    b = inverted_dropout(x, 0.4, generator=torch.Generator().manual_seed(5))
    c = inverted_dropout(x, 0.4, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_eval_mode_is_identity_and_p_zero_is_identity():
    x = torch.randn(5, 7)
    assert inverted_dropout(x, 0.5, training=False) is x
    assert inverted_dropout(x, 0.0, training=True) is x
    torch.testing.assert_close(F.dropout(x, 0.5, training=False), inverted_dropout(x, 0.5, training=False))


def test_module_train_is_stochastic_eval_is_deterministic():
    layer = InvertedDropout(0.5)
    x = torch.ones(2000)
    torch.manual_seed(0)
    layer.train()
    assert not torch.equal(layer(x), layer(x))
    layer.eval()
    assert torch.equal(layer(x), x)
    assert "p=0.5" in repr(layer)


def test_mask_is_zeros_and_ones_with_the_requested_shape():
    m = dropout_mask((3, 4, 5), 0.5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert m.shape == (3, 4, 5) and m.dtype == torch.float64
    assert set(m.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_bad_probability_is_rejected_with_the_value(p):
    with pytest.raises(ConfigError, match=r"\[0, 1\).*" + str(p)):
        inverted_dropout(torch.ones(3), p)
