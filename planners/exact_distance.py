"""Exact distances to the goal from a goal table, and how often a heuristic picks a nearer child.

A :class:`~clrl.planners.goal_table.GoalTable` of radius ``r`` knows every state within ``r`` moves
exactly. Beyond it, a state's distance is ``r + k`` for the smallest ``k`` at which a breadth-first
search from the state reaches the table (a bidirectional search whose backward half is the table),
which keeps distances up to ``r + 5`` cheap (12 * 11^4 cube states at the last layer).

The *nearer-child rate* at distance ``d`` is the fraction of states exactly ``d`` moves from the goal
whose best-scoring child (lowest heuristic) is ``d - 1`` moves from it: greedy descent makes progress
from distance ``d`` exactly that often, so it says how far out a learned distance points the way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from clrl.planners.domain import Domain
from clrl.planners.goal_table import GoalTable


def table_distance(table: GoalTable, domain: Domain, states: np.ndarray) -> np.ndarray:
    """Exact distance of each state within the table's radius, -1 beyond it."""
    rows = table.lookup(domain.hash(states))
    return np.where(rows >= 0, table.distances[np.maximum(rows, 0)].astype(np.int64), -1)


def exact_distance(table: GoalTable, domain: Domain, state: np.ndarray, max_distance: int) -> int:
    """Exact distance of one state, or -1 if it is more than ``max_distance`` moves from the goal."""
    frontier = state[None]
    for depth in range(0, max_distance - table.radius + 1):
        inside = table_distance(table, domain, frontier)
        if (inside >= 0).any():
            return depth + int(inside[inside >= 0].min())
        if depth < max_distance - table.radius:
            children, valid = domain.children(frontier)
            frontier = children[valid]
            frontier = frontier[np.unique(domain.hash(frontier), return_index=True)[1]]
    return -1


def exact_distances(
    table: GoalTable, domain: Domain, states: np.ndarray, max_distances: np.ndarray
) -> np.ndarray:
    """Exact distance of each state, or -1 where it is more than its ``max_distances`` entry from
    the goal: the table answers within its radius, :func:`exact_distance` searches beyond it."""
    distances = table_distance(table, domain, states)
    for i in np.flatnonzero((distances < 0) & (max_distances > table.radius)):
        distances[i] = exact_distance(table, domain, states[i], int(max_distances[i]))
    return distances


def nearer_children(
    table: GoalTable, domain: Domain, states: np.ndarray, distances: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The children ``(N, A, ...)`` of ``states``, each exactly ``distances`` (``(N,)``, at least 1)
    moves from the goal, and ``(N, A)`` whether each child is one move nearer (an invalid action's
    never is). A move changes the distance by at most one, so a child at most ``d - 1`` away is it."""
    children, valid = domain.children(states)
    wanted = np.repeat(distances - 1, valid.shape[1])
    flat = children.reshape(len(wanted), *states.shape[1:])
    nearer = exact_distances(table, domain, flat, wanted) == wanted
    return children, nearer.reshape(valid.shape) & valid


def states_at_distance(
    table: GoalTable,
    domain: Domain,
    walk: Callable[[np.random.Generator, int, int], np.ndarray],
    distance: int,
    count: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``count`` states exactly ``distance`` moves from the goal.

    Candidates are ``walk(rng, n, distance)``: ``n`` random walks of ``distance`` moves from the goal
    (a walk of ``d`` moves ends at most ``d`` away; the ones that end exactly ``d`` away are kept).
    """
    found: list[np.ndarray] = []
    kept = 0
    while kept < count:
        candidates = walk(rng, 4 * count, distance)
        keep = exact_distances(table, domain, candidates, np.full(len(candidates), distance)) == distance
        found.append(candidates[keep])
        kept += int(keep.sum())
    return np.concatenate(found)[:count]


def nearer_child_picks(
    table: GoalTable,
    domain: Domain,
    heuristic: Callable[[np.ndarray], np.ndarray],
    states: np.ndarray,
    distance: int,
) -> np.ndarray:
    """Whether each of ``states`` (all exactly ``distance`` away) has a nearer child as its
    lowest-scoring one: the choice greedy descent makes, right or wrong, state by state."""

    def child_scores(parents: np.ndarray) -> np.ndarray:
        children, valid = domain.children(parents)
        return heuristic(children.reshape(-1, *parents.shape[1:])).reshape(valid.shape)

    return nearer_move_picks(table, domain, child_scores, states, distance)


def nearer_move_picks(
    table: GoalTable,
    domain: Domain,
    move_scores: Callable[[np.ndarray], np.ndarray],
    states: np.ndarray,
    distance: int,
) -> np.ndarray:
    """As :func:`nearer_child_picks`, for a scorer of each state's moves from the state itself:
    ``move_scores(states) -> (N, A)``, lower for a move it ranks nearer (a move head)."""
    children, valid = domain.children(states)
    scores = np.where(valid, move_scores(states), np.inf)
    picked = children[np.arange(len(states)), scores.argmin(axis=1)]
    return exact_distances(table, domain, picked, np.full(len(picked), distance - 1)) == distance - 1


def nearer_child_rate(
    table: GoalTable,
    domain: Domain,
    heuristic: Callable[[np.ndarray], np.ndarray],
    states: np.ndarray,
    distance: int,
) -> float:
    """Fraction of ``states`` (all exactly ``distance`` away) whose lowest-scoring child is nearer."""
    return float(nearer_child_picks(table, domain, heuristic, states, distance).mean())
