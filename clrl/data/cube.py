"""The Rubik's Cube as a CRTR task (:class:`clrl.data.tasks.PuzzleTask`): random walks from solved,
or the near-optimal solution paths of Kociemba's two-phase solver."""

from __future__ import annotations

import os
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clrl.data.tasks import HeldOut
from clrl.envs.cube.constants import NUM_FACES, NUM_STICKERS, SOLVED_STATE
from clrl.envs.cube.facelets import CUBIE_CLASSES, NUM_CUBIE_POSITIONS, cubie_ids
from clrl.envs.cube.kernels import apply_moves
from clrl.envs.cube.symmetry import canonical_images
from clrl.envs.cube.trajectories import random_states, random_walk_trajectories
from clrl.envs.cube.viewer import render_rgb
from clrl.errors import UserError
from clrl.losses.crtr import sample_crtr_batch
from clrl.planners.domain import CubeDomain
from clrl.planners.exact_distance import nearer_child_rate, nearer_move_picks, states_at_distance
from clrl.planners.goal_table import MAX_GOAL_RADIUS, cube_goal_table
from clrl.planners.running import kociemba_solve
from clrl.runs import progress_bar

TRAJECTORY_SOURCES = ("walks", "kociemba", "beam")
#: ``model.input`` -> the encoder's input width.
INPUT_WIDTHS = {
    "onehot": NUM_STICKERS * NUM_FACES,
    "ids": NUM_STICKERS,
    "cubies": NUM_CUBIE_POSITIONS * CUBIE_CLASSES,
}
#: Each face's pairs of touching stickers in its 3 x 3 grid: 8 corner-edge pairs and 4 edge-centre pairs.
_FACE_NEIGHBOURS = (
    *((0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8)),  # along the rows
    *((0, 3), (3, 6), (1, 4), (4, 7), (2, 5), (5, 8)),  # down the columns
)
#: ``(72, 2)`` sticker indices of every pair of touching stickers on the cube's faces.
NEIGHBOUR_STICKERS = np.array(
    [(9 * face + a, 9 * face + b) for face in range(NUM_FACES) for a, b in _FACE_NEIGHBOURS], dtype=np.intp
)
KOCIEMBA_PATHS_FILE = "kociemba_paths.npz"
#: The learned beam's solution paths (``data.trajectories: beam``), built by
#: :func:`clrl.crtr.expert_iteration.prepare_beam_paths` before :meth:`CubeTask.prepare` reads them.
BEAM_PATHS_FILE = "beam_paths.npz"


def one_hot(ids: np.ndarray, classes: int) -> torch.Tensor:
    """``(N, K)`` class ids -> ``(N, K * classes)`` float32 one-hot rows.

    A scatter into zeros: 3-5x faster than ``F.one_hot``'s int64 tensor and float copy on the
    ~25k children of one beam layer, where featurizing is a sizeable share of the search.
    """
    index = torch.from_numpy(np.asarray(ids, dtype=np.int64)).unsqueeze(2)
    rows = torch.zeros(index.shape[0], index.shape[1], classes)
    return rows.scatter_(2, index, 1.0).flatten(1)


class CubeTask:
    """Rubik's Cube: fresh reversed random walks from solved every batch (nothing is stored), or,
    with ``data.trajectories: kociemba``, the solution paths of ``data.kociemba_cubes`` random cubes
    (built once, cached in the run dir), or with ``data.trajectories: beam`` the learned beam's own
    solution paths of ``data.beam_cubes`` random cubes (expert iteration; built once into the run dir
    by :mod:`clrl.crtr.expert_iteration`, which this data module may not import).

    The moves-to-go of a state on a walk is its distance from the walk's end; for the short walks
    used here it is close to the true distance, and it is what CRTR's evaluation uses. Random walks
    double back, so a state 20 moves along one is usually nearer; a two-phase solution path is
    within a few quarter turns of optimal all along, so its offsets are near-true distances from
    about 30 moves out (the random cube's distance) down to solved.
    """

    job = "cube"
    domain = CubeDomain()

    def __init__(self, config: dict[str, Any]) -> None:
        self.length = config["data"]["trajectory_length"]
        self.input = config["model"]["input"]
        self.canonical = config["model"]["canonical"]
        self.neighbour_matches = config["model"]["neighbour_matches"]
        self.nearer_child_states = config["eval"]["nearer_child_states"]
        self.nearer_child_max_distance = config["eval"]["nearer_child_max_distance"]
        self.source = config["data"]["trajectories"]
        self.kociemba_cubes = config["data"]["kociemba_cubes"]
        self.seed = config["seed"]
        self._paths: tuple[np.ndarray, np.ndarray] | None = None
        if self.source not in TRAJECTORY_SOURCES:
            raise UserError(
                f"data.trajectories must be one of {', '.join(TRAJECTORY_SOURCES)}, got {self.source!r}"
            )
        if self.input not in INPUT_WIDTHS:
            raise UserError(f"model.input must be one of {', '.join(INPUT_WIDTHS)}, got {self.input!r}")
        if self.length < 1:
            raise UserError(f"data.trajectory_length must be at least 1, got {self.length}")

    def encoder_inputs(self) -> dict[str, int]:
        extra = len(NEIGHBOUR_STICKERS) if self.neighbour_matches else 0
        return {"in_dim": INPUT_WIDTHS[self.input] + extra}

    def prepare(self, run_dir: Path) -> None:
        """Walks need nothing; Kociemba paths are loaded from the run dir, or built and saved there;
        beam paths are loaded from the run dir (where the puzzle job built them)."""
        if self.source == "walks":
            return
        cache = Path(run_dir) / (KOCIEMBA_PATHS_FILE if self.source == "kociemba" else BEAM_PATHS_FILE)
        if cache.exists():
            with np.load(cache) as saved:
                self._paths = saved["states"], saved["offsets"]
        elif self.source == "beam":
            raise RuntimeError(f"{cache} is missing: clrl.crtr.expert_iteration.prepare_beam_paths builds it")
        else:
            cubes = random_states(np.random.default_rng([self.seed, 4]), self.kociemba_cubes, 1000)
            self._paths = kociemba_paths(cubes)
            save_paths(cache, *self._paths)

    def featurize(self, states: np.ndarray) -> torch.Tensor:
        """``(N, 54) uint8`` states -> ``(N, 324)`` one-hot stickers, ``(N, 54)`` colour ids scaled
        to [0, 1], or ``(N, 480)`` one-hot cubies (which piece, which way round, at each of the 20
        corner and edge positions); with ``model.neighbour_matches``, 72 more columns.

        Stickers need the network to combine a piece's 2-3 colours before it knows which piece it
        sees; cubies hand it the pieces, which is what a move permutes. With ``model.canonical`` each
        state is first replaced by its canonical image (:func:`canonical_images`).
        ``model.neighbour_matches`` appends whether each pair of touching stickers on a face
        (:data:`NEIGHBOUR_STICKERS`) shows one colour: a corner and an edge still joined as on the
        solved cube, the blocks a solve builds, which a first layer would otherwise spend a unit per
        pair and colour to see.
        """
        if self.canonical:
            states = canonical_images(states)
        features = self._piece_features(states)
        if not self.neighbour_matches:
            return features
        states = np.asarray(states)
        matches = states[:, NEIGHBOUR_STICKERS[:, 0]] == states[:, NEIGHBOUR_STICKERS[:, 1]]
        return torch.cat([features, torch.from_numpy(matches).float()], dim=1)

    def _piece_features(self, states: np.ndarray) -> torch.Tensor:
        if self.input == "cubies":
            return one_hot(cubie_ids(states), CUBIE_CLASSES)
        if self.input == "onehot":
            return one_hot(states, NUM_FACES)
        return torch.from_numpy(np.ascontiguousarray(states)).float() / (NUM_FACES - 1)

    def sample_batch(
        self, rng: np.random.Generator, batch_size: int, repetition_factor: int, gamma: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Anchor and future states ``(B, 54)`` of one CRTR batch (layout of :func:`sample_crtr_batch`)."""
        if self.source != "walks":
            if self._paths is None:
                raise RuntimeError("CubeTask.prepare(run_dir) loads the solution paths before sampling")
            states, offsets = self._paths
            path, anchor, future = sample_crtr_batch(
                rng, np.diff(offsets), batch_size, repetition_factor, gamma
            )
            return states[offsets[path] + anchor], states[offsets[path] + future]
        num_walks = batch_size // repetition_factor
        walks = random_walk_trajectories(rng, num_walks, self.length).states
        lengths = np.full(num_walks, self.length + 1)
        walk, anchor, future = sample_crtr_batch(rng, lengths, batch_size, repetition_factor, gamma)
        return walks[walk, anchor], walks[walk, future]

    def heldout(self, seed: int, count: int) -> HeldOut:
        """``count`` held-out walks with the moves-to-go of each state along its walk."""
        walks = random_walk_trajectories(np.random.default_rng([seed, 1]), count, self.length).states
        moves_to_go = np.broadcast_to(np.arange(self.length, -1, -1), walks.shape[:2])
        offsets = np.arange(count + 1, dtype=np.int64) * (self.length + 1)
        return HeldOut(walks.reshape(-1, NUM_STICKERS), moves_to_go.reshape(-1).copy(), offsets)

    def goals(self, start: np.ndarray) -> np.ndarray:
        """``(1, 54)``: the solved cube."""
        return SOLVED_STATE[None].copy()

    def eval_puzzles(self, seed: int, eval_config: dict[str, Any]) -> np.ndarray:
        """The scrambles greedy descent is scored on during training (fixed by the seed)."""
        count, depth = eval_config["greedy_puzzles"], eval_config["greedy_scramble"]
        return random_states(np.random.default_rng([seed, 2]), count, depth)

    def render(self, state: np.ndarray) -> np.ndarray:
        return render_rgb(state, cell=8, gap=1)

    def reach_suite(self, seed: int) -> dict[int, np.ndarray]:
        """``eval.nearer_child_states`` states at each exact distance up to
        ``eval.nearer_child_max_distance`` (fixed by the seed)."""
        count, max_distance = self.nearer_child_states, self.nearer_child_max_distance
        table = cube_goal_table(MAX_GOAL_RADIUS)
        rng = np.random.default_rng([seed, 3])
        return {
            distance: states_at_distance(table, self.domain, random_states, distance, count, rng)
            for distance in range(1, max_distance + 1)
        }

    def nearer_child_rates(self, heuristic, suite: dict[int, np.ndarray]) -> dict[int, float]:
        """At each exact distance, how often the heuristic's best child is one move nearer."""
        table = cube_goal_table(MAX_GOAL_RADIUS)
        return {
            distance: nearer_child_rate(table, self.domain, heuristic, states, distance)
            for distance, states in suite.items()
        }

    def nearer_move_rates(self, move_scores, suite: dict[int, np.ndarray]) -> dict[int, float]:
        """At each exact distance, how often the best move of ``move_scores`` (``(N, 54) -> (N, 12)``,
        lower: nearer) leads one move nearer."""
        table = cube_goal_table(MAX_GOAL_RADIUS)
        return {
            distance: float(nearer_move_picks(table, self.domain, move_scores, states, distance).mean())
            for distance, states in suite.items()
        }


def replay(cube: np.ndarray, actions: list[int]) -> np.ndarray:
    """``(L + 1, 54)``: ``cube``, then the state after each of the quarter turns ``actions``."""
    states = [cube]
    for action in actions:
        states.append(apply_moves(states[-1][None], action)[0])
    return np.stack(states)


def solution_path(cube: np.ndarray) -> np.ndarray:
    """``(L + 1, 54)``: ``cube``, then each state along its Kociemba solution (quarter turns) to solved."""
    return replay(cube, kociemba_solve(cube).actions)


def save_paths(path: Path, states: np.ndarray, offsets: np.ndarray, **extra: np.ndarray) -> None:
    """Write concatenated paths (and ``extra`` arrays) to ``path`` atomically: a killed build leaves
    no file that a later run would take for a finished one."""
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, states=states, offsets=offsets, **extra)
    os.replace(partial, path)


def kociemba_paths(cubes: np.ndarray, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The solution paths of ``cubes``, concatenated: ``(T, 54)`` states and ``(K + 1,)`` offsets
    (path ``k`` is ``states[offsets[k]:offsets[k + 1]]`` and ends solved). About 20 ms per cube per
    core; ``workers`` processes (default: one per core)."""
    workers = workers or os.cpu_count() or 1
    progress = progress_bar(len(cubes), 0, "kociemba paths")
    with Pool(workers) as pool:
        paths = []
        for path in pool.imap(solution_path, cubes, chunksize=64):
            paths.append(path)
            progress.update(1)
    progress.close()
    offsets = np.zeros(len(paths) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(path) for path in paths])
    return np.concatenate(paths), offsets
