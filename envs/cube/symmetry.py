"""The 48 symmetries of the cube (24 rotations, each with and without a mirror), as maps on states.

A symmetry ``g`` is an orthogonal matrix of the octahedral group acting on the whole cube: the
sticker at position ``p`` with normal ``n`` goes to ``g p, g n``, and, since the centres move with it,
its colour is renamed to the face its home centre went to. Renaming keeps the solved cube solved, and
the quarter-turn move set is closed under conjugation (a mirror turns clockwise into anticlockwise),
so ``g`` maps a shortest solution of ``s`` onto one of ``g(s)``: **every symmetry preserves the
distance to solved exactly.** A learned distance does not know that; scoring a state as the mean
over several of its images (:func:`symmetric_images`) averages out errors that one orientation
makes and another does not.

Tables (built once from the same 3-D sticker geometry as the moves, in :mod:`.constants`):
``SYMMETRY_MATRICES[k]`` (48, 3, 3), ``SYMMETRY_PERMUTATIONS[k, i]`` the sticker index whose sticker
lands on ``i``, ``SYMMETRY_COLOURS[k, c]`` the new name of colour ``c``, and ``SYMMETRY_MOVES[k, m]``
the move that ``g_k`` conjugates quarter turn ``m`` into: ``g(move_m(s)) = move_{g(m)}(g(s))``.
Index 0 is the identity; the first 24 are the rotations. :func:`canonical_images` picks one
representative of each state's images (the least), for an encoder that should see them as one.
"""

from __future__ import annotations

import itertools

import numpy as np
from numba import njit

from .constants import (
    _FACE_NORMALS,
    MOVE_PERMUTATIONS,
    NUM_FACES,
    NUM_QUARTER_TURNS,
    NUM_STICKERS,
    _sticker_geometry,
)

NUM_SYMMETRIES = 48
NUM_ROTATIONS = 24


def _octahedral_matrices() -> np.ndarray:
    """The 48 signed 3x3 permutation matrices, identity first, the 24 with determinant +1 next."""
    matrices = []
    for order in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            matrix = np.zeros((3, 3), dtype=np.int64)
            matrix[np.arange(3), order] = signs
            matrices.append(matrix)
    identity = np.eye(3, dtype=np.int64)
    # Stable sort: identity, then the other rotations, then the reflections.
    return np.stack(
        sorted(matrices, key=lambda m: (not np.array_equal(m, identity), round(np.linalg.det(m)) < 0))
    )


def _build_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    positions, normals = _sticker_geometry()
    index_of = {(tuple(p), tuple(n)): i for i, (p, n) in enumerate(zip(positions, normals, strict=True))}
    face_of_normal = {tuple(n): f for f, n in enumerate(_FACE_NORMALS)}
    matrices = _octahedral_matrices()
    permutations = np.empty((NUM_SYMMETRIES, NUM_STICKERS), dtype=np.int64)
    colours = np.empty((NUM_SYMMETRIES, NUM_FACES), dtype=np.uint8)
    for k, matrix in enumerate(matrices):
        for source in range(NUM_STICKERS):
            destination = index_of[(tuple(matrix @ positions[source]), tuple(matrix @ normals[source]))]
            permutations[k, destination] = source
        colours[k] = [face_of_normal[tuple(matrix @ normal)] for normal in _FACE_NORMALS]
    moves = np.empty((NUM_SYMMETRIES, NUM_QUARTER_TURNS), dtype=np.int64)
    for k in range(NUM_SYMMETRIES):
        for move in range(NUM_QUARTER_TURNS):
            # g m g^-1 as a sticker permutation; it must be one of the quarter turns.
            conjugate = _compose(
                _compose(_inverse(permutations[k]), MOVE_PERMUTATIONS[move]), permutations[k]
            )
            (match,) = np.flatnonzero((MOVE_PERMUTATIONS[:NUM_QUARTER_TURNS] == conjugate).all(axis=1))
            moves[k, move] = match
    return matrices, permutations, colours, moves


def _compose(first: np.ndarray, then: np.ndarray) -> np.ndarray:
    """Gather-permutation of applying ``first`` and then ``then`` (``state[first][then]``)."""
    return first[then]


def _inverse(permutation: np.ndarray) -> np.ndarray:
    inverse = np.empty_like(permutation)
    inverse[permutation] = np.arange(len(permutation))
    return inverse


SYMMETRY_MATRICES, SYMMETRY_PERMUTATIONS, SYMMETRY_COLOURS, SYMMETRY_MOVES = _build_tables()
for _table in (SYMMETRY_MATRICES, SYMMETRY_PERMUTATIONS, SYMMETRY_COLOURS, SYMMETRY_MOVES):
    _table.setflags(write=False)


def apply_symmetry(states: np.ndarray, symmetry: int) -> np.ndarray:
    """The image of ``(N, 54)`` states under symmetry ``symmetry`` (an index into the tables)."""
    return SYMMETRY_COLOURS[symmetry][states[:, SYMMETRY_PERMUTATIONS[symmetry]]]


def apply_symmetries(states: np.ndarray, symmetries: np.ndarray) -> np.ndarray:
    """``(N, 54)``: state ``i``'s image under its own symmetry ``symmetries[i]``."""
    symmetries = np.asarray(symmetries, dtype=np.int64)
    gathered = np.take_along_axis(states, SYMMETRY_PERMUTATIONS[symmetries], axis=1).astype(np.int64)
    renamed = SYMMETRY_COLOURS[symmetries][np.arange(len(states))[:, None], gathered]
    return renamed.astype(states.dtype, copy=False)


def move_values_of_images(values: np.ndarray, symmetries: np.ndarray) -> np.ndarray:
    """``(N, 12)`` values of each state's quarter turns, re-indexed by the turns of its image under
    ``symmetries[i]``: ``out[i, g(m)] = values[i, m]``, since turn ``m`` of ``s`` is turn ``g(m)`` of
    ``g(s)`` (a label of state ``i``'s moves becomes a label of :func:`apply_symmetries`' image)."""
    symmetries = np.asarray(symmetries, dtype=np.int64)
    out = np.empty_like(values)
    out[np.arange(len(values))[:, None], SYMMETRY_MOVES[symmetries]] = values
    return out


def symmetric_images(states: np.ndarray, symmetries: np.ndarray | list[int]) -> np.ndarray:
    """``(len(symmetries) * N, 54)``: the images of all states under each symmetry, symmetry-major."""
    symmetries = np.asarray(symmetries, dtype=np.int64)
    gathered = states[:, SYMMETRY_PERMUTATIONS[symmetries]]  # (N, G, 54)
    renamed = np.take_along_axis(SYMMETRY_COLOURS[symmetries][None], gathered.astype(np.int64), axis=2)
    return renamed.transpose(1, 0, 2).reshape(-1, NUM_STICKERS).astype(states.dtype, copy=False)


# the kernel's tables: contiguous, sticker indices (< 54) as bytes
_PERMUTATIONS_U8 = np.ascontiguousarray(SYMMETRY_PERMUTATIONS.astype(np.uint8))
_COLOURS = np.ascontiguousarray(SYMMETRY_COLOURS)


@njit(cache=True)
def _least_images_kernel(states, permutations, colours, least):
    for n in range(states.shape[0]):
        best = least[n]
        best[:] = states[n]
        for k in range(1, permutations.shape[0]):
            # Compare image k with the best so far sticker by sticker; once it is smaller at
            # sticker i (equal before it), the rest of it is written over the best.
            for i in range(states.shape[1]):
                sticker = colours[k, states[n, permutations[k, i]]]
                if sticker > best[i]:
                    break
                if sticker < best[i]:
                    for j in range(i, states.shape[1]):
                        best[j] = colours[k, states[n, permutations[k, j]]]
                    break


def canonical_images(states: np.ndarray) -> np.ndarray:
    """``(N, 54)``: each state's canonical image, the lexicographically least of its 48 images.

    Two states have the same canonical image exactly when one is a symmetric image of the other,
    and then they are equally far from solved: an encoder that reads canonical images never has to
    learn that invariance, and sees each class of up to 48 states as one input.
    """
    states = np.ascontiguousarray(states, dtype=np.uint8)
    least = np.empty_like(states)
    _least_images_kernel(states, _PERMUTATIONS_U8, _COLOURS, least)
    return least
