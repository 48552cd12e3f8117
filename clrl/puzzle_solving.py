"""What ``python -m clrl.solve cube|sokoban`` runs: pick the puzzles, the planner, print the results.

The cube is solved by a planner over the 12 quarter turns guided by the learned CRTR latent distance
(the shipped checkpoint by default), or by the hand-written / Kociemba baselines. Every solution is
replayed on the environment's kernels before it is reported.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clrl.checkpoint import load_checkpoint
from clrl.envs.cube.constants import SOLVED_STATE
from clrl.envs.cube.facelets import InvalidCubeState, format_facelets, parse_facelets
from clrl.envs.cube.kernels import apply_sequence, is_solved
from clrl.envs.cube.notation import format_moves, parse_moves, scramble
from clrl.errors import UserError
from clrl.planners import SearchResult, beam, best_first, greedy, misplaced_stickers
from clrl.planners.domain import CubeDomain

#: Chosen from docs/BENCHMARKS.md (python -m clrl.evaluate cube): the planner and budget that solve.
DEFAULT_CUBE_PLANNER = "beam"
DEFAULT_BUDGET = {
    "beam": 2_000_000,
    "astar": 200_000,
    "bestfs": 200_000,
    "greedy": 6_000,
    "handcrafted": 200_000,
}
DEFAULT_BEAM_WIDTH = 4096
EXPAND_BATCH = 64


def pretrained_path(job: str) -> Path:
    return Path(str(resources.files("clrl") / "pretrained" / f"{job}.pt"))


@dataclass
class LearnedModel:
    """A trained encoder with its task, ready to build heuristics for any start state."""

    task: Any
    encoder: torch.nn.Module
    config: dict[str, Any]
    moves_per_unit: float  # scales latent distance to moves for weighted A*

    @classmethod
    def load(cls, job: str, checkpoint: Path | None) -> LearnedModel:
        from clrl.puzzle_training import build_model

        path = checkpoint if checkpoint is not None else pretrained_path(job)
        if checkpoint is None and not path.is_file():
            raise UserError(f"no shipped {job} checkpoint at {path}; pass --checkpoint or train one")
        saved = load_checkpoint(path, job=job)
        task, encoder = build_model(job, saved.config)
        encoder.load_state_dict(saved.state["encoder"])
        encoder.eval()
        model = cls(task, encoder, saved.config, 1.0)
        model.moves_per_unit = model.fit_move_scale()
        return model

    def heuristic(self, start: np.ndarray):
        from clrl.puzzle_training import latent_heuristic

        return latent_heuristic(self.task, self.encoder, self.config, start, "cpu")

    def fit_move_scale(self) -> float:
        """Least-squares slope of moves-to-go on latent distance over held-out trajectories."""
        states, moves_to_go = self.task.heldout(seed=12345, count=64)
        distance = self.heuristic(states[-1])(states)
        distance = distance - distance.min()
        return float((distance @ moves_to_go) / max(float(distance @ distance), 1e-12))


def run_cube_planner(args, start: np.ndarray, model: LearnedModel | None) -> SearchResult:
    planner = args.planner or DEFAULT_CUBE_PLANNER
    budget = args.budget if args.budget is not None else DEFAULT_BUDGET.get(planner, 0)
    domain = CubeDomain()
    if planner == "kociemba":
        return kociemba_solve(start)
    if planner == "handcrafted":
        return best_first(domain, misplaced_stickers, start, budget, expand_batch=EXPAND_BATCH)
    heuristic = model.heuristic(start)
    if planner == "greedy":
        return greedy(domain, heuristic, start, max_moves=budget)
    if planner == "bestfs":
        return best_first(domain, heuristic, start, budget, expand_batch=EXPAND_BATCH)
    if planner == "astar":

        def in_moves(states: np.ndarray) -> np.ndarray:
            return heuristic(states) * model.moves_per_unit

        return best_first(
            domain, in_moves, start, budget, g_weight=1.0, h_weight=1.0, expand_batch=EXPAND_BATCH
        )
    width = args.beam_width or DEFAULT_BEAM_WIDTH
    return beam(domain, heuristic, start, width=width, max_depth=max(1, budget // width))


def kociemba_solve(start: np.ndarray) -> SearchResult:
    """Herbert Kociemba's two-phase solver (the ``kociemba`` package), a non-learned reference."""
    try:
        import kociemba
    except ImportError:
        raise UserError("the kociemba planner needs the 'kociemba' package (pip install kociemba)") from None
    started = time.perf_counter()
    text = kociemba.solve(format_facelets(start))
    return SearchResult(True, [int(m) for m in parse_moves(text)], 0, time.perf_counter() - started)


def cube_starts(args) -> list[tuple[str, np.ndarray | None, str | None]]:
    """``(label, state or None, error)`` for every cube to solve, in input order."""
    if args.state is not None:
        return [parse_start(args.state)]
    if args.states_file is not None:
        try:
            lines = args.states_file.read_text().splitlines()
        except OSError as exc:
            raise UserError(f"cannot read {args.states_file}: {exc.strerror or exc}") from None
        return [parse_start(line.strip()) for line in lines if line.strip() and not line.startswith("#")]
    if args.scramble is None:
        raise UserError("say which cube to solve: --scramble N, --state FACELETS or --states-file FILE")
    moves = scramble(args.seed, args.scramble)
    start = apply_sequence(SOLVED_STATE[None], moves)[0]
    return [(format_moves(moves), start, None)]


def parse_start(text: str) -> tuple[str, np.ndarray | None, str | None]:
    try:
        return text, parse_facelets(text), None
    except InvalidCubeState as exc:
        return text, None, str(exc)


def solve_cubes(args) -> int:
    starts = cube_starts(args)
    planner = args.planner or DEFAULT_CUBE_PLANNER
    model = None if planner in ("handcrafted", "kociemba") else LearnedModel.load("cube", args.checkpoint)
    failures = 0
    for label, start, error in starts:
        if error is not None:
            failures += 1
            print(f"error: {label}: {error}", file=sys.stderr)
            continue
        result = run_cube_planner(args, start, model)
        moves = np.asarray(result.actions, dtype=np.int64)
        if result.solved and not is_solved(apply_sequence(start[None], moves))[0]:
            raise RuntimeError(f"planner {planner} returned a solution that does not solve {label}")
        failures += not result.solved
        record = {
            "state": format_facelets(start),
            "solved": result.solved,
            "solution": format_moves(moves),
            "length": result.length,
            "nodes_expanded": result.nodes_expanded,
            "seconds": round(result.seconds, 4),
            "planner": planner,
        }
        if args.scramble is not None:
            record["scramble"] = label
        print_record(record, args.json)
    return 1 if failures else 0


def print_record(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(record), flush=True)
        return
    if "scramble" in record:
        print(f"scramble: {record['scramble']}")
    if "state" in record:
        print(f"state:    {record['state']}")
    if "index" in record:
        print(f"level:    {record['index']}")
    status = f"{record['length']} moves" if record["solved"] else "NOT SOLVED"
    print(f"solution: {record['solution'] or '-'} ({status})")
    planner = record.get("planner", "")
    print(f"planner:  {planner}, {record['nodes_expanded']} nodes expanded, {record['seconds']:.2f} s")
    print(flush=True)


def solve_sokoban(args) -> int:
    from clrl.envs.sokoban.levels import load_levels
    from clrl.envs.sokoban.solver import DEFAULT_BUDGET as SOKOBAN_BUDGET
    from clrl.envs.sokoban.solver import solve

    levels = load_levels(args.levels)
    if args.index is not None:
        if not 0 <= args.index < len(levels):
            raise UserError(f"--index {args.index} is out of range: {args.levels} has {len(levels)} levels")
        chosen = [(args.index, levels[args.index])]
    else:
        chosen = list(enumerate(levels))
    if args.planner != "classical":
        raise UserError(
            f"the learned Sokoban planner {args.planner!r} is not built yet; use --planner classical"
        )
    failures = 0
    for index, level in chosen:
        result = solve(level, budget=args.budget or SOKOBAN_BUDGET)
        failures += not result.solved
        record = result.to_dict(index)
        record["planner"] = args.planner
        print_record(record, args.json)
    return 1 if failures else 0


def solve(args) -> int:
    return solve_cubes(args) if args.puzzle == "cube" else solve_sokoban(args)
