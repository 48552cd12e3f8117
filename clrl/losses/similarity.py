"""Pairwise similarity matrices and shared argument checks for every contrastive loss.

Every loss in :mod:`clrl.losses` builds its logits from :func:`pairwise_similarity`, so a
similarity kind means the same thing everywhere (InfoNCE, NT-Xent, MoCo, CRTR, RényiCL, SLR,
Rank-N-Contrast).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from clrl.losses.quasimetric import iqe_distance, mrn_distance

SIMILARITY_KINDS = ("cosine", "dot", "neg_sq_l2", "neg_l2", "neg_mrn", "neg_iqe")


def pairwise_similarity(a: Tensor, b: Tensor, kind: str) -> Tensor:
    """Similarity of every row of ``a`` with every row of ``b``.

    Args:
        a: ``(n, dim)`` embeddings.
        b: ``(m, dim)`` embeddings.
        kind: one of
            ``"cosine"``   ``<a_i, b_j> / (||a_i|| ||b_j||)``;
            ``"dot"``      ``<a_i, b_j>``;
            ``"neg_sq_l2"`` ``-||a_i - b_j||^2``;
            ``"neg_l2"``   ``-||a_i - b_j||`` (its gradient is zero, not NaN, where ``a_i == b_j``);
            ``"neg_mrn"``, ``"neg_iqe"`` minus a quasimetric distance ``d(a_i, b_j)``
            (:mod:`clrl.losses.quasimetric`; asymmetric, with the triangle inequality).

    Returns:
        ``(n, m)`` similarity matrix ``S[i, j] = sim(a_i, b_j)``.

    Example:
        >>> a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
        >>> pairwise_similarity(a, a, "neg_sq_l2")
        tensor([[-0., -5.],
                [-5., -0.]])
    """
    check_embeddings("a", a)
    check_embeddings("b", b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same dim, got {a.shape[1]} and {b.shape[1]}")
    if kind == "cosine":
        return F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
    if kind == "dot":
        return a @ b.T
    if kind == "neg_sq_l2":
        # The expanded form needs one matmul instead of an (n, m, dim) difference tensor; clamping
        # removes the tiny negative values that cancellation can produce for near-identical rows.
        sq_dist = (a * a).sum(1, keepdim=True) + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
        return -sq_dist.clamp_min(0.0)
    if kind == "neg_l2":
        # The direct (non-matmul) kernel is exact and has a zero subgradient at distance 0.
        return -torch.cdist(a, b, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")
    if kind == "neg_mrn":
        return -mrn_distance(a, b)
    if kind == "neg_iqe":
        return -iqe_distance(a, b)
    raise ValueError(f"unknown similarity {kind!r}; expected one of {', '.join(SIMILARITY_KINDS)}")


def check_similarity(kind: str) -> None:
    """Raise ``ValueError`` unless ``kind`` names a similarity of :func:`pairwise_similarity`."""
    if kind not in SIMILARITY_KINDS:
        raise ValueError(f"unknown similarity {kind!r}; expected one of {', '.join(SIMILARITY_KINDS)}")


def check_embeddings(name: str, tensor: Tensor) -> None:
    """Raise ``ValueError`` unless ``tensor`` is a non-empty floating ``(batch, dim)`` tensor."""
    if not isinstance(tensor, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.ndim != 2:
        raise ValueError(f"{name} must have shape (batch, dim), got {tuple(tensor.shape)}")
    if tensor.shape[0] == 0 or tensor.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {tensor.dtype}")


def check_pair(first_name: str, first: Tensor, second_name: str, second: Tensor) -> None:
    """Raise ``ValueError`` unless both are ``(batch, dim)`` embeddings of the same shape."""
    check_embeddings(first_name, first)
    check_embeddings(second_name, second)
    if first.shape != second.shape:
        raise ValueError(
            f"{first_name} and {second_name} must have the same shape, "
            f"got {tuple(first.shape)} and {tuple(second.shape)}"
        )


def _is_finite_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_positive(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number > 0."""
    if not _is_finite_number(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def check_fraction(name: str, value: float, *, high_inclusive: bool = True) -> None:
    """Raise ``ValueError`` unless ``0 <= value <= 1`` (or ``< 1`` when ``high_inclusive`` is false)."""
    if not _is_finite_number(value) or value < 0 or value > 1 or (not high_inclusive and value == 1):
        bound = "1]" if high_inclusive else "1)"
        raise ValueError(f"{name} must be in [0, {bound}, got {value!r}")
