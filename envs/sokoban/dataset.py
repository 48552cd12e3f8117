"""Expert trajectory datasets for CRTR: solve levels and store every state along each solution.

A trajectory is the ``(L + 1, H, W)`` uint8 grids visited while replaying a LURD solution of length
``L``, from the level's start to the solved state. All trajectories are concatenated into one
``states`` array with ``offsets`` (trajectory ``k`` is ``states[offsets[k]:offsets[k + 1]]``) and
written with :func:`numpy.savez_compressed` (no pickled objects). Levels are solved in parallel
worker processes with a progress bar.

Command line::

    python -m clrl.envs.sokoban.dataset --out data/sokoban.npz --levels FILE [FILE ...] \
        [--generate N --seed S] [--budget NODES] [--workers W]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from clrl.envs.sokoban.generator import generate_level
from clrl.envs.sokoban.kernels import replay_states
from clrl.envs.sokoban.levels import Level, load_levels, pad_grid
from clrl.envs.sokoban.solver import DEFAULT_BUDGET, solve
from clrl.errors import UserError

FORMAT_VERSION = 1


class DatasetError(UserError):
    """A trajectory file is missing, unreadable or not of this format."""


@dataclass(frozen=True, eq=False)
class TrajectoryDataset:
    """Solved trajectories, concatenated.

    Attributes:
        states: ``(T, H, W)`` uint8 cell-type grids of all trajectories back to back.
        offsets: ``(K + 1,)`` int64; trajectory ``k`` is ``states[offsets[k]:offsets[k + 1]]``.
        solutions: ``(K,)`` LURD strings; ``len(solutions[k]) == offsets[k + 1] - offsets[k] - 1``.
        names: ``(K,)`` level names; sources: ``(K,)`` level origins (file or ``generator``).
        num_unsolved: levels dropped because the solver ran out of budget.
    """

    states: np.ndarray
    offsets: np.ndarray
    solutions: np.ndarray
    names: np.ndarray
    sources: np.ndarray
    num_unsolved: int = 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def trajectory(self, index: int) -> np.ndarray:
        """``(L + 1, H, W)`` states of trajectory ``index``."""
        return self.states[self.offsets[index] : self.offsets[index + 1]]


@dataclass(frozen=True)
class _GenerateSpec:
    seed: np.random.SeedSequence
    name: str
    shape: tuple[int, int]
    num_boxes: int


def _solve_one(job: tuple[Level | _GenerateSpec, tuple[int, int], int, float]):
    item, shape, budget, weight = job
    if isinstance(item, _GenerateSpec):
        generated = generate_level(np.random.default_rng(item.seed), item.shape, item.num_boxes)
        item = Level(grid=generated.grid, name=item.name, source="generator")
    level = Level(grid=pad_grid(item.grid, shape), name=item.name, source=item.source)
    result = solve(level, budget=budget, weight=weight)
    if not result.solved:
        return None
    return level.name, level.source, result.solution, replay_states(level, result.solution)


def build_trajectories(
    levels: list[Level] = (),
    *,
    generate: int = 0,
    seed: int = 0,
    generated_shape: tuple[int, int] = (10, 10),
    num_boxes: int = 4,
    shape: tuple[int, int] | None = None,
    budget: int = DEFAULT_BUDGET,
    weight: float = 1.0,
    workers: int | None = None,
    progress: bool = True,
) -> TrajectoryDataset:
    """Solve ``levels`` plus ``generate`` freshly generated levels; keep the solved trajectories.

    Args:
        levels: levels to solve (e.g. from :func:`load_levels`).
        generate, seed, generated_shape, num_boxes: how many levels to generate, and how.
        shape: grid size of the stored states (levels are padded with walls); default: the largest.
        budget, weight: solver settings (see :func:`clrl.envs.sokoban.solver.solve`).
        workers: worker processes (default: all cores; 1 solves in this process).
        progress: show a tqdm progress bar.
    """
    items: list[Level | _GenerateSpec] = list(levels)
    for index, child in enumerate(np.random.SeedSequence(seed).spawn(generate)):
        items.append(_GenerateSpec(child, f"{seed}/{index}", tuple(generated_shape), num_boxes))
    if not items:
        raise DatasetError("no levels to solve: give level files or a number of levels to generate")
    if shape is None:
        shapes = [item.grid.shape if isinstance(item, Level) else item.shape for item in items]
        shape = (max(s[0] for s in shapes), max(s[1] for s in shapes))
    jobs = [(item, tuple(shape), budget, weight) for item in items]
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(jobs), desc="solving", unit="level", disable=not progress)
    results = []
    if workers == 1:
        for job in jobs:
            results.append(_solve_one(job))
            bar.update()
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for result in pool.imap(_solve_one, jobs, chunksize=max(1, min(32, len(jobs) // (4 * workers)))):
                results.append(result)
                bar.update()
    bar.close()
    solved = [r for r in results if r is not None]
    lengths = np.array([len(r[3]) for r in solved], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    states = np.concatenate([r[3] for r in solved]) if solved else np.zeros((0, *shape), dtype=np.uint8)
    return TrajectoryDataset(
        states=states,
        offsets=offsets,
        solutions=np.array([r[2] for r in solved], dtype=np.str_),
        names=np.array([r[0] for r in solved], dtype=np.str_),
        sources=np.array([r[1] for r in solved], dtype=np.str_),
        num_unsolved=len(results) - len(solved),
    )


def save_trajectories(path: str | Path, dataset: TrajectoryDataset) -> None:
    """Write a dataset as compressed npz (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        format_version=np.int64(FORMAT_VERSION),
        states=dataset.states,
        offsets=dataset.offsets,
        solutions=dataset.solutions,
        names=dataset.names,
        sources=dataset.sources,
        num_unsolved=np.int64(dataset.num_unsolved),
    )


def load_trajectories(path: str | Path) -> TrajectoryDataset:
    """Read a dataset written by :func:`save_trajectories`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "format_version" not in data or int(data["format_version"]) != FORMAT_VERSION:
                raise DatasetError(f"{path}: not a Sokoban trajectory file of format {FORMAT_VERSION}")
            return TrajectoryDataset(
                states=data["states"],
                offsets=data["offsets"],
                solutions=data["solutions"],
                names=data["names"],
                sources=data["sources"],
                num_unsolved=int(data["num_unsolved"]),
            )
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: cannot read trajectory file ({error})") from error


def main(argv: list[str] | None = None) -> int:
    """Command line: build a trajectory file from level files and/or generated levels."""
    parser = argparse.ArgumentParser(
        prog="python -m clrl.envs.sokoban.dataset", description="Build a Sokoban expert trajectory file."
    )
    parser.add_argument("--out", required=True, help="output .npz path")
    parser.add_argument("--levels", nargs="*", default=[], help="Boxoban level files to solve")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N levels of each file")
    parser.add_argument("--generate", type=int, default=0, help="number of levels to generate")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="solver node budget per level")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    args = parser.parse_args(argv)
    try:
        levels = [level for path in args.levels for level in load_levels(path)[: args.limit]]
        dataset = build_trajectories(
            levels, generate=args.generate, seed=args.seed, budget=args.budget, workers=args.workers
        )
        save_trajectories(args.out, dataset)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    print(
        f"{len(dataset)} trajectories, {len(dataset.states)} states, {dataset.num_unsolved} unsolved "
        f"-> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
