"""Adv-SSL: alignment plus an adversarial (min-max) covariance-to-identity regulariser.

Duan, Jiao, Lin, Ma, Yang (2024/2025), "Adv-SSL: Adversarial Self-Supervised Representation
Learning with Theoretical Guarantees" (arXiv:2408.08533, NeurIPS 2025). Covariance-regularised
methods (Barlow Twins, VICReg) penalise ``||C(f) - I||_F`` with ``C(f) = E[f(x1) f(x2)^T]``; a
mini-batch plug-in estimate of this norm is biased, because the norm does not commute with the
expectation. Adv-SSL writes the norm in its dual form::

    min_f  E||f(x1) - f(x2)||^2 + lambda * sup_{||G||_F <= 1} <G, C(f) - I>_F

For a fixed ``G`` the inner term is linear in ``C(f)``, so its mini-batch estimate is unbiased.
The inner maximum has the closed form ``G* = (C - I) / ||C - I||_F`` (value ``||C - I||_F``,
Cauchy-Schwarz), and the min-max is solved by alternating: ``G`` is set to the closed-form
maximiser computed (detached) on one batch, and ``f`` descends ``<G, C_hat - I>`` on the next.
:class:`AdvSSLLoss` keeps that ``G`` between calls; :func:`adv_ssl_loss` with ``adversary=None``
plugs in the current batch's own maximiser, i.e. the (biased) value ``||C_hat - I||_F``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from clrl.losses.similarity import check_pair, check_positive


def cross_covariance(z1: Tensor, z2: Tensor) -> Tensor:
    """``C_hat = 1/N sum_i z1_i z2_i^T``, the ``(dim, dim)`` batch estimate of ``E[f(x1) f(x2)^T]``."""
    check_pair("z1", z1, "z2", z2)
    return z1.T @ z2 / z1.shape[0]


def closed_form_adversary(z1: Tensor, z2: Tensor) -> Tensor:
    """Detached maximiser ``G* = (C_hat - I) / ||C_hat - I||_F`` of ``<G, C_hat - I>`` on the unit ball.

    Returns the zero matrix when ``C_hat = I`` exactly (every ``G`` is then a maximiser).
    """
    with torch.no_grad():
        deviation = cross_covariance(z1, z2) - torch.eye(z1.shape[1], dtype=z1.dtype, device=z1.device)
        norm = torch.linalg.matrix_norm(deviation)
        return deviation / norm if norm > 0 else torch.zeros_like(deviation)


def adv_ssl_loss(
    z1: Tensor, z2: Tensor, *, reg_weight: float = 1.0, adversary: Tensor | None = None
) -> Tensor:
    """Adv-SSL objective ``mean_i ||z1_i - z2_i||^2 + reg_weight * <G, C_hat - I>_F``.

    Args:
        z1, z2: ``(N, dim)`` embeddings of two augmented views.
        reg_weight: ``lambda > 0``.
        adversary: ``(dim, dim)`` dual matrix ``G`` with ``||G||_F <= 1`` (e.g. the
            :func:`closed_form_adversary` of the previous batch). ``None`` uses the closed-form
            inner maximum on this batch: the regulariser is then ``||C_hat - I||_F``.

    Returns:
        Scalar loss.

    Example:
        >>> z1, z2 = torch.randn(256, 64), torch.randn(256, 64)
        >>> g = closed_form_adversary(z1, z2)              # ascent step (closed form)
        >>> loss = adv_ssl_loss(z1, z2, adversary=g)       # descent step on the next batch
    """
    check_pair("z1", z1, "z2", z2)
    check_positive("reg_weight", reg_weight)
    alignment = (z1 - z2).pow(2).sum(dim=1).mean()
    deviation = cross_covariance(z1, z2) - torch.eye(z1.shape[1], dtype=z1.dtype, device=z1.device)
    if adversary is None:
        regulariser = torch.linalg.matrix_norm(deviation)
    else:
        if adversary.shape != deviation.shape:
            expected = tuple(deviation.shape)
            raise ValueError(f"adversary must have shape {expected}, got {tuple(adversary.shape)}")
        if float(torch.linalg.matrix_norm(adversary)) > 1 + 1e-6:
            raise ValueError("adversary must have Frobenius norm <= 1")
        regulariser = (adversary.detach().to(deviation.dtype) * deviation).sum()
    return alignment + reg_weight * regulariser


class AdvSSLLoss(nn.Module):
    """Alternating Adv-SSL (registry name ``"advssl"``).

    Each training call descends on ``<G, C_hat - I>`` with the ``G`` fitted on the previous batch
    (an unbiased estimate for that ``G``), then sets ``G`` to this batch's closed-form maximiser.
    The first call, with no ``G`` yet, uses the closed-form value. ``G`` is a buffer, so it is
    saved in checkpoints. In eval mode ``G`` is not updated.

    Args:
        dim: embedding dimension.
        reg_weight: ``lambda > 0``.
    """

    needs_labels = False
    needs_feature_dim = True  # the dual matrix G is (dim, dim)
    needs_seed = False
    needs_momentum_encoder = False

    def __init__(self, dim: int, reg_weight: float = 1.0) -> None:
        super().__init__()
        check_positive("reg_weight", reg_weight)
        self.reg_weight = reg_weight
        self.register_buffer("adversary", torch.zeros(dim, dim))
        self.register_buffer("has_adversary", torch.zeros((), dtype=torch.bool))

    def forward(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> Tensor:
        """Scalar loss of two ``(N, dim)`` views; ``labels`` are ignored."""
        # A copy: the in-place refresh below must not change a tensor the loss graph saved.
        adversary = self.adversary.clone() if bool(self.has_adversary) else None
        loss = adv_ssl_loss(z1, z2, reg_weight=self.reg_weight, adversary=adversary)
        if self.training:
            self.adversary.copy_(closed_form_adversary(z1, z2))
            self.has_adversary.fill_(True)
        return loss
