"""``python -m clrl.evaluate cube|sokoban``: how good is the learned distance, and which planner solves.

Two measurements, both on fixed-seed puzzles the model never trained on:

* representation: Spearman correlation between latent distance to the goal and moves-to-go on
  held-out trajectories;
* planning: for each suite and planner of the config's ``benchmark`` section, solve rate, mean
  solution length, mean nodes expanded and seconds per puzzle.

The table prints as Markdown (``--out`` also writes it to a file); ``--json`` prints one object per
row instead (a value that is not a finite number, like the correlation of constant distances, as
``null``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr
from tqdm import tqdm

from clrl.cli import json_line
from clrl.crtr.model import LearnedModel, pretrained_path
from clrl.crtr.solve import LEARNED_PLANNERS, SearchSettings, planner_symmetries, solve_one
from clrl.envs.cube.constants import SOLVED_STATE
from clrl.envs.cube.kernels import apply_sequence
from clrl.envs.cube.notation import scramble
from clrl.errors import UserError

CUBE_SUITES = {"scramble20": 20, "random": 1000}  # scramble length in half-turn-metric moves


def suite_puzzles(job: str, suite: str, count: int, seed: int, benchmark: dict[str, Any]) -> np.ndarray:
    """The fixed puzzles of one suite: each is a pure function of ``seed`` and its index."""
    if job == "cube":
        if suite not in CUBE_SUITES:
            raise UserError(f"unknown cube suite {suite!r}; known: {', '.join(CUBE_SUITES)}")
        scrambles = [scramble(np.random.default_rng([seed, 3, i]), CUBE_SUITES[suite]) for i in range(count)]
        return np.stack([apply_sequence(SOLVED_STATE[None], moves)[0] for moves in scrambles])
    from clrl.data.sokoban import HELDOUT_SEED_OFFSET
    from clrl.envs.sokoban.generator import generate_levels
    from clrl.envs.sokoban.levels import load_levels

    if suite == "generated":
        levels = generate_levels(count, seed=seed + 3 * HELDOUT_SEED_OFFSET)
    elif suite == "file":
        levels = load_levels(benchmark["levels_file"])[:count]
    else:
        raise UserError(f"unknown sokoban suite {suite!r}; known: generated (and file via levels_file)")
    return np.stack([level.grid for level in levels])


def evaluate(job: str, config: dict[str, Any], args) -> None:
    benchmark = config["benchmark"]
    count = args.count or benchmark["puzzles"]
    planners = benchmark["planners"]
    model = None
    checkpoint = args.checkpoint or pretrained_path(job)
    if args.checkpoint is not None or any(p in LEARNED_PLANNERS for p in planners):
        model = LearnedModel.load(job, args.checkpoint, benchmark.get("precision", "float32"))
    rows = []
    if model is not None:
        heldout = model.task.heldout(args.seed + 7, benchmark["spearman_trajectories"])
        model.fit_move_scale(heldout)
        correlation = spearmanr(model.distances(heldout), heldout.moves_to_go).statistic
        rows.append(
            {"suite": "heldout trajectories", "metric": "spearman", "value": round(float(correlation), 4)}
        )
        emit(rows[-1], args.json)
    suites = list(benchmark["suites"]) + (["file"] if job == "sokoban" and benchmark["levels_file"] else [])
    table = []
    for suite in suites:
        puzzles = suite_puzzles(job, suite, count, args.seed, benchmark)
        for planner in planners:
            radius = goal_radius(job, planner, benchmark)
            settings = SearchSettings(
                budget=benchmark["budget"][planner],
                beam_width=benchmark["beam_width"],
                goal_radius=radius,
                prune_deadlocks=benchmark.get("prune_deadlocks", True),
                symmetries=planner_symmetries(benchmark, planner),
            )
            results = []
            for start in tqdm(puzzles, desc=f"{suite}/{planner}", unit="puzzle", leave=False):
                results.append(solve_one(job, planner, start, model, settings))
            row = summarize(suite, planner, benchmark, radius, results)
            table.append(row)
            emit(row, args.json)
    markdown = format_table(job, checkpoint if model is not None else None, rows, table)
    if not args.json:
        print(markdown)
    if args.out is not None:
        Path(args.out).write_text(markdown)


def goal_radius(job: str, planner: str, benchmark: dict[str, Any]) -> int:
    """The cube searches' goal-table radius (``benchmark.goal_radius``); 0 where none applies."""
    if job != "cube" or planner == "kociemba":
        return 0
    return int(benchmark["goal_radius"])


def summarize(suite: str, planner: str, benchmark: dict[str, Any], radius: int, results) -> dict[str, Any]:
    solved = [(result, length) for result, _, length in results if result.solved]
    return {
        "suite": suite,
        "planner": planner,
        "budget": benchmark["budget"][planner],
        "beam_width": benchmark["beam_width"] if planner == "beam" else None,
        "precision": benchmark.get("precision", "float32") if planner in LEARNED_PLANNERS else None,
        "symmetries": planner_symmetries(benchmark, planner) if planner in LEARNED_PLANNERS else None,
        "goal_radius": radius,
        "puzzles": len(results),
        "solve_rate": round(len(solved) / len(results), 4),
        "mean_length": round(float(np.mean([length for _, length in solved])), 2) if solved else None,
        "mean_nodes": round(float(np.mean([r.nodes_expanded for r, _, _ in results])), 1),
        "seconds_per_puzzle": round(float(np.mean([r.seconds for r, _, _ in results])), 3),
    }


def emit(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json_line(row), flush=True)


def format_table(job: str, checkpoint: Path | None, representation, table) -> str:
    lines = [f"Evaluation of {job}" + (f" with checkpoint {checkpoint}" if checkpoint else "")]
    for row in representation:
        lines.append(f"- Spearman(latent distance, moves-to-go) on held-out trajectories: {row['value']}")
    lines += [
        "",
        "| suite | planner | budget | puzzles | solved | mean length | mean nodes | s / puzzle |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in table:
        details = [f"width {row['beam_width']}"] if row["beam_width"] else []
        details += [f"goal table r{row['goal_radius']}"] if row["goal_radius"] else []
        details += [f"mean of {row['symmetries']} symmetric images"] if (row["symmetries"] or 1) > 1 else []
        planner = row["planner"] + (f" ({', '.join(details)})" if details else "")
        length = "-" if row["mean_length"] is None else row["mean_length"]
        lines.append(
            f"| {row['suite']} | {planner} | {row['budget']} | {row['puzzles']} | {row['solve_rate']:.0%} "
            f"| {length} | {row['mean_nodes']} | {row['seconds_per_puzzle']} |"
        )
    return "\n".join(lines) + "\n"
