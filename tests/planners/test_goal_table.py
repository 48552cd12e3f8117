"""The goal table against known counts and breadth-first distances; searches that finish along it."""

import numpy as np
import pytest

from clrl.envs.cube.constants import SOLVED_STATE
from clrl.envs.cube.kernels import apply_sequence, hash_states, is_solved
from clrl.envs.cube.trajectories import random_states
from clrl.planners import (
    CubeDomain,
    GoalTable,
    beam,
    best_first,
    breadth_first_distance,
    greedy,
    misplaced_stickers,
)

DOMAIN = CubeDomain()


@pytest.fixture(scope="module")
def table():
    return GoalTable.build(DOMAIN, SOLVED_STATE, 4, DOMAIN.inverse_action)


def replays_to_solved(start, actions):
    return bool(is_solved(apply_sequence(start[None], np.asarray(actions, dtype=np.int64)))[0])


def test_counts_per_distance_are_the_cube_s(table):
    # Quarter-turn metric: states at distance 0..4 (OEIS A080602).
    assert np.bincount(table.distances).tolist() == [1, 12, 114, 1068, 10011]
    assert len(np.unique(table.keys)) == len(table)


def test_building_in_small_chunks_gives_the_same_table(table):
    # chunks of 7 parents split every layer past the first, and remake each frontier from its parents
    chunked = GoalTable.build(DOMAIN, SOLVED_STATE, 4, DOMAIN.inverse_action, chunk_size=7)
    for field in ("keys", "distances", "actions"):
        np.testing.assert_array_equal(getattr(chunked, field), getattr(table, field))


def test_distances_and_paths_home_are_exact(table):
    for start in random_states(21, 20, 4):
        row = table.lookup(hash_states(start[None]))[0]
        assert row >= 0
        path = table.path_home(DOMAIN, start)
        assert len(path) == table.distances[row] == breadth_first_distance(DOMAIN, start, 4)
        assert replays_to_solved(start, path)


def test_states_beyond_the_radius_are_absent(table):
    far = random_states(3, 50, 40)
    far = far[[breadth_first_distance(DOMAIN, s, 4) is None for s in far]]
    assert len(far) > 0
    assert (table.lookup(hash_states(far)) == -1).all()
    assert table.finish(DOMAIN, far, hash_states(far)) is None


def test_lookup_finds_each_key_wherever_it_stands_in_the_batch(table):
    # sorted_rows searches the keys in key order: rows must still come back in the order asked,
    # with repeats and absent keys (-1) in place, against a plain per-key search
    rng = np.random.default_rng(0)
    absent = rng.integers(0, np.iinfo(np.int64).max, 50, dtype=np.int64).astype(table.keys.dtype)
    absent = absent[~np.isin(absent, table.keys)]
    keys = rng.permutation(np.concatenate([rng.choice(table.keys, 200), absent, table.keys[[0, -1]]]))
    expected = [int(np.flatnonzero(table.keys == key)[0]) if key in table.keys else -1 for key in keys]
    assert table.lookup(keys).tolist() == expected
    assert table.lookup(keys[:0]).shape == (0,)


def test_finish_picks_the_state_nearest_the_goal(table):
    near = apply_sequence(SOLVED_STATE[None], np.array([0, 2]))[0]  # U R: two moves out
    nearer = apply_sequence(SOLVED_STATE[None], np.array([4]))[0]  # F: one move out
    batch = np.stack([near, nearer])
    index, path = table.finish(DOMAIN, batch, hash_states(batch))
    assert index == 1 and path == [5]  # F' undoes F


def test_searches_finish_along_the_table_and_replay(table):
    # 6-move scrambles: two moves of search reach the radius-4 table.
    for start in random_states(8, 6, 6):
        for result in (
            beam(DOMAIN, misplaced_stickers, start, width=256, max_depth=6, goal_table=table),
            best_first(DOMAIN, misplaced_stickers, start, budget=2_000, expand_batch=16, goal_table=table),
        ):
            assert result.solved and replays_to_solved(start, result.actions)


def test_greedy_steps_into_the_table_and_finishes(table):
    def table_distance(states):  # exact inside the table, "farther" outside
        rows = table.lookup(hash_states(states))
        return np.where(rows >= 0, table.distances[rows].astype(float), 5.0)

    start = apply_sequence(SOLVED_STATE[None], np.array([0, 2, 4, 6, 8]))[0]  # U R F D L
    assert breadth_first_distance(DOMAIN, start, 4) is None  # five moves out: one greedy step needed
    result = greedy(DOMAIN, table_distance, start, max_moves=1, goal_table=table)
    assert result.solved and result.length == 5 and result.nodes_expanded == 1
    assert replays_to_solved(start, result.actions)


def test_a_start_inside_the_table_is_solved_optimally_without_search(table):
    start = random_states(5, 1, 4)[0]
    result = beam(DOMAIN, misplaced_stickers, start, width=8, max_depth=1, goal_table=table)
    assert result.solved and result.nodes_expanded == 0
    assert result.length == breadth_first_distance(DOMAIN, start, 4)


def test_the_table_extends_a_search_s_reach():
    # A 9-move scramble with 3 beam depths: out of reach alone, solved with a radius-6 table.
    # 3 depths of width 4,096 are exhaustive (12 * 11 * 11 = 1,452 states at depth 3).
    start = random_states(2, 1, 9)[0]
    assert breadth_first_distance(DOMAIN, start, 3) is None
    alone = beam(DOMAIN, misplaced_stickers, start, width=4096, max_depth=3)
    radius6 = GoalTable.build(DOMAIN, SOLVED_STATE, 6, DOMAIN.inverse_action)
    helped = beam(DOMAIN, misplaced_stickers, start, width=4096, max_depth=3, goal_table=radius6)
    assert not alone.solved
    assert helped.solved and replays_to_solved(start, helped.actions)


def test_negative_radius_is_refused():
    with pytest.raises(ValueError, match="radius"):
        GoalTable.build(DOMAIN, SOLVED_STATE, -1, DOMAIN.inverse_action)


def test_a_saved_table_loads_equal_and_is_checked_against_the_hash(table, tmp_path):
    table.save(tmp_path / "table.npz")
    loaded = GoalTable.load(tmp_path / "table.npz")
    for name in ("goal", "keys", "distances", "actions"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(table, name))
    assert loaded.matches(DOMAIN, SOLVED_STATE, 4)
    assert not loaded.matches(DOMAIN, SOLVED_STATE, 5)
    # Keys from another hash function: the goal is not found where it should be.
    rehashed = GoalTable(table.goal, table.keys ^ np.uint64(1), table.distances, table.actions, 4)
    assert not rehashed.matches(DOMAIN, SOLVED_STATE, 4)


def test_cube_goal_table_is_cached_and_rebuilt_when_unusable(tmp_path, monkeypatch):
    from clrl.planners import goal_table

    monkeypatch.setenv("CLRL_CACHE_DIR", str(tmp_path))
    build = goal_table.cube_goal_table.__wrapped__  # without the per-process memo
    cached = tmp_path / "cube_goal_table_r3.npz"
    built = build(3)
    assert cached.is_file()

    def no_build(*args, **kwargs):
        raise AssertionError("the cached table should have been loaded")

    with monkeypatch.context() as patch:
        patch.setattr(GoalTable, "build", no_build)
        np.testing.assert_array_equal(build(3).keys, built.keys)

    cached.write_bytes(b"not a table")
    np.testing.assert_array_equal(build(3).keys, built.keys)
    assert GoalTable.load(cached).matches(DOMAIN, SOLVED_STATE, 3), "the damaged file is replaced"
