"""Diagnostics of learned representations: effective rank, alignment, uniformity, and the
per-sample InfoNCE gradient norm.

All functions take ``(batch, dim)`` tensors and return tensors without building a graph that
training would need; they are meant for logging (``diagnostics/effective_rank`` ...).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from clrl.losses.similarity import check_embeddings, check_pair, check_positive, pairwise_similarity


def effective_rank(representations: Tensor, *, center: bool = False, eps: float = 1e-12) -> Tensor:
    """Effective rank of Roy & Vetterli (2007), "The effective rank: a measure of effective dimensionality".

    With singular values ``sigma_k`` of the ``(N, dim)`` matrix and ``p_k = sigma_k / sum sigma``::

        erank = exp( -sum_k p_k log p_k )

    It lies in ``[1, min(N, dim)]``: 1 for a rank-1 matrix, ``min(N, dim)`` when all singular
    values are equal (approached by an isotropic Gaussian sample with ``N >> dim``).

    Args:
        representations: ``(N, dim)``.
        center: subtract the mean row first (measures the spread around the mean instead).
        eps: singular values are divided by ``sum sigma + eps`` so a zero matrix gives 1, not NaN.

    Returns:
        Scalar tensor.
    """
    check_embeddings("representations", representations)
    with torch.no_grad():
        matrix = representations.to(torch.float64)
        if center:
            matrix = matrix - matrix.mean(dim=0, keepdim=True)
        singular_values = torch.linalg.svdvals(matrix)
        p = singular_values / (singular_values.sum() + eps)
        entropy = -(p * torch.log(p.clamp_min(eps))).sum()
        return entropy.exp().to(representations.dtype)


def alignment(z1: Tensor, z2: Tensor, *, alpha: float = 2.0) -> Tensor:
    """Alignment of Wang & Isola (2020), "Understanding Contrastive Representation Learning
    through Alignment and Uniformity on the Hypersphere": ``E ||z1_i - z2_i||_2^alpha``.

    Inputs are L2-normalised first (the metric is defined on the hypersphere). Lower is better.

    Args:
        z1, z2: ``(N, dim)`` embeddings of positive pairs.
        alpha: exponent ``> 0`` (2 in the paper).
    """
    check_pair("z1", z1, "z2", z2)
    check_positive("alpha", alpha)
    with torch.no_grad():
        difference = F.normalize(z1, dim=1) - F.normalize(z2, dim=1)
        return torch.linalg.vector_norm(difference, dim=1).pow(alpha).mean()


def uniformity(z: Tensor, *, t: float = 2.0) -> Tensor:
    """Uniformity of Wang & Isola (2020): ``log E_{i<j} exp(-t ||z_i - z_j||_2^2)`` on normalised rows.

    Lower (more negative) is more uniform; on the unit sphere it is bounded below by ``-4t``.

    Args:
        z: ``(N, dim)`` embeddings, ``N >= 2``.
        t: ``t > 0`` (2 in the paper).
    """
    check_embeddings("z", z)
    check_positive("t", t)
    if z.shape[0] < 2:
        raise ValueError(f"uniformity needs at least 2 samples, got {z.shape[0]}")
    with torch.no_grad():
        sq_distances = torch.pdist(F.normalize(z, dim=1), p=2).pow(2)
        return torch.logsumexp(-t * sq_distances, dim=0) - math.log(sq_distances.numel())


def infonce_gradient_norm_bound(anchors: Tensor, candidates: Tensor, *, temperature: float) -> Tensor:
    """Per-sample norm of the InfoNCE gradient with respect to the anchor embedding.

    For anchor ``u_i``, candidates ``v_k`` (the positive of row ``i`` is ``v_i``) and
    ``p_ik = softmax_k(<u_i, v_k> / tau)``, the loss ``l_i = -log p_ii`` has gradient
    ``dl_i/du_i = -(v_i - E_{p_i}[v]) / tau``, so::

        ||dl_i/du_i|| = ||v_i - sum_k p_ik v_k||_2 / tau

    This is exact for the dot-product critic. For the cosine critic pass L2-normalised anchors and
    candidates: the value is then the gradient norm with respect to the normalised anchor and,
    divided by ``||u_i||``, an upper bound on the gradient norm with respect to the raw anchor
    (normalisation only projects and shrinks the gradient). It vanishes as the softmax puts all
    its mass on the positive and is at most ``2 max_k ||v_k|| / tau``.

    Args:
        anchors: ``(N, dim)``.
        candidates: ``(M, dim)``, ``M >= N``; row ``i`` is the positive of anchor ``i``.
        temperature: ``tau > 0``.

    Returns:
        ``(N,)`` gradient norms.
    """
    check_embeddings("anchors", anchors)
    check_embeddings("candidates", candidates)
    check_positive("temperature", temperature)
    n = anchors.shape[0]
    if candidates.shape[1] != anchors.shape[1] or candidates.shape[0] < n:
        raise ValueError(
            f"candidates must have shape (M >= {n}, {anchors.shape[1]}), got {tuple(candidates.shape)}"
        )
    with torch.no_grad():
        probabilities = F.softmax(pairwise_similarity(anchors, candidates, "dot") / temperature, dim=1)
        expected_candidate = probabilities @ candidates
        return torch.linalg.vector_norm(candidates[:n] - expected_candidate, dim=1) / temperature
