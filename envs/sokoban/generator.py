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

from clrl.envs.sokoban.constants import (
    ACTION_DELTAS,
    BOX,
    BOX_ON_GOAL,
    FLOOR,
    GOAL,
    IS_BOX,
    IS_FREE,
    IS_GOAL,
    PLAYER,
    PLAYER_ON_GOAL,
    WALL,
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
    direction = ACTION_DELTAS[rng.integers(4)]
    for _ in range(num_steps):
        if rng.random() < turn_probability:
            direction = ACTION_DELTAS[rng.integers(4)]
        row = int(np.clip(row + direction[0], 1, height - 2))
        col = int(np.clip(col + direction[1], 1, width - 2))
        mask = _MASKS[rng.integers(len(_MASKS))]
        for d_row in range(3):
            for d_col in range(3):
                r, c = row + d_row - 1, col + d_col - 1
                if mask[d_row, d_col] and 0 < r < height - 1 and 0 < c < width - 1:
                    floor[r, c] = True
    return floor


def _reverse_play(
    solved: np.ndarray,
    player: tuple[int, int],
    rng: np.random.Generator,
    num_steps: int,
    pull_probability: float,
) -> tuple[np.ndarray | None, float]:
    """Random walk with pulls from a solved grid; best scrambled grid seen and its score."""
    state = solved.copy()
    goals = IS_GOAL[solved]
    origin = np.argwhere(IS_BOX[solved])
    box_positions = origin.copy()  # box k's current cell, to score displacement
    row, col = player
    last_box, switches = -1, 0
    best, best_score = None, 0.0
    for _ in range(num_steps):
        action = int(rng.integers(4))
        d_row, d_col = (int(x) for x in ACTION_DELTAS[action])
        nxt = (row + d_row, col + d_col)
        if not IS_FREE[state[nxt]]:
            continue
        behind = (row - d_row, col - d_col)
        pull = IS_BOX[state[behind]] and rng.random() < pull_probability
        state[row, col] = GOAL if goals[row, col] else FLOOR
        if pull:
            state[behind] = GOAL if goals[behind] else FLOOR
            state[row, col] = BOX_ON_GOAL if goals[row, col] else BOX
            box = int(np.flatnonzero((box_positions == behind).all(axis=1))[0])
            box_positions[box] = (row, col)
            switches += box != last_box
            last_box = box
        state[nxt] = PLAYER_ON_GOAL if goals[nxt] else PLAYER
        row, col = nxt
        if pull and not np.any(state == BOX_ON_GOAL):
            displacement = float(np.abs(box_positions - origin).sum())
            score = switches * displacement
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
            grid, score = _reverse_play(solved, player, rng, reverse_steps, pull_probability)
            if grid is not None and score > best_score:
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

