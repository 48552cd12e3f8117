"""Sokoban rules: pushing, blocking, no pulling, undo, batching against a text-based reference, replay."""

from __future__ import annotations

import numpy as np
import pytest

from clrl.envs.sokoban.constants import ACTION_LETTERS, IS_BOX, IS_PLAYER, NUM_CELL_TYPES, PLAYER
from clrl.envs.sokoban.kernels import (
    IllegalMoveError,
    children,
    hash_states,
    is_solved,
    one_hot,
    replay,
    replay_states,
    step,
)
from clrl.envs.sokoban.levels import format_grid, parse_level

UP, DOWN, LEFT, RIGHT = range(4)


def grid(text: str) -> np.ndarray:
    return parse_level(text.strip("\n")).grid


def do(state: np.ndarray, *actions: int) -> np.ndarray:
    for action in actions:
        state = step(state[None], np.array([action]))[0][0]
    return state


ROOM = """
#######
#     #
# $ $ #
# .@. #
#  $$ #
#   . #
#  .  #
#######
"""


def test_push_moves_the_box_and_the_player():
    state = grid(ROOM)
    next_states, moved, pushed = step(state[None], np.array([DOWN]))
    assert moved[0] and pushed[0]
    assert format_grid(next_states[0]) == format_grid(
        grid("""
#######
#     #
# $ $ #
# . . #
#  @$ #
#  $. #
#  .  #
#######
""")
    )


def test_no_push_into_a_box_or_a_wall_and_no_pulling():
    # Box behind box: blocked.
    two = grid("""
######
#@$$.#
#  . #
######
""")
    _, moved, pushed = step(two[None], np.array([RIGHT]))
    assert not moved[0] and not pushed[0]
    # Box against a wall: blocked.
    wall = grid("""
#####
#.@$#
#  $#
#.  #
#####
""")
    nxt, moved, _ = step(wall[None], np.array([RIGHT]))
    assert not moved[0] and (nxt[0] == wall).all()
    # Walking away from a box leaves it where it is (no pulling).
    away = do(wall, LEFT)
    assert format_grid(away).splitlines()[1] == "#+ $#"


def test_walking_is_undone_by_the_reverse_move_but_a_push_is_not():
    state = grid(ROOM)
    reverse = {UP: DOWN, DOWN: UP, LEFT: RIGHT, RIGHT: LEFT}
    walked = do(state, LEFT)  # onto the goal at (3, 2)
    assert (do(walked, reverse[LEFT]) == state).all()
    for path in ([UP, UP, LEFT, LEFT, DOWN], [UP, UP, RIGHT, RIGHT, DOWN]):
        there = do(state, *path)
        assert (IS_BOX[there] == IS_BOX[state]).all() and not (there == state).all()
        back = do(there, *[reverse[a] for a in reversed(path)])
        assert (back == state).all()
    pushed = do(state, DOWN)
    assert not (do(pushed, UP) == state).all()  # the box stays on the goal below


def _reference_step(text: str, action: int) -> str:
    """The rules written directly on Boxoban text: a slow, independent reference."""
    rows = [list(row) for row in text.splitlines()]
    ((r, c),) = [(i, j) for i, row in enumerate(rows) for j, ch in enumerate(row) if ch in "@+"]
    dr, dc = [(-1, 0), (1, 0), (0, -1), (0, 1)][action]

    def leave(ch: str) -> str:
        return "." if ch in ".*+" else " "

    one = rows[r + dr][c + dc]
    inside = 0 <= r + 2 * dr < len(rows) and 0 <= c + 2 * dc < len(rows[0])
    two = rows[r + 2 * dr][c + 2 * dc] if inside else "#"
    if one in " .":
        rows[r][c], rows[r + dr][c + dc] = leave(rows[r][c]), "+" if one == "." else "@"
    elif one in "$*" and two in " .":
        rows[r][c] = leave(rows[r][c])
        rows[r + dr][c + dc] = "+" if one == "*" else "@"
        rows[r + 2 * dr][c + 2 * dc] = "*" if two == "." else "$"
    return "\n".join("".join(row) for row in rows)


def test_batched_step_matches_the_text_reference_on_random_walks():
    rng = np.random.default_rng(0)
    state = np.stack([grid(ROOM)] * 16)
    for _ in range(60):
        actions = rng.integers(0, 4, size=16)
        expected = [_reference_step(format_grid(s), int(a)) for s, a in zip(state, actions, strict=True)]
        state, moved, _ = step(state, actions)
        assert [format_grid(s) for s in state] == expected


def test_children_and_validity_mask():
    state = grid("""
#####
#@$.#
#   #
#####
""")
    kids, valid = children(state[None])
    assert kids.shape == (1, 4, 4, 5) and valid.tolist() == [[False, True, False, True]]
    assert (kids[0, UP] == state).all() and (kids[0, LEFT] == state).all()
    assert is_solved(kids[0]).tolist() == [False, False, False, True]


def test_children_equal_one_step_per_action_on_boxoban_sized_batches():
    rng = np.random.default_rng(1)
    states = np.stack([grid(ROOM)] * 8)
    for _ in range(20):  # scatter the batch over different positions first
        states = step(states, rng.integers(0, 4, size=8))[0]
    kids, valid = children(states)
    for action in range(4):
        expected, moved, _ = step(states, np.full(8, action))
        assert (kids[:, action] == expected).all() and (valid[:, action] == moved).all()


def test_hash_equal_states_equal_and_distinct_states_differ():
    state = grid(ROOM)
    kids, valid = children(state[None])
    hashes = hash_states(kids[0][valid[0]])
    assert len(set(hashes.tolist())) == int(valid.sum())
    assert hash_states(state[None])[0] == hash_states(state[None].copy())[0]


def test_one_hot_planes():
    state = grid(ROOM)
    planes = one_hot(state)
    assert planes.shape == (NUM_CELL_TYPES, *state.shape) and planes.dtype == np.uint8
    assert (planes.sum(axis=0) == 1).all() and (planes.argmax(axis=0) == state).all()
    assert one_hot(np.stack([state, state])).shape == (2, NUM_CELL_TYPES, *state.shape)


def test_replay_verifies_solutions_and_rejects_illegal_moves():
    level = parse_level("""######
# @$.#
######""")
    final, solved = replay(level, "R")
    assert solved and format_grid(final) == "######\n#  @*#\n######"
    assert not replay(level, "")[1]
    assert replay_states(level, "lrR").shape == (4, 3, 6)
    with pytest.raises(IllegalMoveError, match="pushes a box"):
        replay(level, "r")
    with pytest.raises(IllegalMoveError, match="blocked"):
        replay(level, "u")
    with pytest.raises(IllegalMoveError, match="pushes nothing"):
        replay(level, "L")
    with pytest.raises(IllegalMoveError, match="not a LURD letter"):
        replay(level, "x")


def test_action_letters_follow_the_action_table():
    assert ACTION_LETTERS == "udlr"


def test_player_codes_fit_the_word_scan_of_the_kernel():
    # The step kernel finds the player with `code >= PLAYER` and, four cells at a time, `(code + 3) & 8`.
    codes = np.arange(NUM_CELL_TYPES)
    assert ((codes >= PLAYER) == IS_PLAYER).all()
    assert ((((codes + 3) & 8) != 0) == IS_PLAYER).all() and codes.max() + 3 < 16


def test_step_compiles_once_per_signature():
    state = grid(ROOM)
    step(state[None], np.array([0]))
    before = len(step.signatures)
    for action in range(4):
        step(np.stack([state] * 3), np.full(3, action))
    assert len(step.signatures) == before
