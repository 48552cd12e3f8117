"""Encoders and projection heads shared by the puzzle, humanoid and vision jobs.

Every encoder maps a batch of inputs to ``(batch, latent_dim)`` features; which one a job uses and
its sizes come from the ``model`` section of the job's config (:func:`build_encoder`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from clrl.errors import ConfigError


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

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, width)``: the trunk's output, before the latent projection (a move head reads it)."""
        return self.blocks(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def load_grown(self, weights: dict[str, torch.Tensor], saved_blocks: int) -> None:
        """Load the weights of a network like this one with fewer residual blocks, ``saved_blocks``.

        The saved blocks come first; each added block starts as the identity (its output layer is
        zero), so the grown network computes exactly what the saved one did and its extra depth
        learns only what the saved network got wrong (Net2Net's function-preserving growth, Chen et
        al. 2016; zero-initialised residual branches as in Goyal et al. 2017).
        """
        added = range(saved_blocks, len(self.blocks))
        missing, unexpected = self.load_state_dict(weights, strict=False)
        grown = {f"blocks.{i}.{name}" for i in added for name, _ in self.blocks[i].named_parameters()}
        if unexpected or set(missing) != grown:
            raise ValueError(
                f"not a {saved_blocks}-block network of this width: missing {sorted(set(missing) - grown)}, "
                f"unexpected {sorted(unexpected)}"
            )
        with torch.no_grad():
            for i in added:
                output = self.blocks[i].net[-1]
                output.weight.zero_()
                output.bias.zero_()


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
    vision = {"smallcnn": SmallCNN, "conv1d": Conv1dNet, "resnet18": ResNet18}
    if kind in vision:
        return vision[kind](in_channels, model_config["channels"], model_config["latent_dim"])
    raise ConfigError(
        f"unknown encoder {kind!r} (model.encoder); known: resmlp, rescnn, smallcnn, conv1d, resnet18"
    )


# --------------------------------------------------------------------------- vision encoders


class SmallCNN(nn.Module):
    """Small CNN for 8x8 digits and 28x28 MNIST: ``(B, C, H, W) -> (B, latent_dim)``.

    Three 3x3 conv-BN-ReLU layers (``channels``, ``2 channels``, ``4 channels``) with one 2x2 max-pool
    after the second, global average pooling, then a linear map to ``latent_dim``.
    """

    def __init__(self, in_channels: int, channels: int, latent_dim: int) -> None:
        super().__init__()
        widths = (channels, 2 * channels, 4 * channels)
        self.features = nn.Sequential(
            conv_bn_relu(in_channels, widths[0]),
            conv_bn_relu(widths[0], widths[1]),
            nn.MaxPool2d(2),
            conv_bn_relu(widths[1], widths[2]),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(widths[2], latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class Conv1dNet(nn.Module):
    """1-D CNN for MNIST-1D signals: ``(B, C, L) -> (B, latent_dim)``.

    Three kernel-5 conv-BN-ReLU layers (strides 1, 2, 2) as in the MNIST-1D reference CNN, then an
    adaptive average pool to 8 positions (keeping coarse position, which the digits' shapes need)
    and a linear map to ``latent_dim``.
    """

    pooled_length = 8

    def __init__(self, in_channels: int, channels: int, latent_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width_in = in_channels
        for stride in (1, 2, 2):
            layers += [
                nn.Conv1d(width_in, channels, 5, stride=stride, padding=2, bias=False),
                nn.BatchNorm1d(channels),
                nn.ReLU(inplace=True),
            ]
            width_in = channels
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool1d(self.pooled_length), nn.Flatten())
        self.head = nn.Linear(channels * self.pooled_length, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN layers, identity or 1x1-conv shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18: ``(B, C, H, W) -> (B, latent_dim)``.

    As in SimCLR's and solo-learn's CIFAR recipe: a 3x3 stride-1 stem and no max-pool (32x32 inputs
    would otherwise shrink too early), four stages of two basic blocks with widths ``channels x
    (1, 2, 4, 8)``, global average pooling. With ``latent_dim == 8 * channels`` (512 for the
    standard width 64) the pooled features are the output; otherwise a linear map follows.
    """

    def __init__(self, in_channels: int, channels: int = 64, latent_dim: int = 512) -> None:
        super().__init__()
        widths = [channels * m for m in (1, 2, 4, 8)]
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        ]
        width_in = channels
        for stage, width in enumerate(widths):
            layers += [BasicBlock(width_in, width, 1 if stage == 0 else 2), BasicBlock(width, width, 1)]
            width_in = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Identity() if latent_dim == widths[-1] else nn.Linear(widths[-1], latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
