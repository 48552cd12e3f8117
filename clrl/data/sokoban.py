"""The Sokoban CRTR task: solver trajectories from a dataset file, or built from generated levels.

States are ``(H, W)`` cell-type grids; the encoder sees their 7 one-hot planes. A trajectory is
every state along a classical-solver solution, so the moves-to-go of a state is its distance to the
end of that solution (an upper bound on the true distance, as in the CRTR evaluation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from clrl.data.tasks import HeldOut
from clrl.envs.sokoban.constants import BOX, BOX_ON_GOAL, FLOOR, GOAL, NUM_CELL_TYPES, PLAYER, PLAYER_ON_GOAL
from clrl.envs.sokoban.dataset import (
    TrajectoryDataset,
    build_trajectories,
    load_trajectories,
    save_trajectories,
)
from clrl.envs.sokoban.generator import generate_levels
from clrl.envs.sokoban.kernels import one_hot
from clrl.envs.sokoban.viewer import render_rgb
from clrl.errors import UserError
from clrl.losses.crtr import sample_crtr_batch
from clrl.planners.domain import SokobanDomain

HELDOUT_SEED_OFFSET = 1_000_003  # held-out levels come from a seed stream training never uses


class SokobanTask:
    job = "sokoban"
    domain = SokobanDomain()

    def __init__(self, config: dict[str, Any], dataset: TrajectoryDataset | None = None) -> None:
        self.config = config
        self._dataset = dataset

    def encoder_inputs(self) -> dict[str, int]:
        return {"in_channels": NUM_CELL_TYPES}

    def featurize(self, states: np.ndarray) -> torch.Tensor:
        """``(N, H, W) uint8 -> (N, 7, H, W)`` float one-hot planes."""
        return torch.from_numpy(one_hot(states)).float()

    def prepare(self, run_dir: Path) -> None:
        """Load or build the training trajectories (built ones are cached in the run dir)."""
        self.dataset(run_dir)

    def dataset(self, cache_dir: Path | None = None) -> TrajectoryDataset:
        """The training trajectories: ``data.dataset`` if given, else solved generated levels (cached)."""
        if self._dataset is None:
            data = self.config["data"]
            if data["dataset"] is not None:
                self._dataset = load_trajectories(data["dataset"])
            else:
                cache = (cache_dir or Path(".")) / "trajectories.npz"
                if cache.exists():
                    self._dataset = load_trajectories(cache)
                else:
                    self._dataset = build_trajectories(
                        generate=data["generated_levels"], seed=self.config["seed"]
                    )
                    save_trajectories(cache, self._dataset)
            if (
                len(self._dataset)
                < self.config["data"]["batch_size"] // self.config["data"]["repetition_factor"]
            ):
                raise UserError(
                    f"the Sokoban dataset has {len(self._dataset)} trajectories, fewer than one batch needs"
                )
        return self._dataset

    def sample_batch(
        self, rng: np.random.Generator, batch_size: int, repetition_factor: int, gamma: float
    ) -> tuple[np.ndarray, np.ndarray]:
        dataset = self.dataset()
        lengths = np.diff(dataset.offsets)
        trajectory, anchor, future = sample_crtr_batch(rng, lengths, batch_size, repetition_factor, gamma)
        start = dataset.offsets[trajectory]
        return dataset.states[start + anchor], dataset.states[start + future]

    def heldout(self, seed: int, count: int) -> HeldOut:
        """Solved held-out generated levels with the moves-to-go of each state along its solution."""
        held_out = build_trajectories(
            generate=count, seed=seed + HELDOUT_SEED_OFFSET, workers=1, progress=False
        )
        lengths = np.diff(held_out.offsets)
        moves_to_go = np.concatenate([np.arange(n - 1, -1, -1) for n in lengths])
        return HeldOut(held_out.states, moves_to_go, held_out.offsets)

    def goals(self, start: np.ndarray) -> np.ndarray:
        """Every solved version of ``start``: all boxes on goals, the player on any free cell."""
        solved = start.copy()
        solved[np.isin(solved, (PLAYER, PLAYER_ON_GOAL, BOX))] = FLOOR
        solved[(start == GOAL) | (start == PLAYER_ON_GOAL) | (start == BOX_ON_GOAL)] = BOX_ON_GOAL
        free = np.argwhere(solved == FLOOR)
        goals = np.repeat(solved[None], len(free), axis=0)
        goals[np.arange(len(free)), free[:, 0], free[:, 1]] = PLAYER
        return goals

    def eval_puzzles(self, seed: int, eval_config: dict[str, Any]) -> np.ndarray:
        levels = generate_levels(eval_config["greedy_puzzles"], seed=seed + 2 * HELDOUT_SEED_OFFSET)
        return np.stack([level.grid for level in levels])

    def render(self, state: np.ndarray) -> np.ndarray:
        return render_rgb(state)

    def reach_suite(self, seed: int) -> dict[int, np.ndarray]:
        """No states of known exact distance: Sokoban has no goal table."""
        return {}
