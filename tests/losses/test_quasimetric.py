"""Quasimetric distances (MRN, IQE) against slow per-pair references, and their defining properties."""

import pytest
import torch
from losses_reference import reference_iqe, reference_mrn

from clrl.losses.quasimetric import iqe_distance, mrn_distance
from clrl.losses.similarity import pairwise_similarity


@pytest.fixture
def points():
    return torch.randn(7, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_iqe_matches_the_interval_union_reference(points):
    got = iqe_distance(points, points[:5], components=4, alpha=0.3)
    expected = torch.tensor(
        [[reference_iqe(x, y, 4, 0.3) for y in points[:5]] for x in points], dtype=got.dtype
    )
    torch.testing.assert_close(got, expected)


def test_mrn_matches_the_reference(points):
    got = mrn_distance(points, points[:5])
    expected = torch.tensor([[reference_mrn(x, y) for y in points[:5]] for x in points], dtype=got.dtype)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("distance", [mrn_distance, iqe_distance])
def test_quasimetric_properties(distance):
    x = torch.randn(40, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    d = distance(x, x)
    assert torch.allclose(d.diag(), torch.zeros(40, dtype=d.dtype))
    assert (d >= 0).all()
    assert not torch.allclose(d, d.T), "both are asymmetric"
    # triangle inequality over every triple: d(i, k) <= d(i, j) + d(j, k)
    assert (d[:, None, :] <= d[:, :, None] + d[None, :, :] + 1e-9).all()


def test_similarity_kinds_are_minus_the_distance_and_have_finite_gradients(points):
    a = points.clone().requires_grad_(True)
    for kind, distance in (("neg_mrn", mrn_distance), ("neg_iqe", iqe_distance)):
        sim = pairwise_similarity(a, points, kind)
        torch.testing.assert_close(sim, -distance(points, points))
        (grad,) = torch.autograd.grad(sim.sum(), a)
        assert torch.isfinite(grad).all()


def test_bad_dims_are_refused():
    with pytest.raises(ValueError, match="even embedding dim"):
        mrn_distance(torch.zeros(2, 5), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="multiple of components"):
        iqe_distance(torch.zeros(2, 12), torch.zeros(2, 12), components=8)
