"""Exact distances beyond a goal table's radius, and the nearer-child rate of a heuristic."""

import numpy as np
import pytest

from clrl.envs.cube.constants import SOLVED_STATE
from clrl.envs.cube.trajectories import random_states
from clrl.planners import CubeDomain, GoalTable
from clrl.planners.exact_distance import (
    exact_distance,
    nearer_child_picks,
    nearer_child_rate,
    states_at_distance,
    table_distance,
)

DOMAIN = CubeDomain()


@pytest.fixture(scope="module")
def small():
    return GoalTable.build(DOMAIN, SOLVED_STATE, 2, DOMAIN.inverse_action)


@pytest.fixture(scope="module")
def large():
    return GoalTable.build(DOMAIN, SOLVED_STATE, 5, DOMAIN.inverse_action)


def test_search_beyond_a_small_table_gives_the_large_table_s_distances(small, large):
    states = random_states(np.random.default_rng(0), 60, 5)
    expected = table_distance(large, DOMAIN, states)
    assert set(expected) >= {3, 5}, "the walks should end at several distances"
    found = [exact_distance(small, DOMAIN, state, 5) for state in states]
    np.testing.assert_array_equal(found, expected)
    # Too far for the search depth allowed: -1, never a wrong number.
    far = states[expected == 5]
    assert [exact_distance(small, DOMAIN, state, 4) for state in far] == [-1] * len(far)


def test_states_at_distance_are_at_that_distance(small, large):
    rng = np.random.default_rng(1)
    for distance in (2, 4):
        states = states_at_distance(small, DOMAIN, random_states, distance, 20, rng)
        assert len(states) == 20
        assert (table_distance(large, DOMAIN, states) == distance).all()


def test_nearer_child_rate_is_one_for_the_exact_distance_and_zero_for_its_negation(small, large):
    rng = np.random.default_rng(2)

    def exact(states):
        return table_distance(large, DOMAIN, states).astype(float)

    for distance in (1, 3, 4):
        states = states_at_distance(small, DOMAIN, random_states, distance, 15, rng)
        assert nearer_child_rate(small, DOMAIN, exact, states, distance) == 1.0
        # A quarter turn changes the distance by one: the farthest child is never nearer.
        assert nearer_child_rate(small, DOMAIN, lambda s: -exact(s), states, distance) == 0.0


def test_nearer_child_picks_say_which_states_the_heuristic_gets_right(small, large):
    states = states_at_distance(small, DOMAIN, random_states, 3, 12, np.random.default_rng(3))
    # exact on the children of the first 5 states, negated (always the wrong pick) on the others'
    children, _ = DOMAIN.children(states[:5])
    guided = {child.tobytes() for child in children.reshape(-1, states.shape[1])}

    def half_right(batch):
        exact = table_distance(large, DOMAIN, batch).astype(float)
        return np.array([d if s.tobytes() in guided else -d for s, d in zip(batch, exact, strict=True)])

    picks = nearer_child_picks(small, DOMAIN, half_right, states, 3)
    assert picks.dtype == bool and picks.tolist() == [True] * 5 + [False] * 7
    assert nearer_child_rate(small, DOMAIN, half_right, states, 3) == 5 / 12
