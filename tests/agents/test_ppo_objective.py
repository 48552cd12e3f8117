"""The sign of every term of :class:`~clrl.agents.ppo.LatentPPO`'s update, on hand-made rollouts.

The seam is ``LatentPPO.train()``: it reads only the rollout buffer, so each test writes a buffer
by hand (observations, actions, advantages, and the old log-probabilities that set each sample's
probability ratio) and takes one update, with no environment stepping at all.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import DummyVecEnv

from clrl.agents.policy import ContrastiveActorCriticPolicy
from clrl.agents.ppo import LatentPPO
from clrl.agents.symmetry import MirrorAugmentation
from clrl.envs.humanoid.symmetry import SignedPermutation

HISTORY, FRAME, PRIVILEGED, ACTIONS = 2, 3, 4, 2
CLIP = 0.2


class BlankEnv(gym.Env):
    """Only the spaces matter: the tests fill the rollout buffer themselves."""

    observation_space = spaces.Dict(
        policy=spaces.Box(-np.inf, np.inf, (HISTORY * FRAME,), np.float32),
        privileged=spaces.Box(-np.inf, np.inf, (PRIVILEGED,), np.float32),
    )
    action_space = spaces.Box(-1.0, 1.0, (ACTIONS,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def make_model(samples: int, *, latent: str = "proprio", **overrides: Any) -> LatentPPO:
    settings: dict[str, Any] = {
        "n_steps": samples,
        "batch_size": samples,
        "n_epochs": 1,
        "learning_rate": 1e-2,
        "ent_coef": 0.0,
        "vf_coef": 0.0,
        "clip_range": CLIP,
        "normalize_advantage": False,
        "max_grad_norm": 1e6,
        "aux_weight": 0.0,
    }
    settings.update(overrides)
    model = LatentPPO(
        ContrastiveActorCriticPolicy,
        DummyVecEnv([BlankEnv]),
        policy_kwargs={
            "net_arch": {"pi": [16], "vf": [16]},
            "features_extractor_kwargs": {
                "history_length": HISTORY,
                "latent": latent,
                "latent_dim": 8,
                "encoder_hidden": [32],
                "privileged_hidden": [32],
            },
        },
        seed=0,
        device="cpu",
        **settings,
    )
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def batch(samples: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Observations whose history is a noisy linear image of the privileged state (so ``z`` can
    learn ``z*``), and random actions."""
    rng = np.random.default_rng(seed)
    privileged = rng.normal(size=(samples, PRIVILEGED)).astype(np.float32)
    mixing = rng.normal(size=(PRIVILEGED, HISTORY * FRAME)).astype(np.float32)
    policy = privileged @ mixing + 0.1 * rng.normal(size=(samples, HISTORY * FRAME)).astype(np.float32)
    actions = rng.uniform(-0.5, 0.5, size=(samples, ACTIONS)).astype(np.float32)
    return {"policy": policy, "privileged": privileged}, actions


def log_probs(model: LatentPPO, observations: dict[str, np.ndarray], actions: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        tensors = {key: torch.as_tensor(value) for key, value in observations.items()}
        return model.policy.evaluate_actions(tensors, torch.as_tensor(actions))[1]


def fill_buffer(
    model: LatentPPO,
    observations: dict[str, np.ndarray],
    actions: np.ndarray,
    advantages: np.ndarray,
    log_ratios: np.ndarray,
) -> None:
    """A full rollout buffer of these samples; the policy's probability ratio of sample ``i`` to the
    rollout's starts at ``exp(log_ratios[i])``."""
    buffer = model.rollout_buffer
    buffer.reset()
    current = log_probs(model, observations, actions)
    for i in range(len(actions)):
        buffer.add(
            {key: value[i : i + 1] for key, value in observations.items()},
            actions[i : i + 1],
            np.zeros(1, np.float32),
            np.zeros(1, np.float32),
            torch.zeros(1),
            current[i : i + 1] - float(log_ratios[i]),
        )
    assert buffer.full
    buffer.advantages[:] = np.asarray(advantages, np.float32).reshape(-1, 1)
    buffer.returns[:] = 0.0


def test_one_update_raises_the_probability_of_an_action_with_positive_advantage():
    model = make_model(2)
    observations, actions = batch(2)
    fill_buffer(model, observations, actions, advantages=np.array([1.0, -1.0]), log_ratios=np.zeros(2))
    before = log_probs(model, observations, actions)
    model.train()
    after = log_probs(model, observations, actions)
    assert after[0] > before[0] + 1e-3, "the action with positive advantage became more likely"
    assert after[1] < before[1] - 1e-3, "the action with negative advantage became less likely"


@pytest.mark.parametrize(
    ("advantage", "log_ratio", "moves"),
    [
        (1.0, 0.5, 0.0),  # ratio 1.65 > 1 + clip: already more likely enough, the clip stops it
        (-1.0, 0.5, -1.0),  # ratio 1.65 and a bad action: min picks the unclipped term, pushed down
        (1.0, -0.5, 1.0),  # ratio 0.61 < 1 - clip and a good action: unclipped, pushed up
        (-1.0, -0.5, 0.0),  # ratio 0.61 and a bad action: already less likely enough, clipped
    ],
)
def test_the_clip_stops_only_updates_that_would_go_further_in_the_advantages_direction(
    advantage: float, log_ratio: float, moves: float
):
    """PPO's pessimistic bound: ``-min(A r, A clip(r))``. Taking ``max`` instead would stop the
    updates that must happen and let the ones the clip exists to stop through."""
    model = make_model(1)
    observations, actions = batch(1)
    fill_buffer(model, observations, actions, np.array([advantage]), np.array([log_ratio]))
    before = log_probs(model, observations, actions)
    model.train()
    change = float(log_probs(model, observations, actions) - before)
    if moves == 0.0:
        assert change == 0.0
    else:
        assert change * moves > 1e-3, change


def auxiliary_loss(model: LatentPPO, observations: dict[str, np.ndarray]) -> float:
    with torch.no_grad():
        loss, _ = model.policy.auxiliary_loss({key: torch.as_tensor(v) for key, v in observations.items()})
    return float(loss)


@pytest.mark.parametrize("aux_weight", [0.0, 1.0])
def test_the_update_lowers_the_contrastive_loss_by_its_weight(aux_weight: float):
    """With zero advantages only the auxiliary term reaches the encoders: at weight 1 a few epochs
    lower the InfoNCE loss (subtracting the term would raise it), at weight 0 nothing moves it."""
    samples = 32
    model = make_model(samples, latent="contrastive", aux_weight=aux_weight, n_epochs=5, learning_rate=3e-3)
    observations, actions = batch(samples)
    fill_buffer(model, observations, actions, np.zeros(samples), np.zeros(samples))
    before = auxiliary_loss(model, observations)
    model.train()
    after = auxiliary_loss(model, observations)
    if aux_weight:
        assert after < before - 0.05, (before, after)
        assert model.logger.name_to_value["losses/contrastive_loss"] > 0
    else:
        assert after == before


def test_with_the_auxiliary_weight_at_zero_the_update_is_stable_baselines3s_ppo():
    """Weight for weight, on a rollout with clipped samples, normalised advantages, an entropy bonus
    and a value loss over three epochs of two minibatches."""
    samples = 16
    settings = {"batch_size": 8, "n_epochs": 3, "ent_coef": 0.01, "vf_coef": 0.5, "normalize_advantage": True}
    model = make_model(samples, latent="contrastive", **settings)
    observations, actions = batch(samples, seed=1)
    rng = np.random.default_rng(2)
    fill_buffer(model, observations, actions, rng.normal(size=samples), rng.uniform(-0.4, 0.4, samples))
    model.rollout_buffer.returns[:] = rng.normal(size=(samples, 1))
    start = copy.deepcopy((model.policy.state_dict(), model.policy.optimizer.state_dict()))

    shuffle = np.random.get_state()  # noqa: NPY002 (the buffer shuffles with NumPy's global generator)
    model.train()
    ours = copy.deepcopy(model.policy.state_dict())
    model.policy.load_state_dict(start[0])
    model.policy.optimizer.load_state_dict(start[1])
    np.random.set_state(shuffle)  # noqa: NPY002 (the same minibatches again)
    PPO.train(model)
    for name, reference in model.policy.state_dict().items():
        torch.testing.assert_close(ours[name], reference, rtol=0, atol=0, msg=name)
    assert any(not torch.equal(ours[name], start[0][name]) for name in ours), "the update changed weights"


@pytest.mark.parametrize("mirror", [False, True])
def test_the_update_encodes_each_minibatchs_history_once(mirror: bool):
    """The auxiliary loss reuses the ``z`` of the PPO terms' evaluation (with a mirror: of the rollout
    half) instead of running the history encoder a second time."""
    samples = 16
    augmentation = MirrorAugmentation(BLANK_MIRROR, ACTION_MIRROR) if mirror else None
    model = make_model(
        samples, latent="contrastive", aux_weight=1.0, batch_size=8, n_epochs=2, mirror=augmentation
    )
    observations, actions = batch(samples)
    fill_buffer(model, observations, actions, np.ones(samples), np.zeros(samples))
    encoded = []
    model.policy.features_extractor.history_encoder.register_forward_hook(
        lambda module, inputs, output: encoded.append(len(output))
    )
    model.train()
    assert encoded == [16 if mirror else 8] * 4  # 2 epochs x 2 minibatches, one pass each
    assert model.logger.name_to_value["losses/contrastive_loss"] > 0


#: A mirror of the blank spaces: the two history frames mirrored alike, the privileged vector and
#: the actions permuted with sign flips (each map its own inverse, like the humanoid's).
FRAME_MIRROR = SignedPermutation([1, 0, 2], [1.0, 1.0, -1.0])
BLANK_MIRROR = {
    "policy": FRAME_MIRROR.repeat(HISTORY),
    "privileged": SignedPermutation([1, 0, 2, 3], [1.0, 1.0, 1.0, -1.0]),
}
ACTION_MIRROR = SignedPermutation([1, 0], [-1.0, -1.0])


def mirrored_rollout(
    samples: int, seed: int
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    observations, actions = batch(samples, seed=seed)
    return observations, actions, rng.normal(size=samples), rng.uniform(-0.4, 0.4, samples)


def test_the_mirror_augmented_update_is_ppo_on_the_rollout_and_its_mirror_image():
    """Weight for weight: one augmented update on a rollout equals a plain update on the rollout
    followed by its mirror image, whose samples carry the originals' advantages, returns, values and
    old log-probabilities (clipped samples, a value loss and an entropy bonus included)."""
    samples = 8
    settings = {"ent_coef": 0.01, "vf_coef": 0.5, "max_grad_norm": 0.5}
    augmented = make_model(samples, mirror=MirrorAugmentation(BLANK_MIRROR, ACTION_MIRROR), **settings)
    plain = make_model(2 * samples, **settings)
    plain.policy.load_state_dict(augmented.policy.state_dict())
    observations, actions, advantages, log_ratios = mirrored_rollout(samples, seed=3)
    fill_buffer(augmented, observations, actions, advantages, log_ratios)
    returns = np.random.default_rng(4).normal(size=(samples, 1)).astype(np.float32)
    augmented.rollout_buffer.returns[:] = returns

    both = {key: np.concatenate([value, BLANK_MIRROR[key](value)]) for key, value in observations.items()}
    fill_buffer(
        plain,
        both,
        np.concatenate([actions, ACTION_MIRROR(actions)]),
        np.tile(advantages, 2),
        0 * np.tile(log_ratios, 2),
    )
    # the mirrored half's old log-probabilities are the originals', not the policy's at the image
    plain.rollout_buffer.log_probs[:] = np.tile(augmented.rollout_buffer.log_probs, (2, 1))
    plain.rollout_buffer.returns[:] = np.tile(returns, (2, 1))
    augmented.train()
    plain.train()
    for name, weights in plain.policy.state_dict().items():
        torch.testing.assert_close(
            augmented.policy.state_dict()[name], weights, rtol=1e-5, atol=1e-6, msg=name
        )


def test_the_mirror_augmented_loss_reaches_both_halves_of_the_minibatch():
    """The minibatch the policy evaluates is the rollout's samples, then their mirror images, and
    the loss's gradient reaches the log-probability and the value of every one of them."""
    samples = 8
    model = make_model(samples, mirror=MirrorAugmentation(BLANK_MIRROR, ACTION_MIRROR), vf_coef=0.5)
    observations, actions, advantages, _ = mirrored_rollout(samples, seed=5)
    fill_buffer(model, observations, actions, advantages, np.zeros(samples))
    model.rollout_buffer.returns[:] = 1.0
    seen = {}
    evaluate_actions = model.policy.evaluate_actions_and_latent

    def spy(batch_observations, batch_actions):
        values, log_prob, entropy, latent = evaluate_actions(batch_observations, batch_actions)
        values.retain_grad()
        log_prob.retain_grad()
        seen.update(observations=batch_observations, actions=batch_actions, values=values, log_prob=log_prob)
        return values, log_prob, entropy, latent

    model.policy.evaluate_actions_and_latent = spy
    model.train()
    first, second = seen["actions"][:samples], seen["actions"][samples:]
    assert len(seen["actions"]) == 2 * samples
    torch.testing.assert_close(second, torch.as_tensor(ACTION_MIRROR(first.numpy())))
    for key, permutation in BLANK_MIRROR.items():
        rows = seen["observations"][key]
        torch.testing.assert_close(rows[samples:], torch.as_tensor(permutation(rows[:samples].numpy())))
    for name in ("log_prob", "values"):
        gradient = seen[name].grad.flatten()
        assert torch.all(gradient[:samples] != 0) and torch.all(gradient[samples:] != 0), name


def test_the_step_size_follows_the_kl_of_the_rollout_half_alone():
    """A policy far from its mirror image: the mirrored half's ratios are far from 1 while the
    rollout half's are 1. ``train/approx_kl`` (which adapts the step size) stays 0 at the first
    minibatch; ``train/mirror_approx_kl`` shows the asymmetry."""
    samples = 8
    model = make_model(
        samples, mirror=MirrorAugmentation(BLANK_MIRROR, ACTION_MIRROR), learning_rate=0.0, desired_kl=0.01
    )
    with torch.no_grad():
        model.policy.action_net.bias[:] = torch.tensor([2.0, -1.0])  # no mirror-symmetric mean
    observations, actions, advantages, _ = mirrored_rollout(samples, seed=6)
    fill_buffer(model, observations, actions, advantages, np.zeros(samples))
    model.train()
    assert model.logger.name_to_value["train/approx_kl"] == pytest.approx(0.0, abs=1e-6)
    assert model.logger.name_to_value["train/mirror_approx_kl"] > 0.02  # 0.055 here


def test_the_multi_tensor_update_gives_the_single_tensor_weights_to_the_bit():
    """Adam's step and the gradient clip run as foreach kernels (less CPU per minibatch); the weights
    after an update with a clipped gradient equal those of the per-tensor kernels exactly."""
    samples = 16
    model = make_model(
        samples, latent="contrastive", aux_weight=0.1, batch_size=8, n_epochs=2, max_grad_norm=0.05
    )
    observations, actions = batch(samples, seed=3)
    rng = np.random.default_rng(4)
    fill_buffer(model, observations, actions, rng.normal(size=samples), rng.uniform(-0.4, 0.4, samples))
    start = copy.deepcopy((model.policy.state_dict(), model.policy.optimizer.state_dict()))
    results = []
    for multi_tensor in (True, False):
        model.policy.load_state_dict(start[0])
        model.policy.optimizer.load_state_dict(start[1])
        model.multi_tensor_kernels = multi_tensor
        np.random.seed(5)  # noqa: NPY002 (the buffer shuffles with NumPy's global generator)
        model.train()
        assert model.policy.optimizer.param_groups[0]["foreach"] is multi_tensor
        results.append(copy.deepcopy(model.policy.state_dict()))
    for name, reference in results[1].items():
        torch.testing.assert_close(results[0][name], reference, rtol=0, atol=0, msg=name)
    assert any(not torch.equal(results[0][name], start[0][name]) for name in start[0])


def test_the_bfloat16_update_keeps_float32_weights_near_the_float32_update():
    """``precision="bfloat16"``: the networks compute under bfloat16 autocast, the weights and Adam's
    state stay float32, and the update lands where the float32 one does, give or take bfloat16's
    rounding (well under the update itself)."""
    samples = 64
    model = make_model(
        samples,
        latent="contrastive",
        aux_weight=0.1,
        vf_coef=0.5,
        batch_size=32,
        n_epochs=3,
        learning_rate=1e-3,
    )
    observations, actions = batch(samples, seed=7)
    rng = np.random.default_rng(8)
    fill_buffer(model, observations, actions, rng.normal(size=samples), rng.uniform(-0.1, 0.1, samples))
    model.rollout_buffer.returns[:] = rng.normal(size=(samples, 1)).astype(np.float32)
    start = copy.deepcopy((model.policy.state_dict(), model.policy.optimizer.state_dict()))
    results = {}
    for precision in ("float32", "bfloat16"):
        model.policy.load_state_dict(start[0])
        model.policy.optimizer.load_state_dict(start[1])
        model.precision = precision
        np.random.seed(9)  # noqa: NPY002 (the buffer shuffles with NumPy's global generator)
        model.train()
        results[precision] = copy.deepcopy(model.policy.state_dict())
        assert all(value.dtype == torch.float32 for value in model.policy.state_dict().values())
        assert np.isfinite(model.logger.name_to_value["losses/contrastive_loss"])
    moved = torch.cat([(results["float32"][k] - start[0][k]).flatten() for k in start[0]]).norm()
    apart = torch.cat([(results["bfloat16"][k] - results["float32"][k]).flatten() for k in start[0]]).norm()
    assert 0 < apart < 0.1 * moved, (float(apart), float(moved))


def test_a_bad_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be float32 or bfloat16"):
        make_model(4, precision="auto")
