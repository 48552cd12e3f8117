"""What ``python -m clrl.solve cube|sokoban`` runs: pick the puzzles, the planner, print the results.

Learned planners (greedy, bestfs, astar, beam) are guided by the CRTR latent distance of a
checkpoint (the shipped one by default); the baselines are a hand-written heuristic, Kociemba's
two-phase solver for the cube and the classical push-level solver for Sokoban. Every solution is
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
from tqdm import tqdm

from clrl.checkpoint import load_checkpoint
from clrl.config import with_added_keys
from clrl.envs.cube.constants import SOLVED_STATE
from clrl.envs.cube.facelets import InvalidCubeState, format_facelets, parse_facelets
from clrl.envs.cube.kernels import apply_sequence
from clrl.envs.cube.notation import format_moves, parse_moves, scramble, simplify_moves, to_quarter_turns
from clrl.errors import UserError
from clrl.planners import SearchResult, beam, best_first, greedy, misplaced_stickers
from clrl.planners.domain import CubeDomain, SokobanDomain
from clrl.planners.goal_table import MAX_GOAL_RADIUS, GoalTable, cube_goal_table

LEARNED_PLANNERS = ("beam", "astar", "bestfs", "greedy")
#: Chosen from the tables in docs/BENCHMARKS.md (python -m clrl.evaluate cube|sokoban).
DEFAULTS = {
    "cube": {
        "planner": "beam",
        "beam_width": 2048,
        "budget": {"beam": 81_920, "greedy": 6_000},
        "goal_radius": 7,  # finish from any state this many moves from solved (cached; ~5 s to build once)
        "fallback": "kociemba",  # when the default learned planner fails within its budget
    },
    "sokoban": {
        "planner": "classical",
        "beam_width": 64,
        "budget": {"greedy": 1_000, "bestfs": 6_000, "beam": 6_000, "classical": 100_000},
    },
}
DEFAULT_BUDGET = 200_000
EXPAND_BATCH = 64  # nodes popped per best-first iteration: one network call scores all their children


def pretrained_path(job: str) -> Path:
    return Path(str(resources.files("clrl") / "pretrained" / f"{job}.pt"))


@dataclass
class LearnedModel:
    """A trained encoder with its task, ready to build heuristics for any start state."""

    task: Any
    encoder: torch.nn.Module
    config: dict[str, Any]
    moves_per_unit: float = 1.0  # scales latent distance to moves for weighted A*

    @classmethod
    def load(cls, job: str, checkpoint: Path | None) -> LearnedModel:
        from clrl.puzzle_training import build_model

        path = checkpoint if checkpoint is not None else pretrained_path(job)
        if checkpoint is None and not path.is_file():
            raise UserError(f"no shipped {job} checkpoint at {path}; pass --checkpoint or train one")
        saved = load_checkpoint(path, job=job)
        config = with_added_keys(job, saved.config)
        task, encoder = build_model(job, config)
        encoder.load_state_dict(saved.state["encoder"])
        encoder.eval()
        return cls(task, encoder, config)

    def heuristic(self, start: np.ndarray):
        from clrl.puzzle_training import latent_heuristic

        return latent_heuristic(self.task, self.encoder, self.config, start, "cpu")

    def distances(self, heldout) -> np.ndarray:
        """Latent distance of held-out states to their own trajectory's goal."""
        from clrl.puzzle_training import distance_to_own_goal

        return distance_to_own_goal(self.task, self.encoder, self.config, heldout, "cpu")

    def fit_move_scale(self, heldout) -> None:
        """Least-squares slope of moves-to-go on latent distance (above the goal's), for weighted A*."""
        distance = self.distances(heldout)
        distance = distance - distance.min()
        moves_to_go = heldout.moves_to_go
        self.moves_per_unit = float((distance @ moves_to_go) / max(float(distance @ distance), 1e-12))


def checked_goal_radius(radius: int) -> int:
    if not 0 <= radius <= MAX_GOAL_RADIUS:
        raise UserError(f"the goal radius must be between 0 and {MAX_GOAL_RADIUS}, got {radius}")
    return radius


def run_planner(
    planner: str,
    domain,
    start: np.ndarray,
    *,
    model: LearnedModel | None,
    budget: int,
    beam_width: int,
    progress: bool = False,
    goal_table: GoalTable | None = None,
) -> SearchResult:
    """Solve ``start`` with a learned planner or the domain's hand-written heuristic (``handcrafted``)."""
    bar = tqdm(total=budget, desc=planner, unit="node", leave=False, disable=not progress, mininterval=0.5)
    search = {"on_expand": bar.update, "goal_table": goal_table}
    try:
        if planner == "handcrafted":
            return best_first(domain, misplaced_stickers, start, budget, expand_batch=EXPAND_BATCH, **search)
        heuristic = model.heuristic(start)
        if planner == "greedy":
            return greedy(domain, heuristic, start, max_moves=budget, goal_table=goal_table)
        if planner == "bestfs":
            return best_first(domain, heuristic, start, budget, expand_batch=EXPAND_BATCH, **search)
        if planner == "astar":

            def moves_to_go(states: np.ndarray) -> np.ndarray:
                return heuristic(states) * model.moves_per_unit

            return best_first(
                domain, moves_to_go, start, budget, g_weight=1.0, expand_batch=EXPAND_BATCH, **search
            )
        if planner == "beam":
            depth = max(1, budget // beam_width)
            return beam(domain, heuristic, start, width=beam_width, max_depth=depth, **search)
        raise UserError(f"unknown planner {planner!r}")
    finally:
        bar.close()


def kociemba_solve(start: np.ndarray) -> SearchResult:
    """Herbert Kociemba's two-phase solver (the ``kociemba`` package), a non-learned reference.

    Its solution uses half turns; the actions returned are the same moves in quarter turns, so they
    replay on the planners' 12-action domain (the printed text keeps the half turns merged).
    """
    try:
        import kociemba
    except ImportError:
        raise UserError("the kociemba planner needs the 'kociemba' package (pip install kociemba)") from None
    started = time.perf_counter()
    text = kociemba.solve(format_facelets(start))
    quarter_turns = [int(m) for m in to_quarter_turns(parse_moves(text))]
    return SearchResult(True, quarter_turns, 0, time.perf_counter() - started)


def solve_one(
    job: str,
    planner: str,
    start: np.ndarray,
    *,
    model: LearnedModel | None,
    budget: int,
    beam_width: int,
    progress: bool = False,
    prune_deadlocks: bool = True,
    goal_radius: int = 0,
) -> tuple[SearchResult, str, int]:
    """Solve one puzzle with any planner; returns the result, its solution text and move count.

    ``prune_deadlocks`` (Sokoban) keeps the planners out of provably unsolvable states.
    ``goal_radius`` (cube) lets a search finish from any state that many quarter turns from solved
    (:class:`~clrl.planners.goal_table.GoalTable`). The solution is replayed on the domain's kernels
    first: a claimed solution that does not solve is a bug and is never reported.
    """
    domain = SokobanDomain(prune_deadlocks) if job == "sokoban" else CubeDomain()
    if planner == "kociemba":
        result = kociemba_solve(start)
    elif planner == "classical":
        from clrl.envs.sokoban.solver import solve as classical_solve

        outcome = classical_solve(start, budget=budget)
        result = SearchResult(
            outcome.solved, lurd_actions(outcome.solution), outcome.nodes_expanded, outcome.seconds
        )
    else:
        result = run_planner(
            planner,
            domain,
            start,
            model=model,
            budget=budget,
            beam_width=beam_width,
            progress=progress,
            goal_table=cube_goal_table(checked_goal_radius(goal_radius)) if job == "cube" else None,
        )
    check_solution(domain, start, result, planner)
    if job == "cube":
        moves = simplify_moves(result.actions)
        return result, format_moves(moves), len(moves)
    solution = domain.format_solution(start, result.actions)
    return result, solution, len(solution)


def lurd_actions(solution: str) -> list[int]:
    from clrl.envs.sokoban.constants import LETTER_TO_ACTION

    return [LETTER_TO_ACTION[letter] for letter in solution]


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
    return [(format_moves(moves), apply_sequence(SOLVED_STATE[None], moves)[0], None)]


def parse_start(text: str) -> tuple[str, np.ndarray | None, str | None]:
    try:
        return text, parse_facelets(text), None
    except InvalidCubeState as exc:
        return text, None, str(exc)


def solve_cubes(args) -> int:
    defaults = DEFAULTS["cube"]
    planner = args.planner or defaults["planner"]
    budget = args.budget if args.budget is not None else defaults["budget"].get(planner, DEFAULT_BUDGET)
    goal_radius = checked_goal_radius(
        defaults["goal_radius"] if args.goal_radius is None else args.goal_radius
    )
    starts = cube_starts(args)
    model = LearnedModel.load("cube", args.checkpoint) if planner in LEARNED_PLANNERS else None
    if planner == "astar":
        model.fit_move_scale(model.task.heldout(seed=12345, count=64))
    failures = 0
    for label, start, error in starts:
        if error is not None:
            failures += 1
            print(f"error: {label}: {error}", file=sys.stderr)
            continue
        result, solution, length = solve_one(
            "cube",
            planner,
            start,
            model=model,
            budget=budget,
            beam_width=args.beam_width or defaults["beam_width"],
            progress=not args.json,
            goal_radius=goal_radius,
        )
        used, attempts = planner, []
        if not result.solved and args.planner is None and defaults["fallback"]:
            # Only the default chain falls back, and the output says so: a planner the user named
            # reports its own failure.
            attempts.append(attempt_record(planner, result))
            used = defaults["fallback"]
            result, solution, length = solve_one("cube", used, start, model=None, budget=0, beam_width=0)
        failures += not result.solved
        record = {"state": format_facelets(start)}
        if args.scramble is not None:
            record["scramble"] = label
        record.update(result_record(result, solution, length, used))
        if attempts:
            record["failed_attempts"] = attempts
        print_record(record, args.json)
    return 1 if failures else 0


def attempt_record(planner: str, result: SearchResult) -> dict[str, Any]:
    return {"planner": planner, "nodes_expanded": result.nodes_expanded, "seconds": round(result.seconds, 4)}


def check_solution(domain, start: np.ndarray, result: SearchResult, label: str) -> None:
    """Replay a planner's actions; a claimed solution that does not solve is a bug, never output."""
    state = start
    for action in result.actions:
        children, valid = domain.children(state[None])
        if not valid[0, action]:
            raise RuntimeError(f"planner returned an illegal move for {label}")
        state = children[0, action]
    if result.solved != bool(domain.is_solved(state[None])[0]):
        raise RuntimeError(f"planner's solution for {label} does not replay to a solved state")


def result_record(result: SearchResult, solution: str, length: int, planner: str) -> dict[str, Any]:
    """The ``--json`` record; ``length`` counts moves as ``solution`` writes them."""
    return {
        "solved": result.solved,
        "solution": solution if result.solved else "",
        "length": length if result.solved else 0,
        "nodes_expanded": result.nodes_expanded,
        "seconds": round(result.seconds, 4),
        "planner": planner,
    }


def print_record(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(record), flush=True)
        return
    for key, title in (("scramble", "scramble"), ("state", "state"), ("index", "level")):
        if key in record:
            print(f"{title + ':':<10}{record[key]}")
    for attempt in record.get("failed_attempts", []):
        print(
            f"attempt:  {attempt['planner']} found no solution "
            f"({attempt['nodes_expanded']} nodes, {attempt['seconds']:.2f} s); falling back"
        )
    status = f"{record['length']} moves" if record["solved"] else "NOT SOLVED"
    print(f"solution: {record['solution'] or '-'} ({status})")
    print(
        f"planner:  {record['planner']}, {record['nodes_expanded']} nodes expanded, {record['seconds']:.2f} s"
    )
    print(flush=True)


def solve_sokoban(args) -> int:
    from clrl.envs.sokoban.levels import load_levels

    defaults = DEFAULTS["sokoban"]
    levels = load_levels(args.levels)
    if args.index is not None:
        if not 0 <= args.index < len(levels):
            raise UserError(f"--index {args.index} is out of range: {args.levels} has {len(levels)} levels")
        chosen = [(args.index, levels[args.index])]
    else:
        chosen = list(enumerate(levels))
    model = LearnedModel.load("sokoban", args.checkpoint) if args.planner in LEARNED_PLANNERS else None
    budget = args.budget if args.budget is not None else defaults["budget"][args.planner]
    failures = 0
    for index, level in chosen:
        result, solution, length = solve_one(
            "sokoban",
            args.planner,
            level.grid,
            model=model,
            budget=budget,
            beam_width=args.beam_width or defaults["beam_width"],
            progress=not args.json,
        )
        failures += not result.solved
        print_record({"index": index, **result_record(result, solution, length, args.planner)}, args.json)
    return 1 if failures else 0


def solve(args) -> int:
    return solve_cubes(args) if args.puzzle == "cube" else solve_sokoban(args)
