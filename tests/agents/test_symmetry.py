"""Mirror augmentation of PPO minibatches (``clrl.agents.symmetry``) on the humanoid: the mirror of a
normalised observation is the normalised mirror, and the training switch reaches the update."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3.common.type_aliases import DictRolloutBufferSamples
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from clrl.agents.checkpointing import read_agent, restore_model
from clrl.agents.environment import make_env
from clrl.agents.symmetry import MirrorAugmentation
from clrl.agents.training import CHECKPOINT_NAME
from clrl.config import load_config
from clrl.envs.humanoid.symmetry import SignedPermutation, build_mirror
from clrl.train import main as train_main

CONFIG = load_config("humanoid")


@pytest.fixture(scope="module")
def humanoid_mirror() -> MirrorAugmentation:
    return MirrorAugmentation.for_humanoid(CONFIG["env"])


def test_the_mirror_of_a_normalised_observation_is_the_normalised_mirror(humanoid_mirror):
    """VecNormalize's statistics after a few hundred random steps are far from mirror-symmetric
    (means of left and right joints differ); the augmentation mirrors in raw units all the same."""
    venv = VecNormalize(DummyVecEnv([lambda: make_env(CONFIG["env"]) for _ in range(2)]))
    venv.seed(0)
    raw = []
    try:
        venv.reset()
        rng = np.random.default_rng(0)
        for _ in range(200):
            venv.step(rng.uniform(-1, 1, (2, *venv.action_space.shape)).astype(np.float32))
            raw.append(venv.get_original_obs())
        mirror = build_mirror(venv.venv.envs[0].unwrapped)
        humanoid_mirror.set_normalizer(venv)
        raw_batch = {key: np.concatenate([obs[key] for obs in raw[-20:]]) for key in raw[-1]}
        policy_mean = venv.obs_rms["policy"].mean
        assert np.abs(mirror.policy(policy_mean) - policy_mean).max() > 0.05  # not symmetric statistics
        normalised = {key: torch.as_tensor(value) for key, value in venv.normalize_obs(raw_batch).items()}
        expected = venv.normalize_obs(mirror.observation(raw_batch))
        got = humanoid_mirror.observations(normalised)
        for key in ("policy", "privileged"):
            np.testing.assert_allclose(got[key].numpy(), expected[key], rtol=1e-4, atol=1e-4, err_msg=key)
        humanoid_mirror.set_normalizer(None)  # raw units again
        assert torch.equal(
            humanoid_mirror.observations({"policy": torch.as_tensor(raw_batch["policy"])})["policy"],
            torch.as_tensor(mirror.policy(raw_batch["policy"])),
        )
    finally:
        venv.close()


def test_an_augmented_minibatch_is_the_rollout_then_its_mirror_image():
    augmentation = MirrorAugmentation(
        {"policy": SignedPermutation([1, 0], [-1.0, -1.0]), "privileged": SignedPermutation.identity(1)},
        SignedPermutation([0], [-1.0]),
    )
    samples = DictRolloutBufferSamples(
        observations={
            "policy": torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
            "privileged": torch.tensor([[5.0], [6.0]]),
        },
        actions=torch.tensor([[0.5], [-0.25]]),
        old_values=torch.tensor([1.0, 2.0]),
        old_log_prob=torch.tensor([-1.0, -2.0]),
        advantages=torch.tensor([0.1, -0.2]),
        returns=torch.tensor([3.0, 4.0]),
    )
    doubled = augmentation.augment(samples)
    torch.testing.assert_close(
        doubled.observations["policy"], torch.tensor([[1.0, 2.0], [3.0, 4.0], [-2.0, -1.0], [-4.0, -3.0]])
    )
    torch.testing.assert_close(doubled.observations["privileged"], torch.tensor([[5.0], [6.0], [5.0], [6.0]]))
    torch.testing.assert_close(doubled.actions, torch.tensor([[0.5], [-0.25], [-0.5], [0.25]]))
    for name in ("old_values", "old_log_prob", "advantages", "returns"):
        torch.testing.assert_close(getattr(doubled, name), getattr(samples, name).repeat(2), msg=name)
    with pytest.raises(ValueError, match="own inverse"):
        MirrorAugmentation(
            {"policy": SignedPermutation([1, 2, 0], np.ones(3))}, SignedPermutation.identity(1)
        )


def scalars(run_dir: Path, tag: str) -> list[float]:
    values = []
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
        accumulator.Reload()
        if tag in accumulator.Tags()["scalars"]:
            values += [event.value for event in accumulator.Scalars(tag)]
    return values


def test_the_config_switch_augments_training_and_a_resume_keeps_it(
    tiny_overrides: tuple[str, ...], tiny_steps: int, tmp_path: Path
) -> None:
    argv = ["humanoid", "--run-dir", str(tmp_path), *tiny_overrides, "train.video_every=0"]
    train_main([*argv, "--steps", str(tiny_steps)])  # two 64-step rollouts and updates
    assert scalars(tmp_path, "train/value_loss") and not scalars(tmp_path, "train/mirror_approx_kl")
    train_main([*argv, "--steps", str(2 * tiny_steps), "--resume", "ppo.mirror_augmentation=true"])
    # SB3 writes an update's scalars with the next rollout's: the first augmented one is logged
    logged = scalars(tmp_path, "train/mirror_approx_kl")
    assert logged and all(np.isfinite(logged))
    # the mirror is not saved with the model: a restored model has none until the trainer passes it
    assert restore_model(read_agent(tmp_path / CHECKPOINT_NAME), None).mirror is None
