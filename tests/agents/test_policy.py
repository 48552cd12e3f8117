"""The asymmetric actor-critic: what each head sees and where the auxiliary losses send gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from clrl.agents.policy import LATENT_MODES, ContrastiveActorCriticPolicy

HISTORY, FRAME, PRIVILEGED, ACTIONS = 4, 10, 7, 3


def make_policy(latent: str, history_encoder: str = "mlp", **kwargs) -> ContrastiveActorCriticPolicy:
    torch.manual_seed(0)
    observation_space = spaces.Dict(
        policy=spaces.Box(-np.inf, np.inf, (HISTORY * FRAME,), np.float32),
        privileged=spaces.Box(-np.inf, np.inf, (PRIVILEGED,), np.float32),
    )
    return ContrastiveActorCriticPolicy(
        observation_space,
        spaces.Box(-1.0, 1.0, (ACTIONS,), np.float32),
        lambda _: 1e-3,
        net_arch={"pi": [32, 32], "vf": [32]},
        activation_fn=torch.nn.ELU,
        features_extractor_kwargs={
            "history_length": HISTORY,
            "latent": latent,
            "history_encoder": history_encoder,
            "latent_dim": 8,
            "encoder_hidden": [32],
            "privileged_hidden": [16],
        },
        **kwargs,
    )


def observations(batch: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "policy": torch.randn(batch, HISTORY * FRAME, generator=generator),
        "privileged": torch.randn(batch, PRIVILEGED, generator=generator),
    }


def modules_with_gradient(policy: torch.nn.Module) -> set[str]:
    """Top-level module paths (two levels deep) whose parameters got a non-zero gradient."""
    names = set()
    for name, parameter in policy.named_parameters():
        if parameter.grad is not None and parameter.grad.abs().sum() > 0:
            names.add(
                ".".join(name.split(".")[:2]) if name.startswith("features_extractor") else name.split(".")[0]
            )
    return names


@pytest.mark.parametrize("history_encoder", ["mlp", "gru"])
def test_contrastive_loss_reaches_only_the_history_and_privileged_encoders(history_encoder: str) -> None:
    policy = make_policy("contrastive", history_encoder)
    loss, scalars = policy.auxiliary_loss(observations())
    assert loss is not None and torch.isfinite(loss)
    assert 0.0 <= scalars["contrastive_accuracy"] <= 1.0
    loss.backward()
    assert modules_with_gradient(policy) == {
        "features_extractor.history_encoder",
        "features_extractor.privileged_encoder",
    }


def test_regression_loss_reaches_only_the_history_encoder_and_its_head() -> None:
    policy = make_policy("regression")
    loss, scalars = policy.auxiliary_loss(observations())
    assert loss is not None and set(scalars) == {"regression_loss"}
    loss.backward()
    assert modules_with_gradient(policy) == {
        "features_extractor.history_encoder",
        "features_extractor.regression_head",
    }


def test_value_loss_never_reaches_the_actor_or_its_encoders() -> None:
    policy = make_policy("contrastive")
    policy.predict_values(observations()).sum().backward()
    assert modules_with_gradient(policy) == {"mlp_extractor", "value_net"}
    assert not any(
        p.grad is not None and p.grad.abs().sum() > 0 for p in policy.mlp_extractor.policy_net.parameters()
    )


def test_actor_sees_only_the_policy_observation() -> None:
    policy = make_policy("contrastive")
    obs = observations(batch=5)
    changed = {"policy": obs["policy"], "privileged": obs["privileged"] + 100.0}
    with torch.no_grad():
        same_actions = policy.get_distribution(obs).distribution.mean
        torch.testing.assert_close(policy.get_distribution(changed).distribution.mean, same_actions)
        assert not torch.allclose(policy.predict_values(changed), policy.predict_values(obs))


def test_latent_head_reads_the_newest_frame_and_z() -> None:
    policy = make_policy("latent")
    obs = observations(batch=5)
    extractor = policy.features_extractor
    with torch.no_grad():
        features = extractor(obs)
        z = extractor.latent_z(obs)
    newest_frame = obs["policy"][:, -FRAME:]
    torch.testing.assert_close(features[:, :FRAME], newest_frame)
    torch.testing.assert_close(features[:, FRAME : FRAME + 8], z)
    torch.testing.assert_close(
        features[:, extractor.actor_dim :], torch.cat([obs["policy"], obs["privileged"]], 1)
    )


@pytest.mark.parametrize("latent", LATENT_MODES)
def test_evaluate_actions_and_latent_is_sb3s_evaluation_and_the_history_latent(latent: str) -> None:
    policy = make_policy(latent)
    obs, actions = observations(batch=6), torch.randn(6, ACTIONS, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        *ours, z = policy.evaluate_actions_and_latent(obs, actions)
        for mine, reference in zip(ours, policy.evaluate_actions(obs, actions), strict=True):
            torch.testing.assert_close(mine, reference, rtol=0, atol=0)
        if latent == "proprio":
            assert z is None
        else:
            torch.testing.assert_close(z, policy.features_extractor.latent_z(obs), rtol=0, atol=0)
    assert policy.features_extractor._recorded_latents is None  # recording ends with the call


@pytest.mark.parametrize("latent", ["contrastive", "regression"])
def test_the_auxiliary_loss_on_a_given_latent_has_the_gradients_of_encoding_it_again(latent: str) -> None:
    """The PPO update hands the auxiliary loss the ``z`` its evaluation computed: the loss's
    gradients, summed with the PPO terms', equal those of a second pass through the history
    encoder to rounding (the sums run in another order)."""
    policy = make_policy(latent)
    obs, actions = (
        observations(batch=64),
        torch.randn(64, ACTIONS, generator=torch.Generator().manual_seed(4)),
    )

    def gradients(reuse: bool) -> dict[str, torch.Tensor]:
        policy.zero_grad()
        values, log_prob, entropy, z = policy.evaluate_actions_and_latent(obs, actions)
        aux, _ = policy.auxiliary_loss(obs, z if reuse else None)
        (values.sum() + log_prob.sum() + entropy.sum() + aux).backward()
        return {name: p.grad.clone() for name, p in policy.named_parameters() if p.grad is not None}

    reused, encoded_again = gradients(True), gradients(False)
    assert reused.keys() == encoded_again.keys()
    for name, gradient in encoded_again.items():
        torch.testing.assert_close(reused[name], gradient, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("latent", ["latent", "proprio"])
def test_baselines_without_auxiliary_loss(latent: str) -> None:
    policy = make_policy(latent)
    loss, scalars = policy.auxiliary_loss(observations())
    assert loss is None and scalars == {}
    actions, values, log_prob = policy(observations(batch=6))
    assert actions.shape == (6, ACTIONS) and values.shape == (6, 1) and log_prob.shape == (6,)


def test_proprio_baseline_has_no_latent_networks() -> None:
    extractor = make_policy("proprio").features_extractor
    assert extractor.history_encoder is None and extractor.privileged_encoder is None
    assert extractor.actor_dim == HISTORY * FRAME


def test_unknown_latent_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown latent mode 'cpc'"):
        make_policy("cpc")
    assert set(LATENT_MODES) == {"contrastive", "latent", "regression", "proprio"}


def test_contrastive_training_identifies_the_privileged_state_from_history() -> None:
    """When the privileged vector is a hidden function of the history, InfoNCE learns to pick it out."""
    policy = make_policy("contrastive", aux_temperature=0.1)
    generator = torch.Generator().manual_seed(1)
    mixing = torch.randn(HISTORY * FRAME, PRIVILEGED, generator=generator)
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)

    def batch(seed: int) -> dict[str, torch.Tensor]:
        history = torch.randn(64, HISTORY * FRAME, generator=torch.Generator().manual_seed(seed))
        return {"policy": history, "privileged": torch.tanh(history @ mixing / 4.0)}

    _, before = policy.auxiliary_loss(batch(10_000))
    for step in range(150):
        loss, _ = policy.auxiliary_loss(batch(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _, after = policy.auxiliary_loss(batch(10_000))
    assert before["contrastive_accuracy"] < 0.2
    assert after["contrastive_accuracy"] > 0.8
    assert after["contrastive_loss"] < before["contrastive_loss"] / 2
