"""The puzzle job's model: the task and encoder a config describes, a trained one loaded for use, and
the latent distance it gives the planners.

Training (:mod:`clrl.crtr.train`), evaluation and solving all build the model here; this module
never imports training code.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clrl.checkpoint import Checkpoint, CheckpointError, check_sections, load_checkpoint, shipped_checkpoint
from clrl.config import with_added_keys
from clrl.data.cube import CubeTask
from clrl.data.sokoban import SokobanTask
from clrl.data.tasks import HeldOut, PuzzleTask
from clrl.encoders import build_encoder
from clrl.envs.cube.symmetry import NUM_SYMMETRIES, symmetric_images
from clrl.errors import UserError
from clrl.planners import LatentDistance, SymmetricMean
from clrl.precision import check_precision

CHECKPOINT_NAME = "checkpoint.pt"
TASKS = {"cube": CubeTask, "sokoban": SokobanTask}


def make_task(job: str, config: dict[str, Any]) -> PuzzleTask:
    if job not in TASKS:
        raise UserError(f"no puzzle task {job!r}")
    return TASKS[job](config)


def build_model(job: str, config: dict[str, Any]) -> tuple[PuzzleTask, torch.nn.Module]:
    """The task and its encoder, as configured; used by training, evaluation and the solver."""
    task = make_task(job, config)
    encoder = build_encoder(config["model"], **task.encoder_inputs())
    return task, encoder


def load_start_encoder(job: str, config: dict[str, Any], encoder: torch.nn.Module) -> Checkpoint:
    """Fine-tuning's start (``train.init_from``): the saved encoder's weights, loaded into ``encoder``.

    The ``model`` config must be the saved run's, except that a residual MLP may be deeper: the
    blocks it adds start as identities (:meth:`clrl.encoders.ResidualMLP.load_grown`), so the grown
    encoder starts from the saved distance. Returns the checkpoint (its other weights).
    """
    path = config["train"]["init_from"]
    start = load_checkpoint(path, job=job)
    saved, wanted = with_added_keys(job, start.config), with_added_keys(job, config)
    added_blocks = 0
    if saved["model"]["encoder"] == wanted["model"]["encoder"] == "resmlp":
        added_blocks = max(0, wanted["model"]["blocks"] - saved["model"]["blocks"])
    as_saved = {**wanted, "model": {**wanted["model"], "blocks": wanted["model"]["blocks"] - added_blocks}}
    check_sections(path, saved, as_saved, ("model",))
    if added_blocks:
        try:
            encoder.load_grown(start.state["encoder"], saved_blocks=saved["model"]["blocks"])
        except ValueError as exc:  # weights that do not match the config saved with them
            raise CheckpointError(f"checkpoint {path}: {exc}") from None
    else:
        encoder.load_state_dict(start.state["encoder"])
    return start


def latent_heuristic(
    task: PuzzleTask,
    encoder: torch.nn.Module,
    config: dict[str, Any],
    start: np.ndarray,
    device,
    precision: str = "float32",
) -> LatentDistance:
    """Latent distance to the goals of the puzzle that starts at ``start``, as a planner heuristic."""
    similarity = config["loss"]["similarity"]
    return LatentDistance(encoder, task.featurize, task.goals(start), similarity, device, precision=precision)


def symmetric_mean(
    task: PuzzleTask, distance: LatentDistance, symmetries: int
) -> LatentDistance | SymmetricMean:
    """``distance`` read as its mean over the first ``symmetries`` symmetric images of each cube state
    (the tables' order: rotations, then mirrors). One image, or an encoder of canonical images
    (``model.canonical``, every image one input), reads the state once."""
    if symmetries == 1 or (isinstance(task, CubeTask) and task.canonical):
        return distance
    chosen = np.arange(symmetries)
    return SymmetricMean(distance, lambda states: symmetric_images(states, chosen), symmetries)


def distance_to_own_goal(
    task: PuzzleTask, encoder: torch.nn.Module, config: dict[str, Any], heldout: HeldOut, device
) -> np.ndarray:
    """Latent distance of every held-out state to the goal of its own trajectory.

    Sokoban goals differ from level to level, so each trajectory is scored against its own.
    """
    distances = []
    for begin, end in itertools.pairwise(heldout.offsets):
        states = heldout.states[begin:end]
        distances.append(latent_heuristic(task, encoder, config, states[0], device)(states))
    return np.concatenate(distances)


def check_symmetries(job: str, symmetries: int) -> None:
    """One clear error for a symmetry count the puzzle does not have (only the cube has them)."""
    most = NUM_SYMMETRIES if job == "cube" else 1
    if isinstance(symmetries, bool) or not isinstance(symmetries, int) or not 1 <= symmetries <= most:
        raise UserError(f"symmetries must be an integer from 1 to {most} for {job}, got {symmetries!r}")


def pretrained_path(job: str) -> Path:
    return shipped_checkpoint(f"{job}.pt")


def resolve_checkpoint(job: str, checkpoint: Path | None) -> Path:
    """The file to load: the shipped ``<job>.pt`` by default; ``checkpoint`` when it is a file; else a
    shipped checkpoint of that name (``--checkpoint cube_crtr`` picks ``clrl/pretrained/cube_crtr.pt``)."""
    if checkpoint is None:
        path = pretrained_path(job)
        if not path.is_file():
            raise UserError(f"no shipped {job} checkpoint at {path}; pass --checkpoint or train one")
        return path
    shipped = shipped_checkpoint(f"{Path(checkpoint).stem}.pt")
    if not Path(checkpoint).exists() and Path(checkpoint).name == Path(checkpoint).stem and shipped.is_file():
        return shipped
    return Path(checkpoint)


@dataclass
class LearnedModel:
    """A trained encoder with its task, ready to build heuristics for any start state."""

    task: PuzzleTask
    encoder: torch.nn.Module
    config: dict[str, Any]
    moves_per_unit: float = 1.0  # scales latent distance to moves for weighted A*
    precision: str = "float32"  # of the encoder's forward pass when planning (clrl.precision.PRECISIONS)
    device: str = "cpu"  # where the encoder scores states (the search itself runs in NumPy)

    @classmethod
    def load(
        cls, job: str, checkpoint: Path | None, precision: str = "float32", device: str = "cpu"
    ) -> LearnedModel:
        check_precision(precision, "precision")
        saved = load_checkpoint(resolve_checkpoint(job, checkpoint), job=job)
        config = with_added_keys(job, saved.config)
        task, encoder = build_model(job, config)
        encoder.load_state_dict(saved.state["encoder"])
        encoder.eval()
        return cls(task, encoder, config, precision=precision, device=device)

    def heuristic(self, start: np.ndarray, symmetries: int = 1) -> LatentDistance | SymmetricMean:
        """The latent distance to the goal of ``start``; for the cube with ``symmetries > 1``, its mean
        over that many of each state's symmetric images (the first of the tables: rotations, then
        mirrors). An encoder of canonical images (``model.canonical``) reads every image of a state as
        the same input, so it scores the state once whatever ``symmetries`` asks."""
        check_symmetries("cube" if isinstance(self.task, CubeTask) else "sokoban", symmetries)
        distance = latent_heuristic(self.task, self.encoder, self.config, start, self.device, self.precision)
        return symmetric_mean(self.task, distance, symmetries)

    def distances(self, heldout: HeldOut) -> np.ndarray:
        """Latent distance of held-out states to their own trajectory's goal."""
        return distance_to_own_goal(self.task, self.encoder, self.config, heldout, self.device)

    def fit_move_scale(self, heldout: HeldOut) -> None:
        """Least-squares slope of moves-to-go on latent distance (above the goal's), for weighted A*."""
        distance = self.distances(heldout)
        distance = distance - distance.min()
        moves_to_go = heldout.moves_to_go
        self.moves_per_unit = float((distance @ moves_to_go) / max(float(distance @ distance), 1e-12))
