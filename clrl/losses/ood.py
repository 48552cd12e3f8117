"""Feature-norm out-of-distribution scoring and an outlier-exposure norm penalty.

Score: Yu, Lee, Shin, Kim, Jeong (2023), "Block Selection Method for Using Feature Norm in
Out-of-distribution Detection" (CVPR 2023): in-distribution inputs tend to produce larger feature
norms than out-of-distribution ones, so ``||f(x)||_2`` is the detector's score (higher means more
in-distribution).

Penalty: outlier exposure (Hendrycks, Mazeika, Dietterich 2019, "Deep Anomaly Detection with
Outlier Exposure") trains with auxiliary outliers. Here it acts on the feature norm with the
squared hinges that energy-based OE (Liu, Wang, Owens, Li 2020, "Energy-based Out-of-distribution
Detection") uses on the energy::

    P = mean_in relu(m_in - ||f(x_in)||)^2 + mean_out relu(||f(x_out)|| - m_out)^2

which pushes in-distribution norms above ``m_in`` and outlier norms below ``m_out <= m_in``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from clrl.losses.similarity import check_embeddings, check_positive


def feature_norm_score(features: Tensor) -> Tensor:
    """Per-sample OOD score ``||f_i||_2`` of ``(N, dim)`` features; higher = more in-distribution.

    Example:
        >>> scores = feature_norm_score(encoder(images))     # (N,)
        >>> flagged = scores < threshold
    """
    check_embeddings("features", features)
    return torch.linalg.vector_norm(features, dim=1)


def outlier_exposure_norm_penalty(
    in_features: Tensor, out_features: Tensor, *, margin_in: float, margin_out: float | None = None
) -> Tensor:
    """Squared-hinge norm penalty of outlier exposure (formula in the module docstring).

    Args:
        in_features: ``(N_in, dim)`` features of in-distribution samples.
        out_features: ``(N_out, dim)`` features of auxiliary outliers.
        margin_in: ``m_in > 0``, the norm in-distribution features should exceed.
        margin_out: ``0 < m_out <= m_in``, the norm outliers should stay below (default ``m_in``).

    Returns:
        Scalar penalty (zero when every norm is on its side of its margin).
    """
    check_embeddings("in_features", in_features)
    check_embeddings("out_features", out_features)
    if in_features.shape[1] != out_features.shape[1]:
        raise ValueError(
            f"in_features and out_features must have the same dim, "
            f"got {in_features.shape[1]} and {out_features.shape[1]}"
        )
    check_positive("margin_in", margin_in)
    margin_out = margin_in if margin_out is None else margin_out
    check_positive("margin_out", margin_out)
    if margin_out > margin_in:
        raise ValueError(f"margin_out ({margin_out}) must not exceed margin_in ({margin_in})")
    in_shortfall = torch.relu(margin_in - feature_norm_score(in_features))
    out_excess = torch.relu(feature_norm_score(out_features) - margin_out)
    return in_shortfall.pow(2).mean() + out_excess.pow(2).mean()
