"""The slope-normalised ensemble of ``benchmarks/cube_greedy_reach.py --ensemble``."""

from __future__ import annotations

import numpy as np
from benchmark_scripts import load_benchmark

SlopeNormalisedSum = load_benchmark("cube_greedy_reach").SlopeNormalisedSum


def test_each_member_weighs_the_same_per_move() -> None:
    # the "states" are their own exact distances; the members read them at different scales and offsets
    def steep(states: np.ndarray) -> np.ndarray:
        return 5.0 * states + 3.0

    def shallow(states: np.ndarray) -> np.ndarray:
        return 0.1 * states

    ensemble = SlopeNormalisedSum([steep, shallow], np.full(10, 4.0), np.full(10, 7.0), moves_apart=3)

    np.testing.assert_allclose(ensemble.slopes, [5.0, 0.1])
    np.testing.assert_allclose(np.diff(ensemble(np.arange(12.0))), 2.0)  # one unit per move from each


def test_a_small_scale_member_is_not_outvoted_by_scale() -> None:
    # two candidate states, 0 and 1, and two calibration states, 2 (near) and 3 (one move farther);
    # the large-scale member thinks state 1 is 1 move farther, the small-scale one 2 moves nearer
    large_moves = np.array([0.0, 1.0, 0.0, 1.0])
    small_moves = np.array([2.0, 0.0, 0.0, 1.0])

    def large(states: np.ndarray) -> np.ndarray:
        return 100.0 * large_moves[states]

    def small(states: np.ndarray) -> np.ndarray:
        return 0.01 * small_moves[states]

    candidates = np.array([0, 1])
    assert (large(candidates) + small(candidates)).argmin() == 0  # the plain sum follows the large scale
    ensemble = SlopeNormalisedSum([large, small], np.array([2]), np.array([3]), moves_apart=1)
    assert ensemble(candidates).argmin() == 1  # normalised: 1 move against 2, the small member wins
