"""CRTR loss against a loop reference, the R=1 reduction to InfoNCE, and the batch sampler contract."""

import math

import numpy as np
import pytest
import torch
from losses_reference import assert_same_value_and_gradients, random_inputs, reference_info_nce
from scipy.stats import chisquare

from clrl.losses import (
    contrastive_accuracy,
    crtr_logits,
    crtr_loss,
    future_offset_probabilities,
    info_nce,
    sample_crtr_batch,
)


@pytest.mark.parametrize("kind", ["dot", "neg_sq_l2"])
@pytest.mark.parametrize("direction", ["backward", "forward", "symmetric"])
def test_crtr_loss_matches_loop_reference_with_default_temperature(kind, direction):
    anchors, futures = random_inputs(0, (6, 4), (6, 4))
    loss = crtr_loss(anchors, futures, similarity=kind, direction=direction)
    reference = reference_info_nce(anchors, futures, 1 / math.sqrt(4), kind, direction)
    assert_same_value_and_gradients(loss, reference, (anchors, futures))


def test_default_direction_is_backward():
    anchors, futures = random_inputs(1, (6, 4), (6, 4), requires_grad=False)
    backward = reference_info_nce(anchors, futures, 0.5, "dot", "backward")
    assert float(crtr_loss(anchors, futures, temperature=0.5)) == pytest.approx(float(backward), abs=1e-12)


def encode(states: torch.Tensor) -> torch.Tensor:
    """A fixed random encoder of integer (trajectory, time) states, standing in for a network."""
    generator = torch.Generator().manual_seed(42)
    table = torch.randn(20, 30, 8, dtype=torch.float64, generator=generator)
    return table[states[:, 0], states[:, 1]]


@pytest.mark.parametrize("kind", ["dot", "neg_sq_l2"])
def test_repetition_factor_one_is_plain_infonce(kind):
    rng = np.random.default_rng(3)
    traj, anchor, future = sample_crtr_batch(rng, np.full(20, 30), 16, repetition_factor=1)
    assert len(set(traj.tolist())) == 16  # CRL batch: every row from a different trajectory
    anchor_latents = encode(torch.as_tensor(np.stack([traj, anchor], 1)))
    future_latents = encode(torch.as_tensor(np.stack([traj, future], 1)))
    crtr = crtr_loss(anchor_latents, future_latents, similarity=kind)
    infonce = info_nce(
        anchor_latents, future_latents, temperature=1 / math.sqrt(8), similarity=kind, direction="backward"
    )
    assert float(crtr) == pytest.approx(float(infonce), abs=1e-12)


def test_repeated_trajectories_put_same_trajectory_states_among_the_negatives():
    batch, repeats = 24, 4
    traj, anchor, future = sample_crtr_batch(np.random.default_rng(4), np.full(20, 30), batch, repeats)
    same_trajectory = traj[:, None] == traj[None, :]
    assert same_trajectory.sum() - batch == batch * (repeats - 1)  # in-trajectory negative pairs


def test_sampler_layout_and_index_ranges():
    lengths = np.array([5, 9, 2, 14, 30, 7, 11, 3])
    traj, anchor, future = sample_crtr_batch(np.random.default_rng(5), lengths, 12, repetition_factor=3)
    assert traj.shape == anchor.shape == future.shape == (12,)
    assert traj.dtype == anchor.dtype == future.dtype == np.int64
    blocks = traj.reshape(4, 3)
    assert (blocks == blocks[:, :1]).all()  # R consecutive copies of each trajectory
    assert len(set(blocks[:, 0].tolist())) == 4  # B/R distinct trajectories
    assert (anchor >= 0).all() and (future > anchor).all() and (future < lengths[traj]).all()
    _, anchor0, future0 = sample_crtr_batch(np.random.default_rng(5), np.full(200, 2), 200, 1, min_offset=0)
    assert (future0 >= anchor0).all() and (future0 == anchor0).any() and (future0 < 2).all()


def expected_anchor_offset_frequencies(length: int, gamma: float, min_offset: int) -> np.ndarray:
    """Joint P(anchor, offset): anchor uniform on [0, L-1-min_offset], offset truncated geometric."""
    table = np.zeros((length, length))
    anchors = range(length - min_offset)
    for a in anchors:
        table[a] = future_offset_probabilities(length - 1 - a, gamma, min_offset).tolist() + [0.0] * a
    return table / len(anchors)


@pytest.mark.parametrize("gamma, min_offset", [(0.9, 1), (0.7, 0), (1.0, 1)])
def test_anchor_and_offset_follow_uniform_times_truncated_geometric(gamma, min_offset):
    length, samples = 10, 100_000
    _, anchor, future = sample_crtr_batch(
        np.random.default_rng(6), np.full(samples, length), samples, 1, gamma=gamma, min_offset=min_offset
    )
    observed = np.zeros((length, length))
    np.add.at(observed, (anchor, future - anchor), 1)
    expected = expected_anchor_offset_frequencies(length, gamma, min_offset) * samples
    support = expected > 0
    assert observed[~support].sum() == 0
    statistic, p_value = chisquare(observed[support], expected[support])
    assert p_value > 1e-3, (statistic, p_value)
    assert np.abs(observed - expected).max() / samples < 0.004


def test_future_offset_probabilities_is_a_truncated_geometric():
    probabilities = future_offset_probabilities(5, gamma=0.9, min_offset=1)
    assert probabilities[0] == 0 and probabilities.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(probabilities[2:] / probabilities[1:-1], 0.9)


@pytest.mark.parametrize(
    "lengths, batch, repeats, kwargs, message",
    [
        (np.full(10, 5), 10, 3, {}, "multiple of repetition_factor"),
        (np.full(3, 5), 8, 2, {}, "distinct trajectories"),
        (np.array([5, 1, 5]), 2, 1, {}, "at least 2 states"),
        (np.full(10, 5), 4, 2, {"gamma": 1.5}, "gamma"),
        (np.full(10, 5), 4, 2, {"gamma": 0.0}, "gamma"),
        (np.full(10, 5), 4, 0, {}, "repetition_factor"),
        (np.full(10, 5.0), 4, 2, {}, "integer"),
    ],
)
def test_sampler_rejects_bad_arguments(lengths, batch, repeats, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_crtr_batch(np.random.default_rng(0), lengths, batch, repeats, **kwargs)


def test_crtr_logits_feed_contrastive_accuracy_and_reject_bad_similarity():
    latents = torch.eye(4, dtype=torch.float64)
    assert float(contrastive_accuracy(crtr_logits(latents, latents).T)) == 1.0
    with pytest.raises(ValueError, match="CRTR similarity"):
        crtr_loss(latents, latents, similarity="cosine")
    with pytest.raises(ValueError, match="temperature"):
        crtr_loss(latents, latents, temperature=-1.0)


def test_sampler_requires_a_numpy_generator():
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        sample_crtr_batch(np.random.RandomState(0), np.full(10, 5), 4, 2)
