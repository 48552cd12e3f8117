"""Classical solver: matching heuristic vs brute force, Boxoban levels with replay, generator levels."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from clrl.envs.sokoban.generator import generate_level, generate_levels
from clrl.envs.sokoban.kernels import replay
from clrl.envs.sokoban.levels import load_levels, parse_level
from clrl.envs.sokoban.solver import min_matching_cost, solve

BOXOBAN = Path(__file__).resolve().parents[3] / "shared" / "data" / "boxoban"  # shared/ beside the repo
needs_boxoban = pytest.mark.skipif(not BOXOBAN.exists(), reason="Boxoban levels not present")


def test_matching_cost_equals_brute_force_over_permutations():
    rng = np.random.default_rng(0)
    for size in (1, 2, 3, 4, 5):
        for _ in range(20):
            cost = rng.integers(0, 20, size=(size, size))
            best = min(sum(cost[i, p[i]] for i in range(size)) for p in itertools.permutations(range(size)))
            assert min_matching_cost(cost.astype(np.int64)) == best


def test_tiny_level_push_optimal_solution():
    level = parse_level(
        """
#######
#@ $ .#
#######
""".strip("\n")
    )
    result = solve(level)
    assert result.solved and result.solution == "rRR" and result.pushes == 2
    assert result.to_dict(index=3) | {"seconds": 0} == {
        "index": 3,
        "solved": True,
        "solution": "rRR",
        "length": 3,
        "nodes_expanded": result.nodes_expanded,
        "seconds": 0,
    }


def test_unsolvable_level_is_reported_without_exhausting_the_budget():
    level = parse_level(
        """
#######
#.@  $#
#######
""".strip("\n")
    )
    result = solve(level)
    assert not result.solved and not result.exhausted and result.solution == ""


def test_budget_limits_the_search():
    level = load_levels(BOXOBAN / "medium_valid" / "000.txt")[0] if BOXOBAN.exists() else generate_level(1)
    result = solve(level, budget=3)
    assert not result.solved and result.exhausted and result.nodes_expanded == 3


@needs_boxoban
@pytest.mark.parametrize("split", ["unfiltered_train", "medium_valid"])
def test_solves_boxoban_levels_with_verified_replay(split):
    levels = load_levels(BOXOBAN / split / "000.txt")[:15]
    for level in levels:
        result = solve(level, budget=100_000)
        assert result.solved, level.name
        final, solved = replay(level, result.solution)
        assert solved and sum(ch.isupper() for ch in result.solution) == result.pushes


@needs_boxoban
def test_weighted_search_never_finds_fewer_pushes_than_astar():
    for level in load_levels(BOXOBAN / "medium_valid" / "000.txt")[:5]:
        optimal = solve(level)
        greedy = solve(level, weight=3.0)
        assert greedy.solved and greedy.pushes >= optimal.pushes


def test_generated_levels_are_solvable_and_reproducible():
    levels = generate_levels(12, seed=7)
    again = generate_levels(12, seed=7)
    assert all((a.grid == b.grid).all() for a, b in zip(levels, again, strict=True))
    assert len({a.grid.tobytes() for a in levels}) == 12
    for level in levels:
        assert level.shape == (10, 10) and level.num_boxes == 4
        assert (level.grid != 4).all()  # reverse play leaves no box on a goal
        result = solve(level)
        assert result.solved and replay(level, result.solution)[1]


def test_generator_respects_room_size_and_box_count():
    level = generate_level(3, shape=(7, 9), num_boxes=2)
    assert level.shape == (7, 9) and level.num_boxes == 2
    assert solve(level).solved
