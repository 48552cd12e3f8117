"""Facelet strings: parsing, printing, cubie decomposition and validation of a reachable cube.

A facelet string has 54 letters in URFDLB order (see :mod:`.constants`); a letter names the face whose
centre has that colour. Validation checks, in this order, and stops at the first failure with one clear
message: length and letters, sticker counts, distinct centres, that every corner and edge is a real
piece and appears once, corner twist, edge flip and permutation parity. Exactly the states that pass
can be reached from solved by face turns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clrl.errors import UserError

from .constants import (
    CENTRE_FACELETS,
    CORNER_FACELETS,
    CORNER_NAMES,
    EDGE_FACELETS,
    EDGE_NAMES,
    FACE_NAMES,
    NUM_FACES,
    NUM_STICKERS,
)


class InvalidCubeState(UserError, ValueError):
    """A facelet string or state array that is not a cube reachable by face turns."""


_CORNER_HOME_COLOURS = CORNER_FACELETS // 9  # (8, 3): colours of piece j, U/D colour first, clockwise
_EDGE_HOME_COLOURS = EDGE_FACELETS // 9  # (12, 2)


def facelet_name(index: int) -> str:
    """``0 -> "U1"``, ``53 -> "B9"``: the conventional name of a sticker position."""
    return f"{FACE_NAMES[index // 9]}{index % 9 + 1}"


@dataclass(frozen=True)
class Cubies:
    """Cubie decomposition in Kociemba's convention.

    corner_permutation: (8,) int, the piece (index into CORNER_NAMES) sitting at each corner position.
    corner_orientation: (8,) int in 0..2, clockwise twist of that piece (0: its U/D sticker on U/D).
    edge_permutation: (12,) int, the piece (index into EDGE_NAMES) sitting at each edge position.
    edge_orientation: (12,) int in 0..1, whether that edge is flipped.
    """

    corner_permutation: np.ndarray
    corner_orientation: np.ndarray
    edge_permutation: np.ndarray
    edge_orientation: np.ndarray


def _colour_names(colours) -> str:
    return "".join(FACE_NAMES[c] for c in colours)


def _state_from_text(text: str) -> np.ndarray:
    """Letters -> face ids, checking length, letters, counts and centres (relabelling by the centres)."""
    letters = "".join(text.split()).upper()
    if len(letters) != NUM_STICKERS:
        raise InvalidCubeState(f"a cube state has {NUM_STICKERS} facelet letters, got {len(letters)}")
    for index, letter in enumerate(letters):
        if letter not in FACE_NAMES:
            raise InvalidCubeState(
                f"unknown letter {letter!r} at {facelet_name(index)} (position {index + 1}): "
                f"use the face letters {' '.join(FACE_NAMES)}"
            )
    for face_letter in FACE_NAMES:
        count = letters.count(face_letter)
        if count != 9:
            raise InvalidCubeState(f"wrong sticker counts: {face_letter} appears {count} times, expected 9")
    centres = [letters[i] for i in CENTRE_FACELETS]
    for face, letter in enumerate(centres):
        if centres.index(letter) != face:
            first, second = (facelet_name(int(CENTRE_FACELETS[f])) for f in (centres.index(letter), face))
            raise InvalidCubeState(f"centres are not distinct: {first} and {second} both read {letter!r}")
    # A letter means "the colour of the face whose centre shows it", so a cube held in another
    # orientation (centres not in URFDLB order) is relabelled to the standard one.
    face_of_letter = {letter: face for face, letter in enumerate(centres)}
    return np.array([face_of_letter[letter] for letter in letters], dtype=np.uint8)


def _check_state_array(state: np.ndarray) -> np.ndarray:
    array = np.asarray(state)
    if array.shape != (NUM_STICKERS,):
        raise InvalidCubeState(f"a cube state has {NUM_STICKERS} stickers, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() >= NUM_FACES:
        raise InvalidCubeState(f"sticker ids must be integers 0..{NUM_FACES - 1}")
    array = array.astype(np.uint8)
    counts = np.bincount(array, minlength=NUM_FACES)
    for face in range(NUM_FACES):
        if counts[face] != 9:
            raise InvalidCubeState(
                f"wrong sticker counts: {FACE_NAMES[face]} appears {counts[face]} times, expected 9"
            )
    if not np.array_equal(array[CENTRE_FACELETS], np.arange(NUM_FACES)):
        raise InvalidCubeState(
            f"centres must read {' '.join(FACE_NAMES)} in order, got {_colour_names(array[CENTRE_FACELETS])}"
        )
    return array


def _corner_cubies(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    permutation = np.empty(8, dtype=np.int64)
    orientation = np.empty(8, dtype=np.int64)
    for position in range(8):
        colours = state[CORNER_FACELETS[position]]
        for twist in range(3):
            rotated = np.roll(colours, -twist)  # the U/D colour first, then clockwise
            matches = np.flatnonzero((_CORNER_HOME_COLOURS == rotated).all(axis=1))
            if len(matches):
                permutation[position], orientation[position] = matches[0], twist
                break
        else:
            raise InvalidCubeState(
                f"the corner at {CORNER_NAMES[position]} "
                f"({', '.join(facelet_name(int(i)) for i in CORNER_FACELETS[position])}) has colours "
                f"{_colour_names(colours)}, which is not a real corner piece"
            )
    return permutation, orientation


def _edge_cubies(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    permutation = np.empty(12, dtype=np.int64)
    orientation = np.empty(12, dtype=np.int64)
    for position in range(12):
        colours = state[EDGE_FACELETS[position]]
        for flip in range(2):
            matches = np.flatnonzero((_EDGE_HOME_COLOURS == np.roll(colours, -flip)).all(axis=1))
            if len(matches):
                permutation[position], orientation[position] = matches[0], flip
                break
        else:
            raise InvalidCubeState(
                f"the edge at {EDGE_NAMES[position]} "
                f"({', '.join(facelet_name(int(i)) for i in EDGE_FACELETS[position])}) has colours "
                f"{_colour_names(colours)}, which is not a real edge piece"
            )
    return permutation, orientation


def _check_each_piece_once(permutation: np.ndarray, names: tuple[str, ...], kind: str) -> None:
    counts = np.bincount(permutation, minlength=len(names))
    if (counts != 1).any():
        twice, missing = names[int(np.argmax(counts > 1))], names[int(np.argmax(counts == 0))]
        raise InvalidCubeState(f"the {kind} piece {twice} appears twice and {missing} is missing")


def permutation_parity(permutation: np.ndarray) -> int:
    """0 for an even permutation, 1 for an odd one (via the cycle count)."""
    seen = np.zeros(len(permutation), dtype=bool)
    cycles = 0
    for start in range(len(permutation)):
        if not seen[start]:
            cycles += 1
            index = start
            while not seen[index]:
                seen[index] = True
                index = permutation[index]
    return (len(permutation) - cycles) % 2


def cubies(state: np.ndarray) -> Cubies:
    """Decompose a state into corner and edge permutation/orientation; raises if a piece is not real."""
    array = _check_state_array(state)
    corner_permutation, corner_orientation = _corner_cubies(array)
    edge_permutation, edge_orientation = _edge_cubies(array)
    _check_each_piece_once(corner_permutation, CORNER_NAMES, "corner")
    _check_each_piece_once(edge_permutation, EDGE_NAMES, "edge")
    return Cubies(corner_permutation, corner_orientation, edge_permutation, edge_orientation)


def validate_state(state: np.ndarray) -> None:
    """Raise :class:`InvalidCubeState` unless ``state`` ((54,) sticker ids) is reachable by face turns."""
    pieces = cubies(state)
    twist = int(pieces.corner_orientation.sum()) % 3
    if twist:
        direction = "clockwise" if twist == 1 else "anticlockwise"
        raise InvalidCubeState(
            f"corner twist is off by one: a corner has been turned in place ({direction} twist left over)"
        )
    if int(pieces.edge_orientation.sum()) % 2:
        raise InvalidCubeState("edge flip is off by one: an edge has been flipped in place")
    if permutation_parity(pieces.corner_permutation) != permutation_parity(pieces.edge_permutation):
        raise InvalidCubeState("permutation parity is odd: two pieces are swapped")


def parse_facelets(text: str, *, validate: bool = True) -> np.ndarray:
    """Facelet string (54 letters URFDLB, whitespace ignored) -> ``(54,) uint8`` state.

    Raises :class:`InvalidCubeState` with a specific message if the text is not a reachable cube
    (with ``validate=False`` only length, letters, counts and centres are checked).
    """
    if not isinstance(text, str):
        raise InvalidCubeState(f"a cube state is a {NUM_STICKERS}-letter string, not {type(text).__name__}")
    state = _state_from_text(text)
    if validate:
        validate_state(state)
    return state


def format_facelets(state: np.ndarray) -> str:
    """``(54,)`` sticker ids -> facelet string, e.g. the solved cube -> ``"UUUUUUUUURRR...BBB"``."""
    array = np.asarray(state)
    if array.shape != (NUM_STICKERS,):
        raise ValueError(f"expected a state of shape ({NUM_STICKERS},), got {array.shape}")
    return "".join(FACE_NAMES[int(c)] for c in array)


def is_valid_state(state: np.ndarray) -> bool:
    """Whether ``state`` is reachable by face turns (:func:`validate_state` without the message)."""
    try:
        validate_state(state)
    except InvalidCubeState:
        return False
    return True


def _colour_code(colours: np.ndarray) -> np.ndarray:
    """``(..., k)`` sticker colours of one position -> ``(...)`` base-6 number of the k colours."""
    return np.ravel_multi_index(tuple(np.moveaxis(colours, -1, 0)), (NUM_FACES,) * colours.shape[-1])


def _piece_lookup(home_colours: np.ndarray) -> np.ndarray:
    """Colour code of a position's stickers -> ``piece * orientations + orientation`` (-1: no piece).

    A position's stickers, read in its facelet order, are its piece's home colours rolled by the
    orientation (the rule of :func:`_corner_cubies` and :func:`_edge_cubies`).
    """
    pieces, orientations = home_colours.shape
    lookup = np.full(NUM_FACES**orientations, -1, dtype=np.int64)
    for orientation in range(orientations):
        codes = _colour_code(np.roll(home_colours, orientation, axis=1))
        lookup[codes] = np.arange(pieces) * orientations + orientation
    return lookup


_CORNER_LOOKUP = _piece_lookup(_CORNER_HOME_COLOURS)
_EDGE_LOOKUP = _piece_lookup(_EDGE_HOME_COLOURS)
#: Classes per position of :func:`cubie_ids`: 8 corners x 3 twists, and as many (12 edges x 2 flips).
CUBIE_CLASSES = _CORNER_HOME_COLOURS.size
assert _EDGE_HOME_COLOURS.size == CUBIE_CLASSES
NUM_CUBIE_POSITIONS = len(CORNER_FACELETS) + len(EDGE_FACELETS)


def cubie_ids(states: np.ndarray) -> np.ndarray:
    """``(N, 54)`` sticker ids -> ``(N, 20)``: what sits at each corner then each edge position,
    as ``piece * 3 + twist`` (corners) or ``piece * 2 + flip`` (edges), each in ``0..23``.

    The batched form of :func:`cubies` (same pieces and orientations) for reachable states; the
    rows are not validated (a sticker triple that is no real piece gives -1).
    """
    states = np.asarray(states, dtype=np.int64)
    corners = _CORNER_LOOKUP[_colour_code(states[:, CORNER_FACELETS])]  # (N, 8)
    edges = _EDGE_LOOKUP[_colour_code(states[:, EDGE_FACELETS])]  # (N, 12)
    return np.concatenate([corners, edges], axis=1)
