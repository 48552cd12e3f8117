"""What ``python -m clrl.solve cube|sokoban`` runs: pick the puzzles and the planner, print the results.

Learned planners (greedy, bestfs, astar, beam) are guided by the CRTR latent distance of a
checkpoint (the shipped one by default); the baselines are a hand-written heuristic, Kociemba's
two-phase solver for the cube and the classical push-level solver for Sokoban. Every solution is
replayed on the environment's kernels before it is reported. What runs where no flag says otherwise
is the ``solve`` section of the job's config.

``--json`` prints one row per puzzle, also for a line of ``--states-file`` that is not a cube or a
level of ``--levels`` that cannot be read (with ``solved: false`` and its ``error``); either is also
an ``error:`` line on stderr, and the rest are still solved. The exit code is 0 when every puzzle is
solved, else 1.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from clrl.cli import json_line
from clrl.config import load_config
from clrl.crtr.model import LearnedModel
from clrl.envs.cube.constants import SOLVED_STATE
from clrl.envs.cube.facelets import InvalidCubeState, format_facelets, parse_facelets
from clrl.envs.cube.kernels import apply_sequence
from clrl.envs.cube.notation import format_moves, scramble, simplify_moves
from clrl.errors import UserError
from clrl.planners import SearchResult
from clrl.planners.domain import CubeDomain, SokobanDomain
from clrl.planners.goal_table import MAX_GOAL_RADIUS, cube_goal_table
from clrl.planners.running import (
    HEURISTIC_PLANNERS,
    check_solution,
    classical_sokoban_solve,
    kociemba_solve,
    run_search,
)

LEARNED_PLANNERS = HEURISTIC_PLANNERS
#: The learned Sokoban distance encodes one goal state per free cell, each a full one-hot grid: a
#: level of C cells costs ~C^2 x 7 floats in the first layer alone (a 200x200 level: tens of GB).
#: Boxoban levels have 100 cells; this allows 32x32.
MAX_LEARNED_SOKOBAN_CELLS = 1024


@dataclass(frozen=True)
class SearchSettings:
    """How hard a planner may try: ``budget`` nodes (greedy: moves), ``beam_width``; for the cube the
    goal table's ``goal_radius`` (0: none) and the ``symmetries`` the learned distance is averaged over,
    for Sokoban whether to ``prune_deadlocks``."""

    budget: int
    beam_width: int
    goal_radius: int = 0
    prune_deadlocks: bool = True
    progress: bool = False
    symmetries: int = 1  # cube: the learned distance as its mean over this many symmetric images


def checked_goal_radius(radius: int) -> int:
    if not 0 <= radius <= MAX_GOAL_RADIUS:
        raise UserError(f"the goal radius must be between 0 and {MAX_GOAL_RADIUS}, got {radius}")
    return radius


def solve_one(
    job: str, planner: str, start: np.ndarray, model: LearnedModel | None, settings: SearchSettings
) -> tuple[SearchResult, str, int]:
    """Solve one puzzle with any planner; returns the result, its solution text and move count.

    The solution is replayed on the domain's kernels first: a claimed solution that does not solve
    is a bug and is never reported. Cube solutions are written with half turns merged (``U U`` ->
    ``U2``) and counted as written; Sokoban solutions in LURD.
    """
    domain = SokobanDomain(settings.prune_deadlocks) if job == "sokoban" else CubeDomain()
    if job == "sokoban" and planner in LEARNED_PLANNERS and start.size > MAX_LEARNED_SOKOBAN_CELLS:
        height, width = start.shape
        raise UserError(
            f"a {height}x{width} level is too large for the learned planners (at most "
            f"{MAX_LEARNED_SOKOBAN_CELLS} cells, e.g. 32x32); use --planner classical"
        )
    if planner == "kociemba":
        result = kociemba_solve(start)
    elif planner == "classical":
        result = classical_sokoban_solve(start, settings.budget)
    else:
        learned = planner in LEARNED_PLANNERS
        result = run_search(
            planner,
            domain,
            start,
            heuristic=model.heuristic(start, settings.symmetries) if learned else None,
            moves_per_unit=model.moves_per_unit if learned else 1.0,
            budget=settings.budget,
            beam_width=settings.beam_width,
            progress=settings.progress,
            goal_table=cube_goal_table(checked_goal_radius(settings.goal_radius)) if job == "cube" else None,
        )
    check_solution(domain, start, result, planner)
    if job == "cube":
        moves = simplify_moves(result.actions)
        return result, format_moves(moves), len(moves)
    solution = domain.format_solution(start, result.actions)
    return result, solution, len(solution)


@dataclass(frozen=True)
class CubeStart:
    """One cube to solve: its ``label`` (the text given, or the scramble), its ``state`` (None when
    the text is not a cube, and ``error`` says why) and its ``line`` in a states file."""

    label: str
    state: np.ndarray | None
    error: str | None = None
    line: int | None = None


def cube_starts(args) -> list[CubeStart]:
    """Every cube to solve, in input order."""
    if args.state is not None:
        return [parse_start(args.state)]
    if args.states_file is not None:
        try:
            # utf-8-sig: a byte-order mark, as some Windows editors write, is not part of the first line
            lines = args.states_file.read_text(encoding="utf-8-sig").splitlines()
        except OSError as exc:
            raise UserError(f"cannot read {args.states_file}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise UserError(f"{args.states_file} is not a UTF-8 text file") from None
        return [
            parse_start(line.strip(), number)
            for number, line in enumerate(lines, start=1)
            if line.strip() and not line.startswith("#")
        ]
    if args.scramble is None:
        raise UserError("say which cube to solve: --scramble N, --state FACELETS or --states-file FILE")
    moves = scramble(args.seed, args.scramble)
    return [CubeStart(format_moves(moves), apply_sequence(SOLVED_STATE[None], moves)[0])]


def parse_start(text: str, line: int | None = None) -> CubeStart:
    try:
        return CubeStart(text, parse_facelets(text), line=line)
    except InvalidCubeState as exc:
        return CubeStart(text, None, str(exc), line)


def chosen_settings(args, defaults: dict[str, Any], planner: str) -> SearchSettings:
    """The command line's search settings, the config's ``solve`` section where a flag is absent."""
    return SearchSettings(
        budget=args.budget if args.budget is not None else defaults["budget"][planner],
        beam_width=args.beam_width or defaults["beam_width"],
        goal_radius=checked_goal_radius(
            defaults.get("goal_radius", 0) if getattr(args, "goal_radius", None) is None else args.goal_radius
        ),
        progress=not args.json,
        symmetries=planner_symmetries(defaults, planner)
        if getattr(args, "symmetries", None) is None
        else args.symmetries,
    )


def planner_symmetries(section: dict[str, Any], planner: str) -> int:
    """How many symmetric images ``planner``'s learned distance is averaged over, as the config
    section (``solve`` or ``benchmark``) says; 1 where it names none."""
    return section.get("symmetries", {}).get(planner, 1)


def solve_cubes(args) -> int:
    defaults = load_config("cube")["solve"]
    planner = args.planner or defaults["planner"]
    settings = chosen_settings(args, defaults, planner)
    starts = cube_starts(args)
    precision = args.precision or defaults["precision"]
    model = LearnedModel.load("cube", args.checkpoint, precision) if planner in LEARNED_PLANNERS else None
    if planner == "astar":
        model.fit_move_scale(model.task.heldout(seed=12345, count=64))
    failures = 0
    for cube in starts:
        record = {} if cube.line is None else {"line": cube.line}
        if cube.error is not None:
            failures += 1
            print(f"error: {cube.label}: {cube.error}", file=sys.stderr)
            if args.json:  # a row for every input line, so a batch reader sees which one failed
                unsolved = result_record(SearchResult(False), "", 0, planner)
                print_record(record | {"state": cube.label} | unsolved | {"error": cube.error}, True)
            continue
        start = cube.state
        result, solution, length = solve_one("cube", planner, start, model, settings)
        used, attempts = planner, []
        if not result.solved and args.planner is None and defaults["fallback"]:
            # Only the default chain falls back, and the output says so: a planner the user named
            # reports its own failure.
            attempts.append(attempt_record(planner, result))
            used = defaults["fallback"]
            result, solution, length = solve_one("cube", used, start, None, SearchSettings(0, 0))
        failures += not result.solved
        record["state"] = format_facelets(start)
        if args.scramble is not None:
            record["scramble"] = cube.label
        record.update(result_record(result, solution, length, used))
        if used in LEARNED_PLANNERS:
            record["symmetries"] = settings.symmetries
        if attempts:
            record["failed_attempts"] = attempts
        print_record(record, args.json)
    return 1 if failures else 0


def solve_sokoban(args) -> int:
    from clrl.envs.sokoban.levels import LevelFormatError, load_each_level

    defaults = load_config("sokoban")["solve"]
    planner = args.planner or defaults["planner"]
    settings = chosen_settings(args, defaults, planner)
    levels = load_each_level(args.levels)
    if args.index is not None:
        if not 0 <= args.index < len(levels):
            raise UserError(f"--index {args.index} is out of range: {args.levels} has {len(levels)} levels")
        chosen = [(args.index, levels[args.index])]
    else:
        chosen = list(enumerate(levels))
    precision = args.precision or "float32"
    model = LearnedModel.load("sokoban", args.checkpoint, precision) if planner in LEARNED_PLANNERS else None
    failures = 0
    for index, level in chosen:
        if isinstance(level, LevelFormatError):
            failures += 1
            print(f"error: {level}", file=sys.stderr)
            if args.json:  # a row for every level, so a batch reader sees which one failed
                unsolved = result_record(SearchResult(False), "", 0, planner)
                print_record({"index": index} | unsolved | {"error": str(level)}, True)
            continue
        result, solution, length = solve_one("sokoban", planner, level.grid, model, settings)
        failures += not result.solved
        print_record({"index": index, **result_record(result, solution, length, planner)}, args.json)
    return 1 if failures else 0


def solve(args) -> int:
    return solve_cubes(args) if args.puzzle == "cube" else solve_sokoban(args)


def attempt_record(planner: str, result: SearchResult) -> dict[str, Any]:
    return {"planner": planner, "nodes_expanded": result.nodes_expanded, "seconds": round(result.seconds, 4)}


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
        print(json_line(record), flush=True)
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
    images = record.get("symmetries", 1)
    reading = f" on the mean of {images} symmetric images" if images > 1 else ""
    print(
        f"planner:  {record['planner']}{reading}, {record['nodes_expanded']} nodes expanded, "
        f"{record['seconds']:.2f} s"
    )
    print(flush=True)
