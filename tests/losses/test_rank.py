"""Rank-N-Contrast against the paper's triple loop, including label ties and vector labels."""

import pytest
import torch
from losses_reference import assert_same_value_and_gradients, log_sum_exp, random_inputs, reference_similarity

from clrl.losses import RankNContrastLoss, rank_n_contrast


def reference_rank_n_contrast(features, labels, temperature):
    n = features.shape[0]
    labels = labels.reshape(n, -1)

    def label_distance(i, k):
        return float((labels[i] - labels[k]).abs().sum())

    def s(i, k):
        return reference_similarity(features[i], features[k], "neg_l2") / temperature

    terms = []
    for i in range(n):
        for j in range(n):
            if j == i:
                continue
            negatives = [s(i, k) for k in range(n) if k != i and label_distance(i, k) >= label_distance(i, j)]
            terms.append(-(s(i, j) - log_sum_exp(negatives)))
    return sum(terms) / len(terms)


@pytest.mark.parametrize(
    "labels",
    [
        torch.tensor([0.3, 2.5, -1.0, 0.7, 4.2, 1.1]),  # distinct distances
        torch.tensor([1.0, 2.0, 2.0, 0.0, 1.0, 3.0]),  # many ties
        torch.tensor(
            [[0.0, 1.0], [1.0, 0.5], [2.0, 2.0], [0.5, 0.0], [1.0, 1.0], [3.0, 0.0]]
        ),  # vector labels
    ],
)
def test_rank_n_contrast_matches_triple_loop(labels):
    (features,) = random_inputs(0, (6, 3))
    loss = rank_n_contrast(features, labels, temperature=2.0)
    assert_same_value_and_gradients(loss, reference_rank_n_contrast(features, labels, 2.0), (features,))


def test_invariant_to_batch_permutation_and_label_shift():
    (features,) = random_inputs(1, (8, 4), requires_grad=False)
    labels = torch.linspace(0, 7, 8, dtype=torch.float64) ** 1.5
    permutation = torch.randperm(8, generator=torch.Generator().manual_seed(2))
    loss = rank_n_contrast(features, labels, temperature=1.0)
    assert float(rank_n_contrast(features[permutation], labels[permutation])) == pytest.approx(
        float(rank_n_contrast(features, labels))
    )
    assert float(rank_n_contrast(features, labels + 10.0, temperature=1.0)) == pytest.approx(float(loss))


def test_features_ordered_like_labels_score_better_than_shuffled():
    labels = torch.arange(10, dtype=torch.float64)
    ordered = torch.stack([labels, torch.zeros(10, dtype=torch.float64)], dim=1)
    shuffled = ordered[torch.randperm(10, generator=torch.Generator().manual_seed(3))]
    assert float(rank_n_contrast(ordered, labels)) < float(rank_n_contrast(shuffled, labels))


def test_two_view_module_concatenates_views_and_labels():
    z1, z2 = random_inputs(4, (4, 3), (4, 3), requires_grad=False)
    labels = torch.tensor([0.0, 1.0, 5.0, 2.0])
    module = RankNContrastLoss(temperature=2.0)
    expected = rank_n_contrast(torch.cat([z1, z2]), torch.cat([labels, labels]), temperature=2.0)
    assert float(module(z1, z2, labels=labels)) == pytest.approx(float(expected))
    with pytest.raises(ValueError, match="labels"):
        module(z1, z2)


@pytest.mark.parametrize(
    "features, labels, message",
    [
        (torch.zeros(1, 3), torch.zeros(1), "at least 2"),
        (torch.zeros(4, 3), torch.zeros(5), "labels must have shape"),
        (torch.zeros(4, 3), [0.0, 1.0, 2.0, 3.0], "torch.Tensor"),
    ],
)
def test_rejects_bad_arguments(features, labels, message):
    with pytest.raises(ValueError, match=message):
        rank_n_contrast(features, labels)
