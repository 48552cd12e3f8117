"""Bellman refinement of a contrastive cube distance: value iteration anchored at the goal table.

CRTR orders states by their latent score ``u(s) = -sim(phi(s), phi(goal))``, but only the offsets it
trains on (a few moves along 20-move walks) shape that score, so far from solved it stops pointing
the way. This module fine-tunes the same encoder toward the Bellman equation of the move count,

    d(s) = 0                          if s is the goal,
    d(s) = 1 + min_c d(c)             over the children c of s,

in the manner of DeepCubeA's approximate value iteration (Agostinelli et al. 2019, "Solving the
Rubik's cube with deep reinforcement learning and search"), with two changes: ``d`` is read off the
contrastive score by an affine map, ``d(s) = softplus(a) * u(s) + b`` (:class:`DistanceHead`), so
the planners keep scoring states with the encoder's latent distance and its order is exactly the
order of ``d``; and the targets are exact wherever the radius-``r`` goal table knows the answer
(every state within ``r`` moves, and every child within it), so value iteration only has to carry
the distance outward from the table's rim rather than from the goal. A target network, copied every
``target_every`` steps, scores the children that lie outside the table; their targets are clipped
at ``r + 1``, below which no state outside the table can be.

Random-walk states are not the states a planner meets where the distance is wrong. With
``bellman.greedy_states > 0`` part of each batch comes from a :class:`GreedyPool`: cubes that
descend greedily under the target network's distance, one move per training step, trained with the
same Bellman target. Greedy descent is drawn to exactly the false minima that stop it (states scored
near solved that are far), so this is real-time value iteration on the learner's own trajectories:
Korf's LRTA* ("Real-time heuristic search", 1990), ``h(s) <- 1 + min_c h(c)`` at the states the
agent visits, with a network for ``h``, as DAgger trains on the states its own policy reaches.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clrl.envs.cube.constants import NUM_STICKERS
from clrl.envs.cube.trajectories import random_states, random_walk_trajectories
from clrl.planners.domain import CubeDomain
from clrl.planners.exact_distance import exact_distances, table_distance
from clrl.planners.goal_table import GoalTable


class DistanceHead(nn.Module):
    """Moves to go from the latent score: ``d = softplus(a) * u + b``, an increasing map of ``u``."""

    def __init__(self) -> None:
        super().__init__()
        self.raw_scale = nn.Parameter(torch.zeros(()))
        self.offset = nn.Parameter(torch.zeros(()))

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.raw_scale) * scores + self.offset


def scramble_states(
    rng: np.random.Generator, count: int, max_depth: int, min_depth: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``(count, 54)`` cubes, each ``k ~ U{min_depth..max_depth}`` quarter turns from solved along a
    random walk with no immediate undos, and the ``(count,)`` walk lengths ``k`` (an upper bound on
    the distance: walks double back)."""
    walks = random_walk_trajectories(rng, count, max_depth).states  # walk i ends solved at index max_depth
    depths = rng.integers(min_depth, max_depth + 1, size=count)
    return walks[np.arange(count), max_depth - depths], depths


def child_distances(table: GoalTable, states: np.ndarray, child_distance) -> tuple[np.ndarray, np.ndarray]:
    """The children ``(N, A, 54)`` of ``states`` and their distances ``(N, A)``: exact inside the
    table, else ``child_distance(children)`` (the target network) raised to ``radius + 1``, the least
    distance of a state outside the table."""
    domain = CubeDomain()
    children = domain.children(states)[0]
    flat = children.reshape(-1, NUM_STICKERS)
    values = table_distance(table, domain, flat).astype(np.float32)
    unknown = np.flatnonzero(values < 0)
    if len(unknown):
        values[unknown] = np.maximum(child_distance(flat[unknown]), table.radius + 1)
    return children, values.reshape(len(states), -1)


def bellman_targets(
    table: GoalTable,
    states: np.ndarray,
    child_distance,
    bounds: np.ndarray | None = None,
    search_depth: int = 0,
) -> np.ndarray:
    """``(N,)`` float targets: the exact distance inside the table, else ``1 + min_c d(c)`` with the
    children scored by :func:`child_distances`.

    With ``search_depth > 0``, a state outside the table whose distance is known to be at most
    ``radius + search_depth`` (its walk length, ``bounds``) gets its exact distance instead, by a
    breadth-first search into the table (:func:`~clrl.planners.exact_distance.exact_distance`; about
    1 ms of CPU at 10 moves with the radius-7 table, 5 ms at 11): the targets just past the table's
    rim, where value iteration would otherwise carry the network's own errors outward, are exact.
    """
    searched = np.zeros(len(states), dtype=np.int64)  # a bound within the table's radius: no search
    if search_depth > 0 and bounds is not None:
        searched = np.where(bounds <= table.radius + search_depth, bounds, 0)
    targets = exact_distances(table, CubeDomain(), states, searched).astype(np.float32)
    outside = np.flatnonzero(targets < 0)
    if len(outside):
        targets[outside] = 1.0 + child_distances(table, states[outside], child_distance)[1].min(axis=1)
    return targets


class GreedyPool:
    """Cubes descending greedily under the learned distance, one move per training step.

    Each starts as a random cube (``scramble`` quarter turns from solved) and moves to its
    best-scoring child every step, with no memory of where it has been: at a false minimum it swings
    between the same few states, and so keeps training there until the Bellman targets lift them.
    A cube starts again as a fresh random cube when its best child is inside the goal table (greedy
    has solved it) and, with probability ``1 / restart_every`` per step, so the pool keeps covering
    far states rather than a few minima. The states never lie inside the table.
    """

    def __init__(self, states: np.ndarray, restart_every: int, scramble: int = 1000) -> None:
        self.states, self.restart_every, self.scramble = states, restart_every, scramble

    @classmethod
    def of_random_cubes(
        cls, rng: np.random.Generator, size: int, restart_every: int, scramble: int = 1000
    ) -> GreedyPool:
        return cls(random_states(rng, size, scramble), restart_every, scramble)

    def step(
        self, rng: np.random.Generator, children: np.ndarray, distances: np.ndarray, table_radius: int
    ) -> int:
        """Move each cube to its nearest child by ``distances`` (:func:`child_distances` of
        :attr:`states`); restart the solved and the drawn ones. Returns how many restarted."""
        best = distances.argmin(axis=1)
        self.states = children[np.arange(len(best)), best]
        restart = (distances.min(axis=1) <= table_radius) | (rng.random(len(best)) < 1.0 / self.restart_every)
        if restarted := int(restart.sum()):
            self.states[restart] = random_states(rng, restarted, self.scramble)
        return restarted


def bellman_loss(predicted: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Huber loss (delta 1 move) between predicted and target distances: robust to a stale target."""
    return F.huber_loss(predicted, targets, delta=1.0)
