"""Heuristics for the planners: the learned latent distance and hand-written baselines.

A heuristic maps a batch of states to estimated moves-to-go, ``(N, *S) -> (N,)`` float; lower is
closer to the goal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from clrl.envs.cube.constants import SOLVED_STATE
from clrl.losses.similarity import pairwise_similarity
from clrl.precision import AutocastForward


class LatentDistance:
    """``h(s) = min_g -sim(phi(s), phi(g))`` with the similarity the encoder was trained with.

    For ``neg_sq_l2`` this is the squared latent distance to the goal; for ``dot`` it is the
    negated inner product, which CRTR trains to fall as the goal gets nearer in moves. ``goals``
    holds one goal state (the solved cube) or several equally good ones (a solved Sokoban level
    with the player anywhere); the nearest counts. States are scored in chunks of ``batch_size``
    under ``torch.inference_mode``; ``precision="bfloat16"`` runs the encoder under bfloat16
    autocast (about twice as fast on CPUs with AVX-512 BF16, at a small cost in ordering near-ties)
    and compares the latents in float32; ``"auto"`` does so where the device has native bfloat16.
    """

    def __init__(
        self,
        encoder: torch.nn.Module,
        featurize: Callable[[np.ndarray], torch.Tensor],
        goals: np.ndarray,
        similarity: str,
        device: torch.device | str = "cpu",
        batch_size: int = 8192,
        precision: str = "float32",
    ) -> None:
        self.device = torch.device(device)
        self.encoder = AutocastForward(encoder.eval().to(device), precision, self.device)
        self.featurize = featurize
        self.similarity = similarity
        self.batch_size = batch_size
        self.precision = self.encoder.precision
        self.goal_latents = self.embed(goals)

    @torch.inference_mode()
    def embed(self, states: np.ndarray) -> torch.Tensor:
        chunks = [
            self.encoder(self.featurize(states[i : i + self.batch_size]).to(self.device))
            for i in range(0, len(states), self.batch_size)
        ]
        return torch.cat(chunks)

    def __call__(self, states: np.ndarray) -> np.ndarray:
        scores = -pairwise_similarity(self.embed(states), self.goal_latents, self.similarity)
        return scores.min(dim=1).values.float().cpu().numpy()


def misplaced_stickers(states: np.ndarray) -> np.ndarray:
    """Cube baseline: stickers not on their own face, divided by 20 and rounded up.

    A quarter turn moves 20 stickers, so this never overestimates the moves to go and changes by at
    most one per move: it is admissible and consistent, and A* with it finds optimal solutions.
    """
    wrong = (states != SOLVED_STATE).sum(axis=1)
    return np.ceil(wrong / 20.0)


class SymmetricMean:
    """``h_sym(s) = mean_g h(g(s))`` over ``count`` maps ``g`` that preserve the distance to the goal.

    When every ``g`` maps the puzzle onto itself (the cube's rotations and mirror images, see
    :mod:`clrl.envs.cube.symmetry`), the true distance is the same at all the images, while a learned
    one errs differently at each; the mean keeps the ordering its images agree on and averages out
    the rest. ``images(states)`` returns the ``(count * N, ...)`` images, one block per map; the cost
    is ``count`` times the heuristic's.
    """

    def __init__(self, heuristic: Callable[[np.ndarray], np.ndarray], images, count: int) -> None:
        self.heuristic = heuristic
        self.images = images
        self.count = count

    def __call__(self, states: np.ndarray) -> np.ndarray:
        scores = self.heuristic(self.images(states)).reshape(self.count, len(states))
        return scores.mean(axis=0)
