"""RényiCL: contrastive learning with the skew Rényi divergence variational bound.

Lee, Shin (2022), "RényiCL: Contrastive Representation Learning with Skew Rényi Divergence"
(NeurIPS 2022). The critic ``f`` scores pairs; positive pairs are samples of the joint ``P`` and
negative pairs of the product of marginals ``Q``. The Rényi variational bound of order ``gamma``,
``D_gamma(P || Q) >= gamma/(gamma-1) log E_P[e^{(gamma-1) f}] - log E_Q[e^{gamma f}]``, is taken
against the skewed negative distribution ``Q_alpha = alpha P + (1 - alpha) Q``, which keeps the
divergence (and the variance of its estimate) bounded.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from clrl.losses.similarity import (
    check_fraction,
    check_pair,
    check_positive,
    check_similarity,
    pairwise_similarity,
)


def _check_renyi_orders(gamma: float, alpha: float) -> None:
    check_positive("gamma", gamma)
    if gamma == 1:
        raise ValueError("gamma must differ from 1 (gamma -> 1 is the KL / Donsker-Varadhan limit)")
    check_fraction("alpha", alpha, high_inclusive=False)


def renyi_contrastive_from_logits(logits: Tensor, *, gamma: float = 2.0, alpha: float = 0.0) -> Tensor:
    """Skew Rényi contrastive loss of a square critic matrix.

    With ``f_ii`` the ``N`` positive pairs (diagonal) and ``f_ij, i != j`` the ``N(N-1)`` negative
    pairs, and batch means as the expectations::

        L = -1/(gamma-1) log E_P[exp((gamma-1) f)] + 1/gamma log E_{Q_alpha}[exp(gamma f)]
        E_{Q_alpha}[g] = alpha E_P[g] + (1 - alpha) E_Q[g]

    Every log-mean-exp is computed with ``logsumexp``. ``L`` is ``-1/gamma`` times the skew Rényi
    bound; as ``gamma -> 1`` (with ``alpha = 0``) it tends to ``-(E_P[f] - log E_Q[e^f])``, the
    negative Donsker-Varadhan bound. Its gradient equals that of the reference implementation's
    importance-weighted surrogate (batch-level means, as there).

    Args:
        logits: ``(N, N)`` critic values, ``N >= 2``, positives on the diagonal.
        gamma: Rényi order ``> 0``, ``!= 1`` (default 2).
        alpha: skew in ``[0, 1)`` (default 0: no skew). ``alpha = 1/N`` makes ``Q_alpha`` the
            uniform mixture over all ``N^2`` pairs.

    Returns:
        Scalar loss.
    """
    _check_renyi_orders(gamma, alpha)
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1] or logits.shape[0] < 2:
        raise ValueError(f"logits must be a square (N, N) matrix with N >= 2, got {tuple(logits.shape)}")
    n = logits.shape[0]
    positives = logits.diagonal()

    def log_mean_exp(values: Tensor, count: int) -> Tensor:
        return torch.logsumexp(values.flatten(), dim=0) - math.log(count)

    positive_term = log_mean_exp((gamma - 1.0) * positives, n) / (gamma - 1.0)
    # Masking the diagonal with -inf (exp -> 0) averages over the N(N-1) negatives without a gather.
    diagonal = torch.eye(n, dtype=torch.bool, device=logits.device)
    log_q = log_mean_exp((gamma * logits).masked_fill(diagonal, -math.inf), n * (n - 1))
    if alpha > 0:
        log_p = log_mean_exp(gamma * positives, n)
        log_q = torch.logaddexp(math.log(alpha) + log_p, math.log1p(-alpha) + log_q)
    return -positive_term + log_q / gamma


def renyi_cl(
    z1: Tensor,
    z2: Tensor,
    *,
    gamma: float = 2.0,
    alpha: float = 0.0,
    temperature: float = 0.5,
    similarity: str = "cosine",
) -> Tensor:
    """RényiCL loss between two views with critic ``f(z1_i, z2_j) = sim(z1_i, z2_j) / temperature``.

    See :func:`renyi_contrastive_from_logits` for the formula.

    Args:
        z1: ``(N, dim)`` first view (the source / online branch), ``N >= 2``.
        z2: ``(N, dim)`` second view (the target branch); row ``i`` is the positive of ``z1[i]``.
        gamma: Rényi order (default 2).
        alpha: skew of the negative distribution in ``[0, 1)``.
        temperature: ``tau > 0`` (0.5 in the reference implementation).
        similarity: see :func:`clrl.losses.pairwise_similarity`.

    Returns:
        Scalar loss.

    Example:
        >>> loss = renyi_cl(torch.randn(64, 128), torch.randn(64, 128), gamma=2.0, alpha=0.0)
    """
    check_pair("z1", z1, "z2", z2)
    check_positive("temperature", temperature)
    logits = pairwise_similarity(z1, z2, similarity) / temperature
    return renyi_contrastive_from_logits(logits, gamma=gamma, alpha=alpha)


class RenyiCLLoss(nn.Module):
    """Symmetric :func:`renyi_cl` (mean over both view orders); registry name ``"renyi"``."""

    needs_labels = False
    needs_feature_dim = False
    needs_seed = False
    needs_momentum_encoder = False

    def __init__(
        self, gamma: float = 2.0, alpha: float = 0.0, temperature: float = 0.5, similarity: str = "cosine"
    ) -> None:
        super().__init__()
        _check_renyi_orders(gamma, alpha)
        check_positive("temperature", temperature)
        check_similarity(similarity)
        self.gamma, self.alpha, self.temperature, self.similarity = gamma, alpha, temperature, similarity

    def forward(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> Tensor:
        """Scalar loss of two ``(N, dim)`` views; ``labels`` are ignored."""
        kwargs = dict(
            gamma=self.gamma, alpha=self.alpha, temperature=self.temperature, similarity=self.similarity
        )
        return 0.5 * (renyi_cl(z1, z2, **kwargs) + renyi_cl(z2, z1, **kwargs))
