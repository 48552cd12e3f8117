"""Sokoban cell types, actions and the lookup tables every kernel shares.

A state is an ``(H, W)`` ``uint8`` grid of cell types (a batch is ``(N, H, W)``). The seven cell types
encode everything: static walls and goals, boxes and the player. The tables below are the single
definition of how cell types combine; the kernels only index them.
"""

from __future__ import annotations

import numpy as np

# Cell types (values of a state grid). The order is part of the trajectory file format.
WALL = 0
FLOOR = 1
GOAL = 2
BOX = 3
BOX_ON_GOAL = 4
PLAYER = 5
PLAYER_ON_GOAL = 6
NUM_CELL_TYPES = 7

# Boxoban text characters for each cell type, indexed by cell type.
CELL_CHARS = "# .$*@+"
CHAR_TO_CELL = {char: cell for cell, char in enumerate(CELL_CHARS)}

# Actions, one table: index -> (row delta, col delta, LURD step letter).
# 0 = up, 1 = down, 2 = left, 3 = right. A push is the same action written in upper case.
ACTION_DELTAS = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)
ACTION_LETTERS = "udlr"
NUM_ACTIONS = 4
LETTER_TO_ACTION = {letter: a for a, letter in enumerate(ACTION_LETTERS)}
LETTER_TO_ACTION.update({letter.upper(): a for a, letter in enumerate(ACTION_LETTERS)})

# Per cell type: the static background once box and player are removed (WALL stays WALL).
BACKGROUND = np.array([WALL, FLOOR, GOAL, FLOOR, GOAL, FLOOR, GOAL], dtype=np.uint8)
# Per background (FLOOR or GOAL; other rows unused): the cell with a box / with the player on it.
WITH_BOX = np.array([WALL, BOX, BOX_ON_GOAL, BOX, BOX_ON_GOAL, BOX, BOX_ON_GOAL], dtype=np.uint8)
WITH_PLAYER = np.array(
    [WALL, PLAYER, PLAYER_ON_GOAL, PLAYER, PLAYER_ON_GOAL, PLAYER, PLAYER_ON_GOAL], dtype=np.uint8
)
IS_BOX = np.array([False, False, False, True, True, False, False])
IS_PLAYER = np.array([False, False, False, False, False, True, True])
IS_GOAL = np.array([False, False, True, False, True, False, True])
# A cell the player or a pushed box may enter without pushing anything.
IS_FREE = np.array([False, True, True, False, False, False, False])

# Boxoban reward scheme (Racanière et al. 2017; Guez et al. 2018).
REWARD_STEP = -0.1
REWARD_BOX_ON_GOAL = 1.0
REWARD_BOX_OFF_GOAL = -1.0
REWARD_SOLVED = 10.0
