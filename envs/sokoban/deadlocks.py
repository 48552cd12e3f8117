"""Deadlock detection: static dead squares, push distances and freeze deadlocks.

Kernels work on flattened grids (cell index ``row * width + col``) whose border is all wall, so a
neighbour is always ``cell +- 1`` or ``cell +- width`` without bounds checks. The grid-level functions
at the bottom pad a state with a wall ring and call them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from clrl.envs.sokoban.constants import BOX, IS_BOX, IS_GOAL, WALL

UNREACHABLE = np.int32(1 << 20)


@njit(cache=True)
def push_distances(walls: np.ndarray, goal_cells: np.ndarray, width: int) -> np.ndarray:
    """Fewest pushes to bring a lone box from each cell to each goal, ignoring other boxes.

    Args:
        walls: ``(C,)`` bool flattened wall mask with an all-wall border.
        goal_cells: ``(G,)`` flat indices of the goals.
        width: row length of the flattened grid.

    Returns:
        ``(G, C)`` int32 distances, :data:`UNREACHABLE` where a box can never reach the goal. Computed
        by pulling the box away from the goal: a box at ``x`` pushed towards ``x - d`` needs the player
        at ``x + d``, so both ``x + d`` and ``x - d`` must be free of walls.
    """
    num_cells = walls.shape[0]
    offsets = np.array([-width, width, -1, 1])
    dist = np.full((goal_cells.shape[0], num_cells), UNREACHABLE, dtype=np.int32)
    queue = np.empty(num_cells, dtype=np.int64)
    for g in range(goal_cells.shape[0]):
        head, tail = 0, 0
        dist[g, goal_cells[g]] = 0
        queue[tail] = goal_cells[g]
        tail += 1
        while head < tail:
            cell = queue[head]
            head += 1
            for offset in offsets:
                previous = cell + offset  # where the box stood before its last push
                player = previous + offset  # where the player stood to push it
                if walls[previous] or walls[player] or dist[g, previous] != UNREACHABLE:
                    continue
                dist[g, previous] = dist[g, cell] + 1
                queue[tail] = previous
                tail += 1
    return dist


@njit(cache=True)
def _blocked_on_axis(
    cell: int, stride: int, walls: np.ndarray, dead: np.ndarray, box_index: np.ndarray, frozen: np.ndarray
) -> bool:
    before, after = cell - stride, cell + stride
    if walls[before] or walls[after]:
        return True
    if (box_index[before] >= 0 and frozen[box_index[before]]) or (
        box_index[after] >= 0 and frozen[box_index[after]]
    ):
        return True
    # Moving along this axis would put the box on a dead square either way.
    return dead[before] and dead[after]


@njit(cache=True)
def frozen_boxes(
    box_cells: np.ndarray, walls: np.ndarray, dead: np.ndarray, box_index: np.ndarray, width: int
) -> np.ndarray:
    """Which boxes can never move again, ``(B,)`` bool.

    A box is frozen when it is blocked on both axes; an axis is blocked by a wall, by a frozen box or
    by dead squares on both sides. This is the greatest fixed point of that rule, found by starting
    with every box frozen and releasing boxes until nothing changes, so mutually blocking groups
    (two boxes side by side against a wall, a 2x2 block) are found without recursion.

    ``box_index`` maps each flat cell to the index of the box on it, or -1.
    """
    count = box_cells.shape[0]
    frozen = np.ones(count, dtype=np.bool_)
    changed = True
    while changed:
        changed = False
        for i in range(count):
            if not frozen[i]:
                continue
            cell = box_cells[i]
            if not (
                _blocked_on_axis(cell, 1, walls, dead, box_index, frozen)
                and _blocked_on_axis(cell, width, walls, dead, box_index, frozen)
            ):
                frozen[i] = False
                changed = True
    return frozen


@njit(cache=True)
def has_freeze_deadlock(
    box_cells: np.ndarray,
    walls: np.ndarray,
    goals: np.ndarray,
    dead: np.ndarray,
    box_index: np.ndarray,
    width: int,
) -> bool:
    """True if some box off a goal is frozen (the position can never be solved)."""
    frozen = frozen_boxes(box_cells, walls, dead, box_index, width)
    for i in range(box_cells.shape[0]):
        if frozen[i] and not goals[box_cells[i]]:
            return True
    return False


def _padded(state: np.ndarray) -> np.ndarray:
    return np.pad(np.asarray(state, dtype=np.uint8), 1, constant_values=WALL)


def dead_squares(state: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: non-wall cells from which a box can never be pushed onto any goal."""
    padded = _padded(state)
    height, width = padded.shape
    walls = (padded == WALL).ravel()
    goal_cells = np.flatnonzero(IS_GOAL[padded])
    dist = push_distances(walls, goal_cells, width)
    dead = (dist.min(axis=0) >= UNREACHABLE) & ~walls
    return dead.reshape(height, width)[1:-1, 1:-1]


def is_freeze_deadlock(state: np.ndarray) -> bool:
    """True if the state has a box off a goal that can never move again (see :func:`frozen_boxes`)."""
    padded = _padded(state)
    width = padded.shape[1]
    walls = (padded == WALL).ravel()
    dead = np.pad(dead_squares(state), 1).ravel()
    flat = padded.ravel()
    box_cells = np.flatnonzero(IS_BOX[flat])
    box_index = np.full(flat.shape, -1, dtype=np.int64)
    box_index[box_cells] = np.arange(len(box_cells))
    return bool(has_freeze_deadlock(box_cells, walls, IS_GOAL[flat], dead, box_index, width))


def has_box_on_dead_square(state: np.ndarray) -> bool:
    """True if a box (off a goal) stands on a dead square."""
    state = np.asarray(state)
    return bool(np.any(dead_squares(state) & (state == BOX)))


@njit(cache=True)
def _deadlocked_states(states: np.ndarray, dead: np.ndarray) -> np.ndarray:
    height, width = states.shape[1], states.shape[2]
    padded_width = width + 2
    num_cells = (height + 2) * padded_width
    result = np.zeros(states.shape[0], dtype=np.bool_)
    walls = np.ones(num_cells, dtype=np.bool_)
    goals = np.zeros(num_cells, dtype=np.bool_)
    box_index = np.empty(num_cells, dtype=np.int64)
    box_cells = np.empty(num_cells, dtype=np.int64)
    for n in range(states.shape[0]):
        box_index[:] = -1
        count = 0
        on_dead_square = False
        for row in range(height):
            for col in range(width):
                cell_type = states[n, row, col]
                cell = (row + 1) * padded_width + col + 1
                walls[cell] = cell_type == WALL
                goals[cell] = IS_GOAL[cell_type]
                if IS_BOX[cell_type]:
                    box_index[cell] = count
                    box_cells[count] = cell
                    count += 1
                    if dead[cell] and not goals[cell]:
                        on_dead_square = True
        result[n] = on_dead_square or has_freeze_deadlock(
            box_cells[:count], walls, goals, dead, box_index, padded_width
        )
    return result


def deadlocked(states: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: which states of one level can provably never be solved.

    A state is deadlocked when a box off a goal stands on a dead square or is frozen (see
    :func:`frozen_boxes`). ``dead`` is :func:`dead_squares` of the level, which depends only on its
    walls and goals, so a planner computes it once per level.
    """
    states = np.ascontiguousarray(states, dtype=np.uint8)
    return _deadlocked_states(states, np.pad(dead, 1).ravel())
