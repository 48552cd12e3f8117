"""RényiCL against a loop reference, its gamma -> 1 (Donsker-Varadhan) limit, and the reference
implementation's importance-weighted gradient."""

import math

import pytest
import torch
from losses_reference import assert_same_value_and_gradients, random_inputs, reference_similarity

from clrl.losses import RenyiCLLoss, renyi_cl, renyi_contrastive_from_logits


def reference_renyi(z1, z2, gamma, alpha, temperature):
    n = z1.shape[0]
    f = [[reference_similarity(z1[i], z2[j], "cosine") / temperature for j in range(n)] for i in range(n)]
    mean_p_lower = sum(torch.exp((gamma - 1) * f[i][i]) for i in range(n)) / n
    mean_p = sum(torch.exp(gamma * f[i][i]) for i in range(n)) / n
    mean_q = sum(torch.exp(gamma * f[i][j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    mean_q_alpha = alpha * mean_p + (1 - alpha) * mean_q
    return -torch.log(mean_p_lower) / (gamma - 1) + torch.log(mean_q_alpha) / gamma


@pytest.mark.parametrize("gamma, alpha", [(2.0, 0.0), (1.5, 0.3), (0.5, 0.2)])
def test_renyi_cl_matches_loop_reference(gamma, alpha):
    z1, z2 = random_inputs(0, (5, 3), (5, 3))
    loss = renyi_cl(z1, z2, gamma=gamma, alpha=alpha, temperature=0.5)
    assert_same_value_and_gradients(loss, reference_renyi(z1, z2, gamma, alpha, 0.5), (z1, z2))


@pytest.mark.parametrize("gamma", [1 + 1e-6, 1 - 1e-6])
def test_gamma_to_one_gives_the_donsker_varadhan_bound(gamma):
    (logits,) = random_inputs(1, (6, 6), requires_grad=False)
    n = logits.shape[0]
    negatives = logits[~torch.eye(n, dtype=torch.bool)]
    donsker_varadhan = logits.diagonal().mean() - (
        torch.logsumexp(negatives, 0) - math.log(negatives.numel())
    )
    loss = renyi_contrastive_from_logits(logits, gamma=gamma)
    assert float(loss) == pytest.approx(-float(donsker_varadhan), abs=1e-5)


def test_gradient_equals_reference_implementation_surrogate():
    """RényiCL's released code optimises a stop-gradient, importance-weighted surrogate; its
    gradient must equal that of the closed-form loss (this is why logsumexp form is faithful)."""
    gamma, alpha = 2.0, 0.25
    (logits,) = random_inputs(2, (5, 5))
    n = logits.shape[0]
    positives = logits.diagonal()
    negatives = logits[~torch.eye(n, dtype=torch.bool)]
    weight_1 = ((gamma - 1) * positives).exp().detach()
    loss_1 = -(positives * weight_1).mean() / weight_1.mean()
    weight_p, weight_n = (gamma * positives).exp().detach(), (gamma * negatives).exp().detach()
    numerator = alpha * (positives * weight_p).mean() + (1 - alpha) * (negatives * weight_n).mean()
    loss_2 = numerator / (alpha * weight_p.mean() + (1 - alpha) * weight_n.mean())
    (surrogate_grad,) = torch.autograd.grad(loss_1 + loss_2, logits)
    (grad,) = torch.autograd.grad(renyi_contrastive_from_logits(logits, gamma=gamma, alpha=alpha), logits)
    torch.testing.assert_close(grad, surrogate_grad, atol=1e-12, rtol=1e-10)


def test_renyi_is_invariant_to_permuting_the_batch_and_stable_for_large_logits():
    z1, z2 = random_inputs(3, (6, 4), (6, 4), requires_grad=False)
    permutation = torch.randperm(6, generator=torch.Generator().manual_seed(4))
    original = renyi_cl(z1, z2, temperature=0.3)
    assert float(renyi_cl(z1[permutation], z2[permutation], temperature=0.3)) == pytest.approx(
        float(original)
    )
    huge = renyi_cl(z1, z2, temperature=1e-3)  # logits ~ 1e3: naive exp would overflow
    assert math.isfinite(float(huge))


def test_module_is_symmetric_mean():
    z1, z2 = random_inputs(5, (4, 3), (4, 3), requires_grad=False)
    module = RenyiCLLoss(gamma=2.0, alpha=0.1, temperature=0.5)
    expected = 0.5 * (
        renyi_cl(z1, z2, gamma=2.0, alpha=0.1, temperature=0.5)
        + renyi_cl(z2, z1, gamma=2.0, alpha=0.1, temperature=0.5)
    )
    assert float(module(z1, z2)) == pytest.approx(float(expected))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(gamma=1.0), "gamma"),
        (dict(gamma=-2.0), "gamma"),
        (dict(alpha=1.0), "alpha"),
        (dict(alpha=-0.1), "alpha"),
    ],
)
def test_rejects_bad_orders(kwargs, message):
    z1, z2 = random_inputs(6, (4, 3), (4, 3), requires_grad=False)
    with pytest.raises(ValueError, match=message):
        renyi_cl(z1, z2, **kwargs)


def test_rejects_single_sample():
    with pytest.raises(ValueError, match="N >= 2"):
        renyi_contrastive_from_logits(torch.zeros(1, 1))
