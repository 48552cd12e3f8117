"""The two-view registry: every name builds a module that takes (z1, z2, labels=...)."""

import inspect
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


TRAINER_NEEDS = ("needs_labels", "needs_feature_dim", "needs_seed", "needs_momentum_encoder")


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_declares_what_a_trainer_must_give_it(name):
    loss_class = LOSSES[name]
    for attribute in TRAINER_NEEDS:
        assert isinstance(vars(loss_class).get(attribute), bool), f"{name} does not declare {attribute}"
    # A trainer passes dim and seed by these declarations alone, so they must match the constructor.
    parameters = inspect.signature(loss_class).parameters
    assert loss_class.needs_feature_dim == ("dim" in parameters)
    assert loss_class.needs_seed == ("seed" in parameters)


@pytest.mark.parametrize("name", sorted(HYPERPARAMETERS))
def test_labels_matter_exactly_to_the_losses_that_need_them(name):
    generator = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(10, 8, generator=generator), torch.randn(10, 8, generator=generator)
    labels = torch.randn(10, generator=generator)
    with_labels = build_loss(name, **HYPERPARAMETERS[name])(z1, z2, labels=labels)
    if LOSSES[name].needs_labels:
        with pytest.raises(ValueError, match="labels"):
            build_loss(name, **HYPERPARAMETERS[name])(z1, z2)
        shuffled = build_loss(name, **HYPERPARAMETERS[name])(z1, z2, labels=labels.flip(0))
        assert not torch.allclose(with_labels, shuffled)
    else:
        torch.testing.assert_close(with_labels, build_loss(name, **HYPERPARAMETERS[name])(z1, z2))


@pytest.mark.parametrize("name", sorted(HYPERPARAMETERS))
def test_only_momentum_encoder_losses_stop_the_gradient_of_the_key_view(name):
    # The key view comes from an EMA copy that gradients never train, so the loss must detach it.
    generator = torch.Generator().manual_seed(2)
    z1 = torch.randn(10, 8, generator=generator, requires_grad=True)
    z2 = torch.randn(10, 8, generator=generator, requires_grad=True)
    build_loss(name, **HYPERPARAMETERS[name])(z1, z2, labels=torch.randn(10, generator=generator)).backward()
    assert z1.grad is not None
    assert (z2.grad is None) == LOSSES[name].needs_momentum_encoder
