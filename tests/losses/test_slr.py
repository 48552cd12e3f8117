"""Soft-label refinement + momentum mixup against a per-sample loop reference."""

import pytest
import torch
from losses_reference import assert_same_value_and_gradients, log_sum_exp, random_inputs, reference_similarity

from clrl.losses import SLRLoss, info_nce, refined_soft_targets, slr_loss


def unit(vector):
    return vector / vector.pow(2).sum().sqrt()


def reference_slr(queries, keys, queue, temperature, label_temperature, alpha, lam=None, permutation=None):
    n = queries.shape[0]
    candidates = [unit(k) for k in keys] + [unit(q) for q in queue]
    detached = [c.detach() for c in candidates]
    targets = []
    for i in range(n):
        label_logits = [reference_similarity(detached[i], c, "cosine") / label_temperature for c in detached]
        normaliser = log_sum_exp(label_logits)
        targets.append(
            [(1 - alpha) * (i == j) + alpha * torch.exp(v - normaliser) for j, v in enumerate(label_logits)]
        )
    rows = [unit(q) for q in queries]
    if lam is not None:
        rows = [lam[i] * rows[i] + (1 - lam[i]) * candidates[int(permutation[i])] for i in range(n)]
        targets = [
            [
                lam[i] * targets[i][j] + (1 - lam[i]) * targets[int(permutation[i])][j]
                for j in range(len(candidates))
            ]
            for i in range(n)
        ]
    loss = 0.0
    for i in range(n):
        logits = [reference_similarity(rows[i], c, "cosine") / temperature for c in candidates]
        normaliser = log_sum_exp(logits)
        loss = loss - sum(targets[i][j] * (logits[j] - normaliser) for j in range(len(candidates)))
    return loss / n


@pytest.mark.parametrize("with_queue", [False, True])
@pytest.mark.parametrize("with_mixup", [False, True])
def test_slr_loss_matches_loop_reference(with_queue, with_mixup):
    queries, keys, queue = random_inputs(0, (4, 3), (4, 3), (3, 3))
    queue = queue.detach() if with_queue else None
    mixup = {}
    if with_mixup:
        mixup = dict(
            mixup_lambda=torch.tensor([0.2, 0.9, 0.5, 1.0], dtype=torch.float64),
            permutation=torch.tensor([2, 0, 3, 1]),
        )
    loss = slr_loss(
        queries, keys, temperature=0.3, label_temperature=0.4, alpha=0.6, negatives_queue=queue, **mixup
    )
    reference = reference_slr(
        queries,
        keys,
        [] if queue is None else queue,
        0.3,
        0.4,
        0.6,
        mixup.get("mixup_lambda"),
        mixup.get("permutation"),
    )
    assert_same_value_and_gradients(loss, reference, (queries, keys))


def test_alpha_zero_without_mixup_is_infonce():
    queries, keys, queue = random_inputs(1, (5, 3), (5, 3), (4, 3), requires_grad=False)
    soft = slr_loss(queries, keys, temperature=0.2, alpha=0.0, negatives_queue=queue)
    hard = info_nce(queries, keys, temperature=0.2, negatives_queue=queue)
    assert float(soft) == pytest.approx(float(hard), abs=1e-12)


def test_targets_are_distributions_and_mixup_with_lambda_one_is_plain():
    queries, keys = random_inputs(2, (5, 3), (5, 3), requires_grad=False)
    targets = refined_soft_targets(keys, keys, label_temperature=0.1, alpha=0.7)
    torch.testing.assert_close(targets.sum(1), torch.ones(5, dtype=torch.float64))
    assert (targets.argmax(1) == torch.arange(5)).all()  # the positive keeps the largest weight
    ones = torch.ones(5, dtype=torch.float64)
    mixed = slr_loss(queries, keys, mixup_lambda=ones, permutation=torch.tensor([4, 3, 2, 1, 0]))
    assert float(mixed) == pytest.approx(float(slr_loss(queries, keys)), abs=1e-12)


def test_module_is_reproducible_and_fills_its_queue():
    queries, keys = random_inputs(3, (6, 4), (6, 4), requires_grad=False)
    first, second = (
        SLRLoss(dim=4, queue_size=10, seed=7).double(),
        SLRLoss(dim=4, queue_size=10, seed=7).double(),
    )
    assert float(first(queries, keys)) == pytest.approx(float(second(queries, keys)))
    assert int(first.queue.count) == 6
    plain = slr_loss(queries, keys)
    no_mixup = SLRLoss(dim=4, mixup_weight=0.0).double()
    assert float(no_mixup(queries, keys)) == pytest.approx(float(plain))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(alpha=1.5), "alpha"),
        (dict(label_temperature=0.0), "label_temperature"),
        (dict(mixup_lambda=torch.ones(4, dtype=torch.float64)), "both"),
        (dict(mixup_lambda=torch.full((4,), 2.0), permutation=torch.arange(4)), r"\[0, 1\]"),
        (dict(mixup_lambda=torch.ones(4), permutation=torch.tensor([0, 0, 1, 2])), "permutation"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    queries, keys = random_inputs(4, (4, 3), (4, 3), requires_grad=False)
    with pytest.raises(ValueError, match=message):
        slr_loss(queries, keys, **kwargs)
