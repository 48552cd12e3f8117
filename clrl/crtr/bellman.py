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
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clrl.envs.cube.constants import NUM_STICKERS
from clrl.envs.cube.trajectories import random_walk_trajectories
from clrl.planners.domain import CubeDomain
from clrl.planners.exact_distance import table_distance
from clrl.planners.goal_table import GoalTable


class DistanceHead(nn.Module):
    """Moves to go from the latent score: ``d = softplus(a) * u + b``, an increasing map of ``u``."""

    def __init__(self) -> None:
        super().__init__()
        self.raw_scale = nn.Parameter(torch.zeros(()))
        self.offset = nn.Parameter(torch.zeros(()))

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.raw_scale) * scores + self.offset


def scramble_states(rng: np.random.Generator, count: int, max_depth: int) -> tuple[np.ndarray, np.ndarray]:
    """``(count, 54)`` cubes, each ``k ~ U{1..max_depth}`` quarter turns from solved along a random
    walk with no immediate undos, and the ``(count,)`` walk lengths ``k`` (an upper bound on the
    distance: walks double back)."""
    walks = random_walk_trajectories(rng, count, max_depth).states  # walk i ends solved at index max_depth
    depths = rng.integers(1, max_depth + 1, size=count)
    return walks[np.arange(count), max_depth - depths], depths


def bellman_targets(
    table: GoalTable,
    states: np.ndarray,
    child_distance,
) -> np.ndarray:
    """``(N,)`` float targets: the exact distance inside the table, else ``1 + min_c d(c)``.

    ``child_distance(children)`` scores the children outside the table (the target network); its
    values are raised to ``radius + 1``, the least distance of a state outside the table.
    """
    domain = CubeDomain()
    targets = table_distance(table, domain, states).astype(np.float32)
    outside = np.flatnonzero(targets < 0)
    if len(outside) == 0:
        return targets
    children = domain.children(states[outside])[0].reshape(-1, NUM_STICKERS)
    values = table_distance(table, domain, children).astype(np.float32)
    unknown = np.flatnonzero(values < 0)
    if len(unknown):
        values[unknown] = np.maximum(child_distance(children[unknown]), table.radius + 1)
    targets[outside] = 1.0 + values.reshape(len(outside), -1).min(axis=1)
    return targets


def bellman_loss(predicted: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Huber loss (delta 1 move) between predicted and target distances: robust to a stale target."""
    return F.huber_loss(predicted, targets, delta=1.0)
