"""Two-view augmentations: shapes, determinism under a seed, and what each recipe contains."""

from __future__ import annotations

import pytest
import torch

from clrl.augment import ImageViews, SignalViews, build_two_views
from clrl.config import ConfigError, load_config

AUGMENT = load_config("vision")["augment"]


@pytest.mark.parametrize(
    ("dataset", "shape"),
    [("digits", (1, 8, 8)), ("mnist", (1, 28, 28)), ("cifar10", (3, 32, 32)), ("mnist1d", (1, 40))],
)
def test_two_views_keep_the_shape_and_repeat_under_a_seed(dataset: str, shape: tuple[int, ...]) -> None:
    views = build_two_views(dataset, shape, AUGMENT)
    batch = torch.rand(6, *shape)
    torch.manual_seed(0)
    first_1, first_2 = views(batch)
    torch.manual_seed(0)
    again_1, again_2 = views(batch)
    torch.manual_seed(1)
    other_1, _ = views(batch)
    assert first_1.shape == first_2.shape == batch.shape
    assert torch.equal(first_1, again_1) and torch.equal(first_2, again_2)
    assert not torch.allclose(first_1, first_2)  # the two views are drawn independently
    assert not torch.allclose(first_1, other_1)


def test_recipes_flip_and_colour_only_natural_images() -> None:
    def steps(views) -> set[str]:
        return {type(step).__name__ for step in views.view.pipeline}

    cifar = steps(build_two_views("cifar10", (3, 32, 32), AUGMENT))
    digits = steps(build_two_views("digits", (1, 8, 8), AUGMENT))
    assert {"RandomResizedCrop", "RandomHorizontalFlip", "ColorJitter", "RandomGrayscale"} <= cifar
    assert "RandomHorizontalFlip" not in digits and "ColorJitter" not in digits
    assert "RandomGaussianNoise" in digits
    kept = steps(build_two_views("cifar10", (3, 32, 32), AUGMENT, keep_orientation=True))
    assert "RandomHorizontalFlip" not in kept
    assert isinstance(build_two_views("mnist1d", (1, 40), AUGMENT).view, SignalViews)
    assert isinstance(build_two_views("stl10", (3, 96, 96), AUGMENT).view, ImageViews)


def test_signal_view_without_randomness_is_the_identity() -> None:
    signals = torch.randn(4, 1, 40)
    view = SignalViews(crop_min_scale=1.0, amplitude_jitter=0.0, noise_std=0.0)
    torch.testing.assert_close(view(signals), signals)


def test_signal_crop_stretches_a_window_of_the_signal() -> None:
    # A ramp stays a ramp under a resized window: increasing, within the original range.
    ramp = torch.linspace(0, 1, 40).expand(8, 1, 40).contiguous()
    view = SignalViews(crop_min_scale=0.5, amplitude_jitter=0.0, noise_std=0.0)(ramp)
    assert (view.diff(dim=2) > 0).all()
    assert view.min() >= 0 and view.max() <= 1
    span = view[:, 0, -1] - view[:, 0, 0]
    assert (span >= 0.5 - 1e-6).all() and (span <= 1 + 1e-6).all()


def test_bad_augment_values_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="crop_min_scale"):
        build_two_views("digits", (1, 8, 8), {**AUGMENT, "crop_min_scale": 0.0})
    with pytest.raises(ConfigError, match="augment.flip"):
        build_two_views("digits", (1, 8, 8), {**AUGMENT, "flip": "sometimes"})
