"""Evaluation metrics against scikit-learn and known answers, and the GMM-vs-LDA benchmark."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from benchmark_scripts import load_benchmark

from clrl.vision.metrics import feature_norm_auroc, fit_l1_linear, knn_predict, linear_probe_accuracy

gmm_lda_benchmark = load_benchmark("vision_gmm_lda").gmm_lda_benchmark


def clustered_features(seed: int, n: int, classes: int = 4, dim: int = 8) -> tuple[np.ndarray, ...]:
    """Train and test halves of ``n`` noisy points around ``classes`` fixed centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim))
    labels = rng.integers(classes, size=n)
    x = (centres[labels] + 0.8 * rng.standard_normal((n, dim))).astype(np.float32)
    half = n // 2
    return x[:half], labels[:half], x[half:], labels[half:]


def test_weighted_knn_matches_scikit_learn_with_the_same_weights() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    train_x, train_y, test_x, _ = clustered_features(0, 500)
    temperature = 0.07
    ours = knn_predict(
        torch.from_numpy(train_x),
        torch.from_numpy(train_y),
        torch.from_numpy(test_x),
        num_classes=4,
        k=20,
        temperature=temperature,
        chunk=64,
    ).numpy()
    # exp(cos / T) = exp(1 / T) * exp(-(1 - cos) / T): the same votes up to a common factor.
    reference = KNeighborsClassifier(
        n_neighbors=20, metric="cosine", algorithm="brute", weights=lambda d: np.exp(-d / temperature)
    ).fit(train_x, train_y)
    np.testing.assert_array_equal(ours, reference.predict(test_x))


def test_knn_with_one_neighbour_is_nearest_by_angle() -> None:
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 1, 2])
    queries = torch.tensor([[10.0, 1.0], [0.1, 3.0], [-2.0, -0.5]])
    predicted = knn_predict(bank, labels, queries, num_classes=3, k=1)
    assert predicted.tolist() == [0, 1, 2]


def test_linear_probe_equals_scikit_learn_pipeline() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train_x, train_y, test_x, test_y = clustered_features(2, 600)
    scaler = StandardScaler().fit(train_x)
    reference = LogisticRegression(max_iter=2000).fit(scaler.transform(train_x), train_y)
    expected = reference.score(scaler.transform(test_x), test_y)
    assert linear_probe_accuracy(train_x, train_y, test_x, test_y) == pytest.approx(expected)
    assert expected > 0.7


def test_feature_norm_auroc_is_the_rank_statistic() -> None:
    # AUROC = P(norm of a random ID sample > norm of a random OOD sample) (Mann-Whitney U).
    rng = np.random.default_rng(4)
    inside = torch.from_numpy(rng.standard_normal((50, 6)) * 1.5)
    outside = torch.from_numpy(rng.standard_normal((40, 6)))
    in_norm, out_norm = inside.norm(dim=1).numpy(), outside.norm(dim=1).numpy()
    pairs = (in_norm[:, None] > out_norm[None, :]).mean()
    assert feature_norm_auroc(inside, outside) == pytest.approx(pairs)
    assert feature_norm_auroc(2 * inside / inside.norm(dim=1, keepdim=True), outside * 0 + 0.1) == 1.0


def test_l1_fit_matches_scikit_learn_median_regression() -> None:
    from sklearn.linear_model import QuantileRegressor

    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 5))
    # Heavy-tailed noise: least squares would be pulled around, the L1 fit is not.
    y = x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.7 + rng.standard_t(1.5, size=300)
    weight, bias = fit_l1_linear(x, y)
    reference = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs").fit(x, y)

    def mae(w, b) -> float:
        return float(np.abs(x @ w + b - y).mean())

    assert mae(weight, bias) == pytest.approx(mae(reference.coef_, reference.intercept_), rel=2e-3)
    np.testing.assert_allclose(weight, reference.coef_, atol=0.05)


def test_infonce_recovers_the_lda_subspace_where_pca_does_not() -> None:
    result = gmm_lda_benchmark(seed=0, dim=10, samples=1000, steps=150, batch_size=128)
    assert result["infonce_vs_lda"] > 0.9
    assert result["pca_vs_lda"] < 0.2
    assert result["infonce_vs_lda"] > result["random_vs_lda"] + 0.5


def test_l1_fit_gives_constant_features_zero_weight() -> None:
    # A pixel that is blank in every training image must not blow up on a test image where it is not.
    rng = np.random.default_rng(6)
    x = np.column_stack([rng.standard_normal(200), np.zeros(200)])
    y = 2.0 * x[:, 0] + 1.0
    weight, bias = fit_l1_linear(x, y)
    assert weight[1] == 0.0
    assert weight[0] == pytest.approx(2.0, abs=0.02) and bias == pytest.approx(1.0, abs=0.02)
