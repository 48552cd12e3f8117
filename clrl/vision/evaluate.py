"""Vision evaluation, ``python -m clrl.evaluate vision --checkpoint F``: frozen features, measured.

:func:`evaluate` loads a checkpoint and reports, in a Markdown table (or one JSON object with
``--json``), the metrics of :mod:`clrl.vision.metrics`: linear probe and weighted kNN accuracy on
the in-distribution test set, the feature-norm OOD AUROC when training held a class group out
(``ood_classes``), and the test MAE of an L1 linear regression of the dataset's continuous factor,
beside an encoder trained end-to-end with the L1 loss (the Rank-N-Contrast paper's baseline).
"""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from clrl.augment import build_two_views
from clrl.data.vision import VisionDataset
from clrl.errors import UserError
from clrl.runs import pick_device, seed_everything
from clrl.vision.metrics import (
    extract_features,
    feature_norm_auroc,
    knn_accuracy,
    l1_probe_mae,
    linear_probe_accuracy,
)
from clrl.vision.model import (
    batch_order,
    build_model,
    in_distribution_mask,
    load_trained_model,
    resolve_model_config,
    set_threads,
    standardized_factor,
)


def evaluate(job: str, config: dict[str, Any], args: Namespace) -> None:
    """``python -m clrl.evaluate vision --checkpoint F``: print (or ``--json``) every metric."""
    if args.checkpoint is None:
        raise UserError(
            "vision has no shipped checkpoint; pass --checkpoint runs/vision/<time>/checkpoint.pt"
        )
    set_threads(config["threads"])
    device = pick_device(config["device"])
    model, trained_config, data = load_trained_model(args.checkpoint, device)
    seed_everything(args.seed)
    test_index = np.arange(len(data.test_y))
    if args.count is not None and args.count < len(test_index):
        test_index = np.sort(np.random.default_rng(args.seed).permutation(len(test_index))[: args.count])
    train_features = extract_features(model, data.train_x, device)
    test_features = extract_features(model, data.test_x, device)
    results: dict[str, Any] = {
        "loss": trained_config["loss"],
        "dataset": data.name,
        "checkpoint": str(args.checkpoint),
        "test_samples": int(len(test_index)),
        **evaluate_features(
            train_features,
            test_features,
            data,
            config["eval"],
            trained_config["ood_classes"],
            test_index=test_index,
        ),
    }
    if data.train_factor is not None:
        results["factor"] = data.factor_name
        if config["eval"]["l1_baseline_epochs"] > 0:
            baseline_config = {**trained_config, "eval": config["eval"]}
            results["l1_baseline_mae"] = l1_baseline_mae(baseline_config, data, device, test_index)
    if args.json:
        print(json.dumps(results))
    table = results_table(results)
    if not args.json:
        print(table)
    if args.out is not None:
        Path(args.out).write_text(table + "\n")


def evaluate_features(
    train_features: np.ndarray | Tensor,
    test_features: np.ndarray | Tensor,
    data: VisionDataset,
    eval_config: dict[str, Any],
    ood_classes: list[int],
    *,
    test_index: np.ndarray | None = None,
) -> dict[str, float | None]:
    """Linear probe, kNN, OOD AUROC and factor regression MAE of given features.

    Features are ``(N, d)`` for all training and test samples of ``data`` (any encoder, or raw
    pixels for the baselines); ``test_index`` restricts the test set (``--count``).
    """
    train_features = torch.as_tensor(np.asarray(train_features, dtype=np.float32))
    test_features = torch.as_tensor(np.asarray(test_features, dtype=np.float32))
    test_index = np.arange(len(data.test_y)) if test_index is None else test_index
    test_y = data.test_y[test_index]
    test_features = test_features[test_index]
    train_in = in_distribution_mask(data.train_y, ood_classes)
    test_in = in_distribution_mask(test_y, ood_classes)
    results: dict[str, float | None] = {
        "linear_probe": linear_probe_accuracy(
            train_features[train_in].numpy(),
            data.train_y[train_in],
            test_features[test_in].numpy(),
            test_y[test_in],
            max_iter=eval_config["probe_max_iter"],
            c=eval_config["probe_c"],
        ),
        "knn": knn_accuracy(
            train_features[train_in],
            data.train_y[train_in],
            test_features[test_in],
            test_y[test_in],
            num_classes=data.num_classes,
            k=eval_config["knn_k"],
            temperature=eval_config["knn_temperature"],
        ),
        "ood_auroc": None,
        "factor_mae": None,
    }
    if ood_classes and (~test_in).any():
        results["ood_auroc"] = feature_norm_auroc(test_features[test_in], test_features[~test_in])
    if data.train_factor is not None:
        results["factor_mae"] = l1_probe_mae(
            train_features.numpy(), data.train_factor, test_features.numpy(), data.test_factor[test_index]
        )
    return results


def train_l1_baseline(config: dict[str, Any], data: VisionDataset, device: torch.device) -> nn.Module:
    """The same encoder plus a linear output trained end-to-end with the L1 loss on the factor.

    This is the regression baseline of the Rank-N-Contrast paper; it sees one augmented view per
    sample, with the augmentations RnC training uses.
    """
    seed_everything(config["seed"])
    model_config = resolve_model_config(config)
    model = build_model(model_config, data).to(device)
    regressor = nn.Linear(model_config["latent_dim"], 1).to(device)
    factor, mean, scale = standardized_factor(data)
    x, y = torch.from_numpy(data.train_x), torch.from_numpy(factor).float()
    views = build_two_views(config["dataset"], data.sample_shape, config["augment"], keep_orientation=True)
    parameters = list(model.parameters()) + list(regressor.parameters())
    optimizer = torch.optim.AdamW(
        parameters, lr=config["train"]["lr"], weight_decay=config["train"]["weight_decay"]
    )
    batch_size = min(config["train"]["batch_size"], len(x))
    for epoch in range(config["eval"]["l1_baseline_epochs"]):
        for indices in batch_order(len(x), batch_size, config["seed"], epoch):
            prediction = regressor(model(views.view(x[indices].to(device)))).squeeze(1)
            loss = (prediction - y[indices].to(device)).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    class Predictor(nn.Module):
        def forward(self, inputs: Tensor) -> Tensor:
            return regressor(model(inputs)).squeeze(1) * scale + mean

    return Predictor().eval()


def l1_baseline_mae(
    config: dict[str, Any], data: VisionDataset, device: torch.device, test_index=None
) -> float:
    predictor = train_l1_baseline(config, data, device)
    index = np.arange(len(data.test_y)) if test_index is None else test_index
    predicted = extract_features(predictor, data.test_x[index], device).numpy()
    return float(np.abs(predicted - data.test_factor[index]).mean())


def results_table(results: dict[str, Any]) -> str:
    def shown(value: Any) -> str:
        if value is None:
            return "n/a"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    notes = {
        "linear_probe": "logistic regression on frozen features (accuracy)",
        "knn": "weighted kNN, k=20, cosine, T=0.07 (accuracy)",
        "ood_auroc": "feature-norm score, ood_classes held out in training",
        "factor_mae": "L1 linear regression of the continuous factor (test MAE)",
        "l1_baseline_mae": "same encoder trained end-to-end with L1 (test MAE)",
    }
    lines = ["| metric | value | protocol |", "| --- | --- | --- |"]
    lines += [f"| {key} | {shown(value)} | {notes.get(key, '')} |" for key, value in results.items()]
    return "\n".join(lines)
