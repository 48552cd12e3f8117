"""Nearer-child ranking: exact labels of the children, and the loss against a slow reference (its
training run: tests/test_cube_bellman.py, beside the other distance losses')."""

import numpy as np
import pytest
import torch

from clrl.crtr.bellman import scramble_states
from clrl.crtr.child_ranking import (
    child_ranking_loss,
    child_ranking_losses,
    hardest,
    nearer_pick_rate,
    ranking_batch,
)
from clrl.planners import CubeDomain
from clrl.planners.exact_distance import exact_distances, nearer_children, table_distance

DOMAIN = CubeDomain()


def test_exact_distances_search_past_the_table_up_to_each_bound(cube_tables):
    small, large = cube_tables
    states, walk_lengths = scramble_states(np.random.default_rng(0), 200, 5)
    exact = table_distance(large, DOMAIN, states)
    np.testing.assert_array_equal(exact_distances(small, DOMAIN, states, walk_lengths), exact)
    # a bound below the distance: -1, as beyond the table
    too_low = exact_distances(small, DOMAIN, states, np.full(len(states), 3))
    np.testing.assert_array_equal(too_low, np.where(exact <= 3, exact, -1))


def test_nearer_children_are_the_children_one_move_nearer(cube_tables):
    small, large = cube_tables
    states, _ = scramble_states(np.random.default_rng(1), 100, 4, min_depth=2)
    distances = table_distance(large, DOMAIN, states)
    states, distances = states[distances > 0], distances[distances > 0]
    assert (distances > small.radius + 1).any()  # some children are found by search, not the table
    children, nearer = nearer_children(small, DOMAIN, states, distances)
    child_exact = table_distance(large, DOMAIN, children.reshape(-1, 54)).reshape(nearer.shape)
    # a quarter turn changes the distance by exactly one
    assert np.isin(child_exact - distances[:, None], [-1, 1]).all()
    np.testing.assert_array_equal(nearer, child_exact == distances[:, None] - 1)
    assert nearer.any(axis=1).all()


def test_ranking_batch_drops_walks_that_end_solved_and_labels_the_rest(cube_tables):
    small, large = cube_tables
    children, nearer = ranking_batch(np.random.default_rng(2), small, 64, 1, 4)
    assert children.shape == (len(nearer), 12, 54) and 0 < len(nearer) <= 64
    assert nearer.any(axis=1).all()
    assert (table_distance(large, DOMAIN, children[nearer]) <= 3).all()  # walks of at most 4 moves


def slow_child_ranking_loss(distances: np.ndarray, nearer: np.ndarray, temperature: float) -> float:
    total = 0.0
    for row, positive in zip(distances, nearer, strict=True):
        weights = [np.exp(-d / temperature) for d in row]
        total += -np.log(sum(w for w, p in zip(weights, positive, strict=True) if p) / sum(weights))
    return total / len(distances)


def test_child_ranking_loss_matches_the_slow_reference():
    rng = np.random.default_rng(3)
    distances = rng.normal(10, 2, size=(16, 12))
    nearer = rng.random((16, 12)) < 0.2
    nearer[np.arange(16), rng.integers(0, 12, 16)] = True
    for temperature in (0.5, 2.0):
        got = child_ranking_loss(torch.tensor(distances), torch.tensor(nearer), temperature)
        assert got.item() == pytest.approx(slow_child_ranking_loss(distances, nearer, temperature), rel=1e-9)


def test_child_ranking_loss_vanishes_when_the_nearer_children_score_far_lowest():
    nearer = torch.zeros(2, 12, dtype=torch.bool)
    nearer[0, 3] = nearer[1, [0, 5]] = True
    distances = torch.where(nearer, 5.0, 50.0).requires_grad_()
    assert child_ranking_loss(distances, nearer, 0.5).item() < 1e-30
    assert nearer_pick_rate(distances, nearer).item() == 1.0
    # a nearer child scored above its siblings is pushed down, the siblings up
    distances = torch.where(nearer, 12.0, 10.0).requires_grad_()
    child_ranking_loss(distances, nearer, 0.5).backward()
    assert (distances.grad[nearer] > 0).all() and (distances.grad[~nearer] < 0).all()
    assert nearer_pick_rate(distances.detach(), nearer).item() == 0.0


def test_mining_keeps_the_states_the_ranking_gets_most_wrong():
    nearer = torch.zeros(4, 12, dtype=torch.bool)
    nearer[:, 0] = True
    # the nearer child scored 1, 2, 3 and 4 moves above its siblings' 10: the last state is the worst
    distances = torch.full((4, 12), 10.0)
    distances[:, 0] = torch.tensor([11.0, 12.0, 13.0, 14.0])
    losses = child_ranking_losses(distances, nearer, 0.5)
    assert losses.shape == (4,) and (losses.diff() > 0).all()
    assert losses.mean().item() == pytest.approx(child_ranking_loss(distances, nearer, 0.5).item())
    assert sorted(hardest(losses, 2).tolist()) == [2, 3]
    assert sorted(hardest(losses, 9).tolist()) == [0, 1, 2, 3]
