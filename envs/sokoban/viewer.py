"""Drawing Sokoban states: text (``ansi``) and RGB tiles (``rgb_array``), batched where it helps."""

from __future__ import annotations

import numpy as np

from clrl.envs.sokoban.constants import (
    BOX,
    BOX_ON_GOAL,
    GOAL,
    NUM_CELL_TYPES,
    PLAYER,
    PLAYER_ON_GOAL,
    WALL,
)
from clrl.envs.sokoban.levels import format_grid

TILE_SIZE = 16

_COLOURS = {
    "wall": (96, 64, 48),
    "floor": (32, 32, 32),
    "goal": (220, 40, 40),
    "box": (214, 160, 64),
    "box_on_goal": (80, 200, 90),
    "player": (70, 140, 255),
}


def _make_tiles(size: int) -> np.ndarray:
    """``(7, size, size, 3)`` uint8 picture of each cell type, drawn once at import."""
    tiles = np.empty((NUM_CELL_TYPES, size, size, 3), dtype=np.uint8)
    tiles[:] = _COLOURS["floor"]
    tiles[WALL] = _COLOURS["wall"]
    tiles[WALL, ::4, :] = (72, 48, 36)  # brick courses so walls read as walls in small images
    inner = slice(size // 8, size - size // 8)
    dot = slice(size * 3 // 8, size - size * 3 // 8)
    tiles[GOAL, dot, dot] = _COLOURS["goal"]
    tiles[BOX, inner, inner] = _COLOURS["box"]
    tiles[BOX_ON_GOAL, inner, inner] = _COLOURS["box_on_goal"]
    rows, cols = np.mgrid[:size, :size] + 0.5
    disc = (rows - size / 2) ** 2 + (cols - size / 2) ** 2 <= (size * 0.38) ** 2
    tiles[PLAYER][disc] = _COLOURS["player"]
    tiles[PLAYER_ON_GOAL][disc] = _COLOURS["player"]
    tiles[PLAYER_ON_GOAL, dot, dot] = _COLOURS["goal"]
    return tiles


TILES = _make_tiles(TILE_SIZE)


def render_rgb(states: np.ndarray) -> np.ndarray:
    """RGB image(s) of state grid(s): ``(H, W) -> (16H, 16W, 3)``, ``(N, H, W) -> (N, 16H, 16W, 3)``."""
    states = np.asarray(states)
    pictures = TILES[states]  # (..., H, W, T, T, 3)
    *batch, height, width = states.shape
    pictures = np.moveaxis(pictures, -3, -4)  # (..., H, T, W, T, 3)
    return np.ascontiguousarray(pictures.reshape(*batch, height * TILE_SIZE, width * TILE_SIZE, 3))


def render_ansi(state: np.ndarray) -> str:
    """Boxoban text of one state, newline-terminated."""
    return format_grid(state) + "\n"
