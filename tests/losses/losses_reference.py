"""Slow, obviously-correct per-sample references shared by the loss tests (pytest puts this
folder on sys.path, so test files import it as ``losses_reference``)."""

import math

import torch


def reference_similarity(u: torch.Tensor, v: torch.Tensor, kind: str) -> torch.Tensor:
    """Similarity of two vectors written coordinate by coordinate (differentiable)."""
    dot = sum(u[c] * v[c] for c in range(len(u)))
    if kind == "dot":
        return dot
    if kind == "cosine":
        norm_u = sum(u[c] ** 2 for c in range(len(u))).sqrt()
        norm_v = sum(v[c] ** 2 for c in range(len(v))).sqrt()
        return dot / (norm_u * norm_v)
    sq = sum((u[c] - v[c]) ** 2 for c in range(len(u)))
    if kind == "neg_sq_l2":
        return -sq
    if kind == "neg_l2":
        return -sq.sqrt()
    if kind == "neg_mrn":
        return -torch.tensor(reference_mrn(u, v), dtype=u.dtype)
    if kind == "neg_iqe":
        return -torch.tensor(reference_iqe(u, v, components=8, alpha=0.5), dtype=u.dtype)
    raise AssertionError(kind)


def union_length(intervals) -> float:
    """Measure of a union of closed intervals, by merging them in order (the textbook way)."""
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total


def reference_iqe(x, y, components: int, alpha: float) -> float:
    """IQE of one pair: per component the union of ``[x_j, max(x_j, y_j)]``, then max-mean."""
    size = len(x) // components
    parts = []
    for c in range(components):
        block = range(c * size, (c + 1) * size)
        parts.append(union_length([(float(x[j]), float(max(x[j], y[j]))) for j in block]))
    return alpha * max(parts) + (1 - alpha) * sum(parts) / components


def reference_mrn(x, y) -> float:
    """MRN of one pair: distance of the first halves plus the largest positive step of the second."""
    half = len(x) // 2
    metric = sum((float(x[c]) - float(y[c])) ** 2 for c in range(half)) ** 0.5
    return metric + max(max(float(x[c]) - float(y[c]), 0.0) for c in range(half, len(x)))


def log_sum_exp(values: list) -> torch.Tensor:
    """log sum exp written out, shifted by the max for stability."""
    stacked = torch.stack(values)
    peak = stacked.max().detach()
    return peak + torch.log(sum(torch.exp(value - peak) for value in values))


def reference_info_nce(anchors, positives, temperature, kind, direction="forward", queue=None):
    """Per-sample loop of -log exp(s_ii / tau) / sum_j exp(s_ij / tau), both directions."""
    n = anchors.shape[0]
    queue = [] if queue is None else list(queue)

    def s(u, v):
        return reference_similarity(u, v, kind) / temperature

    forward_terms, backward_terms = [], []
    for i in range(n):
        row = [s(anchors[i], positives[j]) for j in range(n)] + [s(anchors[i], q) for q in queue]
        forward_terms.append(-(row[i] - log_sum_exp(row)))
        column = [s(anchors[j], positives[i]) for j in range(n)]
        backward_terms.append(-(column[i] - log_sum_exp(column)))
    forward, backward = sum(forward_terms) / n, sum(backward_terms) / n
    return {"forward": forward, "backward": backward, "symmetric": (forward + backward) / 2}[direction]


def assert_same_value_and_gradients(loss, reference, inputs, atol=1e-10):
    """Values and autograd gradients of ``loss`` and ``reference`` w.r.t. ``inputs`` agree."""
    value, expected = float(loss.detach()), float(reference.detach())
    assert math.isclose(value, expected, abs_tol=atol, rel_tol=1e-9), (value, expected)
    grads = torch.autograd.grad(loss, inputs, retain_graph=True)
    reference_grads = torch.autograd.grad(reference, inputs, retain_graph=True)
    for grad, reference_grad in zip(grads, reference_grads, strict=True):
        torch.testing.assert_close(grad, reference_grad, atol=atol, rtol=1e-8)


def random_inputs(seed: int, *shapes, requires_grad: bool = True):
    """float64 standard-normal tensors from one seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(*shape, dtype=torch.float64, generator=generator).requires_grad_(requires_grad)
        for shape in shapes
    ]
