"""Overlapped rollouts (clrl.agents.rollouts): the transitions of SB3's loop, part steps of the VecEnv
wrappers that keep SB3's accounting, and a BatchedSubprocVecEnv that steps parts of its envs."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from clrl.agents.checkpointing import read_agent
from clrl.agents.policy import ContrastiveActorCriticPolicy
from clrl.agents.ppo import LatentPPO
from clrl.agents.rollouts import SplitVecMonitor, SplitVecNormalize, splits_steps
from clrl.agents.training import policy_kwargs
from clrl.config import load_config
from clrl.envs.humanoid import HumanoidEnv
from clrl.envs.humanoid.vec_env import BatchedSubprocVecEnv
from clrl.train import main as train_main

N_ENVS = 8
N_STEPS = 30  # control steps per env per rollout: 0.4 s episodes (20 steps) end inside it


def short_config() -> dict:
    """0.4 s episodes (20 control steps: truncations, bootstrapped, inside a rollout) and 12 actions
    (the fixed clock): a part's 4 x 12 Gaussian draws are a multiple of the 16 that torch's CPU
    sampler makes at a time, so sampling the parts in turn draws the same numbers as all at once
    (the shipped config: 16 envs x 13 actions per part)."""
    config = copy.deepcopy(load_config("humanoid"))
    config["env"]["episode_seconds"] = 0.4
    config["env"]["clock"] = "fixed"
    return config


def batched_envs(config: dict, seed: int = 3) -> BatchedSubprocVecEnv:
    make = functools.partial(HumanoidEnv, config["env"])
    venv = BatchedSubprocVecEnv([make] * N_ENVS, n_workers=2, start_method="fork")
    venv.seed(seed)
    return venv


class RolloutRecord(BaseCallback):
    """What the callbacks see on each step (dones, episode infos) and the rollout buffer at its end."""

    def __init__(self) -> None:
        super().__init__()
        self.dones: list[np.ndarray] = []
        self.episodes: list[tuple[int, float, int]] = []
        self.buffers: list[dict[str, np.ndarray]] = []

    def _on_step(self) -> bool:
        assert len(self.locals["infos"]) == N_ENVS
        self.dones.append(self.locals["dones"].copy())
        for index, info in enumerate(self.locals["infos"]):
            if "episode" in info:
                self.episodes.append((index, float(info["episode"]["r"]), int(info["episode"]["l"])))
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        arrays = {key: value.copy() for key, value in buffer.observations.items()}
        for name in ("actions", "rewards", "episode_starts", "values", "log_probs", "returns", "advantages"):
            arrays[name] = getattr(buffer, name).copy()
        self.buffers.append(arrays)


def first_rollouts(overlap: bool, normalize: bool, rollouts: int = 1) -> tuple[RolloutRecord, LatentPPO]:
    """``rollouts`` rollouts (and the updates between them) of a fresh seeded model."""
    config = short_config()
    venv = SplitVecMonitor(batched_envs(config))
    if normalize:
        venv = SplitVecNormalize(venv, gamma=0.99)
    model = LatentPPO(
        ContrastiveActorCriticPolicy,
        venv,
        policy_kwargs=policy_kwargs(config),
        n_steps=N_STEPS,
        batch_size=80,
        n_epochs=1,
        seed=11,
        overlap_rollouts=overlap,
    )
    record = RolloutRecord()
    try:
        model.learn(N_STEPS * N_ENVS * rollouts, callback=record)
    finally:
        venv.close()
    return record, model


def test_overlapped_rollouts_give_sb3s_transitions_to_the_bit_without_normalisation() -> None:
    """Same seed, same policy: each env gets the same actions, rewards, resets and bootstrapped
    time-limit values whether its part steps while the other part's policy runs or not; over two
    rollouts, so the update between them is the same too."""
    plain, _ = first_rollouts(overlap=False, normalize=False, rollouts=2)
    overlapped, _ = first_rollouts(overlap=True, normalize=False, rollouts=2)
    assert len(plain.buffers) == len(overlapped.buffers) == 2
    for before, after in zip(plain.buffers, overlapped.buffers, strict=True):
        assert before.keys() == after.keys()
        for key in before:
            np.testing.assert_array_equal(before[key], after[key], err_msg=key)
    np.testing.assert_array_equal(np.array(plain.dones), np.array(overlapped.dones))
    assert plain.episodes == overlapped.episodes
    # the rollouts saw episodes end: truncations after 20 steps, their episode records with them
    assert len(plain.episodes) >= N_ENVS and all(length <= 20 for _, _, length in plain.episodes)


def test_overlapped_rollouts_with_normalisation_fill_the_buffer_like_sb3s_loop() -> None:
    """With VecNormalize the statistics grow part by part, so the numbers differ slightly; the
    shapes, the step count, the episode accounting and the statistics' sample counts do not."""
    plain, plain_model = first_rollouts(overlap=False, normalize=True)
    overlapped, model = first_rollouts(overlap=True, normalize=True)
    for key, value in plain.buffers[0].items():
        assert overlapped.buffers[0][key].shape == value.shape
        assert np.isfinite(overlapped.buffers[0][key]).all()
    np.testing.assert_array_equal(np.array(plain.dones), np.array(overlapped.dones))
    assert [(i, n) for i, _, n in plain.episodes] == [(i, n) for i, _, n in overlapped.episodes]
    assert model.num_timesteps == plain_model.num_timesteps == N_STEPS * N_ENVS
    normalizer, plain_normalizer = model.get_vec_normalize_env(), plain_model.get_vec_normalize_env()
    for key, rms in normalizer.obs_rms.items():
        assert rms.count == plain_normalizer.obs_rms[key].count
    assert normalizer.ret_rms.count == plain_normalizer.ret_rms.count


def step_both_ways(wrap) -> tuple[tuple, tuple, object, object]:  # noqa: ANN001
    """One step of the same 4 envs through ``wrap``: all at once (SB3's wrapper) and in two parts
    (the split wrapper); the results and the two wrappers."""
    config = short_config()
    full_env, split_env = wrap(batched_envs(config), split=False), wrap(batched_envs(config), split=True)
    shape = (25, N_ENVS, *full_env.action_space.shape)
    actions = np.random.default_rng(0).uniform(-0.5, 0.5, shape).astype(np.float32)
    try:
        full_env.reset(), split_env.reset()
        for step_actions in actions:
            full = full_env.step(step_actions)
            parts = [split_env.step_part_async(part, step_actions[part.start : part.stop]) for part in PARTS]
            parts = [split_env.step_part_wait(part) for part in PARTS]
        return full, tuple(parts), full_env, split_env
    finally:
        full_env.close()
        split_env.close()


PARTS = (range(0, 4), range(4, 8))


def test_split_monitor_keeps_vec_monitors_episode_accounting() -> None:
    def wrap(venv, split):  # noqa: ANN001, ANN202
        return SplitVecMonitor(venv) if split else VecMonitor(venv)

    full, parts, full_env, split_env = step_both_ways(wrap)
    np.testing.assert_array_equal(full_env.episode_returns, split_env.episode_returns)
    np.testing.assert_array_equal(full_env.episode_lengths, split_env.episode_lengths)
    assert full_env.episode_count == split_env.episode_count >= N_ENVS  # 25 steps: every env ended once
    infos = [info for part in parts for info in part[3]]
    for full_info, info in zip(full[3], infos, strict=True):
        assert ("episode" in full_info) == ("episode" in info)
    np.testing.assert_array_equal(full[1], np.concatenate([part[1] for part in parts]))


def test_split_normalize_updates_the_statistics_part_by_part() -> None:
    def wrap(venv, split):  # noqa: ANN001, ANN202
        monitored = VecMonitor(venv)
        return SplitVecNormalize(monitored, gamma=0.9) if split else VecNormalize(monitored, gamma=0.9)

    full, parts, full_env, split_env = step_both_ways(wrap)
    for key, rms in full_env.obs_rms.items():
        split_rms = split_env.obs_rms[key]
        assert split_rms.count == rms.count
        # the batch moments of float32 observations: equal to float32 rounding
        np.testing.assert_allclose(split_rms.mean, rms.mean, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(split_rms.var, rms.var, rtol=1e-5, atol=1e-7)
    assert split_env.ret_rms.count == full_env.ret_rms.count
    np.testing.assert_allclose(split_env.ret_rms.var, full_env.ret_rms.var, rtol=1e-5)
    np.testing.assert_allclose(split_env.returns, full_env.returns, rtol=1e-12)
    # the last part was normalised with the statistics as they are now (the same as SB3's)
    last = parts[-1]
    np.testing.assert_allclose(last[0]["policy"], full[0]["policy"][4:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(last[1], full[1][4:], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(split_env.get_original_reward(), full_env.get_original_reward())
    for key, value in full_env.get_original_obs().items():
        np.testing.assert_array_equal(split_env.get_original_obs()[key], value)


def test_batched_env_steps_parts_and_answers_a_command_to_a_part_in_mid_step() -> None:
    venv = batched_envs(short_config())
    try:
        assert venv.split(2) == list(PARTS) and venv.split(5) == list(PARTS) and venv.split(1) == [range(8)]
        venv.reset()
        zeros = np.zeros((4, *venv.action_space.shape), dtype=np.float32)
        venv.step_part_async(PARTS[0], zeros)
        with pytest.raises(RuntimeError, match="still stepping"):
            venv.step_part_async(PARTS[0], zeros)
        # a callback's env_method to the stepping part: its step's answer is kept for step_part_wait
        assert venv.env_method("set_terrain_level", 3, None, indices=[1]) == [None]
        obs, rewards, dones, infos = venv.step_part_wait(PARTS[0])
        assert obs["policy"].shape[0] == rewards.shape[0] == dones.shape[0] == len(infos) == 4
        with pytest.raises(RuntimeError, match="no step to collect"):
            venv.step_part_wait(PARTS[0])
        with pytest.raises(ValueError, match="whole worker blocks"):
            venv.step_part_async(range(2, 6), zeros)
    finally:
        venv.close()


class StopAfter(BaseCallback):
    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def _on_step(self) -> bool:
        return self.n_calls < self.steps


def test_a_callback_that_stops_training_leaves_no_step_in_flight() -> None:
    config = short_config()
    venv = SplitVecNormalize(SplitVecMonitor(batched_envs(config)))
    try:
        model = LatentPPO(
            ContrastiveActorCriticPolicy, venv, policy_kwargs=policy_kwargs(config), n_steps=N_STEPS,
            batch_size=80, seed=0, overlap_rollouts=True,
        )  # fmt: skip
        model.learn(10 * N_STEPS * N_ENVS, callback=StopAfter(5))
        assert model.num_timesteps == 5 * N_ENVS
        base = venv.venv.venv
        assert not base.stepping and not base.parked
        assert venv.env_method("set_terrain_level", 1, None) == [None] * N_ENVS  # the workers answer
    finally:
        venv.close()


def test_overlap_needs_split_wrappers_over_a_batched_env() -> None:
    config = short_config()
    venv = VecNormalize(VecMonitor(batched_envs(config)))
    try:
        assert not splits_steps(venv)
        kwargs = {"policy_kwargs": policy_kwargs(config), "n_steps": 8, "overlap_rollouts": True}
        model = LatentPPO(ContrastiveActorCriticPolicy, venv, **kwargs)
        with pytest.raises(ValueError, match="SplitVecMonitor"):
            model.learn(8 * N_ENVS)
    finally:
        venv.close()


def test_the_trainer_overlaps_batched_rollouts_and_its_curriculum_reaches_envs_in_mid_step(
    tmp_path: Path, tiny_overrides: tuple[str, ...]
) -> None:
    """``python -m clrl.train humanoid`` with batched envs and train.overlap_rollouts: every episode
    end promotes its env (a 1 mm promote distance), so the curriculum callback's env_method reaches
    workers whose part is stepping; the run trains to its step count."""
    run_dir = tmp_path / "run"
    overrides = [item for item in tiny_overrides if not item.startswith(("train.vec_env=", "train.n_envs="))]
    overrides += [
        "train.vec_env=batched",
        "train.n_envs=4",
        "train.overlap_rollouts=true",
        "train.curriculum_promote_distance=0.001",
    ]
    train_main(["humanoid", "--steps", "256", "--run-dir", str(run_dir), *overrides])
    checkpoint = read_agent(run_dir / "checkpoints" / "last.pt")
    assert checkpoint.step == 256 and checkpoint.config["train"]["overlap_rollouts"] is True
    assert checkpoint.state["terrain_levels"].sum() > 0  # levels moved: the env_method calls went through
