"""InfoNCE, NT-Xent and MoCo against loop references written from the papers' formulas."""

import math

import pytest
import torch
from losses_reference import (
    assert_same_value_and_gradients,
    log_sum_exp,
    random_inputs,
    reference_info_nce,
    reference_similarity,
)

from clrl.losses import (
    InfoNCELoss,
    MoCoLoss,
    MoCoQueue,
    contrastive_accuracy,
    info_nce,
    info_nce_logits,
    nt_xent,
)


def random_pair(seed: int, n: int = 5, dim: int = 3):
    return random_inputs(seed, (n, dim), (n, dim))


@pytest.mark.parametrize("kind", ["cosine", "dot", "neg_sq_l2"])
@pytest.mark.parametrize("direction", ["forward", "backward", "symmetric"])
def test_info_nce_matches_loop_reference(kind, direction):
    anchors, positives = random_pair(seed=1)
    loss = info_nce(anchors, positives, temperature=0.7, similarity=kind, direction=direction)
    reference = reference_info_nce(anchors, positives, 0.7, kind, direction)
    assert_same_value_and_gradients(loss, reference, (anchors, positives))


def test_info_nce_with_queue_matches_loop_reference():
    anchors, positives = random_pair(seed=2)
    queue = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    loss = info_nce(anchors, positives, temperature=0.5, similarity="dot", negatives_queue=queue)
    reference = reference_info_nce(anchors, positives, 0.5, "dot", "forward", queue)
    assert_same_value_and_gradients(loss, reference, (anchors, positives))


def test_info_nce_at_coincident_positives_and_orthogonal_negatives():
    """Cosine InfoNCE with u_i = v_i = e_i has the closed form log(1 + (N-1) e^{-1/tau})."""
    n, tau = 4, 0.5
    basis = torch.eye(2 * n, dtype=torch.float64)
    anchors = basis[:n]
    loss = info_nce(anchors, anchors, temperature=tau)
    assert float(loss) == pytest.approx(math.log(1 + (n - 1) * math.exp(-1 / tau)), abs=1e-12)
    # Tilting every positive by theta into unused dimensions keeps all negatives orthogonal and
    # lowers the positive similarity to cos(theta): the loss grows with theta.
    losses = []
    for theta in torch.linspace(0, math.pi / 2, 7, dtype=torch.float64):
        tilted = torch.cos(theta) * anchors + torch.sin(theta) * basis[n:]
        losses.append(float(info_nce(anchors, tilted, temperature=tau)))
    assert losses[0] == pytest.approx(float(loss))
    assert all(later > earlier for earlier, later in zip(losses[:-1], losses[1:], strict=True))
    collapsed = torch.ones(n, 2 * n, dtype=torch.float64)
    assert float(info_nce(collapsed, collapsed, temperature=tau)) == pytest.approx(math.log(n))
    # Orthogonal is not the global optimum: negatives at cosine -1/(N-1) (a regular simplex) do better.
    simplex = anchors - anchors.mean(0)
    assert float(info_nce(simplex, simplex, temperature=tau)) < float(loss)


def test_info_nce_is_invariant_to_permuting_the_batch():
    anchors, positives = random_inputs(5, (7, 3), (7, 3), requires_grad=False)
    permutation = torch.randperm(7, generator=torch.Generator().manual_seed(6))
    for direction in ("forward", "backward", "symmetric"):
        original = info_nce(anchors, positives, temperature=0.3, direction=direction)
        permuted = info_nce(
            anchors[permutation], positives[permutation], temperature=0.3, direction=direction
        )
        assert float(permuted) == pytest.approx(float(original), abs=1e-12)


def reference_nt_xent(z1, z2, temperature):
    views = list(z1) + list(z2)
    n = z1.shape[0]
    terms = []
    for k in range(2 * n):
        partner = (k + n) % (2 * n)
        logits = [reference_similarity(views[k], views[m], "cosine") / temperature for m in range(2 * n)]
        terms.append(-(logits[partner] - log_sum_exp([logits[m] for m in range(2 * n) if m != k])))
    return sum(terms) / (2 * n)


def test_nt_xent_matches_loop_reference():
    z1, z2 = random_pair(seed=7, n=4)
    loss = nt_xent(z1, z2, temperature=0.5)
    assert_same_value_and_gradients(loss, reference_nt_xent(z1, z2, 0.5), (z1, z2))


def test_nt_xent_uses_two_n_minus_two_negatives():
    """With all embeddings orthogonal, each row's softmax spreads over 1 positive + 2N-2 negatives."""
    n, tau = 3, 0.4
    basis = torch.eye(2 * n, dtype=torch.float64)
    z1, z2 = basis[:n], basis[n:]
    expected = math.log(2 * n - 1)  # all 2N-1 candidates tie at logit 0
    assert float(nt_xent(z1, z2, temperature=tau)) == pytest.approx(expected, abs=1e-12)


def test_contrastive_accuracy_counts_rows_whose_positive_wins():
    logits = torch.tensor([[3.0, 1.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    assert float(contrastive_accuracy(logits)) == pytest.approx(2 / 3)
    assert float(contrastive_accuracy(logits.T)) == pytest.approx(2 / 3)
    queue_logits = torch.cat([logits, torch.full((3, 2), 4.0)], dim=1)
    assert float(contrastive_accuracy(queue_logits)) == pytest.approx(1 / 3)


def test_moco_queue_is_a_fixed_size_fifo():
    queue = MoCoQueue(size=5, dim=1)
    assert queue.negatives.shape == (0, 1)
    queue.dequeue_and_enqueue(torch.tensor([[1.0], [2.0], [3.0]]))
    assert sorted(queue.negatives.flatten().tolist()) == [1.0, 2.0, 3.0]
    queue.dequeue_and_enqueue(torch.tensor([[4.0], [5.0], [6.0]]))  # wraps, drops the oldest (1)
    assert sorted(queue.negatives.flatten().tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    queue.dequeue_and_enqueue(torch.arange(10.0, 17.0)[:, None])  # larger than the queue
    assert sorted(queue.negatives.flatten().tolist()) == [12.0, 13.0, 14.0, 15.0, 16.0]
    restored = MoCoQueue(size=5, dim=1)
    restored.load_state_dict(queue.state_dict())
    torch.testing.assert_close(restored.negatives, queue.negatives)
    with pytest.raises(ValueError, match="dim"):
        queue.dequeue_and_enqueue(torch.zeros(2, 3))


def test_moco_loss_uses_queued_keys_as_negatives():
    generator = torch.Generator().manual_seed(8)
    q1, k1, q2, k2 = (torch.randn(4, 3, dtype=torch.float64, generator=generator) for _ in range(4))
    moco = MoCoLoss(dim=3, queue_size=8, temperature=0.2).double()
    first = moco(q1, k1)  # empty queue: in-batch negatives stand in
    assert float(first) == pytest.approx(float(info_nce(q1, k1, temperature=0.2)), abs=1e-12)
    second = moco(q2, k2)
    expected = reference_info_nce_positive_and_queue(q2, k2, k1, 0.2)
    assert float(second) == pytest.approx(float(expected), abs=1e-10)
    moco.eval()
    moco(q2, k2)
    assert int(moco.queue.count) == 8  # eval mode leaves the queue alone


def reference_info_nce_positive_and_queue(queries, keys, queue, temperature):
    terms = []
    for i in range(queries.shape[0]):
        logits = [reference_similarity(queries[i], keys[i], "cosine") / temperature]
        logits += [reference_similarity(queries[i], k, "cosine") / temperature for k in queue]
        terms.append(-(logits[0] - log_sum_exp(logits)))
    return sum(terms) / len(terms)


def test_in_batch_negatives_flag_keeps_positive_on_the_diagonal():
    anchors, positives = random_pair(seed=9)
    logits = info_nce_logits(anchors, positives, temperature=1.0, similarity="dot", in_batch_negatives=False)
    assert torch.isinf(logits.fill_diagonal_(0.0)).sum() == 5 * 4


def test_learned_temperature_receives_gradient():
    anchors, positives = random_pair(seed=10)
    module = InfoNCELoss(temperature=0.1, learn_temperature=True).double()
    module(anchors, positives).backward()
    assert module.log_temperature.grad is not None and module.log_temperature.grad != 0
    assert float(module.temperature.detach()) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=float("nan")), "temperature"),
        (dict(temperature=0.1, direction="sideways"), "direction"),
        (dict(temperature=0.1, similarity="manhattan"), "similarity"),
        (dict(temperature=0.1, direction="backward", negatives_queue=torch.zeros(2, 3)), "forward"),
    ],
)
def test_info_nce_rejects_bad_arguments(kwargs, message):
    anchors, positives = random_pair(seed=11)
    with pytest.raises(ValueError, match=message):
        info_nce(anchors, positives, **kwargs)


def test_info_nce_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        info_nce(torch.zeros(4, 3), torch.zeros(5, 3), temperature=0.1)
