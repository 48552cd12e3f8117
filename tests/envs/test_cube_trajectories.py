"""CRTR random-walk trajectories: shapes, ending solved, move consistency, no immediate undo."""

import numpy as np
import pytest

from clrl.envs.cube import (
    INVERSE_MOVE,
    SOLVED_STATE,
    apply_moves,
    is_solved,
    is_valid_state,
    random_states,
    random_walk_trajectories,
)


def test_trajectories_end_solved_and_follow_their_moves():
    states, moves = random_walk_trajectories(0, 300, 20)
    assert states.shape == (300, 21, 54) and states.dtype == np.uint8
    assert moves.shape == (300, 20) and moves.min() >= 0 and moves.max() < 12
    assert (states[:, -1] == SOLVED_STATE).all()
    for step in range(20):
        assert np.array_equal(apply_moves(states[:, step], moves[:, step]), states[:, step + 1])
    assert not is_solved(states[:, -2]).any()  # one quarter turn from solved is never solved


def test_walks_never_undo_the_previous_turn_and_use_all_turns_evenly():
    _, moves = random_walk_trajectories(1, 2000, 20)
    assert not (moves[:, 1:] == INVERSE_MOVE[moves[:, :-1]]).any()
    frequencies = np.bincount(moves.ravel(), minlength=12) / moves.size
    assert np.allclose(frequencies, 1 / 12, atol=0.01)


def test_same_seed_same_trajectories_and_generators_are_accepted():
    a = random_walk_trajectories(5, 50, 10)
    b = random_walk_trajectories(np.random.default_rng(5), 50, 10)
    assert np.array_equal(a.states, b.states) and np.array_equal(a.moves, b.moves)
    assert not np.array_equal(a.states, random_walk_trajectories(6, 50, 10).states)


def test_trajectory_states_are_valid_cubes():
    states = random_walk_trajectories(2, 20, 15).states
    assert all(is_valid_state(state) for state in states.reshape(-1, 54))


def test_edge_cases_and_random_states():
    empty = random_walk_trajectories(0, 4, 0)
    assert empty.states.shape == (4, 1, 54) and is_solved(empty.states[:, 0]).all()
    assert empty.moves.shape == (4, 0)
    starts = random_states(3, 7, 12)
    assert np.array_equal(starts, random_walk_trajectories(3, 7, 12).states[:, 0])
    with pytest.raises(ValueError):
        random_walk_trajectories(0, -1, 5)
