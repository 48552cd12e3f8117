"""Facelet layout, move names and move permutation tables of the 3x3x3 cube, built once at import.

State layout (see DESIGN.md): 54 ``uint8`` sticker ids in URFDLB facelet order, ``state[9 * f + 3 * row
+ col]`` is the sticker on face ``f`` (``U=0, R=1, F=2, D=3, L=4, B=5``) read row by row as seen from
outside; U has B at its top, D has F at its top, the four side faces have U at their top. A sticker's
value is the face it belongs to on the solved cube, so the solved state is ``[0]*9 + [1]*9 + ... + [5]*9``.

Move ids (one table for both metrics, so the quarter-turn action space is a prefix of the half-turn one)::

    id    0  1   2  3   4  5   6  7   8  9   10 11   12 13 14 15 16 17
    move  U  U'  R  R'  F  F'  D  D'  L  L'  B  B'   U2 R2 F2 D2 L2 B2

Quarter turn ``2 * face + k`` is clockwise (``k=0``) or anticlockwise (``k=1``) seen facing that face,
so the inverse of quarter turn ``m`` is ``m ^ 1``; half turn ``12 + face`` is its own inverse.

The permutation tables are derived from 3-D geometry (each sticker has a cubie position and an outward
normal; a move rotates a layer by -90 degrees about the face normal) rather than typed in by hand.
"""

from __future__ import annotations

import numpy as np

FACE_NAMES = "URFDLB"
NUM_FACES = 6
NUM_STICKERS = 54
NUM_QUARTER_TURNS = 12
NUM_HALF_TURN_METRIC_MOVES = 18

SOLVED_STATE = np.repeat(np.arange(NUM_FACES, dtype=np.uint8), 9)
SOLVED_STATE.setflags(write=False)
SOLVED_FACELETS = "".join(ch * 9 for ch in FACE_NAMES)

MOVE_NAMES: tuple[str, ...] = tuple(
    [face + suffix for face in FACE_NAMES for suffix in ("", "'")] + [face + "2" for face in FACE_NAMES]
)
MOVE_IDS: dict[str, int] = {name: move_id for move_id, name in enumerate(MOVE_NAMES)}
QUARTER_TURN_NAMES = MOVE_NAMES[:NUM_QUARTER_TURNS]

# MOVE_FACE[m]: face turned by move m; MOVE_QUARTER_TURNS[m]: clockwise quarter turns (1, 3 or 2).
MOVE_FACE = np.array([m // 2 for m in range(12)] + list(range(6)), dtype=np.int64)
MOVE_QUARTER_TURNS = np.array([1, 3] * 6 + [2] * 6, dtype=np.int64)
INVERSE_MOVE = np.array([m ^ 1 for m in range(12)] + list(range(12, 18)), dtype=np.int64)

# Outward normal of each face in a right-handed frame: x towards R, y towards U, z towards F.
_FACE_NORMALS = np.array([(0, 1, 0), (1, 0, 0), (0, 0, 1), (0, -1, 0), (-1, 0, 0), (0, 0, -1)])


def _sticker_position(face: int, row: int, col: int) -> tuple[int, int, int]:
    """Cubie centre (each coordinate in -1..1) of the sticker at ``row, col`` of ``face`` (DESIGN.md view)."""
    a, b = 1 - row, col - 1  # a: up the face as printed, b: rightwards as printed
    if face == 0:  # U: B at the top, so "up" is -z
        return (b, 1, -a)
    if face == 1:  # R: U at the top, F on the left
        return (1, a, -b)
    if face == 2:  # F
        return (b, a, 1)
    if face == 3:  # D: F at the top, so "up" is +z
        return (b, -1, a)
    if face == 4:  # L: B on the left
        return (-1, a, b)
    return (-b, a, -1)  # B: R on the left


def _sticker_geometry() -> tuple[np.ndarray, np.ndarray]:
    positions = np.array(
        [_sticker_position(f, r, c) for f in range(6) for r in range(3) for c in range(3)], dtype=np.int64
    )
    normals = np.repeat(_FACE_NORMALS, 9, axis=0)
    return positions, normals


def _rotate_clockwise(vectors: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Rotate integer vectors by -90 degrees about ``axis`` (clockwise seen from the tip of ``axis``)."""
    return -np.cross(axis, vectors) + np.outer(vectors @ axis, axis)


def _build_move_permutations() -> np.ndarray:
    """``perm[m, i]``: the sticker index whose sticker lands on index ``i`` after move ``m``."""
    positions, normals = _sticker_geometry()
    index_of = {(tuple(p), tuple(n)): i for i, (p, n) in enumerate(zip(positions, normals, strict=True))}
    quarter = np.empty((NUM_FACES, NUM_STICKERS), dtype=np.int64)
    for face in range(NUM_FACES):
        axis = _FACE_NORMALS[face]
        in_layer = positions @ axis == 1
        new_positions = np.where(in_layer[:, None], _rotate_clockwise(positions, axis), positions)
        new_normals = np.where(in_layer[:, None], _rotate_clockwise(normals, axis), normals)
        for source in range(NUM_STICKERS):
            destination = index_of[(tuple(new_positions[source]), tuple(new_normals[source]))]
            quarter[face, destination] = source
    perms = np.empty((NUM_HALF_TURN_METRIC_MOVES, NUM_STICKERS), dtype=np.int64)
    for move in range(NUM_HALF_TURN_METRIC_MOVES):
        perm = np.arange(NUM_STICKERS)
        for _ in range(MOVE_QUARTER_TURNS[move]):
            perm = perm[quarter[MOVE_FACE[move]]]
        perms[move] = perm
    return perms


MOVE_PERMUTATIONS = _build_move_permutations()

# Every face turn moves exactly 20 stickers (8 on the face, 12 around it); the kernels copy the state
# and rewrite only these, which is what makes a move cost ~20 byte loads instead of 54.
NUM_MOVED_STICKERS = 20


def _build_moved_sticker_tables() -> tuple[np.ndarray, np.ndarray]:
    destinations = np.empty((NUM_HALF_TURN_METRIC_MOVES, NUM_MOVED_STICKERS), dtype=np.int64)
    sources = np.empty_like(destinations)
    for move, perm in enumerate(MOVE_PERMUTATIONS):
        moved = np.flatnonzero(perm != np.arange(NUM_STICKERS))
        assert len(moved) == NUM_MOVED_STICKERS, (MOVE_NAMES[move], len(moved))
        destinations[move] = moved
        sources[move] = perm[moved]
    return destinations, sources


MOVED_DESTINATIONS, MOVED_SOURCES = _build_moved_sticker_tables()

# Cubie facelets in Kociemba's convention (the cube's de-facto standard): the first facelet of every
# corner and of the U/D edges lies on U or D, that of the four middle edges on F or B; corner facelets
# run clockwise. Piece j's home colours are the faces of CORNER_FACELETS[j] / EDGE_FACELETS[j] // 9.
CORNER_NAMES = ("URF", "UFL", "ULB", "UBR", "DFR", "DLF", "DBL", "DRB")
CORNER_FACELETS = np.array(
    [
        [8, 9, 20],
        [6, 18, 38],
        [0, 36, 47],
        [2, 45, 11],
        [29, 26, 15],
        [27, 44, 24],
        [33, 53, 42],
        [35, 17, 51],
    ],
    dtype=np.int64,
)
EDGE_NAMES = ("UR", "UF", "UL", "UB", "DR", "DF", "DL", "DB", "FR", "FL", "BL", "BR")
EDGE_FACELETS = np.array(
    [
        [5, 10],
        [7, 19],
        [3, 37],
        [1, 46],
        [32, 16],
        [28, 25],
        [30, 43],
        [34, 52],
        [23, 12],
        [21, 41],
        [50, 39],
        [48, 14],
    ],
    dtype=np.int64,
)
CENTRE_FACELETS = np.arange(4, NUM_STICKERS, 9)

for _table in (
    MOVE_FACE,
    MOVE_QUARTER_TURNS,
    INVERSE_MOVE,
    MOVE_PERMUTATIONS,
    MOVED_DESTINATIONS,
    MOVED_SOURCES,
    CORNER_FACELETS,
    EDGE_FACELETS,
    CENTRE_FACELETS,
):
    _table.setflags(write=False)
