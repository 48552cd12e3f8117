"""Effective rank, alignment/uniformity and the InfoNCE gradient norm: known answers and loops."""

import math

import numpy as np
import pytest
import torch
from losses_reference import random_inputs

from clrl.diagnostics import alignment, effective_rank, infonce_gradient_norm_bound, uniformity
from clrl.losses import info_nce


def reference_effective_rank(matrix: np.ndarray) -> float:
    singular_values = np.linalg.svd(matrix, compute_uv=False)
    p = singular_values / singular_values.sum()
    return math.exp(-sum(x * math.log(x) for x in p if x > 0))


def test_effective_rank_known_answers():
    generator = torch.Generator().manual_seed(0)
    isotropic = torch.randn(20_000, 16, dtype=torch.float64, generator=generator)
    assert 15.9 < float(effective_rank(isotropic)) <= 16.0
    u = torch.randn(50, 1, dtype=torch.float64, generator=generator)
    v = torch.randn(1, 8, dtype=torch.float64, generator=generator)
    assert float(effective_rank(u @ v)) == pytest.approx(1.0, abs=1e-6)
    two_equal_directions = torch.diag(torch.tensor([3.0, 3.0, 0.0, 0.0], dtype=torch.float64))
    assert float(effective_rank(two_equal_directions)) == pytest.approx(2.0)
    assert float(effective_rank(torch.zeros(4, 3))) == pytest.approx(1.0)


def test_effective_rank_matches_reference_and_is_scale_invariant():
    (matrix,) = random_inputs(1, (30, 6), requires_grad=False)
    matrix = matrix * torch.tensor([5.0, 3.0, 1.0, 0.5, 0.1, 0.01], dtype=torch.float64)
    value = float(effective_rank(matrix))
    assert value == pytest.approx(reference_effective_rank(matrix.numpy()), abs=1e-10)
    assert float(effective_rank(7.0 * matrix)) == pytest.approx(value, abs=1e-10)
    centered = matrix - matrix.mean(0)
    assert float(effective_rank(matrix, center=True)) == pytest.approx(
        reference_effective_rank(centered.numpy())
    )


def test_alignment_and_uniformity_match_loops():
    z1, z2 = random_inputs(2, (6, 3), (6, 3), requires_grad=False)
    unit1 = [row / row.norm() for row in z1]
    unit2 = [row / row.norm() for row in z2]
    expected_alignment = sum(float((a - b).norm()) ** 2 for a, b in zip(unit1, unit2, strict=True)) / 6
    assert float(alignment(z1, z2)) == pytest.approx(expected_alignment)
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    mean_kernel = sum(math.exp(-2 * float((unit1[i] - unit1[j]).norm()) ** 2) for i, j in pairs) / len(pairs)
    assert float(uniformity(z1)) == pytest.approx(math.log(mean_kernel))


def test_alignment_and_uniformity_extremes():
    z = torch.tensor([[2.0, 0.0], [-1.0, 0.0]])
    assert float(alignment(z, 3 * z)) == 0.0
    assert float(uniformity(z, t=2.0)) == pytest.approx(-8.0)  # antipodal pair: the -4t bound
    assert float(uniformity(torch.ones(5, 3))) == pytest.approx(0.0)  # collapsed


def test_gradient_norm_is_exact_for_the_dot_critic():
    anchors, candidates = random_inputs(3, (5, 4), (7, 4))
    positives, queue = candidates[:5], candidates[5:]
    tau = 0.3
    per_sample_sum = 5 * info_nce(
        anchors, positives, temperature=tau, similarity="dot", negatives_queue=queue
    )
    (grad,) = torch.autograd.grad(per_sample_sum, anchors)
    bound = infonce_gradient_norm_bound(anchors.detach(), candidates.detach(), temperature=tau)
    torch.testing.assert_close(bound, grad.norm(dim=1), atol=1e-12, rtol=1e-10)


def test_gradient_norm_bounds_the_cosine_critic():
    anchors, positives = random_inputs(4, (6, 4), (6, 4))
    tau = 0.2
    (grad,) = torch.autograd.grad(6 * info_nce(anchors, positives, temperature=tau), anchors)
    unit_anchors = anchors.detach() / anchors.detach().norm(dim=1, keepdim=True)
    unit_positives = positives.detach() / positives.detach().norm(dim=1, keepdim=True)
    bound = infonce_gradient_norm_bound(unit_anchors, unit_positives, temperature=tau)
    raw_bound = bound / anchors.detach().norm(dim=1)
    assert (grad.norm(dim=1) <= raw_bound + 1e-12).all()
    assert (bound <= 2 / tau + 1e-12).all()


def test_gradient_norm_vanishes_when_the_positive_dominates():
    basis = 10.0 * torch.eye(3, dtype=torch.float64)
    assert (infonce_gradient_norm_bound(basis, basis, temperature=0.1) < 1e-100).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: effective_rank(torch.zeros(3)), "shape"),
        (lambda: uniformity(torch.zeros(1, 3)), "at least 2"),
        (lambda: alignment(torch.zeros(2, 3), torch.zeros(3, 3)), "same shape"),
        (
            lambda: infonce_gradient_norm_bound(torch.zeros(4, 3), torch.zeros(2, 3), temperature=1.0),
            "M >= 4",
        ),
        (
            lambda: infonce_gradient_norm_bound(torch.zeros(2, 3), torch.zeros(2, 3), temperature=0.0),
            "temperature",
        ),
    ],
)
def test_rejects_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
