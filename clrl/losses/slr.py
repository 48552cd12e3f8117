"""Soft-label contrastive learning: self-labeling refinement (SLR) and momentum mixup (MM).

Zhou, Xiong, Yuan, Hoi (2021), "A Theory-Driven Self-Labeling Refinement Method for Contrastive
Representation Learning" (SANE, NeurIPS 2021). Vanilla contrastive learning trains each query
against a one-hot label over its candidates (its positive key and the negatives), although some
negatives are semantically close to the query. SLR replaces the one-hot label by a mix with the
similarity between the query's *positive key* and every candidate; MM builds virtual queries by
mixing a query with the (momentum-encoder) key of another sample and mixes their labels alike.

What is implemented here, on embeddings (the paper mixes images; mixing embeddings keeps the loss
a pure function of tensors):

* refined targets ``t_i = (1 - alpha) e_i + alpha softmax_j( sim(k_i, c_j) / tau_label )`` over
  the candidates ``c = [keys; queue]`` (column ``i`` is the positive ``k_i``);
* loss ``-1/N sum_i sum_j t_ij log softmax_j( sim(q_i, c_j) / tau )``;
* momentum mixup ``q~_i = lam_i q_i + (1 - lam_i) k_pi(i)`` with target
  ``lam_i t_i + (1 - lam_i) t_pi(i)``, ``lam_i ~ Beta(beta, beta)``, ``pi`` a random permutation.

The paper refines labels iteratively with the network's own past predictions; this module keeps
the single-step similarity refinement, which is its first iterate.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clrl.losses.infonce import MoCoQueue
from clrl.losses.similarity import (
    check_embeddings,
    check_fraction,
    check_pair,
    check_positive,
    check_similarity,
    pairwise_similarity,
)


def _candidates(keys: Tensor, negatives_queue: Tensor | None) -> Tensor:
    if negatives_queue is None:
        return keys
    check_embeddings("negatives_queue", negatives_queue)
    if negatives_queue.shape[1] != keys.shape[1]:
        raise ValueError(f"negatives_queue must have dim {keys.shape[1]}, got {negatives_queue.shape[1]}")
    return torch.cat([keys, negatives_queue.to(keys.dtype)])


def refined_soft_targets(
    keys: Tensor,
    candidates: Tensor,
    *,
    label_temperature: float,
    alpha: float,
    similarity: str = "cosine",
) -> Tensor:
    """SLR targets ``(1 - alpha) one_hot(i) + alpha softmax(sim(k_i, candidates) / tau_label)``.

    Args:
        keys: ``(N, dim)`` positive keys; key ``i`` is candidate ``i``.
        candidates: ``(M, dim)``, ``M >= N``, whose first ``N`` rows are ``keys``.
        label_temperature: ``tau_label > 0``.
        alpha: refinement weight in ``[0, 1]``; ``0`` gives the one-hot (InfoNCE) targets.
        similarity: see :func:`clrl.losses.pairwise_similarity`.

    Returns:
        ``(N, M)`` detached target distributions (rows sum to 1).
    """
    check_positive("label_temperature", label_temperature)
    check_fraction("alpha", alpha)
    with torch.no_grad():
        one_hot = torch.eye(keys.shape[0], candidates.shape[0], dtype=keys.dtype, device=keys.device)
        key_similarity = pairwise_similarity(keys, candidates, similarity)
        similarity_labels = F.softmax(key_similarity / label_temperature, dim=1)
        return (1.0 - alpha) * one_hot + alpha * similarity_labels


def soft_target_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """``-1/N sum_i sum_j targets_ij log softmax(logits_i)_j`` for ``(N, M)`` logits and targets."""
    if logits.shape != targets.shape:
        raise ValueError(
            f"logits and targets must have the same shape, "
            f"got {tuple(logits.shape)} and {tuple(targets.shape)}"
        )
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def momentum_mixup(
    queries: Tensor, keys: Tensor, targets: Tensor, mixup_lambda: Tensor, permutation: Tensor
) -> tuple[Tensor, Tensor]:
    """Virtual queries ``lam_i q_i + (1 - lam_i) k_perm(i)`` and their mixed targets.

    Args:
        queries: ``(N, dim)``.
        keys: ``(N, dim)`` momentum-encoder keys.
        targets: ``(N, M)`` target rows of the queries (e.g. :func:`refined_soft_targets`).
        mixup_lambda: ``(N,)`` mixing weights in ``[0, 1]``.
        permutation: ``(N,)`` permutation of ``range(N)``.

    Returns:
        ``(mixed_queries (N, dim), mixed_targets (N, M))``.
    """
    n = queries.shape[0]
    if mixup_lambda.shape != (n,) or permutation.shape != (n,):
        raise ValueError(f"mixup_lambda and permutation must have shape ({n},)")
    if bool(((mixup_lambda < 0) | (mixup_lambda > 1)).any()):
        raise ValueError("mixup_lambda must lie in [0, 1]")
    if not torch.equal(permutation.sort().values.cpu(), torch.arange(n)):
        raise ValueError("permutation must be a permutation of range(N)")
    lam = mixup_lambda.to(queries.dtype)[:, None]
    mixed_queries = lam * queries + (1.0 - lam) * keys[permutation]
    mixed_targets = lam * targets + (1.0 - lam) * targets[permutation]
    return mixed_queries, mixed_targets


def slr_loss(
    queries: Tensor,
    keys: Tensor,
    *,
    temperature: float = 0.2,
    label_temperature: float = 0.2,
    alpha: float = 0.5,
    similarity: str = "cosine",
    negatives_queue: Tensor | None = None,
    mixup_lambda: Tensor | None = None,
    permutation: Tensor | None = None,
) -> Tensor:
    """Soft-label contrastive loss with SLR targets, optionally on momentum-mixup queries.

    See the module docstring for the formulas. With ``mixup_lambda`` and ``permutation`` given,
    the loss is that of the virtual queries (MM); otherwise that of the plain queries (SLR). With
    ``alpha = 0`` and no mixup it equals forward InfoNCE. For ``similarity="cosine"`` queries and
    keys are L2-normalised before mixing, so ``lam`` weighs directions, not norms.

    Args:
        queries: ``(N, dim)`` online-encoder embeddings.
        keys: ``(N, dim)`` momentum-encoder embeddings (pass them detached); key ``i`` is the
            positive of query ``i``.
        temperature: ``tau`` of the logits.
        label_temperature: ``tau_label`` of the refined targets.
        alpha: refinement weight in ``[0, 1]``.
        similarity: see :func:`clrl.losses.pairwise_similarity`.
        negatives_queue: optional ``(K, dim)`` extra candidates.
        mixup_lambda, permutation: see :func:`momentum_mixup`; both or neither.

    Returns:
        Scalar loss.

    Example:
        >>> q, k = torch.randn(32, 64), torch.randn(32, 64)
        >>> lam = torch.distributions.Beta(1.0, 1.0).sample((32,))
        >>> loss = slr_loss(q, k) + slr_loss(q, k, mixup_lambda=lam, permutation=torch.randperm(32))
    """
    check_pair("queries", queries, "keys", keys)
    check_positive("temperature", temperature)
    if (mixup_lambda is None) != (permutation is None):
        raise ValueError("pass both mixup_lambda and permutation, or neither")
    if similarity == "cosine":
        queries, keys = F.normalize(queries, dim=1), F.normalize(keys, dim=1)
        if negatives_queue is not None:
            negatives_queue = F.normalize(negatives_queue, dim=1)
    candidates = _candidates(keys, negatives_queue)
    targets = refined_soft_targets(
        keys, candidates, label_temperature=label_temperature, alpha=alpha, similarity=similarity
    )
    if mixup_lambda is not None:
        queries, targets = momentum_mixup(queries, keys, targets, mixup_lambda, permutation)
    logits = pairwise_similarity(queries, candidates, similarity) / temperature
    return soft_target_cross_entropy(logits, targets)


class SLRLoss(nn.Module):
    """SLR plus momentum mixup (registry name ``"slr"``): ``slr + mixup_weight * mixup``.

    Each call draws ``lam ~ Beta(mixup_beta, mixup_beta)`` per sample and a random permutation
    from the module's own numpy generator (seeded by ``seed``), so runs are reproducible. Keys are
    detached (they come from a momentum encoder); with ``queue_size > 0`` a :class:`MoCoQueue`
    of past keys adds candidates and is updated after each training call.

    Args:
        dim: embedding dimension (needed for the queue).
        temperature, label_temperature, alpha, similarity: see :func:`slr_loss`.
        mixup_beta: Beta parameter of the mixing weights (> 0).
        mixup_weight: weight of the mixup term (>= 0; 0 disables it).
        queue_size: number of queued keys (0: in-batch candidates only).
        seed: seed of the mixup generator.
    """

    needs_labels = False
    needs_feature_dim = True  # the optional queue holds dim-sized keys
    needs_seed = True  # the mixup weights and permutations come from the module's own generator
    needs_momentum_encoder = True  # MM mixes queries with momentum-encoder keys, as in the paper

    def __init__(
        self,
        dim: int,
        temperature: float = 0.2,
        label_temperature: float = 0.2,
        alpha: float = 0.5,
        similarity: str = "cosine",
        mixup_beta: float = 1.0,
        mixup_weight: float = 1.0,
        queue_size: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_positive("label_temperature", label_temperature)
        check_fraction("alpha", alpha)
        check_positive("mixup_beta", mixup_beta)
        check_similarity(similarity)
        if mixup_weight < 0:
            raise ValueError(f"mixup_weight must be >= 0, got {mixup_weight!r}")
        self.loss_kwargs = dict(
            temperature=temperature, label_temperature=label_temperature, alpha=alpha, similarity=similarity
        )
        self.mixup_beta = mixup_beta
        self.mixup_weight = mixup_weight
        self.queue = MoCoQueue(queue_size, dim) if queue_size > 0 else None
        self.rng = np.random.default_rng(seed)

    def forward(self, queries: Tensor, keys: Tensor, labels: Tensor | None = None) -> Tensor:
        """Scalar loss for ``(N, dim)`` queries and keys; ``labels`` are ignored."""
        keys = keys.detach()
        queue = self.queue.negatives if self.queue is not None and int(self.queue.count) > 0 else None
        loss = slr_loss(queries, keys, negatives_queue=queue, **self.loss_kwargs)
        if self.mixup_weight > 0:
            n = queries.shape[0]
            lam = torch.as_tensor(self.rng.beta(self.mixup_beta, self.mixup_beta, size=n))
            permutation = torch.as_tensor(self.rng.permutation(n))
            mixed = slr_loss(
                queries,
                keys,
                negatives_queue=queue,
                mixup_lambda=lam.to(queries.device),
                permutation=permutation.to(queries.device),
                **self.loss_kwargs,
            )
            loss = loss + self.mixup_weight * mixed
        if self.training and self.queue is not None:
            self.queue.dequeue_and_enqueue(keys)
        return loss
