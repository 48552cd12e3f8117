"""Feature-norm OOD score and the outlier-exposure norm penalty against loop references."""

import math

import pytest
import torch
from losses_reference import assert_same_value_and_gradients, random_inputs

from clrl.losses import feature_norm_score, outlier_exposure_norm_penalty


def reference_penalty(inside, outside, margin_in, margin_out):
    def norm(row):
        return sum(row[c] ** 2 for c in range(len(row))).sqrt()

    in_terms = [torch.clamp(margin_in - norm(row), min=0) ** 2 for row in inside]
    out_terms = [torch.clamp(norm(row) - margin_out, min=0) ** 2 for row in outside]
    return sum(in_terms) / len(in_terms) + sum(out_terms) / len(out_terms)


def test_score_is_the_l2_norm():
    features = torch.tensor([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]])
    torch.testing.assert_close(feature_norm_score(features), torch.tensor([5.0, 0.0, 1.0]))
    assert math.isclose(float(feature_norm_score(2 * features)[0]), 10.0)


@pytest.mark.parametrize("margin_out", [None, 1.2])
def test_penalty_matches_loop_reference(margin_out):
    inside, outside = random_inputs(0, (5, 3), (4, 3))
    penalty = outlier_exposure_norm_penalty(inside, outside, margin_in=2.0, margin_out=margin_out)
    reference = reference_penalty(inside, outside, 2.0, 2.0 if margin_out is None else margin_out)
    assert_same_value_and_gradients(penalty, reference, (inside, outside))


def test_penalty_vanishes_on_the_right_sides_and_pushes_norms_apart():
    inside = torch.tensor([[3.0, 0.0], [0.0, 2.5]])
    outside = torch.tensor([[0.5, 0.0], [0.0, 0.1]])
    assert float(outlier_exposure_norm_penalty(inside, outside, margin_in=2.0, margin_out=1.0)) == 0.0
    weak_inside = torch.tensor([[1.0, 0.0]], requires_grad=True)
    strong_outside = torch.tensor([[0.0, 3.0]], requires_grad=True)
    outlier_exposure_norm_penalty(weak_inside, strong_outside, margin_in=2.0).backward()
    assert weak_inside.grad[0, 0] < 0  # descending the penalty grows the in-distribution norm
    assert strong_outside.grad[0, 1] > 0  # and shrinks the outlier norm


def test_penalty_rejects_bad_margins():
    inside, outside = torch.ones(2, 3), torch.ones(2, 3)
    with pytest.raises(ValueError, match="margin_out"):
        outlier_exposure_norm_penalty(inside, outside, margin_in=1.0, margin_out=2.0)
    with pytest.raises(ValueError, match="margin_in"):
        outlier_exposure_norm_penalty(inside, outside, margin_in=-1.0)
    with pytest.raises(ValueError, match="same dim"):
        outlier_exposure_norm_penalty(inside, torch.ones(2, 4), margin_in=1.0)
