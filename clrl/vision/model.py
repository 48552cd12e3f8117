"""The vision model (standardisation, encoder, projection head): built for a dataset, or loaded.

Also here, because training and evaluation both need them and evaluation must not import the
training code: the configured dataset with its in-distribution split, the epoch batch order and
the CPU thread count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from clrl.checkpoint import load_checkpoint
from clrl.config import ConfigError
from clrl.data.vision import VisionDataset, load_dataset
from clrl.encoders import ProjectionHead, build_encoder

CHECKPOINT_NAME = "checkpoint.pt"
DEFAULT_ENCODER = {
    "digits": "smallcnn",
    "mnist": "smallcnn",
    "mnist1d": "conv1d",
    "cifar10": "resnet18",
    "cifar100": "resnet18",
    "stl10": "resnet18",
}


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


def load_trained_model(path: Path, device: torch.device) -> tuple[VisionModel, dict[str, Any], VisionDataset]:
    """Model, training config and dataset of a vision checkpoint."""
    saved = load_checkpoint(path, job="vision", map_location=device)
    config = saved.config
    data = load_benchmark_data(config)
    model = build_model(config["model"], data).to(device)
    model.load_state_dict(saved.state["model"])
    model.eval()
    return model, config, data


# ---------------------------------------------------------------- what training and evaluation share


def load_benchmark_data(config: dict[str, Any]) -> VisionDataset:
    """The configured dataset, with ``ood_classes`` checked against its label range."""
    data = load_dataset(config["dataset"], config["data_dir"], mnist1d_samples=config["mnist1d_samples"])
    bad = [c for c in config["ood_classes"] if not 0 <= c < data.num_classes]
    if bad:
        raise ConfigError(f"ood_classes {bad} are not classes of {data.name} (0..{data.num_classes - 1})")
    if len(set(config["ood_classes"])) >= data.num_classes:
        raise ConfigError("ood_classes must leave at least one class in distribution")
    return data


def in_distribution_mask(labels: np.ndarray, ood_classes: list[int]) -> np.ndarray:
    return ~np.isin(labels, np.asarray(ood_classes, dtype=np.int64))


def standardized_factor(data: VisionDataset) -> tuple[np.ndarray, float, float]:
    """Training factor scaled to zero mean and unit spread, with the mean and scale used."""
    mean, scale = float(data.train_factor.mean()), float(data.train_factor.std()) or 1.0
    return (data.train_factor - mean) / scale, mean, scale


def batch_order(num_samples: int, batch_size: int, seed: int, epoch: int) -> np.ndarray:
    """``(steps_per_epoch, batch_size)`` sample indices of one epoch, fixed by (seed, epoch)."""
    permutation = np.random.default_rng([seed, epoch]).permutation(num_samples)
    steps = num_samples // batch_size
    return permutation[: steps * batch_size].reshape(steps, batch_size)


def set_threads(threads: int) -> None:
    """Use ``threads`` torch CPU threads; 0 keeps torch's default (the ``threads`` config key)."""
    if threads < 0:
        raise ConfigError(f"threads must be >= 0, got {threads}")
    if threads > 0:
        torch.set_num_threads(threads)
