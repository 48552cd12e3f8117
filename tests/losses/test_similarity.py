"""pairwise_similarity against per-pair formulas, and its argument checks."""

import pytest
import torch
from losses_reference import reference_similarity

from clrl.losses import SIMILARITY_KINDS, pairwise_similarity


@pytest.mark.parametrize("kind", SIMILARITY_KINDS)
def test_matches_per_pair_formula(kind):
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(4, 8, dtype=torch.float64, generator=generator)  # 8: IQE's default components
    b = torch.randn(5, 8, dtype=torch.float64, generator=generator)
    matrix = pairwise_similarity(a, b, kind)
    assert matrix.shape == (4, 5)
    for i in range(4):
        for j in range(5):
            expected = float(reference_similarity(a[i], b[j], kind))
            assert float(matrix[i, j]) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("kind", ["neg_sq_l2", "neg_l2"])
def test_distance_gradients_are_finite_for_identical_rows(kind):
    a = torch.tensor([[1.0, 2.0], [0.5, -1.0]], dtype=torch.float64, requires_grad=True)
    similarity = pairwise_similarity(a, a, kind)
    assert torch.all(similarity.diagonal() == 0)
    similarity.sum().backward()
    assert torch.isfinite(a.grad).all()


@pytest.mark.parametrize(
    "a, b, kind, message",
    [
        (torch.zeros(3), torch.zeros(3, 2), "dot", "shape"),
        (torch.zeros(3, 2), torch.zeros(3, 4), "dot", "same dim"),
        (torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, 2), "dot", "floating"),
        (torch.zeros(3, 2), torch.zeros(3, 2), "manhattan", "unknown similarity"),
    ],
)
def test_rejects_bad_arguments(a, b, kind, message):
    with pytest.raises(ValueError, match=message):
        pairwise_similarity(a, b, kind)
