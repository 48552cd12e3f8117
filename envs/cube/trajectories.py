"""Random-walk trajectories for contrastive training (CRTR): batched walks from the solved cube.

Each walk takes ``length`` quarter turns from solved, never undoing the previous turn, and is stored
reversed, so a trajectory runs from a scrambled cube to the solved one: ``states[i, -1]`` is solved and
``moves[i, t]`` turns ``states[i, t]`` into ``states[i, t + 1]`` (the inverse of the walk's move). Fast
enough to draw fresh trajectories every training step.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import prange

from .constants import INVERSE_MOVE, NUM_QUARTER_TURNS, NUM_STICKERS, SOLVED_STATE
from .kernels import compile_serial_and_parallel, move_into, pick_kernel

_INVERSE_MOVE = np.ascontiguousarray(INVERSE_MOVE)
_SOLVED_STATE = SOLVED_STATE.copy()


class Trajectories(NamedTuple):
    """A batch of trajectories that end solved.

    states: (N, L + 1, 54) uint8, ``states[:, -1]`` solved.
    moves: (N, L) int64 quarter-turn ids, ``states[:, t + 1] = apply_moves(states[:, t], moves[:, t])``.
    """

    states: np.ndarray
    moves: np.ndarray


def _random_walks_body(first_moves, later_draws, states, moves):
    """Fill ``states`` (N, L+1, 54) and ``moves`` (N, L) from random draws.

    first_moves: (N,) uint8 in 0..11, the walk's first turn. later_draws: (N, L-1) uint8 in 0..10, an
    index among the 11 turns that do not undo the previous one.
    """
    length = moves.shape[1]
    for i in prange(states.shape[0]):
        states[i, length] = _SOLVED_STATE
        previous = -1
        for step in range(length):
            if step == 0:
                move = np.int64(first_moves[i])
            else:
                move = np.int64(later_draws[i, step - 1])
                if move >= _INVERSE_MOVE[previous]:  # skip over the inverse of the previous turn
                    move += 1
            move_into(states[i, length - step], move, states[i, length - step - 1])
            moves[i, length - step - 1] = _INVERSE_MOVE[move]
            previous = move


random_walks_kernel, _random_walks_parallel = compile_serial_and_parallel(_random_walks_body)
ALL_KERNELS = (random_walks_kernel, _random_walks_parallel)


def random_walk_trajectories(
    rng_or_seed: int | np.random.Generator | None, n: int, length: int = 20
) -> Trajectories:
    """``n`` reversed random walks of ``length`` quarter turns; states ``(n, length + 1, 54)`` end solved."""
    if n < 0 or length < 0:
        raise ValueError(f"n and length must be >= 0, got n={n}, length={length}")
    rng = np.random.default_rng(rng_or_seed)
    first_moves = rng.integers(0, NUM_QUARTER_TURNS, size=n, dtype=np.uint8)
    later_draws = rng.integers(0, NUM_QUARTER_TURNS - 1, size=(n, max(length - 1, 0)), dtype=np.uint8)
    states = np.empty((n, length + 1, NUM_STICKERS), dtype=np.uint8)
    moves = np.empty((n, length), dtype=np.int64)
    pick_kernel(random_walks_kernel, _random_walks_parallel, n)(first_moves, later_draws, states, moves)
    return Trajectories(states, moves)


def random_states(rng_or_seed: int | np.random.Generator | None, n: int, depth: int) -> np.ndarray:
    """``(n, 54)`` cubes scrambled by ``depth`` quarter turns without immediate undos (the walks' starts)."""
    return random_walk_trajectories(rng_or_seed, n, depth).states[:, 0].copy()
