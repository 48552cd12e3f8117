"""Vision benchmarks of the contrastive losses: ``python -m clrl.train vision`` and ``clrl.evaluate vision``.

Training (:func:`train`) fits an encoder plus projection head with one loss of
:data:`clrl.losses.LOSSES` on two augmented views of each image (MoCo and SLR take their keys from
an EMA copy of the network; Rank-N-Contrast orders samples by the dataset's continuous factor),
logs ``losses/train_loss`` and, once per epoch, ``eval/knn_accuracy``, ``eval/effective_rank``,
``eval/alignment`` and ``eval/uniformity`` to TensorBoard, and writes atomic checkpoints it can
resume from.

Evaluation (:func:`evaluate`) reads the frozen encoder features and reports:

* linear probe: scikit-learn logistic regression on standardised features;
* kNN: k=20 nearest neighbours by cosine similarity, votes weighted by ``exp(cos / 0.07)``
  (Wu et al. 2018, InstDisc; the solo-learn protocol);
* OOD AUROC of the feature-norm score when training held a class group out (``ood_classes``);
* regression of the continuous factor (digit slant, MNIST-1D shear) by an L1 linear model on
  the frozen features, against an encoder trained end-to-end with the L1 loss.

The synthetic Gaussian-mixture benchmark (:func:`gmm_lda_benchmark`) checks that InfoNCE with a
linear encoder recovers the Fisher LDA subspace, as the theory of contrastive learning on GMMs
predicts, while PCA does not.
"""

from __future__ import annotations

import copy
import json
import math
import sys
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clrl.augment import build_two_views
from clrl.checkpoint import load_checkpoint, save_checkpoint
from clrl.config import ConfigError
from clrl.data.vision import CONTINUOUS_FACTORS, DATASETS, VisionDataset, load_dataset
from clrl.encoders import ProjectionHead, build_encoder
from clrl.errors import UserError

CHECKPOINT_NAME = "checkpoint.pt"
MOMENTUM_LOSSES = ("moco", "slr")  # losses whose second view is encoded by an EMA key network
# Losses whose training-mode forward overwrites, in place, a buffer its own graph still needs
# (Adv-SSL's dual matrix G), so backward would fail: the gradient step runs the module in eval
# mode, then a no-grad training-mode call on the same embeddings refreshes the state, which is
# the same alternation the module performs in one call.
REFRESH_AFTER_STEP_LOSSES = ("advssl",)
DEFAULT_ENCODER = {
    "digits": "smallcnn",
    "mnist": "smallcnn",
    "mnist1d": "conv1d",
    "cifar10": "resnet18",
    "cifar100": "resnet18",
    "stl10": "resnet18",
}


# --------------------------------------------------------------------------- model


class Standardize(nn.Module):
    """Per-channel ``(x - mean) / std`` with the training set's statistics (saved with the weights)."""

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float().clamp_min(1e-6))

    def forward(self, x: Tensor) -> Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (x - self.mean.view(shape)) / self.std.view(shape)


class VisionModel(nn.Module):
    """Standardisation, encoder (features for the probes) and projection head (what the loss sees)."""

    def __init__(self, standardize: Standardize, encoder: nn.Module, projector: nn.Module) -> None:
        super().__init__()
        self.standardize = standardize
        self.encoder = encoder
        self.projector = projector

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, ...) -> (B, latent_dim)`` encoder features."""
        return self.encoder(self.standardize(x))

    def project(self, x: Tensor) -> Tensor:
        """``(B, C, ...) -> (B, projection_dim)`` projections."""
        return self.projector(self.forward(x))


def resolve_model_config(config: dict[str, Any]) -> dict[str, Any]:
    """The ``model`` section with ``auto`` / ``null`` replaced by the dataset's defaults."""
    model = dict(config["model"])
    if model["encoder"] == "auto":
        model["encoder"] = DEFAULT_ENCODER[config["dataset"]]
    resnet = model["encoder"] == "resnet18"
    if model["channels"] is None:
        model["channels"] = 64 if resnet else 16
    if model["latent_dim"] is None:
        model["latent_dim"] = 8 * model["channels"] if resnet else 64
    return model


def check_config(config: dict[str, Any]) -> None:
    """Reject values the config schema cannot (unknown names, classes out of range)."""
    from clrl.losses import LOSSES

    if config["loss"] not in LOSSES:
        raise ConfigError(f"unknown loss {config['loss']!r}; known: {', '.join(LOSSES)}")
    if config["dataset"] not in DATASETS:
        raise ConfigError(f"unknown dataset {config['dataset']!r}; known: {', '.join(DATASETS)}")
    if not isinstance(config["ood_classes"], list) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in config["ood_classes"]
    ):
        raise ConfigError(f"ood_classes must be a list of class ids, got {config['ood_classes']!r}")
    if config["loss"] == "rnc" and config["dataset"] not in CONTINUOUS_FACTORS:
        raise ConfigError(
            f"loss=rnc regresses a continuous factor, which {config['dataset']} does not have "
            f"(use {', '.join(CONTINUOUS_FACTORS)})"
        )
    encoder = config["model"]["encoder"]
    if encoder not in ("auto", *DEFAULT_ENCODER.values()):
        known = ", ".join(sorted({"auto", *DEFAULT_ENCODER.values()}))
        raise ConfigError(f"unknown model.encoder {encoder!r} for vision; known: {known}")
    for key in ("epochs", "batch_size", "eval_every", "checkpoint_every", "log_every"):
        if config["train"][key] <= 0:
            raise ConfigError(f"train.{key} must be positive, got {config['train'][key]}")


def build_model(model_config: dict[str, Any], data: VisionDataset) -> VisionModel:
    """Encoder and projection head sized by ``model_config`` for ``data``'s sample shape."""
    reduce_axes = (0, *range(2, data.train_x.ndim))
    mean = torch.from_numpy(data.train_x.mean(axis=reduce_axes))
    std = torch.from_numpy(data.train_x.std(axis=reduce_axes))
    encoder = build_encoder(model_config, in_channels=data.sample_shape[0])
    projector = ProjectionHead(
        model_config["latent_dim"], model_config["projection_hidden"], model_config["projection_dim"]
    )
    return VisionModel(Standardize(mean, std), encoder, projector)


def build_loss_module(config: dict[str, Any], projection_dim: int) -> nn.Module:
    from clrl.losses import LOSSES, build_loss

    name = config["loss"]
    hyperparameters = dict(config["losses"].get(name) or {})
    signature_names = LOSSES[name].__init__.__code__.co_varnames
    if "dim" in signature_names:
        hyperparameters["dim"] = projection_dim
    if "seed" in signature_names:
        hyperparameters["seed"] = config["seed"]
    try:
        return build_loss(name, **hyperparameters)
    except ValueError as exc:
        raise ConfigError(f"losses.{name}: {exc}") from None


# --------------------------------------------------------------------------- data selection


def in_distribution_mask(labels: np.ndarray, ood_classes: list[int]) -> np.ndarray:
    return ~np.isin(labels, np.asarray(ood_classes, dtype=np.int64))


def load_benchmark_data(config: dict[str, Any]) -> VisionDataset:
    """The configured dataset, with ``ood_classes`` checked against its label range."""
    data = load_dataset(config["dataset"], config["data_dir"], mnist1d_samples=config["mnist1d_samples"])
    bad = [c for c in config["ood_classes"] if not 0 <= c < data.num_classes]
    if bad:
        raise ConfigError(f"ood_classes {bad} are not classes of {data.name} (0..{data.num_classes - 1})")
    if len(set(config["ood_classes"])) >= data.num_classes:
        raise ConfigError("ood_classes must leave at least one class in distribution")
    return data


def standardized_factor(data: VisionDataset) -> tuple[np.ndarray, float, float]:
    """Training factor scaled to zero mean and unit spread, with the mean and scale used."""
    mean, scale = float(data.train_factor.mean()), float(data.train_factor.std()) or 1.0
    return (data.train_factor - mean) / scale, mean, scale


# --------------------------------------------------------------------------- metrics


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
    model: VisionModel, views: nn.Module, x: np.ndarray, device: torch.device
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


# --------------------------------------------------------------------------- training


@dataclass
class TrainingParts:
    """Everything a training run updates, so checkpoints save and restore all of it at once."""

    model: VisionModel
    key_model: VisionModel | None
    loss: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler

    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "key_model": self.key_model.state_dict() if self.key_model is not None else None,
            "loss": self.loss.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.key_model is not None:
            self.key_model.load_state_dict(state["key_model"])
        self.loss.load_state_dict(state["loss"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["torch_rng"])


def batch_order(num_samples: int, batch_size: int, seed: int, epoch: int) -> np.ndarray:
    """``(steps_per_epoch, batch_size)`` sample indices of one epoch, fixed by (seed, epoch)."""
    permutation = np.random.default_rng([seed, epoch]).permutation(num_samples)
    steps = num_samples // batch_size
    return permutation[: steps * batch_size].reshape(steps, batch_size)


@torch.no_grad()
def ema_update(key_model: nn.Module, model: nn.Module, momentum: float) -> None:
    for key_param, param in zip(key_model.parameters(), model.parameters(), strict=True):
        key_param.mul_(momentum).add_(param.detach(), alpha=1 - momentum)
    for key_buffer, buffer in zip(key_model.buffers(), model.buffers(), strict=True):
        key_buffer.copy_(buffer)


def train(
    job: str, config: dict[str, Any], *, run_dir: Path, steps: int | None = None, resume: bool = False
) -> None:
    """Train an encoder with ``config['loss']`` on ``config['dataset']`` (see the module docstring)."""
    from tqdm import tqdm

    from clrl.runs import make_writer, pick_device, seed_everything

    check_config(config)
    config = copy.deepcopy(config)
    config["model"] = resolve_model_config(config)
    seed_everything(config["seed"])
    set_threads(config["threads"])
    device = pick_device(config["device"])
    data = load_benchmark_data(config)
    train_cfg = config["train"]

    in_dist = in_distribution_mask(data.train_y, config["ood_classes"])
    train_x = torch.from_numpy(data.train_x[in_dist])
    targets = None
    if config["loss"] == "rnc":
        factor, _, _ = standardized_factor(data)
        targets = torch.from_numpy(factor[in_dist]).float()
    test_in = in_distribution_mask(data.test_y, config["ood_classes"])
    batch_size = min(train_cfg["batch_size"], len(train_x))
    if batch_size < 2:
        raise ConfigError("training needs at least 2 in-distribution samples per batch")
    steps_per_epoch = len(train_x) // batch_size
    total_steps = steps if steps is not None else train_cfg["epochs"] * steps_per_epoch

    model = build_model(config["model"], data).to(device)
    key_model = copy.deepcopy(model).requires_grad_(False) if config["loss"] in MOMENTUM_LOSSES else None
    loss_fn = build_loss_module(config, config["model"]["projection_dim"]).to(device)
    parameters = list(model.parameters()) + [p for p in loss_fn.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=train_cfg["lr"], weight_decay=train_cfg["weight_decay"])
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
    )
    parts = TrainingParts(model, key_model, loss_fn, optimizer, schedule)
    views = build_two_views(
        config["dataset"], data.sample_shape, config["augment"], keep_orientation=config["loss"] == "rnc"
    )

    refresh_after_step = config["loss"] in REFRESH_AFTER_STEP_LOSSES
    checkpoint_path = run_dir / CHECKPOINT_NAME
    step = 0
    if resume:
        saved = load_checkpoint(checkpoint_path, job=job, expected_config=config, match_sections=("model",))
        for key in ("loss", "dataset", "seed", "ood_classes"):
            if saved.config[key] != config[key]:
                raise UserError(
                    f"--resume: the run in {run_dir} used {key}={saved.config[key]!r}, not {config[key]!r}"
                )
        parts.load(saved.state)
        step = saved.step
        if step >= total_steps:
            print(f"{checkpoint_path} is already at step {step} of {total_steps}; nothing to do")
            return

    def save() -> None:
        save_checkpoint(checkpoint_path, job=job, step=step, config=config, state=parts.state())

    writer = make_writer(run_dir)
    diagnostics_x = data.test_x[test_in][: train_cfg["diagnostics_samples"]]
    progress = tqdm(total=total_steps, initial=step, desc=f"{config['loss']} on {data.name}", unit="step")
    model.train()
    try:
        while step < total_steps:
            epoch, position = divmod(step, steps_per_epoch)
            indices = batch_order(len(train_x), batch_size, config["seed"], epoch)[position]
            batch = train_x[indices].to(device)
            view_1, view_2 = views(batch)
            z1 = model.project(view_1)
            if key_model is not None:
                with torch.no_grad():
                    z2 = key_model.project(view_2)
            else:
                z2 = model.project(view_2)
            labels = targets[indices].to(device) if targets is not None else None
            loss_fn.train(not refresh_after_step)
            loss = loss_fn(z1, z2, labels=labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if refresh_after_step:
                with torch.no_grad():
                    loss_fn.train()(z1.detach(), z2.detach(), labels=labels)
            if key_model is not None:
                ema_update(key_model, model, train_cfg["momentum"])
            step += 1
            progress.update(1)
            if not math.isfinite(loss.item()):
                raise UserError(f"training diverged at step {step} (loss {loss.item()}); lower train.lr")
            if step % train_cfg["log_every"] == 0:
                writer.add_scalar("losses/train_loss", loss.item(), step)
                progress.set_postfix(loss=f"{loss.item():.3f}")
            epoch_done = step % steps_per_epoch == 0
            if (
                epoch_done and (step // steps_per_epoch) % train_cfg["eval_every"] == 0
            ) or step == total_steps:
                accuracy = epoch_knn_accuracy(model, data, config, device)
                writer.add_scalar("eval/knn_accuracy", accuracy, step)
                for name, value in representation_diagnostics(model, views, diagnostics_x, device).items():
                    writer.add_scalar(f"eval/{name}", value, step)
                progress.set_postfix(loss=f"{loss.item():.3f}", knn=f"{accuracy:.3f}")
            if (epoch_done and (step // steps_per_epoch) % train_cfg["checkpoint_every"] == 0) or (
                step == total_steps
            ):
                save()
    except KeyboardInterrupt:
        save()
        raise
    finally:
        progress.close()
        writer.close()
    print(f"checkpoint: {checkpoint_path} (step {step})", file=sys.stderr)


def set_threads(threads: int) -> None:
    if threads < 0:
        raise ConfigError(f"threads must be >= 0, got {threads}")
    if threads > 0:
        torch.set_num_threads(threads)


def epoch_knn_accuracy(model: VisionModel, data: VisionDataset, config: dict[str, Any], device) -> float:
    """kNN accuracy on the in-distribution test set with the training set as memory bank."""
    train_in = in_distribution_mask(data.train_y, config["ood_classes"])
    test_in = in_distribution_mask(data.test_y, config["ood_classes"])
    return knn_accuracy(
        extract_features(model, data.train_x[train_in], device),
        data.train_y[train_in],
        extract_features(model, data.test_x[test_in], device),
        data.test_y[test_in],
        num_classes=data.num_classes,
        k=config["eval"]["knn_k"],
        temperature=config["eval"]["knn_temperature"],
    )


# --------------------------------------------------------------------------- evaluation


def load_trained_model(path: Path, device: torch.device) -> tuple[VisionModel, dict[str, Any], VisionDataset]:
    """Model, training config and dataset of a vision checkpoint."""
    saved = load_checkpoint(path, job="vision", map_location=device)
    config = saved.config
    data = load_benchmark_data(config)
    model = build_model(config["model"], data).to(device)
    model.load_state_dict(saved.state["model"])
    model.eval()
    return model, config, data


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
    from clrl.runs import seed_everything

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


def evaluate(job: str, config: dict[str, Any], args: Namespace) -> None:
    """``python -m clrl.evaluate vision --checkpoint F``: print (or ``--json``) every metric."""
    from clrl.runs import pick_device, seed_everything

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


# --------------------------------------------------------------------------- GMM vs LDA


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

    from clrl.losses import build_loss

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
