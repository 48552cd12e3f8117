"""Contrastive losses: one module per family, pure functions of ``(batch, dim)`` tensors.

Families: :mod:`~clrl.losses.infonce` (InfoNCE, NT-Xent, MoCo queue), :mod:`~clrl.losses.crtr`
(temporal CRTR loss and batch sampler), :mod:`~clrl.losses.renyi` (RényiCL),
:mod:`~clrl.losses.slr` (soft-label refinement + momentum mixup), :mod:`~clrl.losses.rank`
(Rank-N-Contrast), :mod:`~clrl.losses.adversarial` (Adv-SSL), :mod:`~clrl.losses.ood`
(feature-norm OOD). Every logits matrix comes from :func:`pairwise_similarity`.

Two-view registry for configs: ``LOSSES[name]`` is an ``nn.Module`` class; build it with
:func:`build_loss` and call ``loss(z1, z2, labels=None) -> scalar`` with two ``(N, dim)`` views.
Each class declares what a trainer must give it, so that a trainer never names a loss:

* ``needs_labels``: ``forward`` needs ``labels=``, per-sample regression targets (the other
  losses ignore them);
* ``needs_feature_dim``: the constructor takes ``dim``, the size of the embeddings;
* ``needs_seed``: the constructor takes ``seed``, for the loss's own random generator;
* ``needs_momentum_encoder``: ``z2`` is the key view, to be encoded by an exponential moving
  average of the trained network (the loss detaches it).

Stateful losses (MoCo and SLR queues, Adv-SSL's dual matrix) update their state in their own
training-mode call. The other constructor arguments (temperatures ...) come from the config.
For the logged contrastive accuracy of any of them use
``contrastive_accuracy(pairwise_similarity(z1, z2, "cosine"))``.
"""

from __future__ import annotations

from torch import nn

from clrl.losses import adversarial, crtr, infonce, ood, rank, renyi, similarity, slr
from clrl.losses.adversarial import AdvSSLLoss, adv_ssl_loss, closed_form_adversary, cross_covariance
from clrl.losses.crtr import crtr_logits, crtr_loss, future_offset_probabilities, sample_crtr_batch
from clrl.losses.infonce import (
    InfoNCELoss,
    MoCoLoss,
    MoCoQueue,
    NTXentLoss,
    contrastive_accuracy,
    info_nce,
    info_nce_from_logits,
    info_nce_logits,
    nt_xent,
    nt_xent_logits,
)
from clrl.losses.ood import feature_norm_score, outlier_exposure_norm_penalty
from clrl.losses.rank import RankNContrastLoss, rank_n_contrast
from clrl.losses.renyi import RenyiCLLoss, renyi_cl, renyi_contrastive_from_logits
from clrl.losses.similarity import SIMILARITY_KINDS, pairwise_similarity
from clrl.losses.slr import SLRLoss, momentum_mixup, refined_soft_targets, slr_loss, soft_target_cross_entropy

LOSSES: dict[str, type[nn.Module]] = {
    "simclr": NTXentLoss,
    "moco": MoCoLoss,
    "renyi": RenyiCLLoss,
    "slr": SLRLoss,
    "rnc": RankNContrastLoss,
    "advssl": AdvSSLLoss,
}


def build_loss(name: str, **hyperparameters: object) -> nn.Module:
    """Instantiate the two-view loss registered as ``name`` (see :data:`LOSSES`).

    Raises:
        ValueError: unknown name, or hyperparameters the loss does not take.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(sorted(LOSSES))}")
    try:
        return LOSSES[name](**hyperparameters)
    except TypeError as error:  # an unexpected or missing keyword: report it as bad input
        raise ValueError(f"bad hyperparameters for loss {name!r}: {error}") from None


__all__ = [
    "LOSSES",
    "SIMILARITY_KINDS",
    "AdvSSLLoss",
    "InfoNCELoss",
    "MoCoLoss",
    "MoCoQueue",
    "NTXentLoss",
    "RankNContrastLoss",
    "RenyiCLLoss",
    "SLRLoss",
    "adv_ssl_loss",
    "adversarial",
    "build_loss",
    "closed_form_adversary",
    "contrastive_accuracy",
    "cross_covariance",
    "crtr",
    "crtr_logits",
    "crtr_loss",
    "feature_norm_score",
    "future_offset_probabilities",
    "info_nce",
    "info_nce_from_logits",
    "info_nce_logits",
    "infonce",
    "momentum_mixup",
    "nt_xent",
    "nt_xent_logits",
    "ood",
    "outlier_exposure_norm_penalty",
    "pairwise_similarity",
    "rank",
    "rank_n_contrast",
    "refined_soft_targets",
    "renyi",
    "renyi_cl",
    "renyi_contrastive_from_logits",
    "sample_crtr_batch",
    "similarity",
    "slr",
    "slr_loss",
    "soft_target_cross_entropy",
]
