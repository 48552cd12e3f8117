"""Does InfoNCE with a linear encoder find the Fisher LDA subspace of a Gaussian mixture? PCA does not.

The theory of contrastive learning on Gaussian mixtures predicts that, with two independent draws
of the same component as a positive pair, InfoNCE learns ``span(Sigma^-1 (mu_k - mu))``, the
subspace of Fisher's linear discriminant analysis. :func:`gmm_lda_benchmark` trains a linear
encoder with NT-Xent on an anisotropic mixture whose largest variances lie off the class-mean
directions, and reports how much of each map's energy lies in the population LDA subspace: the
InfoNCE encoder, scikit-learn's LDA, PCA's top directions and a random map. Prints a Markdown table
(mean ± std over seeds) with the machine and the exact command::

    python benchmarks/vision_gmm_lda.py [--seeds 3] [--dim 20] [--classes 4] [--samples 4000]
        [--steps 600] [--out results.md]

``benchmarks/vision_results.py`` prints the same table after its image benchmarks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from clrl.losses import build_loss
from clrl.runs import cpu_model


def gmm_lda_benchmark(
    *,
    seed: int = 0,
    dim: int = 20,
    num_classes: int = 4,
    samples: int = 4000,
    steps: int = 600,
    batch_size: int = 256,
    temperature: float = 0.5,
) -> dict[str, float]:
    """InfoNCE with a linear encoder on an anisotropic Gaussian mixture, compared with LDA and PCA.

    Data: ``num_classes`` components in ``dim`` dimensions with shared covariance whose largest
    variances lie off the class-mean directions (so PCA's top directions are noise). Positive pairs
    are two independent draws of the same component, the augmentation of the GMM analyses of
    contrastive learning, under which InfoNCE should learn the Fisher (LDA) subspace
    ``span(Sigma^-1 (mu_k - mu))``. A ``dim -> num_classes - 1`` linear encoder is trained with
    NT-Xent (:data:`clrl.losses.LOSSES` ``simclr``) on fresh samples every step. Alignment is the
    share of a map's energy inside the population LDA subspace, ``||P_LDA W||_F^2 / ||W||_F^2``
    (1: the map reads only Fisher directions; about ``(num_classes - 1) / dim`` for a random map);
    it is reported for the InfoNCE encoder, scikit-learn's LDA fitted on ``samples`` draws, PCA's
    top directions and a random map.
    """
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    rng = np.random.default_rng(seed)
    k = num_classes - 1
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    # Class means live in the first k basis directions with modest separation; the large noise
    # variances sit in the next directions, so PCA picks noise and only whitening finds the means.
    means = 2.0 * rng.standard_normal((num_classes, k)) @ basis[:, :k].T
    variances = np.ones(dim)
    variances[k : 2 * k] = 25.0
    covariance = basis @ np.diag(variances) @ basis.T
    mixing = basis @ np.diag(np.sqrt(variances))

    def draw(labels: np.ndarray) -> np.ndarray:
        return means[labels] + rng.standard_normal((len(labels), dim)) @ mixing.T

    labels = rng.integers(num_classes, size=samples)
    x = draw(labels)
    lda = LinearDiscriminantAnalysis(n_components=k).fit(x, labels)
    lda_subspace = lda.scalings_[:, :k]
    fisher = np.linalg.solve(covariance, (means - means.mean(0)).T)  # exact population LDA directions
    pca_subspace = PCA(n_components=k).fit(x).components_.T

    torch.manual_seed(seed)
    encoder = nn.Linear(dim, k, bias=False).double()
    loss_fn = build_loss("simclr", temperature=temperature)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-2)
    for _ in range(steps):
        batch_labels = rng.integers(num_classes, size=batch_size)
        first = torch.from_numpy(draw(batch_labels))
        second = torch.from_numpy(draw(batch_labels))
        loss = loss_fn(encoder(first), encoder(second))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    learned = encoder.weight.detach().numpy().T  # (dim, k): the directions the encoder reads
    fisher_basis, _ = np.linalg.qr(fisher)

    def overlap(directions: np.ndarray) -> float:
        """Share of the map's energy inside the Fisher subspace: ``||P W||_F^2 / ||W||_F^2``."""
        inside = fisher_basis.T @ directions
        return float((inside**2).sum() / (directions**2).sum())

    return {
        "infonce_vs_lda": overlap(learned),
        "sklearn_lda_vs_lda": overlap(lda_subspace),
        "pca_vs_lda": overlap(pca_subspace),
        "random_vs_lda": overlap(rng.standard_normal((dim, k))),
    }


def gmm_lda_table(results: list[dict[str, float]]) -> list[str]:
    """Markdown rows of the alignment of each map with the LDA subspace, mean ± std over seeds."""

    def mean_std(values: list[float]) -> str:
        if len(values) == 1:
            return f"{values[0]:.3f}"
        return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"

    return [
        f"### Gaussian mixture: share of each map's energy in the LDA subspace ({len(results)} seeds)",
        "",
        "| map | alignment with population LDA |",
        "| --- | --- |",
        *(f"| {key.removesuffix('_vs_lda')} | {mean_std([r[key] for r in results])} |" for key in results[0]),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="independent mixtures and encoders")
    parser.add_argument("--dim", type=int, default=20, help="dimension of the data")
    parser.add_argument("--classes", type=int, default=4, help="mixture components")
    parser.add_argument("--samples", type=int, default=4000, help="draws that LDA and PCA are fitted on")
    parser.add_argument("--steps", type=int, default=600, help="NT-Xent steps of the linear encoder")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a 20x3 linear map: a second busy thread only adds contention
    results = [
        gmm_lda_benchmark(
            seed=seed, dim=args.dim, num_classes=args.classes, samples=args.samples, steps=args.steps
        )
        for seed in range(args.seeds)
    ]
    lines = [
        f"Machine: {cpu_model()}, torch {torch.__version__}, one torch thread.",
        f"Command: `python benchmarks/vision_gmm_lda.py {' '.join(sys.argv[1:])}`",
        "",
        *gmm_lda_table(results),
    ]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
