"""Encoders and projection heads shared by the puzzle, humanoid and vision jobs.

Every encoder maps a batch of inputs to ``(batch, latent_dim)`` features; which one a job uses and
its sizes come from the ``model`` section of the job's config (:func:`build_encoder`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from clrl.config import ConfigError


class ResidualMLPBlock(nn.Module):
    """Pre-LayerNorm residual block: ``x + W2 relu(W1 LN(x))``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class ResidualMLP(nn.Module):
    """Residual MLP with LayerNorm (the CRTR cube encoder): ``(B, in_dim) -> (B, latent_dim)``."""

    def __init__(self, in_dim: int, width: int, blocks: int, latent_dim: int) -> None:
        super().__init__()
        self.stem = nn.Linear(in_dim, width)
        self.blocks = nn.Sequential(*(ResidualMLPBlock(width) for _ in range(blocks)))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


class ResidualConvBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection, padding keeps the grid size."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class ResidualCNN(nn.Module):
    """Residual CNN with global average pooling (the CRTR Sokoban encoder).

    ``(B, in_channels, H, W) -> (B, latent_dim)``; pooling makes it independent of the grid size.
    """

    def __init__(self, in_channels: int, channels: int, blocks: int, latent_dim: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.blocks = nn.Sequential(*(ResidualConvBlock(channels) for _ in range(blocks)))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(channels, latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.blocks(self.stem(x)).mean(dim=(2, 3))
        return self.head(features)


class ProjectionHead(nn.Module):
    """SimCLR projection head ``Linear -> BN -> ReLU -> Linear`` used on top of vision encoders."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_encoder(model_config: dict[str, Any], *, in_dim: int | None = None, in_channels: int | None = None):
    """Build the encoder named by ``model_config["encoder"]`` with the config's sizes."""
    kind = model_config["encoder"]
    if kind == "resmlp":
        return ResidualMLP(in_dim, model_config["width"], model_config["blocks"], model_config["latent_dim"])
    if kind == "rescnn":
        return ResidualCNN(
            in_channels, model_config["channels"], model_config["blocks"], model_config["latent_dim"]
        )
    raise ConfigError(f"unknown encoder {kind!r} (model.encoder); known: resmlp, rescnn")
