"""Drawing the unfolded net (U on top; L F R B in a row; D below), as ANSI text or as an RGB image.

Colours follow the common scheme: U white, R red, F green, D yellow, L orange, B blue.
"""

from __future__ import annotations

import numpy as np

from .constants import FACE_NAMES, NUM_STICKERS

FACE_COLOURS = np.array(
    [(255, 255, 255), (200, 20, 30), (0, 155, 70), (255, 213, 0), (255, 110, 0), (0, 70, 173)],
    dtype=np.uint8,
)
_BACKGROUND = np.array((40, 40, 40), dtype=np.uint8)

# (row, column) block of each face in the 3 x 4 grid of the net.
_FACE_BLOCKS = {0: (0, 1), 4: (1, 0), 2: (1, 1), 1: (1, 2), 5: (1, 3), 3: (2, 1)}


def _build_net_index() -> np.ndarray:
    """(9, 12) grid of sticker indices (-1 where the net is empty)."""
    grid = np.full((9, 12), -1, dtype=np.int64)
    for face, (block_row, block_col) in _FACE_BLOCKS.items():
        for k in range(9):
            grid[3 * block_row + k // 3, 3 * block_col + k % 3] = 9 * face + k
    return grid


NET_INDEX = _build_net_index()
NET_INDEX.setflags(write=False)


def _check_state(state: np.ndarray) -> np.ndarray:
    array = np.asarray(state)
    if array.shape != (NUM_STICKERS,):
        raise ValueError(f"expected a state of shape ({NUM_STICKERS},), got {array.shape}")
    return array


def render_ansi(state: np.ndarray, colour: bool = True) -> str:
    """The net as text, one letter a sticker; with ``colour`` each sticker gets its 24-bit background."""
    array = _check_state(state)
    lines = []
    for grid_row in NET_INDEX:
        cells = []
        for index in grid_row:
            if index < 0:
                cells.append("  ")
                continue
            face = int(array[index])
            if colour:
                r, g, b = FACE_COLOURS[face]
                cells.append(f"\x1b[48;2;{r};{g};{b}m\x1b[38;2;0;0;0m{FACE_NAMES[face]} \x1b[0m")
            else:
                cells.append(f"{FACE_NAMES[face]} ")
        lines.append("".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def render_rgb(state: np.ndarray, cell: int = 16, gap: int = 1) -> np.ndarray:
    """The net as an ``(9 * cell, 12 * cell, 3) uint8`` image, stickers separated by ``gap`` pixels."""
    array = _check_state(state)
    if cell <= 2 * gap:
        raise ValueError(f"cell ({cell}) must be larger than twice the gap ({gap})")
    image = np.empty((9 * cell, 12 * cell, 3), dtype=np.uint8)
    image[:] = _BACKGROUND
    for (grid_row, grid_col), index in np.ndenumerate(NET_INDEX):
        if index >= 0:
            top, left = grid_row * cell + gap, grid_col * cell + gap
            image[top : top + cell - 2 * gap, left : left + cell - 2 * gap] = FACE_COLOURS[array[index]]
    return image
