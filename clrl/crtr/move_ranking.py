"""Move ranking: a head that scores all 12 quarter turns of a cube state in one pass of the encoder.

The distance head reads each child on its own, so greedy descent's choice among 12 siblings rests on
12 separate estimates of about 10 moves, each off by part of a move. The move head reads the parent
once: the encoder's trunk features ``h(s)`` (before its latent projection) go through a LayerNorm,
one hidden ReLU layer and 12 outputs ``q(s)``, one per quarter turn, and the loss is the child
ranking's (:mod:`clrl.crtr.child_ranking`) with the head's outputs as the logits,

    L = -log( sum_{a nearer} exp(q_a(s) / tau) / sum_a exp(q_a(s) / tau) ),

where the nearer moves ``a`` are those whose child is one move nearer the goal (exact labels,
:func:`clrl.planners.exact_distance.nearer_children`). Greedy descent with it takes ``argmax_a
q_a(s)``: one forward pass per state instead of 12, as a deep Q-network scores a state's children
from the parent in Q* search (Agostinelli et al. 2024, "Q* search: heuristic search with deep
Q-networks") and EfficientCube's network picks the next move (Takano 2023, "Self-supervision is all
you need for solving Rubik's cube").

Labels cost about 5 ms of search per state 7-11 moves out, many times the encoder's training pass
over the state, so the labelled states wait in a pool (:class:`MovePool`): each step labels
``fresh_states`` more walk states into it (the oldest go) and trains on ``batch_size`` states drawn
from it, each as a random one of its 48 symmetric images with its labels moved along
(:func:`clrl.envs.cube.symmetry.move_values_of_images`): one labelled state is 48 inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from clrl.checkpoint import Checkpoint, CheckpointError
from clrl.config import with_added_keys
from clrl.crtr.child_ranking import child_ranking_losses
from clrl.crtr.model import build_model
from clrl.envs.cube.constants import NUM_QUARTER_TURNS, NUM_STICKERS
from clrl.envs.cube.symmetry import (
    NUM_SYMMETRIES,
    SYMMETRY_MOVES,
    apply_symmetries,
    move_values_of_images,
    symmetric_images,
)


class MoveHead(nn.Module):
    """``(N, width)`` trunk features -> ``(N, 12)`` logits, one per quarter turn (higher: nearer)."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, NUM_QUARTER_TURNS)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class MoveScorer(nn.Module):
    """A residual MLP's trunk and a :class:`MoveHead`: ``(N, in_dim)`` inputs -> ``(N, 12)`` logits."""

    def __init__(self, encoder: nn.Module, head: MoveHead) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder.features(x))


def move_ranking_loss(logits: torch.Tensor, nearer: torch.Tensor, temperature: float) -> torch.Tensor:
    """The loss ``L`` above, the mean over states: ``logits`` and ``nearer`` ``(N, 12)``, at least one
    nearer move per row."""
    return child_ranking_losses(-logits.float(), nearer, temperature).mean()


class MovePool:
    """A ring of up to ``capacity`` labelled states; ``sample`` draws them as random symmetric images."""

    def __init__(self, capacity: int) -> None:
        self.states = np.zeros((capacity, NUM_STICKERS), dtype=np.uint8)
        self.nearer = np.zeros((capacity, NUM_QUARTER_TURNS), dtype=bool)
        self.size = 0  # states held
        self.next = 0  # where the next one goes (the oldest once full)

    def add(self, states: np.ndarray, nearer: np.ndarray) -> None:
        rows = (self.next + np.arange(len(states))) % len(self.states)
        self.states[rows], self.nearer[rows] = states, nearer
        self.next = int((self.next + len(states)) % len(self.states))
        self.size = min(self.size + len(states), len(self.states))

    def sample(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` states drawn with replacement, each as its image under a random symmetry, and
        their labels moved to the image's quarter turns."""
        rows = rng.integers(0, self.size, size=count)
        symmetries = rng.integers(0, NUM_SYMMETRIES, size=count)
        images = apply_symmetries(self.states[rows], symmetries)
        return images, move_values_of_images(self.nearer[rows], symmetries)

    def state_dict(self) -> dict[str, torch.Tensor]:
        held = slice(0, self.size)
        return {
            "states": torch.from_numpy(self.states[held].copy()),
            "nearer": torch.from_numpy(self.nearer[held].copy()),
            "next": torch.tensor(self.next),
        }

    def load_state_dict(self, saved: dict[str, torch.Tensor]) -> None:
        size = len(saved["states"])
        self.states[:size], self.nearer[:size] = saved["states"].numpy(), saved["nearer"].numpy()
        self.size, self.next = size, int(saved["next"])


class MoveScores:
    """``(N, 54)`` states -> ``(N, 12)`` scores, lower for a move the head ranks nearer: ``-q(s)``, or
    its mean over the first ``symmetries`` images of each state, each image's scores taken at the
    image's own quarter turns (turn ``m`` of ``s`` is turn ``g(m)`` of ``g(s)``)."""

    def __init__(self, scorer: nn.Module, featurize, symmetries: int = 1, device="cpu") -> None:
        self.scorer, self.featurize = scorer.eval(), featurize
        self.symmetries, self.device = symmetries, torch.device(device)

    @torch.inference_mode()
    def __call__(self, states: np.ndarray) -> np.ndarray:
        chosen = np.arange(self.symmetries)
        images = symmetric_images(states, chosen) if self.symmetries > 1 else states
        logits = self.scorer(self.featurize(images).to(self.device)).float().cpu().numpy()
        logits = logits.reshape(self.symmetries, len(states), NUM_QUARTER_TURNS)
        at_own_moves = np.take_along_axis(logits, SYMMETRY_MOVES[chosen][:, None, :], axis=2)
        return -at_own_moves.mean(axis=0)


def saved_move_scorer(
    saved: Checkpoint, source: str
) -> tuple[MoveScorer, Callable[[np.ndarray], torch.Tensor]]:
    """A saved cube run's encoder and move head as one :class:`MoveScorer`, with the featurizer of
    its inputs; a run without a move head is refused in one line that names ``source``."""
    if "move_head" not in saved.state:
        raise CheckpointError(f"checkpoint {source} has no move head (it trained with move_ranking.weight 0)")
    config = with_added_keys("cube", saved.config)
    task, encoder = build_model("cube", config)
    encoder.load_state_dict(saved.state["encoder"])
    head = MoveHead(config["model"]["width"], config["move_ranking"]["hidden"])
    head.load_state_dict(saved.state["move_head"])
    return MoveScorer(encoder, head), task.featurize
