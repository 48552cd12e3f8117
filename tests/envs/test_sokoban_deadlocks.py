"""Dead squares and freeze deadlocks on hand-made maps."""

from __future__ import annotations

import numpy as np

from clrl.envs.sokoban.deadlocks import dead_squares, deadlocked, has_box_on_dead_square, is_freeze_deadlock
from clrl.envs.sokoban.generator import generate_levels
from clrl.envs.sokoban.kernels import children, replay_states
from clrl.envs.sokoban.levels import parse_level
from clrl.envs.sokoban.solver import solve


def cells(mask: np.ndarray) -> set[tuple[int, int]]:
    return {(int(r), int(c)) for r, c in np.argwhere(mask)}


def test_corners_and_walls_without_goals_are_dead():
    level = parse_level(
        """
#######
#     #
# @   #
#   $ #
#.    #
#######
""".strip("\n")
    )
    dead = dead_squares(level.grid)
    # The top and right walls hold no goal, so boxes along them are lost; the left and bottom walls
    # lead to the goal in the bottom-left corner.
    expected = {(1, c) for c in range(1, 6)} | {(r, 5) for r in range(1, 5)}
    assert cells(dead) == expected
    assert not dead[4, 1]  # the goal itself


def test_dead_end_corridor_and_goal_in_corner():
    level = parse_level(
        """
#########
#.   ####
# $@    #
#   ### #
#########
""".strip("\n")
    )
    dead = dead_squares(level.grid)
    assert not dead[1, 1]  # a goal in a corner is live
    # Inside the corridor a box can still be pushed back out, but not from its far end.
    assert not dead[2, 5] and not dead[2, 6]
    assert dead[2, 7] and dead[3, 7]


def test_two_boxes_side_by_side_against_a_wall_are_frozen():
    level = parse_level(
        """
######
# $$ #
#.  .#
#@   #
######
""".strip("\n")
    )
    assert is_freeze_deadlock(level.grid)
    # One box alone against the same wall can still slide along it to a goal: no freeze.
    single = parse_level(
        """
######
#.$  #
#    #
#@   #
######
""".strip("\n")
    )
    assert not is_freeze_deadlock(single.grid)


def test_frozen_boxes_on_goals_are_no_deadlock():
    on_goals = parse_level(
        """
######
#**  #
#  @ #
######
""".strip("\n")
    )
    assert not is_freeze_deadlock(on_goals.grid)


def test_square_of_four_boxes_in_open_floor_is_frozen():
    level = parse_level(
        """
########
#      #
# $$   #
# $$ @ #
#. .. .#
########
""".strip("\n")
    )
    assert is_freeze_deadlock(level.grid)


def test_a_box_free_to_move_is_no_deadlock():
    level = parse_level(
        """
#######
#     #
# $$  #
#  @  #
#.  . #
#######
""".strip("\n")
    )
    assert not is_freeze_deadlock(level.grid)


def test_batched_deadlock_test_agrees_with_the_single_state_checks():
    level = generate_levels(1, seed=3)[0]
    dead = dead_squares(level.grid)
    states = [level.grid]
    for _ in range(8):  # every state up to eight steps away, pushes into corners included
        following, valid = children(np.stack(states))
        states = list(np.unique(following[valid], axis=0))
    states = np.stack(states)
    expected = [has_box_on_dead_square(s) or is_freeze_deadlock(s) for s in states]
    assert any(expected) and not all(expected)
    np.testing.assert_array_equal(deadlocked(states, dead), expected)


def test_no_state_on_a_solution_path_is_deadlocked():
    """Soundness: a state from which the level was solved can never be called a deadlock."""
    for level in generate_levels(8, seed=11):
        result = solve(level)
        assert result.solved
        path = replay_states(level, result.solution)
        assert not deadlocked(path, dead_squares(level.grid)).any()
