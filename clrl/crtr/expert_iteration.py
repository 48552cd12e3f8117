"""Expert iteration for the cube: the learned beam's own solutions of random cubes as CRTR trajectories.

With ``data.trajectories: beam`` a training run first solves ``data.beam_cubes`` random cubes with
the beam search of ``python -m clrl.solve cube``, guided by the latent distance of the checkpoint
``data.beam_from`` (null: the run's own ``train.init_from``) and, with ``data.beam_goal_radius > 0``,
finished along the goal table. Each solved cube's path (the cube, each state after one quarter turn,
..., solved) becomes one training trajectory, sampled exactly as the Kociemba paths are; unsolved
cubes are skipped and counted. The paths are built once into the run dir (``beam_paths.npz``), so a
resumed run trains on the same ones. One round is one ordinary train command; the next round's
``train.init_from`` (and so its beam) is this round's checkpoint.

The search runs in this one process, its encoder on the run's ``device`` (a GPU where there is one)
in ``train.precision`` (``auto``: bfloat16 where the device has it natively): worker processes would
each load torch and the model, and the batched forward pass already uses the cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from clrl.crtr.model import LearnedModel
from clrl.data.cube import BEAM_PATHS_FILE, replay, save_paths
from clrl.envs.cube.constants import SOLVED_STATE
from clrl.envs.cube.kernels import apply_sequence
from clrl.envs.cube.notation import scramble
from clrl.errors import ConfigError, UserError
from clrl.planners.domain import CubeDomain
from clrl.planners.goal_table import cube_goal_table
from clrl.planners.running import check_solution, run_search
from clrl.runs import pick_device, progress_bar

#: The second word of the random cubes' seed (``[seed, 5, i]``): apart from the benchmark's suites
#: (``[seed, 3, i]``), so a round never trains on the cubes it is judged on.
BEAM_CUBES_STREAM = 5


def beam_cubes(seed: int, count: int, scramble_moves: int) -> np.ndarray:
    """``(count, 54)`` random cubes: ``scramble_moves``-move scrambles (half-turn metric, no face
    twice in a row), as the benchmark's ``random`` suite makes its 1,000-move ones; cube ``i`` is a
    pure function of ``seed`` and ``i``."""
    scrambles = [
        scramble(np.random.default_rng([seed, BEAM_CUBES_STREAM, i]), scramble_moves) for i in range(count)
    ]
    return np.stack([apply_sequence(SOLVED_STATE[None], moves)[0] for moves in scrambles])


def beam_from(config: dict[str, Any]) -> str:
    """The checkpoint whose learned distance guides the beam: ``data.beam_from``, else ``train.init_from``."""
    chosen = config["data"]["beam_from"] or config["train"]["init_from"]
    if chosen is None:
        raise ConfigError(
            "data.trajectories=beam searches with a trained encoder: set data.beam_from=CHECKPOINT "
            "or train.init_from=CHECKPOINT (e.g. clrl/pretrained/cube.pt, or the last round's checkpoint.pt)"
        )
    return str(chosen)


def beam_paths(
    model: LearnedModel,
    cubes: np.ndarray,
    width: int,
    budget: int,
    goal_radius: int,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The learned beam's solution paths of ``cubes``, concatenated, and how many it did not solve.

    Returns ``(T, 54)`` states and ``(K + 1,)`` offsets (path ``k`` is ``states[offsets[k]:offsets[k +
    1]]``: a solved cube, then one quarter turn per state to solved), and the number of unsolved
    cubes. A cube the scramble left solved has no path and counts as neither. ``budget`` nodes, spent
    as ``budget // width`` depths; ``goal_radius`` > 0 finishes along the goal table. ``progress``:
    a bar of cubes searched (``False``: silent).
    """
    domain, table = CubeDomain(), cube_goal_table(goal_radius)
    bar = progress_bar(len(cubes), 0, "beam paths", disable=not progress)
    paths, unsolved = [], 0
    for cube in cubes:
        result = run_search(
            "beam",
            domain,
            cube,
            heuristic=model.heuristic(cube),
            budget=budget,
            beam_width=width,
            goal_table=table,
        )
        check_solution(domain, cube, result, "beam")
        if not result.solved:
            unsolved += 1
        elif result.actions:
            paths.append(replay(cube, result.actions))
        bar.update(1)
        bar.set_postfix(solved=len(paths), unsolved=unsolved)
    bar.close()
    offsets = np.zeros(len(paths) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(path) for path in paths])
    states = np.concatenate(paths) if paths else np.empty((0, SOLVED_STATE.size), SOLVED_STATE.dtype)
    return states, offsets, unsolved


def prepare_beam_paths(config: dict[str, Any], run_dir: Path) -> Path:
    """Build ``run_dir/beam_paths.npz`` for a ``data.trajectories: beam`` run, unless it is there
    (a resumed run); returns its path. Refuses a round whose beam solved too few cubes to fill a batch
    with distinct paths (``data.batch_size / data.repetition_factor``)."""
    path = Path(run_dir) / BEAM_PATHS_FILE
    if path.exists():
        return path
    data = config["data"]
    checkpoint = beam_from(config)
    # the training run's device: on a GPU the beam's forward passes run there too
    device = str(pick_device(config["device"]))
    model = LearnedModel.load("cube", Path(checkpoint), config["train"]["precision"], device)
    cubes = beam_cubes(config["seed"], data["beam_cubes"], data["beam_scramble"])
    states, offsets, unsolved = beam_paths(
        model, cubes, data["beam_width"], data["beam_budget"], data["beam_goal_radius"]
    )
    solved = len(offsets) - 1
    needed = data["batch_size"] // data["repetition_factor"]
    mean = f", {(len(states) - solved) / solved:.1f} quarter turns on average" if solved else ""
    print(
        f"beam paths: {solved} of {len(cubes)} cubes solved by {checkpoint}'s beam ({unsolved} unsolved, "
        f"skipped){mean}; {len(states)} states"
    )
    if solved < needed:
        raise UserError(
            f"the beam solved {solved} of {len(cubes)} cubes, and a batch takes {needed} distinct paths "
            "(data.batch_size / data.repetition_factor): raise data.beam_cubes, data.beam_width or "
            "data.beam_budget, or start from a stronger data.beam_from"
        )
    save_paths(path, states, offsets, unsolved=np.int64(unsolved), cubes=np.int64(len(cubes)))
    return path
