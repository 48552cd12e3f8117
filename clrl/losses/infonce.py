"""InfoNCE, NT-Xent (SimCLR) and the MoCo memory queue.

Conventions shared by every function here: embeddings are ``(batch, dim)`` tensors, logits are
``similarity / temperature`` built with :func:`clrl.losses.similarity.pairwise_similarity`, and in
every logits matrix returned the positive of row ``i`` sits in column ``i`` (so
:func:`contrastive_accuracy` reads any of them the same way).

References:
    van den Oord, Li, Vinyals (2018), "Representation Learning with Contrastive Predictive Coding"
    (InfoNCE). Chen, Kornblith, Norouzi, Hinton (2020), "A Simple Framework for Contrastive Learning
    of Visual Representations" (SimCLR, NT-Xent). He, Fan, Wu, Xie, Girshick (2020), "Momentum
    Contrast for Unsupervised Visual Representation Learning" (MoCo memory queue).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clrl.losses.similarity import (
    check_embeddings,
    check_pair,
    check_positive,
    check_similarity,
    pairwise_similarity,
)

DIRECTIONS = ("forward", "backward", "symmetric")


def info_nce_logits(
    anchors: Tensor,
    positives: Tensor,
    *,
    temperature: float,
    similarity: str = "cosine",
    negatives_queue: Tensor | None = None,
    in_batch_negatives: bool = True,
) -> Tensor:
    """Logits of the InfoNCE classification problem, positive of row ``i`` in column ``i``.

    ``logits[i, j] = sim(anchor_i, positive_j) / temperature`` for the ``N`` in-batch candidates,
    followed by ``sim(anchor_i, queue_k) / temperature`` for the ``K`` queued negatives.

    Args:
        anchors: ``(N, dim)``.
        positives: ``(N, dim)``; row ``i`` is the positive of anchor ``i``.
        temperature: ``tau > 0``.
        similarity: ``"cosine"``, ``"dot"``, ``"neg_sq_l2"`` or ``"neg_l2"``.
        negatives_queue: optional ``(K, dim)`` extra negatives (e.g. :class:`MoCoQueue`).
        in_batch_negatives: if false, the off-diagonal in-batch logits are set to ``-inf`` so that
            each anchor sees only its positive and the queue (MoCo v1/v2); the shape stays
            ``(N, N + K)`` so the positive is still on the diagonal.

    Returns:
        ``(N, N + K)`` logits.
    """
    check_pair("anchors", anchors, "positives", positives)
    check_positive("temperature", temperature)
    logits = pairwise_similarity(anchors, positives, similarity) / temperature
    if not in_batch_negatives:
        off_diagonal = ~torch.eye(len(anchors), dtype=torch.bool, device=anchors.device)
        logits = logits.masked_fill(off_diagonal, -math.inf)
    if negatives_queue is not None:
        check_embeddings("negatives_queue", negatives_queue)
        if negatives_queue.shape[1] != anchors.shape[1]:
            raise ValueError(
                f"negatives_queue must have dim {anchors.shape[1]}, got {negatives_queue.shape[1]}"
            )
        queue_logits = pairwise_similarity(anchors, negatives_queue.to(anchors.dtype), similarity)
        logits = torch.cat([logits, queue_logits / temperature], dim=1)
    return logits


def info_nce_from_logits(logits: Tensor, direction: str = "forward") -> Tensor:
    """Mean InfoNCE loss of a logits matrix whose positives lie on the diagonal.

    ``forward``: each row (anchor) classifies its positive among all columns,
    ``-log softmax(logits[i, :])[i]``. ``backward``: each of the first ``N`` columns (positive)
    classifies its anchor among the rows, ``-log softmax(logits[:, i])[i]``. ``symmetric``: the
    mean of the two.

    Args:
        logits: ``(N, M)`` with ``M >= N``.
        direction: ``"forward"``, ``"backward"`` or ``"symmetric"``.
    """
    if logits.ndim != 2 or logits.shape[1] < logits.shape[0]:
        raise ValueError(f"logits must have shape (N, M) with M >= N, got {tuple(logits.shape)}")
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; expected one of {', '.join(DIRECTIONS)}")
    n = logits.shape[0]
    targets = torch.arange(n, device=logits.device)
    if direction == "forward":
        return F.cross_entropy(logits, targets)
    backward = F.cross_entropy(logits[:, :n].T, targets)
    if direction == "backward":
        return backward
    return 0.5 * (F.cross_entropy(logits, targets) + backward)


def info_nce(
    anchors: Tensor,
    positives: Tensor,
    *,
    temperature: float,
    similarity: str = "cosine",
    direction: str = "forward",
    negatives_queue: Tensor | None = None,
) -> Tensor:
    """InfoNCE loss with in-batch negatives (and optional queued negatives).

    Forward direction, for anchors ``u_i`` and positives ``v_i`` (van den Oord et al. 2018)::

        L = -1/N sum_i log( exp(s(u_i, v_i)/tau) / sum_j exp(s(u_i, v_j)/tau) )

    where ``j`` runs over the ``N`` positives of the batch (the other rows are the negatives) and
    the ``K`` rows of ``negatives_queue``. ``backward`` swaps the roles (each positive picks its
    anchor among all anchors); ``symmetric`` averages both (CLIP-style).

    Args:
        anchors: ``(N, dim)``.
        positives: ``(N, dim)``; row ``i`` is the positive of anchor ``i``.
        temperature: ``tau > 0``.
        similarity: ``"cosine"`` (default), ``"dot"``, ``"neg_sq_l2"`` or ``"neg_l2"``.
        direction: ``"forward"`` (default), ``"backward"`` or ``"symmetric"``.
        negatives_queue: optional ``(K, dim)`` extra negatives; only meaningful for the forward
            direction (they are candidates for anchors, not anchors for positives).

    Returns:
        Scalar loss (mean over the batch).

    Example:
        >>> z, z_star = torch.randn(8, 16), torch.randn(8, 16)
        >>> loss = info_nce(z, z_star, temperature=0.1, similarity="cosine")
    """
    if negatives_queue is not None and direction != "forward":
        raise ValueError("negatives_queue is only supported with direction='forward'")
    logits = info_nce_logits(
        anchors, positives, temperature=temperature, similarity=similarity, negatives_queue=negatives_queue
    )
    return info_nce_from_logits(logits, direction)


def contrastive_accuracy(logits: Tensor) -> Tensor:
    """Fraction of rows whose positive (the diagonal entry) has the largest logit.

    Args:
        logits: ``(N, M)`` with ``M >= N`` and the positive of row ``i`` in column ``i``, as
            returned by :func:`info_nce_logits`, :func:`nt_xent_logits` or
            ``pairwise_similarity(anchors, positives, kind)``. For the backward direction pass
            ``logits[:, :N].T``.

    Returns:
        Scalar tensor in ``[0, 1]`` (no gradient).
    """
    if logits.ndim != 2 or logits.shape[1] < logits.shape[0]:
        raise ValueError(f"logits must have shape (N, M) with M >= N, got {tuple(logits.shape)}")
    with torch.no_grad():
        hits = logits.argmax(dim=1) == torch.arange(logits.shape[0], device=logits.device)
        return hits.float().mean()


def nt_xent_logits(z1: Tensor, z2: Tensor, *, temperature: float, similarity: str = "cosine") -> Tensor:
    """SimCLR's ``2N x 2N`` logits, rearranged so the positive of row ``i`` is column ``i``.

    Rows are ``[z1; z2]`` and columns ``[z2; z1]``: row ``i < N`` (view 1 of sample ``i``) has its
    positive (view 2 of sample ``i``) in column ``i``. Each row's own embedding appears in column
    ``(i + N) mod 2N`` and is masked with ``-inf``, leaving ``2N - 2`` negatives per row.

    Args:
        z1, z2: ``(N, dim)`` embeddings of two views; ``N >= 2``.
        temperature: ``tau > 0``.
        similarity: see :func:`pairwise_similarity`.

    Returns:
        ``(2N, 2N)`` logits.
    """
    check_pair("z1", z1, "z2", z2)
    check_positive("temperature", temperature)
    n = z1.shape[0]
    if n < 2:
        raise ValueError(f"NT-Xent needs a batch of at least 2 samples, got {n}")
    rows = torch.cat([z1, z2])
    columns = torch.cat([z2, z1])
    logits = pairwise_similarity(rows, columns, similarity) / temperature
    self_column = (torch.arange(2 * n, device=z1.device) + n) % (2 * n)
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[torch.arange(2 * n, device=z1.device), self_column] = True
    return logits.masked_fill(self_mask, -math.inf)


def nt_xent(z1: Tensor, z2: Tensor, *, temperature: float = 0.5, similarity: str = "cosine") -> Tensor:
    """NT-Xent, the normalised temperature-scaled cross entropy of SimCLR (Chen et al. 2020).

    For the ``2N`` embeddings ``x = [z1; z2]``, with ``p(k)`` the other view of sample ``k``::

        L = -1/(2N) sum_k log( exp(s(x_k, x_p(k))/tau) / sum_{l != k} exp(s(x_k, x_l)/tau) )

    i.e. every embedding has one positive and ``2N - 2`` negatives (both views of every other sample).

    Args:
        z1, z2: ``(N, dim)`` embeddings of two augmented views; ``N >= 2``.
        temperature: ``tau > 0`` (SimCLR uses 0.5 on CIFAR-10, 0.1 on ImageNet with large batches).
        similarity: ``"cosine"`` (default, as in SimCLR) or any kind of :func:`pairwise_similarity`.

    Returns:
        Scalar loss.

    Example:
        >>> loss = nt_xent(torch.randn(32, 128), torch.randn(32, 128), temperature=0.5)
    """
    return info_nce_from_logits(nt_xent_logits(z1, z2, temperature=temperature, similarity=similarity))


class InfoNCELoss(nn.Module):
    """:func:`info_nce` with its hyperparameters held, optionally with a learnable temperature.

    Args:
        temperature: initial ``tau > 0``.
        similarity, direction: see :func:`info_nce`.
        learn_temperature: learn ``log tau`` as a parameter (as CLIP does), clamped to
            ``[min_temperature, 1/min_temperature]`` when used.
        min_temperature: lower clamp of the learned temperature.
    """

    needs_labels = False
    needs_feature_dim = False
    needs_seed = False
    needs_momentum_encoder = False

    def __init__(
        self,
        temperature: float = 0.1,
        similarity: str = "cosine",
        direction: str = "forward",
        learn_temperature: bool = False,
        min_temperature: float = 0.01,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_positive("min_temperature", min_temperature)
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}; expected one of {', '.join(DIRECTIONS)}")
        check_similarity(similarity)
        self.similarity = similarity
        self.direction = direction
        self.min_temperature = min_temperature
        log_temperature = torch.tensor(math.log(temperature))
        if learn_temperature:
            self.log_temperature = nn.Parameter(log_temperature)
        else:
            self.register_buffer("log_temperature", log_temperature)

    @property
    def temperature(self) -> Tensor:
        """Current temperature (a tensor, differentiable when learned)."""
        return self.log_temperature.exp().clamp(self.min_temperature, 1.0 / self.min_temperature)

    def forward(self, anchors: Tensor, positives: Tensor, labels: Tensor | None = None) -> Tensor:
        """Scalar loss for ``(N, dim)`` anchors and positives; ``labels`` are ignored."""
        check_pair("anchors", anchors, "positives", positives)
        logits = pairwise_similarity(anchors, positives, self.similarity) / self.temperature
        return info_nce_from_logits(logits, self.direction)


class NTXentLoss(nn.Module):
    """:func:`nt_xent` as a module (registry name ``"simclr"``)."""

    needs_labels = False
    needs_feature_dim = False
    needs_seed = False
    needs_momentum_encoder = False

    def __init__(self, temperature: float = 0.5, similarity: str = "cosine") -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_similarity(similarity)
        self.temperature = temperature
        self.similarity = similarity

    def forward(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> Tensor:
        """Scalar NT-Xent loss of two ``(N, dim)`` views; ``labels`` are ignored."""
        return nt_xent(z1, z2, temperature=self.temperature, similarity=self.similarity)


class MoCoQueue(nn.Module):
    """Fixed-size FIFO memory of past keys, used as extra negatives (He et al. 2020).

    The queue starts empty; :meth:`dequeue_and_enqueue` writes a batch of keys over the oldest
    entries. :attr:`negatives` returns only the filled part, so no placeholder vectors ever act
    as negatives. Keys are stored detached; the buffers travel with ``state_dict``.

    Args:
        size: number of keys kept (``K``).
        dim: key dimension.

    Example:
        >>> queue = MoCoQueue(size=4096, dim=128)
        >>> queue.dequeue_and_enqueue(torch.randn(256, 128))
        >>> queue.negatives.shape
        torch.Size([256, 128])
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"queue size must be a positive integer, got {size!r}")
        if not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"queue dim must be a positive integer, got {dim!r}")
        self.size = size
        self.register_buffer("keys", torch.zeros(size, dim))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def negatives(self) -> Tensor:
        """``(min(count, size), dim)`` stored keys, in no particular order."""
        return self.keys[: int(self.count)]

    @torch.no_grad()
    def dequeue_and_enqueue(self, keys: Tensor) -> None:
        """Append ``(B, dim)`` keys, dropping the oldest entries once the queue is full."""
        check_embeddings("keys", keys)
        if keys.shape[1] != self.keys.shape[1]:
            raise ValueError(f"keys must have dim {self.keys.shape[1]}, got {keys.shape[1]}")
        keys = keys.detach()[-self.size :]  # a batch larger than the queue keeps its newest keys
        slots = (self.pointer + torch.arange(len(keys), device=self.keys.device)) % self.size
        self.keys[slots] = keys.to(self.keys.dtype)
        self.pointer.copy_((self.pointer + len(keys)) % self.size)
        self.count.copy_(torch.clamp(self.count + len(keys), max=self.size))


class MoCoLoss(nn.Module):
    """MoCo contrastive loss: queries vs. their momentum keys and a queue of past keys.

    ``forward(queries, keys)`` computes the forward :func:`info_nce` of queries against the
    (detached) keys of the same batch and the queued keys, then enqueues the batch's keys. With
    ``in_batch_negatives=False`` (MoCo v1/v2) only the queue supplies negatives; with ``True``
    the other keys of the batch are negatives too (MoCo v3 style, plus the queue). While the
    queue is still empty (the first call) the batch's other keys serve as negatives either way.

    Args:
        dim: embedding dimension.
        queue_size: number of queued negatives ``K``.
        temperature: ``tau`` (0.2 in MoCo v2).
        similarity: see :func:`pairwise_similarity` (MoCo uses cosine).
        in_batch_negatives: see above.
    """

    needs_labels = False
    needs_feature_dim = True  # the queue holds dim-sized keys
    needs_seed = False
    needs_momentum_encoder = True  # keys from a slowly moving encoder keep the queue consistent

    def __init__(
        self,
        dim: int,
        queue_size: int = 4096,
        temperature: float = 0.2,
        similarity: str = "cosine",
        in_batch_negatives: bool = False,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_similarity(similarity)
        self.queue = MoCoQueue(queue_size, dim)
        self.temperature = temperature
        self.similarity = similarity
        self.in_batch_negatives = in_batch_negatives

    def forward(self, queries: Tensor, keys: Tensor, labels: Tensor | None = None) -> Tensor:
        """Scalar loss for ``(N, dim)`` queries and keys (keys carry no gradient); ``labels`` ignored."""
        keys = keys.detach()
        queue = self.queue.negatives if int(self.queue.count) > 0 else None
        logits = info_nce_logits(
            queries,
            keys,
            temperature=self.temperature,
            similarity=self.similarity,
            negatives_queue=queue,
            # An empty queue (the first step) would leave only the positive: no signal at all.
            in_batch_negatives=self.in_batch_negatives or queue is None,
        )
        loss = info_nce_from_logits(logits)
        if self.training:
            self.queue.dequeue_and_enqueue(keys)
        return loss
