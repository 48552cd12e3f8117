"""The two-view registry: every name builds a module that takes (z1, z2, labels=...)."""

import math

import pytest
import torch

from clrl.losses import LOSSES, build_loss

HYPERPARAMETERS = {
    "simclr": {},
    "moco": {"dim": 8, "queue_size": 16},
    "renyi": {},
    "slr": {"dim": 8},
    "rnc": {},
    "advssl": {"dim": 8},
}


def test_registry_names():
    assert set(LOSSES) == {"simclr", "moco", "renyi", "slr", "rnc", "advssl"}


@pytest.mark.parametrize("name", sorted(HYPERPARAMETERS))
def test_every_loss_trains_a_linear_encoder_one_step(name):
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(12, 5, generator=generator)
    view1 = inputs + 0.1 * torch.randn(12, 5, generator=generator)
    view2 = inputs + 0.1 * torch.randn(12, 5, generator=generator)
    labels = inputs[:, 0]
    encoder = torch.nn.Linear(5, 8)
    loss_module = build_loss(name, **HYPERPARAMETERS[name])
    loss = loss_module(encoder(view1), encoder(view2), labels=labels)
    assert loss.ndim == 0 and math.isfinite(float(loss.detach()))
    loss.backward()
    assert encoder.weight.grad is not None and float(encoder.weight.grad.abs().sum()) > 0
    assert loss_module.needs_labels == (name == "rnc")


def test_build_loss_rejects_unknown_names_and_hyperparameters():
    with pytest.raises(ValueError, match="unknown loss 'byol'"):
        build_loss("byol")
    with pytest.raises(ValueError, match="bad hyperparameters for loss 'simclr'"):
        build_loss("simclr", temprature=0.1)
    with pytest.raises(ValueError, match="bad hyperparameters for loss 'moco'"):
        build_loss("moco")  # dim is required


@pytest.mark.parametrize("name", ["simclr", "moco", "renyi", "slr"])
def test_modules_reject_unknown_similarity_at_construction(name):
    with pytest.raises(ValueError, match="unknown similarity"):
        build_loss(name, similarity="manhattan", **HYPERPARAMETERS[name])
