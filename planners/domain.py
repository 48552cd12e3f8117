"""Puzzle domains as the planners see them: batched children, goal test and hashing.

A domain wraps an environment's functional core. States are NumPy arrays with a leading batch axis;
``children`` returns every successor of every state at once (with a validity mask for puzzles where
some actions are not allowed), so a planner expands a whole frontier in one kernel call.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from clrl.envs.cube import kernels as cube_kernels
from clrl.envs.cube.constants import INVERSE_MOVE, MOVE_NAMES, NUM_QUARTER_TURNS
from clrl.envs.sokoban import kernels as sokoban_kernels
from clrl.envs.sokoban.constants import ACTION_LETTERS, BACKGROUND
from clrl.envs.sokoban.deadlocks import dead_squares, deadlocked


class Domain(Protocol):
    num_actions: int

    def children(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N, *S) -> (N, A, *S)`` successors and an ``(N, A)`` bool mask of legal actions."""

    def is_solved(self, states: np.ndarray) -> np.ndarray:
        """``(N, *S) -> (N,)`` bool."""

    def hash(self, states: np.ndarray) -> np.ndarray:
        """``(N, *S) -> (N,)`` uint64 keys for duplicate detection."""

    def format_solution(self, start: np.ndarray, actions: list[int]) -> str:
        """A solution from ``start`` as text in the puzzle's own notation."""


class CubeDomain:
    """The Rubik's Cube in the 12 quarter turns (the moves the learned model was trained on)."""

    num_actions = NUM_QUARTER_TURNS
    inverse_action = INVERSE_MOVE[:NUM_QUARTER_TURNS]  # quarter turn m is undone by m ^ 1

    def children(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        successors = cube_kernels.children(states, metric="quarter")
        return successors, np.ones(successors.shape[:2], dtype=bool)

    def is_solved(self, states: np.ndarray) -> np.ndarray:
        return cube_kernels.is_solved(states)

    def hash(self, states: np.ndarray) -> np.ndarray:
        return cube_kernels.hash_states(states)

    def format_solution(self, start: np.ndarray, actions: list[int]) -> str:
        return " ".join(MOVE_NAMES[a] for a in actions)


class SokobanDomain:
    """Sokoban in single steps (up, down, left, right); a blocked step is not a legal action.

    With ``prune_deadlocks`` a step that leaves the level provably unsolvable (a box pushed onto a
    dead square, or frozen off a goal) is not legal either, so no planner wastes its budget below it.
    """

    num_actions = 4

    def __init__(self, prune_deadlocks: bool = True) -> None:
        self.prune_deadlocks = prune_deadlocks
        self._layout: tuple | None = None  # shape, walls and goals of the level whose dead squares are cached
        self._dead: np.ndarray | None = None

    def children(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        successors, valid = sokoban_kernels.children(np.ascontiguousarray(states))
        if self.prune_deadlocks and len(states):
            flat = successors.reshape(-1, *successors.shape[2:])
            valid &= ~deadlocked(flat, self._dead_squares(states[0])).reshape(valid.shape)
        return successors, valid

    def _dead_squares(self, state: np.ndarray) -> np.ndarray:
        layout = (state.shape, BACKGROUND[state].tobytes())
        if layout != self._layout:
            self._layout, self._dead = layout, dead_squares(BACKGROUND[state])
        return self._dead

    def is_solved(self, states: np.ndarray) -> np.ndarray:
        return sokoban_kernels.is_solved(np.ascontiguousarray(states))

    def hash(self, states: np.ndarray) -> np.ndarray:
        return sokoban_kernels.hash_states(np.ascontiguousarray(states))

    def format_solution(self, start: np.ndarray, actions: list[int]) -> str:
        """LURD: lower case for a step, upper case for a push."""
        letters, state = [], start[None]
        for action in actions:
            following, _, pushed = sokoban_kernels.step(state, np.array([action]))
            letter = ACTION_LETTERS[action]
            letters.append(letter.upper() if pushed[0] else letter)
            state = following
        return "".join(letters)
