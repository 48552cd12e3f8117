"""Two-view augmentations for contrastive training on images (kornia) and 1-D signals (torch).

Each call draws two independent random views of a batch, ``(B, C, H, W) -> ((B, C, H, W), (B, C, H, W))``
or ``(B, C, L)`` likewise. Randomness comes from torch's global generator, so seeding torch
(:func:`clrl.runs.seed_everything`) makes the views repeat exactly.

Recipes follow SimCLR scaled to the data: random resized crop everywhere; horizontal flips,
colour jitter and random greyscale only for natural colour images (a flipped digit is another
symbol); additive Gaussian noise for greyscale images; for signals, a random resized window,
amplitude jitter and noise.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from clrl.errors import ConfigError

#: Default smallest crop (fraction of area, or of length for signals) per dataset; tiny 8x8 digits
#: cannot lose as much as a 96x96 photograph and stay legible.
DEFAULT_CROP_MIN_SCALE = {
    "digits": 0.5,
    "mnist": 0.4,
    "mnist1d": 0.75,
    "cifar10": 0.08,
    "cifar100": 0.08,
    "stl10": 0.08,
}
NATURAL_IMAGES = ("cifar10", "cifar100", "stl10")


class ImageViews(nn.Module):
    """One random view of an image batch per call, built from kornia augmentations."""

    def __init__(
        self,
        size: tuple[int, int],
        channels: int,
        *,
        crop_min_scale: float,
        flip: bool,
        color_jitter: float,
        grayscale_p: float,
        noise_std: float,
    ) -> None:
        super().__init__()
        import kornia.augmentation as K

        steps: list[nn.Module] = [K.RandomResizedCrop(size, scale=(crop_min_scale, 1.0))]
        if flip:
            steps.append(K.RandomHorizontalFlip())
        if channels == 3 and color_jitter > 0:
            s = color_jitter
            steps.append(K.ColorJitter(s, s, s, s / 4, p=0.8))
        if channels == 3 and grayscale_p > 0:
            steps.append(K.RandomGrayscale(p=grayscale_p))
        if noise_std > 0:
            steps.append(K.RandomGaussianNoise(std=noise_std, p=1.0))
        self.pipeline = nn.Sequential(*steps)

    def forward(self, images: Tensor) -> Tensor:
        return self.pipeline(images)


class SignalViews(nn.Module):
    """One random view of a 1-D signal batch ``(B, C, L)``: resized window, amplitude jitter, noise."""

    def __init__(self, *, crop_min_scale: float, amplitude_jitter: float, noise_std: float) -> None:
        super().__init__()
        self.crop_min_scale = crop_min_scale
        self.amplitude_jitter = amplitude_jitter
        self.noise_std = noise_std

    def forward(self, signals: Tensor) -> Tensor:
        batch, _, length = signals.shape
        device = signals.device
        kept = self.crop_min_scale + (1 - self.crop_min_scale) * torch.rand(batch, 1, device=device)
        start = (1 - kept) * torch.rand(batch, 1, device=device)
        # Positions of the output samples inside the input, in input-sample units (linear resampling).
        where = (start + kept * torch.linspace(0, 1, length, device=device)[None]) * (length - 1)
        low = where.floor().long().clamp(0, length - 1)
        high = (low + 1).clamp(max=length - 1)
        weight = (where - low).unsqueeze(1)
        index_low = low.unsqueeze(1).expand_as(signals)
        index_high = high.unsqueeze(1).expand_as(signals)
        view = signals.gather(2, index_low) * (1 - weight) + signals.gather(2, index_high) * weight
        gain = 1 + self.amplitude_jitter * (2 * torch.rand(batch, 1, 1, device=device) - 1)
        return view * gain + self.noise_std * torch.randn_like(view)


class TwoViews(nn.Module):
    """Apply one view recipe twice, independently: ``x -> (view_1, view_2)``."""

    def __init__(self, view: nn.Module) -> None:
        super().__init__()
        self.view = view

    def forward(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        return self.view(batch), self.view(batch)


def build_two_views(
    dataset: str,
    sample_shape: tuple[int, ...],
    augment_config: dict[str, Any],
    *,
    keep_orientation: bool = False,
) -> TwoViews:
    """The two-view augmentation for ``dataset`` with samples of ``sample_shape`` (without batch).

    ``augment_config`` is the ``augment`` section of configs/vision.yaml. ``keep_orientation``
    turns flips off, for targets a flip would change (Rank-N-Contrast on the digits' slant).
    """
    crop = augment_config.get("crop_min_scale")
    crop = DEFAULT_CROP_MIN_SCALE.get(dataset, 0.2) if crop is None else float(crop)
    if not 0 < crop <= 1:
        raise ConfigError(f"augment.crop_min_scale must be in (0, 1], got {crop}")
    if len(sample_shape) == 2:
        return TwoViews(
            SignalViews(
                crop_min_scale=crop,
                amplitude_jitter=float(augment_config["amplitude_jitter"]),
                noise_std=float(augment_config["signal_noise_std"]),
            )
        )
    channels, height, width = sample_shape
    flip_mode = augment_config["flip"]
    if flip_mode not in ("auto", "always", "never"):
        raise ConfigError(f"augment.flip must be auto, always or never, got {flip_mode!r}")
    natural = dataset in NATURAL_IMAGES
    flip = natural if flip_mode == "auto" else flip_mode == "always"
    return TwoViews(
        ImageViews(
            (height, width),
            channels,
            crop_min_scale=crop,
            flip=flip and not keep_orientation,
            color_jitter=float(augment_config["color_jitter"]),
            grayscale_p=float(augment_config["grayscale_p"]),
            noise_std=0.0 if natural else float(augment_config["image_noise_std"]),
        )
    )
