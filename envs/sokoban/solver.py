"""Classical Sokoban solver: A* / weighted A* over push states, in Numba.

A search node is a box configuration plus the player's reachable region (named by its smallest cell),
so walking is free and every edge is one push. The heuristic is the minimum-cost matching of boxes to
goals under lone-box push distances (admissible and consistent, so ``weight=1`` gives push-optimal
solutions). Children that put a box on a dead square, create a freeze deadlock or leave some box with
no reachable goal are pruned. The push sequence found is expanded into a LURD move string (walks in
lower case, pushes in upper case) and checked by replay before it is returned.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from numba import njit, types
from numba.typed import Dict

from clrl.envs.sokoban.constants import (
    ACTION_DELTAS,
    ACTION_LETTERS,
    IS_BOX,
    IS_GOAL,
    IS_PLAYER,
    LETTER_TO_ACTION,
    WALL,
)
from clrl.envs.sokoban.deadlocks import UNREACHABLE, has_freeze_deadlock, push_distances
from clrl.envs.sokoban.kernels import replay, step_into
from clrl.envs.sokoban.levels import Level

DEFAULT_BUDGET = 100_000

# Search outcomes returned by the kernel.
_SOLVED, _BUDGET_EXHAUSTED, _UNSOLVABLE = 0, 1, 2
_HUNGARIAN_INF = np.int64(1) << np.int64(40)


@dataclass(frozen=True)
class SolveResult:
    """Outcome of one solver run.

    Attributes:
        solved: a solution was found (``False``: budget exhausted or proven unsolvable).
        solution: LURD moves (empty when not solved).
        nodes_expanded: push states expanded.
        seconds: wall time of the search, LURD expansion and replay check.
        pushes: number of pushes in the solution.
        exhausted: ``True`` when the search stopped at the node budget (``False`` and not solved means
            the whole reachable push space was searched: the level is unsolvable).
    """

    solved: bool
    solution: str
    nodes_expanded: int
    seconds: float
    pushes: int = 0
    exhausted: bool = False

    def to_dict(self, index: int | None = None) -> dict:
        """The ``--json`` record of the solve command."""
        record = {} if index is None else {"index": index}
        record.update(
            solved=self.solved,
            solution=self.solution,
            length=len(self.solution),
            nodes_expanded=self.nodes_expanded,
            seconds=round(self.seconds, 6),
        )
        return record


@njit(cache=True)
def min_matching_cost(cost: np.ndarray) -> int:
    """Minimum total cost of a perfect matching rows -> columns (Hungarian algorithm, O(n^3))."""
    n = cost.shape[0]
    u = np.zeros(n + 1, dtype=np.int64)
    v = np.zeros(n + 1, dtype=np.int64)
    match = np.zeros(n + 1, dtype=np.int64)  # match[column] = row, 1-based, 0 = free
    way = np.zeros(n + 1, dtype=np.int64)
    for row in range(1, n + 1):
        match[0] = row
        col0 = 0
        min_slack = np.full(n + 1, _HUNGARIAN_INF, dtype=np.int64)
        used = np.zeros(n + 1, dtype=np.bool_)
        while True:
            used[col0] = True
            row0 = match[col0]
            delta = _HUNGARIAN_INF
            col1 = 0
            for col in range(1, n + 1):
                if not used[col]:
                    slack = cost[row0 - 1, col - 1] - u[row0] - v[col]
                    if slack < min_slack[col]:
                        min_slack[col] = slack
                        way[col] = col0
                    if min_slack[col] < delta:
                        delta = min_slack[col]
                        col1 = col
            for col in range(n + 1):
                if used[col]:
                    u[match[col]] += delta
                    v[col] -= delta
                else:
                    min_slack[col] -= delta
            col0 = col1
            if match[col0] == 0:
                break
        while col0 != 0:
            col1 = way[col0]
            match[col0] = match[col1]
            col0 = col1
    total = 0
    for col in range(1, n + 1):
        total += cost[match[col] - 1, col - 1]
    return total


@njit(cache=True)
def _matching_heuristic(box_cells: np.ndarray, dist: np.ndarray) -> int:
    count = box_cells.shape[0]
    cost = np.empty((count, count), dtype=np.int64)
    for i in range(count):
        for g in range(count):
            cost[i, g] = dist[g, box_cells[i]]
    return min(min_matching_cost(cost), UNREACHABLE)


@njit(cache=True)
def _flood(
    start: int,
    walls: np.ndarray,
    box_index: np.ndarray,
    width: int,
    mark: np.ndarray,
    stamp: int,
    queue: np.ndarray,
) -> int:
    """Mark (with ``stamp``) the cells the player reaches from ``start``; return the smallest one."""
    mark[start] = stamp
    queue[0] = start
    head, tail, smallest = 0, 1, start
    while head < tail:
        cell = queue[head]
        head += 1
        for offset in (-width, width, -1, 1):
            nxt = cell + offset
            if mark[nxt] != stamp and not walls[nxt] and box_index[nxt] < 0:
                mark[nxt] = stamp
                queue[tail] = nxt
                tail += 1
                if nxt < smallest:
                    smallest = nxt
    return smallest


@njit(cache=True)
def _lookup(table, key, node_boxes, node_player, boxes, player):
    """Node index of (boxes, player) in the hash table (linear probing on collisions) and its slot."""
    slot = key
    while slot in table:
        index = table[slot]
        if node_player[index] == player and np.all(node_boxes[index] == boxes):
            return index, slot
        slot += np.uint64(1)
    return -1, slot


@njit(cache=True)
def _grow(array: np.ndarray) -> np.ndarray:
    bigger = np.empty((array.shape[0] * 2,) + array.shape[1:], dtype=array.dtype)
    bigger[: array.shape[0]] = array
    return bigger


@njit(cache=True)
def search_pushes(
    walls: np.ndarray,
    goals: np.ndarray,
    dead: np.ndarray,
    dist: np.ndarray,
    start_boxes: np.ndarray,
    start_player: int,
    width: int,
    budget: int,
    weight: float,
    zobrist: np.ndarray,
):
    """A* over push states on a flattened, wall-bordered grid.

    Args:
        walls, goals, dead: ``(C,)`` bool masks.
        dist: ``(G, C)`` lone-box push distances (see :func:`push_distances`).
        start_boxes: ``(B,)`` flat box cells; start_player: flat player cell.
        budget: maximum number of node expansions.
        weight: heuristic weight (1 = A*, larger = greedier, faster, no longer optimal).
        zobrist: ``(2, C)`` uint64 random keys for box and player cells.

    Returns:
        ``(status, nodes_expanded, push_cells, push_directions)``: status 0 solved, 1 budget exhausted,
        2 unsolvable; the pushes (box cell before the push, action index) from start to goal.
    """
    num_cells = walls.shape[0]
    num_boxes = start_boxes.shape[0]
    offsets = np.array([-width, width, -1, 1])
    empty = np.zeros(0, dtype=np.int64)

    capacity = 1024
    node_boxes = np.empty((capacity, num_boxes), dtype=np.int32)
    node_player = np.empty(capacity, dtype=np.int32)
    node_parent = np.empty(capacity, dtype=np.int32)
    node_push_cell = np.empty(capacity, dtype=np.int32)
    node_push_dir = np.empty(capacity, dtype=np.int8)
    node_g = np.empty(capacity, dtype=np.int32)

    box_index = np.full(num_cells, -1, dtype=np.int64)
    expand_mark = np.zeros(num_cells, dtype=np.int64)
    child_mark = np.zeros(num_cells, dtype=np.int64)
    queue = np.empty(num_cells, dtype=np.int64)
    stamp = 0

    root_boxes = np.sort(start_boxes).astype(np.int32)
    for i in range(num_boxes):
        box_index[root_boxes[i]] = i
    stamp += 1
    root_player = _flood(start_player, walls, box_index, width, child_mark, stamp, queue)
    root_h = _matching_heuristic(root_boxes, dist)
    if root_h >= UNREACHABLE or has_freeze_deadlock(root_boxes, walls, goals, dead, box_index, width):
        return _UNSOLVABLE, 0, empty, empty
    for i in range(num_boxes):
        box_index[root_boxes[i]] = -1

    table = Dict.empty(key_type=types.uint64, value_type=types.int64)
    key = zobrist[1, root_player]
    for i in range(num_boxes):
        key ^= zobrist[0, root_boxes[i]]
    node_boxes[0] = root_boxes
    node_player[0] = root_player
    node_parent[0] = -1
    node_push_cell[0] = -1
    node_push_dir[0] = -1
    node_g[0] = 0
    table[key] = 0
    num_nodes = 1
    heap = [(weight * root_h, root_h, 0, 0)]
    expanded = 0
    child = np.empty(num_boxes, dtype=np.int32)

    while len(heap) > 0:
        _, h, g, node = heapq.heappop(heap)
        if g != node_g[node]:
            continue  # stale entry: the node was reached again more cheaply
        if h == 0:
            length = node_g[node]
            push_cells = np.empty(length, dtype=np.int64)
            push_dirs = np.empty(length, dtype=np.int64)
            cursor = node
            for k in range(length - 1, -1, -1):
                push_cells[k] = node_push_cell[cursor]
                push_dirs[k] = node_push_dir[cursor]
                cursor = node_parent[cursor]
            return _SOLVED, expanded, push_cells, push_dirs
        if expanded >= budget:
            return _BUDGET_EXHAUSTED, expanded, empty, empty
        expanded += 1

        boxes = node_boxes[node].copy()
        for i in range(num_boxes):
            box_index[boxes[i]] = i
        stamp += 1
        expand_stamp = stamp
        _flood(node_player[node], walls, box_index, width, expand_mark, expand_stamp, queue)
        for i in range(num_boxes):
            cell = boxes[i]
            for direction in range(4):
                offset = offsets[direction]
                target = cell + offset
                player_can_push = expand_mark[cell - offset] == expand_stamp
                if not player_can_push or walls[target] or box_index[target] >= 0 or dead[target]:
                    continue
                child[:] = boxes
                child[i] = target
                box_index[cell] = -1
                box_index[target] = i
                pruned = has_freeze_deadlock(child, walls, goals, dead, box_index, width)
                child_h = UNREACHABLE
                child_player = -1
                if not pruned:
                    child_h = _matching_heuristic(child, dist)
                    pruned = child_h >= UNREACHABLE
                if not pruned:
                    stamp += 1
                    child_player = _flood(cell, walls, box_index, width, child_mark, stamp, queue)
                box_index[target] = -1
                box_index[cell] = i
                if pruned:
                    continue
                sorted_child = np.sort(child)
                key = zobrist[1, child_player]
                for j in range(num_boxes):
                    key ^= zobrist[0, sorted_child[j]]
                index, slot = _lookup(table, key, node_boxes, node_player, sorted_child, child_player)
                child_g = g + 1
                if index >= 0:
                    if node_g[index] <= child_g:
                        continue
                else:
                    if num_nodes == node_player.shape[0]:
                        node_boxes = _grow(node_boxes)
                        node_player = _grow(node_player)
                        node_parent = _grow(node_parent)
                        node_push_cell = _grow(node_push_cell)
                        node_push_dir = _grow(node_push_dir)
                        node_g = _grow(node_g)
                    index = num_nodes
                    num_nodes += 1
                    node_boxes[index] = sorted_child
                    node_player[index] = child_player
                    table[slot] = index
                node_parent[index] = node
                node_push_cell[index] = cell
                node_push_dir[index] = direction
                node_g[index] = child_g
                heapq.heappush(heap, (child_g + weight * child_h, child_h, child_g, index))
        for i in range(num_boxes):
            box_index[boxes[i]] = -1
    return _UNSOLVABLE, expanded, empty, empty


def _walk(state: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> str:
    """Shortest LURD walk (lower case, no pushes) between two cells of a state."""
    height, width = state.shape
    previous: dict[tuple[int, int], tuple[tuple[int, int], int]] = {start: (start, -1)}
    queue = deque([start])
    while queue and goal not in previous:
        row, col = queue.popleft()
        for action, (d_row, d_col) in enumerate(ACTION_DELTAS):
            nxt = (row + int(d_row), col + int(d_col))
            if nxt in previous or not (0 <= nxt[0] < height and 0 <= nxt[1] < width):
                continue
            if state[nxt] == WALL or IS_BOX[state[nxt]]:
                continue
            previous[nxt] = ((row, col), action)
            queue.append(nxt)
    if goal not in previous:
        raise RuntimeError(f"solver produced a push whose player cell {goal} is unreachable")
    letters = []
    cell = goal
    while cell != start:
        cell, action = previous[cell]
        letters.append(ACTION_LETTERS[action])
    return "".join(reversed(letters))


def pushes_to_lurd(grid: np.ndarray, pushes: list[tuple[int, int, int]]) -> str:
    """Expand pushes ``(box row, box col, action)`` into a full LURD string from ``grid``."""
    state = np.array(grid, dtype=np.uint8)
    player = tuple(int(x) for x in np.argwhere(IS_PLAYER[state])[0])
    moves = []
    for row, col, action in pushes:
        d_row, d_col = (int(x) for x in ACTION_DELTAS[action])
        stand = (row - d_row, col - d_col)
        walk = _walk(state, player, stand)
        for letter in walk:
            step_into(state, LETTER_TO_ACTION[letter], state)
        moved, pushed = step_into(state, action, state)
        if not (moved and pushed):
            raise RuntimeError(f"solver produced an impossible push of the box at {(row, col)}")
        moves.append(walk + ACTION_LETTERS[action].upper())
        player = (row, col)
    return "".join(moves)


def solve(level: Level | np.ndarray, budget: int = DEFAULT_BUDGET, weight: float = 1.0) -> SolveResult:
    """Solve a level with A* over pushes (``weight > 1``: weighted A*).

    Args:
        level: a :class:`Level` or an ``(H, W)`` state grid.
        budget: maximum number of push states to expand.
        weight: heuristic weight; 1 returns push-optimal solutions.

    Returns:
        A :class:`SolveResult`; its solution has been verified by replay.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    if weight < 1.0:
        raise ValueError(f"weight must be >= 1, got {weight}")
    started = time.perf_counter()
    grid = np.asarray(level.grid if isinstance(level, Level) else level, dtype=np.uint8)
    padded = np.pad(grid, 1, constant_values=WALL)
    width = padded.shape[1]
    flat = padded.ravel()
    walls = flat == WALL
    goal_cells = np.flatnonzero(IS_GOAL[flat])
    box_cells = np.flatnonzero(IS_BOX[flat])
    if len(goal_cells) != len(box_cells):
        raise ValueError(f"level has {len(box_cells)} boxes but {len(goal_cells)} goals")
    dist = push_distances(walls, goal_cells, width)
    dead = (dist.min(axis=0) >= UNREACHABLE) & ~walls
    player = int(np.flatnonzero(IS_PLAYER[flat])[0])
    rng = np.random.default_rng(0)
    zobrist = rng.integers(0, np.iinfo(np.int64).max, size=(2, flat.size), dtype=np.int64).astype(np.uint64)
    status, expanded, push_cells, push_dirs = search_pushes(
        walls, IS_GOAL[flat], dead, dist, box_cells, player, width, int(budget), float(weight), zobrist
    )
    if status != _SOLVED:
        seconds = time.perf_counter() - started
        return SolveResult(False, "", int(expanded), seconds, 0, exhausted=status == _BUDGET_EXHAUSTED)
    rows, cols = np.divmod(push_cells, width)  # padded coordinates: subtract the wall ring
    pushes = [(int(r) - 1, int(c) - 1, int(d)) for r, c, d in zip(rows, cols, push_dirs, strict=True)]
    solution = pushes_to_lurd(grid, pushes)
    _, solved = replay(grid, solution)
    if not solved:
        raise RuntimeError("solver solution does not solve the level on replay")
    return SolveResult(True, solution, int(expanded), time.perf_counter() - started, len(pushes), False)
