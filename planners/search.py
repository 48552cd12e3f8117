"""Search over a puzzle domain guided by a batched heuristic: greedy, best-first / weighted A*, beam, BFS.

Every planner takes a :class:`~clrl.planners.domain.Domain` (batched children, goal test, hashing)
and a heuristic ``h(states) -> (N,) float`` that scores a whole batch in one call, so a learned
heuristic costs one network forward pass per expansion batch, not per state. Each planner returns
a :class:`SearchResult` whose ``actions`` replay from the start state to a solved state.

With a :class:`~clrl.planners.goal_table.GoalTable` a planner stops at the first state within the
table's radius of the goal and finishes along the table; without one, at a solved state.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from clrl.planners.domain import Domain
from clrl.planners.goal_table import GoalTable

Heuristic = Callable[[np.ndarray], np.ndarray]
#: Called with the number of nodes just expanded, e.g. to advance a progress bar.
ProgressHook = Callable[[int], None]


@dataclass
class SearchResult:
    solved: bool
    actions: list[int] = field(default_factory=list)
    nodes_expanded: int = 0
    seconds: float = 0.0

    @property
    def length(self) -> int:
        return len(self.actions)


def finished_at_start(
    domain: Domain, goal_table: GoalTable | None, start: np.ndarray, started: float
) -> SearchResult | None:
    """The result when ``start`` needs no search (solved, or in the goal table), else None."""
    end = reached(domain, goal_table, start[None], domain.hash(start[None]))
    return None if end is None else SearchResult(True, end[1], 0, time.perf_counter() - started)


def greedy(
    domain: Domain,
    heuristic: Heuristic,
    start: np.ndarray,
    max_moves: int,
    goal_table: GoalTable | None = None,
) -> SearchResult:
    """Greedy descent with no search: move to the best child not visited before, never back up.

    This is the "no external search" mode of CRTR: the representation alone must lead to the goal.
    It fails when every child has been visited or after ``max_moves`` moves.
    """
    started = time.perf_counter()
    if (done := finished_at_start(domain, goal_table, start, started)) is not None:
        return done
    visited = {int(domain.hash(start[None])[0])}
    state, actions = start, []
    for _ in range(max_moves):
        children, valid = domain.children(state[None])
        children, valid = children[0], valid[0]
        keys = domain.hash(children)
        fresh = valid & np.array([int(k) not in visited for k in keys])
        if not fresh.any():
            break
        scores = np.where(fresh, heuristic(children), np.inf)
        action = int(np.argmin(scores))
        state = children[action]
        actions.append(action)
        visited.add(int(keys[action]))
        if (end := reached(domain, goal_table, state[None], keys[action : action + 1])) is not None:
            return SearchResult(True, actions + end[1], len(actions), time.perf_counter() - started)
    return SearchResult(False, actions, len(actions), time.perf_counter() - started)


def best_first(
    domain: Domain,
    heuristic: Heuristic,
    start: np.ndarray,
    budget: int,
    *,
    g_weight: float = 0.0,
    h_weight: float = 1.0,
    expand_batch: int = 1,
    on_expand: ProgressHook | None = None,
    goal_table: GoalTable | None = None,
) -> SearchResult:
    """Best-first search on ``f = g_weight * g + h_weight * h`` with duplicate detection.

    ``g_weight=0`` is greedy best-first search (BestFS, as in the CRTR reference); ``g_weight=1`` is
    (weighted) A*, optimal when ``h_weight * h`` is consistent and ``expand_batch=1``.
    ``expand_batch`` pops that many nodes per iteration so a learned heuristic scores all their
    children in one forward pass. ``budget`` caps the number of expanded nodes.
    """
    started = time.perf_counter()
    if (done := finished_at_start(domain, goal_table, start, started)) is not None:
        return done
    states = [start]
    node_keys = [int(domain.hash(start[None])[0])]
    parents, moves, depths = [-1], [-1], [0]
    best_depth = {node_keys[0]: 0}
    tie = itertools.count()
    frontier = [(0.0, next(tie), 0)]
    expanded = 0
    while frontier and expanded < budget:
        batch = []
        while frontier and len(batch) < min(expand_batch, budget - expanded):
            _, _, node = heapq.heappop(frontier)
            if depths[node] == best_depth[node_keys[node]]:  # else a shorter path reached it later
                batch.append(node)
        if not batch:
            continue
        expanded += len(batch)
        if on_expand is not None:
            on_expand(len(batch))
        children, valid = domain.children(np.stack([states[n] for n in batch]))
        num_actions = children.shape[1]
        flat = children.reshape(len(batch) * num_actions, *children.shape[2:])
        flat_valid = valid.reshape(-1)
        keys = domain.hash(flat)
        legal = np.flatnonzero(flat_valid)
        if (end := reached(domain, goal_table, flat[legal], keys[legal])) is not None:
            index = int(legal[end[0]])
            parent = batch[index // num_actions]
            path = reconstruct(parents, moves, parent) + [index % num_actions] + end[1]
            return SearchResult(True, path, expanded, time.perf_counter() - started)
        fresh = []
        for i in np.flatnonzero(flat_valid):
            depth = depths[batch[i // num_actions]] + 1
            key = int(keys[i])
            if best_depth.get(key, np.inf) > depth:
                best_depth[key] = depth
                fresh.append((i, depth))
        if not fresh:
            continue
        scores = heuristic(flat[[i for i, _ in fresh]])
        for (i, depth), h in zip(fresh, scores, strict=True):
            states.append(flat[i])
            node_keys.append(int(keys[i]))
            parents.append(batch[i // num_actions])
            moves.append(int(i % num_actions))
            depths.append(depth)
            heapq.heappush(frontier, (g_weight * depth + h_weight * float(h), next(tie), len(states) - 1))
    return SearchResult(False, [], expanded, time.perf_counter() - started)


def beam(
    domain: Domain,
    heuristic: Heuristic,
    start: np.ndarray,
    width: int,
    max_depth: int,
    on_expand: ProgressHook | None = None,
    goal_table: GoalTable | None = None,
) -> SearchResult:
    """Beam search: keep the ``width`` best new states of each depth, scoring all children at once.

    Every depth encodes the whole beam's children in one heuristic call. States seen at an earlier
    depth are dropped, so the beam never walks back. ``nodes_expanded`` counts beam states expanded.
    """
    started = time.perf_counter()
    if (done := finished_at_start(domain, goal_table, start, started)) is not None:
        return done
    beam_states = start[None]
    seen = domain.hash(beam_states)
    history: list[tuple[np.ndarray, np.ndarray]] = []  # per depth: (parent index in beam, action)
    expanded = 0
    for _ in range(max_depth):
        expanded += len(beam_states)
        if on_expand is not None:
            on_expand(len(beam_states))
        children, valid = domain.children(beam_states)
        num_actions = children.shape[1]
        flat = children.reshape(len(beam_states) * num_actions, *children.shape[2:])
        keys = domain.hash(flat)
        _, first = np.unique(keys, return_index=True)
        keep = np.zeros(len(keys), bool)
        keep[first] = True
        keep &= valid.reshape(-1) & ~np.isin(keys, seen)
        candidates = np.flatnonzero(keep)
        if len(candidates) == 0:
            break
        if (end := reached(domain, goal_table, flat[candidates], keys[candidates])) is not None:
            index = int(candidates[end[0]])
            history.append((np.array([index // num_actions]), np.array([index % num_actions])))
            path = unwind_beam(history, 0) + end[1]
            return SearchResult(True, path, expanded, time.perf_counter() - started)
        if len(candidates) > width:
            scores = heuristic(flat[candidates])
            candidates = candidates[np.argpartition(scores, width - 1)[:width]]
        history.append((candidates // num_actions, candidates % num_actions))
        beam_states = flat[candidates]
        seen = np.concatenate([seen, keys[candidates]])
    return SearchResult(False, [], expanded, time.perf_counter() - started)


def reached(
    domain: Domain, goal_table: GoalTable | None, states: np.ndarray, keys: np.ndarray
) -> tuple[int, list[int]] | None:
    """``(i, moves to the goal)`` for a state of the batch the search may stop at, or None.

    Without a goal table only a solved state counts (no moves left); with one, the state nearest
    the goal among those in the table.
    """
    if goal_table is not None:
        return goal_table.finish(domain, states, keys)
    solved = domain.is_solved(states)
    return (int(np.argmax(solved)), []) if solved.any() else None


def unwind_beam(history: list[tuple[np.ndarray, np.ndarray]], index: int) -> list[int]:
    actions = []
    for parents, moves in reversed(history):
        actions.append(int(moves[index]))
        index = int(parents[index])
    return actions[::-1]


def reconstruct(parents: list[int], moves: list[int], node: int) -> list[int]:
    path = []
    while parents[node] != -1:
        path.append(moves[node])
        node = parents[node]
    return path[::-1]


def breadth_first_distance(domain: Domain, start: np.ndarray, max_depth: int) -> int | None:
    """Exact number of moves from ``start`` to a solved state, or None beyond ``max_depth``."""
    frontier = start[None]
    seen = set(domain.hash(frontier).tolist())
    for depth in range(max_depth + 1):
        if domain.is_solved(frontier).any():
            return depth
        children, valid = domain.children(frontier)
        flat = children[valid]
        keys = domain.hash(flat)
        _, first = np.unique(keys, return_index=True)
        fresh = [i for i in first if int(keys[i]) not in seen]
        seen.update(int(keys[i]) for i in fresh)
        frontier = flat[fresh]
        if len(frontier) == 0:
            return None
    return None
