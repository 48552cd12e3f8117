"""Sokoban level generator in the Boxoban / Racanière et al. (2017) style.

1. Room topology: a random walk through an all-wall room carves floor, stamping small masks so rooms
   get some width, and changes direction at random.
2. Goals and the player are placed on random floor cells, with every box on its goal (solved).
3. Reverse play: the player walks at random and pulls boxes (the inverse of pushing). Every level
   reached this way can be solved by playing the pulls back as pushes. The most scrambled position
   seen (boxes far from goals, many switches between boxes, no box left on a goal) becomes the level.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from clrl.envs.sokoban.constants import (
    ACTION_DELTAS,
    BACKGROUND,
    BOX_ON_GOAL,
    FLOOR,
    IS_BOX,
    IS_FREE,
    PLAYER,
    WALL,
    WITH_BOX,
    WITH_PLAYER,
)
from clrl.envs.sokoban.levels import Level
from clrl.errors import UserError


class GeneratorError(UserError):
    """The generator cannot build a level with the requested room size and box count."""


# 3x3 stamps carved around the walker (as in the Boxoban generator), chosen uniformly.
_MASKS = np.array(
    [
        [[0, 0, 0], [1, 1, 1], [0, 0, 0]],
        [[0, 1, 0], [0, 1, 0], [0, 1, 0]],
        [[0, 0, 0], [1, 1, 0], [0, 1, 0]],
        [[0, 0, 0], [1, 1, 0], [1, 1, 0]],
        [[0, 0, 0], [0, 1, 1], [0, 1, 0]],
    ],
    dtype=bool,
)


def room_topology(
    shape: tuple[int, int], rng: np.random.Generator, num_steps: int, turn_probability: float = 0.35
) -> np.ndarray:
    """``(H, W)`` bool floor mask carved by a random walk; the outer ring stays wall."""
    height, width = shape
    floor = np.zeros(shape, dtype=bool)
    row, col = int(rng.integers(1, height - 1)), int(rng.integers(1, width - 1))
    turns = rng.random(num_steps) < turn_probability
    directions = rng.integers(4, size=num_steps + 1)
    masks = rng.integers(len(_MASKS), size=num_steps)
    d_row, d_col = (int(x) for x in ACTION_DELTAS[directions[-1]])
    for t in range(num_steps):
        if turns[t]:
            d_row, d_col = (int(x) for x in ACTION_DELTAS[directions[t]])
        row = min(max(row + d_row, 1), height - 2)
        col = min(max(col + d_col, 1), width - 2)
        stamp = _MASKS[masks[t]]
        # The stamp is centred on (row, col); clip it to the interior so the outer ring stays wall.
        top, left = max(row - 1, 1), max(col - 1, 1)
        bottom, right = min(row + 2, height - 1), min(col + 2, width - 1)
        rows, cols = slice(top - row + 1, bottom - row + 1), slice(left - col + 1, right - col + 1)
        floor[top:bottom, left:right] |= stamp[rows, cols]
    return floor


@njit(cache=True)
def _reverse_play(
    solved: np.ndarray,
    player_row: int,
    player_col: int,
    actions: np.ndarray,
    coins: np.ndarray,
    pull_probability: float,
) -> tuple[np.ndarray, float]:
    """Random walk with pulls from a solved grid, driven by pre-drawn ``actions`` and ``coins``.

    Returns the best scrambled grid seen and its score (an empty grid and 0 when no position qualified).
    Score: number of switches between pulled boxes times the boxes' total displacement (Manhattan
    distance from their goals), counted only where no box stands on a goal.
    """
    state = solved.copy()
    height, width = solved.shape
    num_boxes = 0
    for r in range(height):
        for c in range(width):
            num_boxes += IS_BOX[solved[r, c]]
    origin = np.empty((num_boxes, 2), dtype=np.int64)
    k = 0
    for r in range(height):
        for c in range(width):
            if IS_BOX[solved[r, c]]:
                origin[k, 0], origin[k, 1] = r, c
                k += 1
    boxes = origin.copy()  # box k's current cell, to score displacement
    row, col = player_row, player_col
    last_box, switches, off_goal = -1, 0, 0
    best, best_score = np.zeros((0, 0), dtype=np.uint8), 0.0
    for t in range(actions.shape[0]):
        d_row, d_col = ACTION_DELTAS[actions[t], 0], ACTION_DELTAS[actions[t], 1]
        next_row, next_col = row + d_row, col + d_col
        if not IS_FREE[state[next_row, next_col]]:
            continue
        behind_row, behind_col = row - d_row, col - d_col
        pull = IS_BOX[state[behind_row, behind_col]] and coins[t] < pull_probability
        state[row, col] = BACKGROUND[state[row, col]]
        if pull:
            left = state[behind_row, behind_col]
            state[behind_row, behind_col] = BACKGROUND[left]
            state[row, col] = WITH_BOX[state[row, col]]
            off_goal += (left == BOX_ON_GOAL) - (state[row, col] == BOX_ON_GOAL)
            box = 0
            while boxes[box, 0] != behind_row or boxes[box, 1] != behind_col:
                box += 1
            boxes[box, 0], boxes[box, 1] = row, col
            switches += box != last_box
            last_box = box
        state[next_row, next_col] = WITH_PLAYER[state[next_row, next_col]]
        row, col = next_row, next_col
        if pull and off_goal == num_boxes:
            score = switches * float(np.abs(boxes - origin).sum())
            if score > best_score:
                best, best_score = state.copy(), score
    return best, best_score


def generate_level(
    seed: int | np.random.Generator,
    shape: tuple[int, int] = (10, 10),
    num_boxes: int = 4,
    room_steps: int | None = None,
    reverse_steps: int = 300,
    walks: int = 8,
    max_rooms: int = 50,
    pull_probability: float = 0.8,
) -> Level:
    """Generate one solvable level.

    Args:
        seed: integer seed or a NumPy generator (the level is a pure function of the seed).
        shape: room size including the outer wall ring.
        num_boxes: boxes (= goals).
        room_steps: random-walk steps carving the room (default 1.7 (H + W), as in gym-sokoban).
        reverse_steps: length of each reverse-play walk; walks: walks tried per room.
        max_rooms: rooms tried before giving up with :class:`GeneratorError`.
        pull_probability: chance of pulling a box that lies behind the walking player.
    """
    height, width = shape
    if height < 3 or width < 3 or num_boxes < 1:
        raise GeneratorError(f"cannot generate a {height}x{width} room with {num_boxes} boxes")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    steps = room_steps if room_steps is not None else int(1.7 * (height + width))
    for _ in range(max_rooms):
        floor = room_topology(shape, rng, steps)
        cells = np.argwhere(floor)
        if len(cells) < num_boxes + 3:
            continue
        chosen = cells[rng.choice(len(cells), size=num_boxes + 1, replace=False)]
        solved = np.where(floor, FLOOR, WALL).astype(np.uint8)
        for r, c in chosen[:num_boxes]:
            solved[r, c] = BOX_ON_GOAL
        player = (int(chosen[-1][0]), int(chosen[-1][1]))
        solved[player] = PLAYER
        best, best_score = None, 0.0
        for _ in range(walks):
            actions = rng.integers(0, 4, size=reverse_steps)
            coins = rng.random(reverse_steps)
            grid, score = _reverse_play(solved, player[0], player[1], actions, coins, pull_probability)
            if score > best_score:
                best, best_score = grid, score
        if best is not None:
            name = f"seed={seed}" if not isinstance(seed, np.random.Generator) else "generated"
            return Level(grid=best, name=name, source="generator")
    raise GeneratorError(
        f"no solvable {height}x{width} level with {num_boxes} boxes after {max_rooms} rooms; "
        "use a larger room or fewer boxes"
    )


def generate_levels(
    count: int, seed: int = 0, shape: tuple[int, int] = (10, 10), num_boxes: int = 4, **kwargs
) -> list[Level]:
    """``count`` levels from independent child seeds of ``seed`` (reproducible, order-independent)."""
    seeds = np.random.SeedSequence(seed).spawn(count)
    levels = []
    for index, child in enumerate(seeds):
        level = generate_level(np.random.default_rng(child), shape, num_boxes, **kwargs)
        levels.append(Level(grid=level.grid, name=f"{seed}/{index}", source="generator"))
    return levels
