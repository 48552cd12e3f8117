"""Rank-N-Contrast: contrastive regression by ranking samples by label distance.

Zha, Cao, Zhang, Katabi, Lin, Yang (2023), "Rank-N-Contrast: Learning Continuous Representations
for Regression" (NeurIPS 2023). For anchor ``i`` and any other sample ``j`` taken as positive,
the negatives are the samples at least as far from ``i`` in label space as ``j`` is, so the
embedding learns to order samples by their label distance.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from clrl.losses.similarity import check_embeddings, check_pair, check_positive, pairwise_similarity


def _label_matrix(labels: Tensor, batch: int) -> Tensor:
    if not isinstance(labels, Tensor):
        raise ValueError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2 or labels.shape[0] != batch:
        raise ValueError(f"labels must have shape ({batch},) or ({batch}, k), got {tuple(labels.shape)}")
    return labels.detach().to(torch.float64)


def rank_n_contrast(features: Tensor, labels: Tensor, *, temperature: float = 2.0) -> Tensor:
    """Rank-N-Contrast loss.

    With ``s_ij = -||z_i - z_j||_2 / tau`` and label distance ``d_ij = ||y_i - y_j||_1``::

        L = -1/(N(N-1)) sum_i sum_{j != i} log( exp(s_ij) / sum_{k in S_ij} exp(s_ik) )
        S_ij = { k != i : d_ik >= d_ij }          (contains j itself)

    Implemented in ``O(N^2 log N)``: each row's candidates are sorted by label distance once and
    every denominator is a suffix log-sum-exp of that order.

    Args:
        features: ``(N, dim)`` embeddings, ``N >= 2`` (the official code passes both views
            concatenated, ``2B`` rows, each view carrying its sample's label).
        labels: ``(N,)`` or ``(N, k)`` continuous targets (no gradient flows into them).
        temperature: ``tau > 0`` (2.0 in the paper's code).

    Returns:
        Scalar loss.

    Example:
        >>> z, age = torch.randn(64, 128), torch.rand(64) * 100
        >>> loss = rank_n_contrast(z, age, temperature=2.0)
    """
    check_embeddings("features", features)
    check_positive("temperature", temperature)
    n = features.shape[0]
    if n < 2:
        raise ValueError(f"Rank-N-Contrast needs at least 2 samples, got {n}")
    label_matrix = _label_matrix(labels, n)
    label_distance = torch.cdist(label_matrix, label_matrix, p=1.0)
    logits = pairwise_similarity(features, features, "neg_l2") / temperature

    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=features.device)
    logits = logits.masked_select(off_diagonal).view(n, n - 1)  # row i: candidates k != i
    label_distance = label_distance.masked_select(off_diagonal.to(label_distance.device)).view(n, n - 1)
    label_distance = label_distance.to(features.device)

    sorted_distance, order = label_distance.sort(dim=1)
    sorted_logits = logits.gather(1, order)
    # suffix_lse[i, p] = logsumexp of row i's candidates from sorted position p to the end.
    suffix_lse = sorted_logits.flip(1).logcumsumexp(dim=1).flip(1)
    first_not_closer = torch.searchsorted(sorted_distance, label_distance, side="left")
    denominators = suffix_lse.gather(1, first_not_closer)
    return (denominators - logits).mean()


class RankNContrastLoss(nn.Module):
    """Two-view Rank-N-Contrast (registry name ``"rnc"``): both views of a sample share its label.

    ``forward(z1, z2, labels=y)`` evaluates :func:`rank_n_contrast` on ``[z1; z2]`` with labels
    ``[y; y]``, as the official implementation does.
    """

    needs_labels = True  # the regression targets that order the samples
    needs_feature_dim = False
    needs_seed = False
    needs_momentum_encoder = False

    def __init__(self, temperature: float = 2.0) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        self.temperature = temperature

    def forward(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> Tensor:
        """Scalar loss of two ``(N, dim)`` views with ``(N,)`` or ``(N, k)`` labels (required)."""
        if labels is None:
            raise ValueError("Rank-N-Contrast needs labels=... (the regression targets)")
        check_pair("z1", z1, "z2", z2)
        return rank_n_contrast(torch.cat([z1, z2]), torch.cat([labels, labels]), temperature=self.temperature)
