"""What a puzzle task gives CRTR training, evaluation and solving: the protocol, and held-out data.

A task bundles, for one puzzle, the planner domain, the featurizer (states -> encoder input, the same
at training and planning time), the CRTR batch sampler, held-out trajectories with their
moves-to-go, and a renderer for TensorBoard. :class:`clrl.data.cube.CubeTask` and
:class:`clrl.data.sokoban.SokobanTask` implement it; the puzzle job picks one by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch


class HeldOut(NamedTuple):
    """Held-out trajectories, concatenated.

    states: ``(T, *S)``; trajectory ``k`` is ``states[offsets[k]:offsets[k + 1]]`` and ends solved.
    moves_to_go: ``(T,)`` moves from each state to the end of its trajectory.
    offsets: ``(K + 1,)`` int64.
    """

    states: np.ndarray
    moves_to_go: np.ndarray
    offsets: np.ndarray


class PuzzleTask(Protocol):
    job: str
    domain: Any

    def encoder_inputs(self) -> dict[str, int]:
        """Keyword arguments that size the encoder's input (``in_dim`` or ``in_channels``)."""

    def prepare(self, run_dir: Path) -> None:
        """Make or load what sampling needs before the first batch."""

    def featurize(self, states: np.ndarray) -> torch.Tensor:
        """``(N, *S)`` states -> encoder input."""

    def sample_batch(
        self, rng: np.random.Generator, batch_size: int, repetition_factor: int, gamma: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Anchor and future states of one CRTR batch."""

    def heldout(self, seed: int, count: int) -> HeldOut:
        """``count`` held-out trajectories with the moves-to-go of each state."""

    def goals(self, start: np.ndarray) -> np.ndarray:
        """The goal states of the puzzle that starts at ``start`` (the nearest counts)."""

    def eval_puzzles(self, seed: int, eval_config: dict[str, Any]) -> np.ndarray:
        """The puzzles greedy descent is scored on while training."""

    def render(self, state: np.ndarray) -> np.ndarray:
        """An RGB image of one state."""

    def reach_suite(self, seed: int) -> dict[int, np.ndarray]:
        """States at known exact distances from the goal, by distance (empty if none are known)."""
