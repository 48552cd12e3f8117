"""Planners on small cube instances against breadth-first ground truth; every solution is replayed."""

import numpy as np
import pytest

from clrl.envs.cube.kernels import apply_sequence, is_solved
from clrl.envs.cube.trajectories import random_states
from clrl.planners import CubeDomain, beam, best_first, breadth_first_distance, greedy, misplaced_stickers

DOMAIN = CubeDomain()


def replays_to_solved(start, actions):
    return bool(is_solved(apply_sequence(start[None], np.asarray(actions, dtype=np.int64)))[0])


@pytest.fixture(scope="module")
def shallow_states():
    return random_states(7, 12, 3)


def test_astar_with_consistent_heuristic_is_optimal(shallow_states):
    for start in shallow_states:
        optimum = breadth_first_distance(DOMAIN, start, max_depth=3)
        result = best_first(DOMAIN, misplaced_stickers, start, budget=20_000, g_weight=1.0)
        assert result.solved and replays_to_solved(start, result.actions)
        assert result.length == optimum


def test_bestfs_and_beam_solve_and_replay(shallow_states):
    for start in shallow_states:
        for result in (
            best_first(DOMAIN, misplaced_stickers, start, budget=5_000, expand_batch=8),
            beam(DOMAIN, misplaced_stickers, start, width=64, max_depth=10),
        ):
            assert result.solved and replays_to_solved(start, result.actions)


def test_budget_is_respected():
    start = random_states(3, 1, 12)[0]
    result = best_first(DOMAIN, misplaced_stickers, start, budget=50, expand_batch=8)
    assert result.nodes_expanded <= 50
    assert not result.solved


def test_greedy_follows_an_exact_heuristic():
    # With the true distance as heuristic, greedy descent takes an optimal path.
    start = random_states(11, 1, 3)[0]
    exact = lambda states: np.array([breadth_first_distance(DOMAIN, s, 4) for s in states], float)  # noqa: E731
    result = greedy(DOMAIN, exact, start, max_moves=10)
    assert result.solved and result.length == breadth_first_distance(DOMAIN, start, 3)
    assert replays_to_solved(start, result.actions)


def test_greedy_never_revisits_and_stops_at_cap():
    start = random_states(5, 1, 20)[0]
    result = greedy(DOMAIN, misplaced_stickers, start, max_moves=30)
    states = [start]
    for action in result.actions:
        states.append(apply_sequence(states[-1][None], np.array([action]))[0])
    keys = {s.tobytes() for s in states}
    assert len(keys) == len(states) and result.length <= 30


def test_solved_start_needs_no_moves():
    solved = random_states(0, 1, 0)[0]
    for result in (
        greedy(DOMAIN, misplaced_stickers, solved, 5),
        best_first(DOMAIN, misplaced_stickers, solved, 5),
        beam(DOMAIN, misplaced_stickers, solved, 4, 5),
    ):
        assert result.solved and result.actions == []
