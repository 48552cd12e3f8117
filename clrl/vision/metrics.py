"""How good frozen vision features are: linear probe, kNN, OOD AUROC, L1 regression, diagnostics.

* linear probe: scikit-learn logistic regression on standardised features;
* kNN: k=20 nearest neighbours by cosine similarity, votes weighted by ``exp(cos / 0.07)``
  (Wu et al. 2018, InstDisc; the solo-learn protocol);
* OOD AUROC of the feature-norm score (:func:`clrl.losses.feature_norm_score`);
* regression of a continuous factor (digit slant, MNIST-1D shear) by an L1 linear model, the
  measure of the Rank-N-Contrast paper;
* effective rank, alignment and uniformity (:mod:`clrl.diagnostics`), logged during training.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clrl.config import ConfigError


@torch.no_grad()
def extract_features(
    model: nn.Module, x: np.ndarray | Tensor, device: torch.device, batch: int = 512
) -> Tensor:
    """Encoder features of ``x`` in eval mode, ``(N, latent_dim)`` on the CPU."""
    was_training = model.training
    model.eval()
    x = torch.as_tensor(x)
    out = [model(x[i : i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)]
    model.train(was_training)
    return torch.cat(out)


def knn_predict(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    *,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    chunk: int = 1024,
) -> Tensor:
    """Weighted kNN of InstDisc / solo-learn: cosine top-``k``, votes ``exp(cos / temperature)``.

    ``train_features`` ``(N, d)``, ``train_labels`` ``(N,)`` int, ``test_features`` ``(M, d)``;
    returns ``(M,)`` predicted labels.
    """
    if k <= 0 or temperature <= 0:
        raise ConfigError(f"kNN needs k > 0 and temperature > 0, got k={k}, temperature={temperature}")
    k = min(k, len(train_features))
    bank = F.normalize(train_features.float(), dim=1)
    predictions = []
    for start in range(0, len(test_features), chunk):
        query = F.normalize(test_features[start : start + chunk].float(), dim=1)
        similarity, index = (query @ bank.T).topk(k, dim=1)
        weights = (similarity / temperature).exp()
        votes = torch.zeros(len(query), num_classes).scatter_add_(1, train_labels[index], weights)
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions)


def knn_accuracy(train_features, train_labels, test_features, test_labels, *, num_classes, k, temperature):
    labels = torch.as_tensor(train_labels, dtype=torch.long)
    predicted = knn_predict(
        torch.as_tensor(train_features),
        labels,
        torch.as_tensor(test_features),
        num_classes=num_classes,
        k=k,
        temperature=temperature,
    )
    return float((predicted.numpy() == np.asarray(test_labels)).mean())


def linear_probe_accuracy(
    train_features, train_labels, test_features, test_labels, *, max_iter: int = 2000, c: float = 1.0
) -> float:
    """Accuracy of logistic regression on standardised frozen features (scikit-learn, lbfgs)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    probe.fit(np.asarray(train_features), np.asarray(train_labels))
    return float(probe.score(np.asarray(test_features), np.asarray(test_labels)))


def feature_norm_auroc(in_features: Tensor, out_features: Tensor) -> float:
    """AUROC of telling in- from out-of-distribution samples by the feature norm (ID positive)."""
    from sklearn.metrics import roc_auc_score

    from clrl.losses import feature_norm_score

    scores = torch.cat([feature_norm_score(in_features), feature_norm_score(out_features)]).numpy()
    is_in = np.concatenate([np.ones(len(in_features)), np.zeros(len(out_features))])
    return float(roc_auc_score(is_in, scores))


def fit_l1_linear(
    features: np.ndarray, targets: np.ndarray, *, steps: int = 600, lr: float = 0.05, seed: int = 0
) -> tuple[np.ndarray, float]:
    """Least-absolute-deviation linear fit ``targets ~ features @ w + b``; returns ``(w, b)``.

    Full-batch Adam on the mean absolute error (the subgradient of L1), with a cosine-decayed step
    so the iterate settles on the median solution; features are standardised internally.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(targets), dtype=torch.float64)
    mean, std = x.mean(0), x.std(0)
    varies = std > 1e-8  # a constant feature (a blank corner pixel) gets weight 0, not 1/0
    z = (x[:, varies] - mean[varies]) / std[varies]
    weight = (0.01 * torch.randn(z.shape[1], generator=generator, dtype=torch.float64)).requires_grad_()
    bias = y.median().clone().requires_grad_()
    optimizer = torch.optim.Adam([weight, bias], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        optimizer.zero_grad()
        (z @ weight + bias - y).abs().mean().backward()
        optimizer.step()
        schedule.step()
    w = torch.zeros(x.shape[1], dtype=torch.float64)
    w[varies] = weight.detach() / std[varies]
    b = float(bias.detach() - (mean[varies] / std[varies]) @ weight.detach())
    return w.numpy(), b


def l1_probe_mae(train_features, train_targets, test_features, test_targets) -> float:
    """Test mean absolute error of an L1 linear regression on frozen features."""
    w, b = fit_l1_linear(train_features, train_targets)
    predicted = np.asarray(test_features, dtype=np.float64) @ w + b
    return float(np.abs(predicted - np.asarray(test_targets)).mean())


@torch.no_grad()
def representation_diagnostics(
    model: nn.Module, views: nn.Module, x: np.ndarray, device: torch.device
) -> dict[str, float]:
    """Effective rank of the features, alignment of two views and uniformity, on ``x``."""
    from clrl.diagnostics import alignment, effective_rank, uniformity

    features = extract_features(model, x, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the same two views every epoch, so the curves compare like with like
        view_1, view_2 = views(torch.as_tensor(x).to(device))
    z1, z2 = extract_features(model, view_1, device), extract_features(model, view_2, device)
    return {
        "effective_rank": float(effective_rank(features)),
        "alignment": float(alignment(z1, z2)),
        "uniformity": float(uniformity(features)),
    }
