"""Nearer-child ranking: train the cube distance on the choice greedy descent makes.

Greedy descent moves to the child with the lowest learned distance. From a state exactly ``d``
quarter turns from solved it makes progress when that child is one of the children ``d - 1`` away;
a quarter turn changes the distance by exactly one, so every other child is ``d + 1`` away. The
Bellman and regression losses fit each state's distance on its own, and an error of one move in
either direction among the 12 siblings picks the wrong child. This loss scores the siblings
together: a softmax over the children ``c`` of a state, with logits ``-d(c) / tau`` (``d`` in moves,
:class:`~clrl.crtr.bellman.DistanceHead`), and the nearer children as the positives,

    L = -log( sum_{c nearer} exp(-d(c) / tau) / sum_c exp(-d(c) / tau) ),

InfoNCE (van den Oord et al. 2018, "Representation learning with contrastive predictive coding")
with several positives, in the "L_in" form of supervised contrastive learning (Khosla et al. 2020).
Its negatives are the farther siblings: as in CRTR, negatives that share the anchor's context (here
its parent), so the encoder cannot tell them apart by what they have in common.

The labels are exact: states from random walks of ``min_depth..max_depth`` moves, their distance
from the goal table or, beyond it, a breadth-first search into it, and their children's likewise
(:func:`clrl.planners.exact_distance.nearer_children`; about 3 ms of CPU per state 10 moves out with
the radius-7 table, 16 ms at 11).
"""

from __future__ import annotations

import numpy as np
import torch

from clrl.crtr.bellman import scramble_states
from clrl.planners.domain import CubeDomain
from clrl.planners.exact_distance import exact_distances, nearer_children
from clrl.planners.goal_table import GoalTable


def labelled_states(
    rng: np.random.Generator, table: GoalTable, count: int, min_depth: int, max_depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` walk states ``min_depth..max_depth`` moves out and ``(N, 12)`` whether each
    quarter turn leads one move nearer the goal (a walk back to solved has none and is dropped)."""
    domain = CubeDomain()
    states, walk_lengths = scramble_states(rng, count, max_depth, min_depth)
    distances = exact_distances(table, domain, states, walk_lengths)  # a walk's length bounds its distance
    kept = distances > 0
    _, nearer = nearer_children(table, domain, states[kept], distances[kept])
    return states[kept], nearer


def ranking_batch(
    rng: np.random.Generator, table: GoalTable, count: int, min_depth: int, max_depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """The children ``(N, 12, 54)`` of :func:`labelled_states` and whether each is one move nearer."""
    states, nearer = labelled_states(rng, table, count, min_depth, max_depth)
    return CubeDomain().children(states)[0], nearer


def child_ranking_losses(
    child_distances: torch.Tensor, nearer: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``(N,)``: each state's ``-log`` of the softmax mass (logits ``-d / temperature``) on its nearer
    children. ``child_distances``: ``(N, A)`` predicted moves to go; ``nearer``: ``(N, A)`` bool, at
    least one true per row."""
    logits = -child_distances / temperature
    everything = torch.logsumexp(logits, dim=1)
    positives = torch.logsumexp(logits.masked_fill(~nearer, float("-inf")), dim=1)
    return everything - positives


def child_ranking_loss(
    child_distances: torch.Tensor, nearer: torch.Tensor, temperature: float
) -> torch.Tensor:
    """The mean over states of :func:`child_ranking_losses`: the loss ``L`` above."""
    return child_ranking_losses(child_distances, nearer, temperature).mean()


def hardest(losses: torch.Tensor, count: int) -> np.ndarray:
    """Indices of the ``count`` highest of ``losses`` (all of them if fewer): online hard example
    mining (Shrivastava et al. 2016, "Training region-based object detectors with online hard example
    mining"), which trains on the states the ranking gets most wrong."""
    return losses.topk(min(count, len(losses))).indices.cpu().numpy()


def nearer_pick_rate(child_distances: torch.Tensor, nearer: torch.Tensor) -> torch.Tensor:
    """Fraction of states whose lowest-distance child is a nearer one: the nearer-child rate of the
    batch, what greedy descent would get right."""
    picked = child_distances.argmin(dim=1, keepdim=True)
    return nearer.gather(1, picked).float().mean()
