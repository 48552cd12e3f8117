"""Supervised yardstick for the cube distance: regress the random-walk step count (CayleyPy).

The cheapest recipe of CayleyPy (Chervov et al. 2025, "CayleyPy: a machine learning approach to
Cayley graph pathfinding") trains a network to predict, for a state reached by a non-backtracking
random walk of ``k`` moves from the goal, the number ``k``:

    L = mean_i (d(s_i) - k_i)^2,     s_i = walk of k_i ~ U{1..K} moves from solved.

``k`` over-counts the true distance (walks double back), but its conditional mean grows with the
distance, so the regression orders states by it, with no search and no table. Here ``d`` is read off
the encoder's latent score by the same increasing affine map as the Bellman refinement
(:class:`clrl.crtr.bellman.DistanceHead`), so the planners use the encoder unchanged; one forward
and backward pass per state makes it the cheapest label per CPU-second of the cube's arms, and on
a 2-core CPU the one that trains the best cube distance: the shipped ``cube.pt`` is this loss alone
(``walk_regression.weight=1 loss.crtr_weight=0``, 92,000 steps), then 10,542 steps of the Bellman
refinement on its own greedy trajectories (:class:`clrl.crtr.bellman.GreedyPool`; docs/cube.md,
session 15).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def walk_regression_loss(predicted: torch.Tensor, walk_lengths: torch.Tensor) -> torch.Tensor:
    """Mean squared error between predicted distances and the walk lengths that produced the states."""
    return F.mse_loss(predicted, walk_lengths.to(predicted.dtype))
