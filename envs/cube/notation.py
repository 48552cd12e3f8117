"""Singmaster notation: parse and format move sequences, invert and simplify them, seeded scrambles.

Sequences are move-id arrays in the 18-move table of :mod:`.constants` (ids 0..11 are the quarter turns
the model acts in, 12..17 the half turns). Text is whitespace-separated tokens ``X``, ``X'`` or ``X2``
for a face letter ``X`` in ``URFDLB`` (``X2'`` is read as ``X2``; separators may be omitted: ``RUR'U'``).
"""

from __future__ import annotations

import re

import numpy as np

from clrl.errors import UserError

from .constants import (
    FACE_NAMES,
    INVERSE_MOVE,
    MOVE_FACE,
    MOVE_IDS,
    MOVE_NAMES,
    MOVE_QUARTER_TURNS,
    NUM_HALF_TURN_METRIC_MOVES,
    NUM_QUARTER_TURNS,
)


class InvalidMoveNotation(UserError, ValueError):
    """Text that is not a sequence of Singmaster face turns."""


_TOKEN = re.compile(r"\s*([URFDLB])(2'?|')?")


def parse_moves(text: str) -> np.ndarray:
    """``"R U R' U2"`` -> ``int64`` move ids; raises :class:`InvalidMoveNotation` at the first bad token."""
    ids = []
    position = 0
    stripped_end = len(text.rstrip())
    while position < stripped_end:
        match = _TOKEN.match(text, position)
        if match is None:
            position += len(text[position:]) - len(text[position:].lstrip())
            offending = text[position:].split()[0]
            hint = " (wide and slice moves are not supported)" if offending[0] in "urfdlbMESxyz" else ""
            raise InvalidMoveNotation(
                f"cannot read move {offending!r} at character {position + 1}: "
                f"expected a face letter {'/'.join(FACE_NAMES)} optionally followed by ' or 2{hint}"
            )
        face, suffix = match.group(1), (match.group(2) or "")[:1]
        ids.append(MOVE_IDS[face + suffix])
        position = match.end()
    return np.array(ids, dtype=np.int64)


def format_moves(moves) -> str:
    """Move ids -> Singmaster text, e.g. ``[2, 0, 3, 12] -> "R U R' U2"``."""
    return " ".join(MOVE_NAMES[int(m)] for m in np.asarray(moves, dtype=np.int64).ravel())


def move_id(name: str) -> int:
    """``"R'" -> 3``: the id of one move."""
    if name not in MOVE_IDS:
        raise InvalidMoveNotation(f"unknown move {name!r}: expected one of {' '.join(MOVE_NAMES)}")
    return MOVE_IDS[name]


def invert_moves(moves) -> np.ndarray:
    """The sequence that undoes ``moves``: reversed, each move inverted."""
    return INVERSE_MOVE[np.asarray(moves, dtype=np.int64)[::-1]].copy()


def to_quarter_turns(moves) -> np.ndarray:
    """Rewrite half turns as two clockwise quarter turns so a sequence uses only ids 0..11."""
    out = []
    for move in np.asarray(moves, dtype=np.int64):
        out.extend([2 * MOVE_FACE[move]] * 2 if move >= NUM_QUARTER_TURNS else [move])
    return np.array(out, dtype=np.int64)


def _move_for_turns(face: int, quarter_turns: int) -> int | None:
    return {0: None, 1: 2 * face, 2: NUM_QUARTER_TURNS + face, 3: 2 * face + 1}[quarter_turns % 4]


def simplify_moves(moves) -> np.ndarray:
    """Merge consecutive turns of one face (``U U -> U2``, ``U U' -> ``) until nothing merges.

    The result has the same effect on every cube and is what solve output prints.
    """
    stack: list[int] = []
    for move in np.asarray(moves, dtype=np.int64):
        face, turns = int(MOVE_FACE[move]), int(MOVE_QUARTER_TURNS[move])
        if stack and MOVE_FACE[stack[-1]] == face:
            turns += int(MOVE_QUARTER_TURNS[stack.pop()])
        merged = _move_for_turns(face, turns)
        if merged is not None:
            stack.append(merged)
    return np.array(stack, dtype=np.int64)


def scramble(seed: int | np.random.Generator | None, length: int, metric: str = "half") -> np.ndarray:
    """A random sequence of ``length`` move ids in which no face is turned twice in a row.

    ``metric="half"`` draws from all 18 moves (the usual scramble), ``"quarter"`` from the 12 quarter
    turns. The same seed gives the same scramble.
    """
    if metric not in ("quarter", "half"):
        raise ValueError(f"metric must be 'quarter' or 'half', got {metric!r}")
    if length < 0:
        raise ValueError(f"scramble length must be >= 0, got {length}")
    rng = np.random.default_rng(seed)
    num_moves = NUM_QUARTER_TURNS if metric == "quarter" else NUM_HALF_TURN_METRIC_MOVES
    moves = np.empty(length, dtype=np.int64)
    previous_face = -1
    for step in range(length):
        # Draw among the moves of the other five faces, so no redraw loop is needed.
        allowed = np.flatnonzero(MOVE_FACE[:num_moves] != previous_face)
        moves[step] = allowed[rng.integers(len(allowed))]
        previous_face = MOVE_FACE[moves[step]]
    return moves
