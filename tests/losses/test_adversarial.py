"""Adv-SSL against a loop reference; the closed-form inner maximum; unbiasedness for a fixed G."""

import math

import pytest
import torch
from losses_reference import assert_same_value_and_gradients, random_inputs

from clrl.losses import AdvSSLLoss, adv_ssl_loss, closed_form_adversary, cross_covariance


def reference_adv_ssl(z1, z2, reg_weight, adversary=None):
    n, dim = z1.shape
    alignment = sum((z1[i, c] - z2[i, c]) ** 2 for i in range(n) for c in range(dim)) / n
    deviation = [
        [sum(z1[i, a] * z2[i, b] for i in range(n)) / n - (1.0 if a == b else 0.0) for b in range(dim)]
        for a in range(dim)
    ]
    if adversary is None:
        regulariser = sum(deviation[a][b] ** 2 for a in range(dim) for b in range(dim)).sqrt()
    else:
        regulariser = sum(adversary[a, b] * deviation[a][b] for a in range(dim) for b in range(dim))
    return alignment + reg_weight * regulariser


@pytest.mark.parametrize("use_adversary", [False, True])
def test_adv_ssl_matches_loop_reference(use_adversary):
    z1, z2 = random_inputs(0, (6, 3), (6, 3))
    adversary = None
    if use_adversary:
        (raw,) = random_inputs(1, (3, 3), requires_grad=False)
        adversary = raw / torch.linalg.matrix_norm(raw)
    loss = adv_ssl_loss(z1, z2, reg_weight=0.7, adversary=adversary)
    assert_same_value_and_gradients(loss, reference_adv_ssl(z1, z2, 0.7, adversary), (z1, z2))


def test_closed_form_is_the_inner_maximum():
    z1, z2 = random_inputs(2, (10, 4), (10, 4), requires_grad=False)
    deviation = cross_covariance(z1, z2) - torch.eye(4, dtype=torch.float64)
    best = closed_form_adversary(z1, z2)
    assert float(torch.linalg.matrix_norm(best)) == pytest.approx(1.0)
    closed_form_value = float((best * deviation).sum())
    assert closed_form_value == pytest.approx(float(torch.linalg.matrix_norm(deviation)))
    generator = torch.Generator().manual_seed(3)
    for _ in range(200):
        candidate = torch.randn(4, 4, dtype=torch.float64, generator=generator)
        candidate = candidate / torch.linalg.matrix_norm(candidate)
        assert float((candidate * deviation).sum()) <= closed_form_value + 1e-12


def test_fixed_adversary_term_is_unbiased_but_plug_in_norm_is_not():
    """Averaged over the mini-batches of a dataset, <G, C_b - I> equals the full-data value
    (linearity); the plug-in ||C_b - I||_F overestimates it (Jensen) - the bias Adv-SSL removes."""
    z1, z2 = random_inputs(4, (64, 3), (64, 3), requires_grad=False)
    adversary = closed_form_adversary(z1, z2)
    full = float(adv_ssl_loss(z1, z2, adversary=adversary))
    batches = [(z1[i : i + 8], z2[i : i + 8]) for i in range(0, 64, 8)]
    fixed_g = sum(float(adv_ssl_loss(a, b, adversary=adversary)) for a, b in batches) / len(batches)
    plug_in = sum(float(adv_ssl_loss(a, b)) for a, b in batches) / len(batches)
    assert fixed_g == pytest.approx(full, abs=1e-12)
    assert plug_in > float(adv_ssl_loss(z1, z2)) + 1e-3


def test_module_alternates_between_ascent_and_descent():
    z1a, z2a, z1b, z2b = random_inputs(5, (8, 3), (8, 3), (8, 3), (8, 3), requires_grad=False)
    module = AdvSSLLoss(dim=3, reg_weight=0.5).double()
    assert float(module(z1a, z2a)) == pytest.approx(float(adv_ssl_loss(z1a, z2a, reg_weight=0.5)))
    expected = adv_ssl_loss(z1b, z2b, reg_weight=0.5, adversary=closed_form_adversary(z1a, z2a))
    assert float(module(z1b, z2b)) == pytest.approx(float(expected))
    module.eval()
    frozen = module.adversary.clone()
    module(z1a, z2a)
    torch.testing.assert_close(module.adversary, frozen)
    assert math.isclose(float(torch.linalg.matrix_norm(frozen)), 1.0)


def test_rejects_bad_adversary_and_weight():
    z1, z2 = random_inputs(6, (4, 3), (4, 3), requires_grad=False)
    with pytest.raises(ValueError, match="shape"):
        adv_ssl_loss(z1, z2, adversary=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="norm"):
        adv_ssl_loss(z1, z2, adversary=torch.eye(3))
    with pytest.raises(ValueError, match="reg_weight"):
        adv_ssl_loss(z1, z2, reg_weight=0.0)


def test_module_backward_works_after_its_in_place_refresh():
    torch.manual_seed(0)
    loss_module = AdvSSLLoss(dim=4).train()
    z1 = torch.randn(8, 4, requires_grad=True)
    loss_module(z1, torch.randn(8, 4))  # fills the adversary
    loss = loss_module(z1, torch.randn(8, 4))  # uses it, then refreshes it in place
    loss.backward()
    assert torch.isfinite(z1.grad).all()
