"""Running a planner on one puzzle: the searches by name, the non-learned baselines, and the replay
that checks every solution before anyone sees it.

Nothing here knows where a heuristic comes from: a learned one is passed in as a function of states.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from clrl.envs.cube.facelets import format_facelets
from clrl.envs.cube.notation import parse_moves, to_quarter_turns
from clrl.errors import UserError
from clrl.planners.domain import Domain
from clrl.planners.goal_table import GoalTable
from clrl.planners.heuristics import misplaced_stickers
from clrl.planners.search import SearchResult, beam, best_first, greedy

#: Planners that need a heuristic (a learned distance); the rest bring their own.
HEURISTIC_PLANNERS = ("beam", "astar", "bestfs", "greedy")
EXPAND_BATCH = 64  # nodes popped per best-first iteration: one network call scores all their children

Heuristic = Callable[[np.ndarray], np.ndarray]


def run_search(
    planner: str,
    domain: Domain,
    start: np.ndarray,
    *,
    heuristic: Heuristic | None,
    budget: int,
    beam_width: int,
    moves_per_unit: float = 1.0,
    progress: bool = False,
    goal_table: GoalTable | None = None,
) -> SearchResult:
    """Solve ``start`` with a heuristic search, or best-first on misplaced stickers (``handcrafted``).

    ``budget`` counts expanded nodes (greedy: moves); ``beam`` spends it as ``budget // beam_width``
    layers. ``moves_per_unit`` scales the heuristic to moves for weighted A* (``astar``).
    """
    bar = tqdm(total=budget, desc=planner, unit="node", leave=False, disable=not progress, mininterval=0.5)
    search = {"on_expand": bar.update, "goal_table": goal_table}
    try:
        if planner == "handcrafted":
            return best_first(domain, misplaced_stickers, start, budget, expand_batch=EXPAND_BATCH, **search)
        if planner not in HEURISTIC_PLANNERS:
            raise UserError(f"unknown planner {planner!r}")
        if planner == "greedy":
            return greedy(domain, heuristic, start, max_moves=budget, goal_table=goal_table)
        if planner == "bestfs":
            return best_first(domain, heuristic, start, budget, expand_batch=EXPAND_BATCH, **search)
        if planner == "astar":

            def moves_to_go(states: np.ndarray) -> np.ndarray:
                return heuristic(states) * moves_per_unit

            return best_first(
                domain, moves_to_go, start, budget, g_weight=1.0, expand_batch=EXPAND_BATCH, **search
            )
        depth = max(1, budget // beam_width)
        return beam(domain, heuristic, start, width=beam_width, max_depth=depth, **search)
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


def classical_sokoban_solve(start: np.ndarray, budget: int) -> SearchResult:
    """The classical push-level Sokoban solver, as a :class:`SearchResult` of single steps."""
    from clrl.envs.sokoban.constants import LETTER_TO_ACTION
    from clrl.envs.sokoban.solver import solve

    outcome = solve(start, budget=budget)
    actions = [LETTER_TO_ACTION[letter] for letter in outcome.solution]
    return SearchResult(outcome.solved, actions, outcome.nodes_expanded, outcome.seconds)


def check_solution(domain: Domain, start: np.ndarray, result: SearchResult, label: str) -> None:
    """Replay a planner's actions; a claimed solution that does not solve is a bug, never output."""
    state = start
    for action in result.actions:
        children, valid = domain.children(state[None])
        if not valid[0, action]:
            raise RuntimeError(f"planner returned an illegal move for {label}")
        state = children[0, action]
    if result.solved != bool(domain.is_solved(state[None])[0]):
        raise RuntimeError(f"planner's solution for {label} does not replay to a solved state")
