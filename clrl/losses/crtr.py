"""CRTR: contrastive representations for temporal reasoning, and its batch sampler contract.

Ziarko, Bortkiewicz, Zawalski, Eysenbach, Miłoś (2025), "Contrastive Representations for
Temporal Reasoning" (arXiv:2508.13113). The loss is InfoNCE between the latents of anchor states
and of future states of the same trajectory, both from one encoder. What makes it CRTR rather
than plain temporal contrastive learning (CRL, Eysenbach et al. 2022) is the batch: every
trajectory appears ``R`` times (the repetition factor), so the negatives of an anchor include
other states of its own trajectory, and context that is constant along a trajectory (a Sokoban
wall layout) no longer separates positives from negatives. ``R = 1`` is the CRL baseline.
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from clrl.losses.infonce import info_nce_from_logits, info_nce_logits
from clrl.losses.similarity import check_pair, check_positive

CRTR_SIMILARITIES = ("dot", "neg_sq_l2", "neg_mrn", "neg_iqe")


def crtr_logits(
    anchor_latents: Tensor,
    future_latents: Tensor,
    *,
    similarity: str = "dot",
    temperature: float | None = None,
) -> Tensor:
    """``(B, B)`` logits ``sim(anchor_i, future_j) / temperature``; positives on the diagonal.

    See :func:`crtr_loss` for the arguments. Feed the result (or its transpose, for the
    backward direction) to :func:`clrl.losses.contrastive_accuracy`.
    """
    check_pair("anchor_latents", anchor_latents, "future_latents", future_latents)
    if similarity not in CRTR_SIMILARITIES:
        expected = ", ".join(CRTR_SIMILARITIES)
        raise ValueError(f"unknown CRTR similarity {similarity!r}; expected one of {expected}")
    if temperature is None:
        temperature = 1.0 / math.sqrt(anchor_latents.shape[1])
    check_positive("temperature", temperature)
    return info_nce_logits(anchor_latents, future_latents, temperature=temperature, similarity=similarity)


def crtr_loss(
    anchor_latents: Tensor,
    future_latents: Tensor,
    *,
    similarity: str = "dot",
    temperature: float | None = None,
    direction: str = "backward",
) -> Tensor:
    """CRTR temporal contrastive loss on a batch from :func:`sample_crtr_batch`.

    With ``s_ij = sim(phi(x_i), phi(x_j^+)) / tau`` for anchor states ``x_i`` and their future
    states ``x_i^+``, the backward (default) direction is::

        L = -1/B sum_j log( exp(s_jj) / sum_i exp(s_ij) )

    each future state identifies its own anchor among all anchors of the batch, including the
    ``R - 1`` other anchors drawn from the same trajectory. ``forward`` and ``symmetric`` are as
    in :func:`clrl.losses.info_nce`.

    Args:
        anchor_latents: ``(B, d)`` latents of the anchor states.
        future_latents: ``(B, d)`` latents of their future states (same encoder).
        similarity: ``"dot"`` (default), ``"neg_sq_l2"`` (``-||a - b||^2``, whose negation is the
            latent distance a planner can use as a heuristic), or minus a quasimetric distance
            from anchor to future, ``"neg_mrn"`` or ``"neg_iqe"`` (:mod:`clrl.losses.quasimetric`).
        temperature: ``logits = similarity / temperature``; ``None`` means ``1 / sqrt(d)``.
        direction: ``"backward"`` (default), ``"forward"`` or ``"symmetric"``.

    Returns:
        Scalar loss.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> traj, anchor, future = sample_crtr_batch(rng, np.full(100, 30), 64, repetition_factor=4)
        >>> # encode states[traj, anchor] and states[traj, future] with one encoder, then:
        >>> loss = crtr_loss(torch.randn(64, 32), torch.randn(64, 32), similarity="neg_sq_l2")
    """
    logits = crtr_logits(anchor_latents, future_latents, similarity=similarity, temperature=temperature)
    return info_nce_from_logits(logits, direction)


def future_offset_probabilities(max_offset: int, gamma: float = 0.9, min_offset: int = 1) -> np.ndarray:
    """Exact distribution of the future offset ``k`` given at most ``max_offset`` steps remain.

    ``P(k) = gamma^k / sum_{m=min_offset}^{max_offset} gamma^m`` for ``min_offset <= k <= max_offset``
    (a geometric distribution truncated at the trajectory end). Returns an array of length
    ``max_offset + 1`` indexed by ``k`` (zero below ``min_offset``).
    """
    if max_offset < min_offset:
        raise ValueError(f"max_offset ({max_offset}) must be >= min_offset ({min_offset})")
    offsets = np.arange(max_offset + 1)
    weights = np.where(offsets >= min_offset, float(gamma) ** offsets, 0.0)
    return weights / weights.sum()


def sample_crtr_batch(
    rng: np.random.Generator,
    trajectory_lengths: np.ndarray,
    batch_size: int,
    repetition_factor: int,
    gamma: float = 0.9,
    min_offset: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample the (trajectory, anchor, future) indices of one CRTR batch.

    Layout: ``B / R`` distinct trajectories are drawn without replacement and each fills ``R``
    consecutive rows, ``traj_ids = [t0]*R + [t1]*R + ...``; every row draws its own anchor and
    future independently. For a trajectory of length ``L``:

    * the anchor index is uniform on ``[0, L - 1 - min_offset]`` (every state that has a future
      at least ``min_offset`` steps ahead);
    * the future index is ``anchor + k`` with ``P(k) ∝ gamma^k`` on
      ``min_offset <= k <= L - 1 - anchor``: geometric, truncated at the trajectory end and
      renormalised (see :func:`future_offset_probabilities`).

    ``min_offset = 1`` (default) makes the positive a strictly later state, as in CRL's
    ``t' > t``; ``min_offset = 0`` also allows the anchor itself as its positive (the
    ``[anchor, end]`` convention).

    Args:
        rng: numpy random generator (the only source of randomness).
        trajectory_lengths: ``(num_trajectories,)`` integer lengths, each ``>= min_offset + 1``.
        batch_size: ``B``, a multiple of ``repetition_factor``.
        repetition_factor: ``R >= 1``; ``R = 1`` gives the plain CRL batch.
        gamma: geometric ratio in ``(0, 1]``; ``1`` gives a uniform offset.
        min_offset: smallest allowed offset, ``0`` or more.

    Returns:
        ``(traj_ids, anchor_idx, future_idx)``, three ``(B,)`` int64 arrays.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    lengths = np.asarray(trajectory_lengths)
    if lengths.ndim != 1 or lengths.size == 0 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError("trajectory_lengths must be a non-empty 1-D integer array")
    if not isinstance(min_offset, (int, np.integer)) or min_offset < 0:
        raise ValueError(f"min_offset must be an integer >= 0, got {min_offset!r}")
    if lengths.min() < min_offset + 1:
        raise ValueError(
            f"every trajectory needs at least {min_offset + 1} states for min_offset={min_offset}, "
            f"shortest has {lengths.min()}"
        )
    for name, value in (("batch_size", batch_size), ("repetition_factor", repetition_factor)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if batch_size % repetition_factor != 0:
        raise ValueError(
            f"batch_size ({batch_size}) must be a multiple of repetition_factor ({repetition_factor})"
        )
    check_positive("gamma", gamma)
    if gamma > 1:
        raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
    num_distinct = batch_size // repetition_factor
    if num_distinct > lengths.size:
        raise ValueError(
            f"batch_size / repetition_factor = {num_distinct} distinct trajectories needed, "
            f"only {lengths.size} available"
        )

    distinct = rng.choice(lengths.size, size=num_distinct, replace=False)
    traj_ids = np.repeat(distinct, repetition_factor).astype(np.int64)
    traj_lengths = lengths[traj_ids].astype(np.int64)
    anchor_idx = rng.integers(0, traj_lengths - min_offset)
    extra_horizon = traj_lengths - 1 - anchor_idx - min_offset  # largest k - min_offset allowed
    if gamma == 1:
        extra = rng.integers(0, extra_horizon + 1)
    else:
        # Inverse CDF of the truncated geometric on {0..H}: P(j) = gamma^j (1-gamma) / (1-gamma^(H+1)).
        truncated_mass = -np.expm1((extra_horizon + 1) * np.log(gamma))
        uniform = rng.random(batch_size)
        extra = np.floor(np.log1p(-uniform * truncated_mass) / np.log(gamma)).astype(np.int64)
        extra = np.minimum(extra, extra_horizon)  # guards the measure-zero rounding at u -> 1
    future_idx = anchor_idx + min_offset + extra
    return traj_ids, anchor_idx.astype(np.int64), future_idx.astype(np.int64)
