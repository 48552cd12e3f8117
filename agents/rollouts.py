"""Rollouts that overlap the trainer's work with the env workers' physics (``train.overlap_rollouts``).

SB3's ``collect_rollouts`` steps every env at once: the env workers run their physics while the
trainer waits, then the trainer runs the policy, the VecEnv wrappers, the callbacks and the buffer
while the workers wait. :func:`collect_overlapped` splits the envs into parts of whole worker
processes (:meth:`~clrl.envs.humanoid.vec_env.BatchedSubprocVecEnv.split`, two by default) and
keeps each part's workers busy while the trainer handles the other part, as EnvPool's async mode
does::

    workers of part 0:  [physics t ]            [physics t+1]            ...
    workers of part 1:           [physics t ]             [physics t+1]  ...
    trainer:           [act 1]   [obs 0, act 0][obs 1, act 1] ...

Each env's trajectory is the one SB3's loop gives: its actions come from the same policy, sampled
in the same order (part 0's envs, then part 1's, step by step), and the callbacks, the info buffer
and the rollout buffer see every full step, as before. One thing differs: ``VecNormalize`` updates
its running statistics part by part, so part 0's observations at step ``t`` are normalised without
part 1's observations of that step (statistics over every step so far, less half of one step).
The statistics themselves end up the same, and with normalisation off the transitions are the same
to the bit (``tests/agents/test_rollouts.py``).

It pays only where the trainer's work per part costs about half of its work for all envs. At the
shipped 32 envs it does not: two policy calls and wrapper passes on 16 envs each cost the trainer
1.6x the CPU of one on 32 (most of that work is per call, not per env), which eats the overlap
(``docs/humanoid.md``, training throughput), so ``train.overlap_rollouts`` is off by default.

:class:`SplitVecMonitor` and :class:`SplitVecNormalize` are SB3's wrappers with a part step added
(``step_part_async`` / ``step_part_wait``, the same accounting on the part's envs); their full
steps are SB3's own.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecMonitor, VecNormalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from clrl.envs.humanoid.vec_env import BatchedSubprocVecEnv

#: Parts the envs are split into: one part's physics runs while the trainer handles the other.
N_PARTS = 2


class SplitVecMonitor(VecMonitor):
    """SB3's ``VecMonitor`` (episode returns, lengths, ``info["episode"]``) that can also step a
    part of the envs: :meth:`step_part_wait` does ``step_wait``'s accounting on that part alone."""

    def step_part_async(self, envs: range, actions: np.ndarray) -> None:
        self.venv.step_part_async(envs, actions)

    def step_part_wait(self, envs: range) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_part_wait(envs)
        part = slice(envs.start, envs.stop)
        self.episode_returns[part] += rewards
        self.episode_lengths[part] += 1
        infos = list(infos)
        for local in np.flatnonzero(dones):
            i = envs.start + local
            info = infos[local].copy()
            episode = {
                "r": self.episode_returns[i],
                "l": self.episode_lengths[i],
                "t": round(time.time() - self.t_start, 6),
            }
            for key in self.info_keywords:
                episode[key] = info[key]
            info["episode"] = episode
            self.episode_count += 1
            self.episode_returns[i] = 0
            self.episode_lengths[i] = 0
            if self.results_writer:
                self.results_writer.write_row(episode)
            infos[local] = info
        return obs, rewards, dones, infos


class SplitVecNormalize(VecNormalize):
    """SB3's ``VecNormalize`` that can also step a part of the envs: :meth:`step_part_wait` updates
    the running statistics with that part's observations and returns, then normalises them, as
    ``step_wait`` does for all envs (two parts stepped in turn leave the same statistics as one
    full step, up to rounding)."""

    def step_part_async(self, envs: range, actions: np.ndarray) -> None:
        self.venv.step_part_async(envs, actions)

    def step_part_wait(self, envs: range) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_part_wait(envs)
        part = slice(envs.start, envs.stop)
        self._keep_original(part, obs, rewards)
        if self.training and self.norm_obs:
            if isinstance(obs, dict) and isinstance(self.obs_rms, dict):
                for key, rms in self.obs_rms.items():
                    rms.update(obs[key])
            else:
                self.obs_rms.update(obs)
        obs = self.normalize_obs(obs)
        if self.training:
            self.returns[part] = self.returns[part] * self.gamma + rewards
            self.ret_rms.update(self.returns[part])
        rewards = self.normalize_reward(rewards)
        for local in np.flatnonzero(dones):
            info = infos[local]
            if "terminal_observation" in info:
                info["terminal_observation"] = self.normalize_obs(info["terminal_observation"])
        self.returns[envs.start + np.flatnonzero(dones)] = 0
        return obs, rewards, dones, infos

    def _keep_original(self, part: slice, obs: VecEnvObs, rewards: np.ndarray) -> None:
        """The unnormalised observations and rewards of the latest step of every env
        (``get_original_obs``, ``get_original_reward``), the part's rows replaced."""
        if not isinstance(self.old_reward, np.ndarray) or self.old_reward.shape != (self.num_envs,):
            self.old_reward = np.zeros(self.num_envs, dtype=np.float32)
        self.old_reward[part] = rewards
        # old_obs holds arrays of this wrapper's own (the last reset's or full step's): rows replaced in place
        if isinstance(obs, dict):
            for key, value in obs.items():
                self.old_obs[key][part] = value
        else:
            self.old_obs[part] = obs


def splits_steps(env: VecEnv) -> bool:
    """Whether every layer of ``env`` steps parts of its envs itself: :class:`SplitVecMonitor` or
    :class:`SplitVecNormalize` wrappers over a :class:`BatchedSubprocVecEnv` (another wrapper would
    pass a part step straight through, skipping its own accounting)."""
    while isinstance(env, VecEnvWrapper):
        if not isinstance(env, SplitVecMonitor | SplitVecNormalize):
            return False
        env = env.venv
    return isinstance(env, BatchedSubprocVecEnv)


def base_vec_env(env: VecEnv) -> VecEnv:
    while isinstance(env, VecEnvWrapper):
        env = env.venv
    return env


def concatenate(parts: list[Any]) -> Any:
    """Per-part arrays, tensors or observation dicts joined along the env axis."""
    first = parts[0]
    if isinstance(first, dict):
        return {key: np.concatenate([part[key] for part in parts]) for key in first}
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if isinstance(first, list):
        return [item for part in parts for item in part]
    return np.concatenate(parts)


def select(obs: VecEnvObs, part: range) -> VecEnvObs:
    rows = slice(part.start, part.stop)
    return {key: value[rows] for key, value in obs.items()} if isinstance(obs, dict) else obs[rows]


def collect_overlapped(
    algorithm: OnPolicyAlgorithm,
    env: VecEnv,
    callback: BaseCallback,
    rollout_buffer: RolloutBuffer,
    n_rollout_steps: int,
    n_parts: int = N_PARTS,
) -> bool:
    """SB3's ``OnPolicyAlgorithm.collect_rollouts`` with the envs stepped in ``n_parts`` parts that
    overlap (module docstring): while one part's workers step, the trainer runs the policy on
    another part's new observations and sends its actions. ``env`` must split its steps
    (:func:`splits_steps`). The callbacks' ``on_step`` runs once per full step with the locals SB3
    gives it (``infos``, ``dones``, ``rewards``, ``new_obs`` ... of every env). Returns False when
    a callback stops training, as SB3 does."""
    if algorithm.use_sde:
        raise ValueError("overlapped rollouts do not support gSDE (use_sde)")
    if not splits_steps(env):
        raise ValueError(
            "overlapped rollouts need SplitVecMonitor / SplitVecNormalize over a BatchedSubprocVecEnv"
        )
    assert algorithm._last_obs is not None, "No previous observation was provided"
    policy = algorithm.policy
    policy.set_training_mode(False)
    rollout_buffer.reset()
    callback.on_rollout_start()
    parts = base_vec_env(env).split(n_parts)
    box = isinstance(algorithm.action_space, spaces.Box)

    def act(part: range, obs: VecEnvObs) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """The policy's actions, values and log-probabilities for ``part``; its actions sent."""
        with torch.no_grad():
            actions, values, log_probs = policy(obs_as_tensor(obs, algorithm.device))
        actions = actions.cpu().numpy()
        clipped = actions
        if box:
            if policy.squash_output:
                clipped = policy.unscale_action(clipped)
            else:
                clipped = np.clip(actions, algorithm.action_space.low, algorithm.action_space.high)
        env.step_part_async(part, clipped)
        return actions, values, log_probs

    # decisions[p]: part p's actions, values, log-probabilities of the step its workers are taking
    decisions = [act(part, select(algorithm._last_obs, part)) for part in parts]
    in_flight = set(range(len(parts)))
    n_steps = 0
    while n_steps < n_rollout_steps:
        results, taken = [], decisions
        decisions = []
        for index, part in enumerate(parts):
            result = env.step_part_wait(part)
            in_flight.discard(index)
            results.append(result)
            if n_steps + 1 < n_rollout_steps:  # this part's next step runs while the others finish
                decisions.append(act(part, result[0]))
                in_flight.add(index)
        new_obs, rewards, dones, infos = (concatenate(list(column)) for column in zip(*results, strict=True))
        actions, values, log_probs = (concatenate(list(column)) for column in zip(*taken, strict=True))
        algorithm.num_timesteps += env.num_envs

        callback.update_locals(
            {
                "self": algorithm,
                "env": env,
                "callback": callback,
                "rollout_buffer": rollout_buffer,
                "n_rollout_steps": n_rollout_steps,
                "n_steps": n_steps,
                "actions": actions,
                "values": values,
                "log_probs": log_probs,
                "new_obs": new_obs,
                "rewards": rewards,
                "dones": dones,
                "infos": infos,
            }
        )
        if not callback.on_step():
            for index in in_flight:  # the workers' answers must be read before any other command
                env.step_part_wait(parts[index])
            return False
        algorithm._update_info_buffer(infos, dones)
        n_steps += 1
        if isinstance(algorithm.action_space, spaces.Discrete):
            actions = actions.reshape(-1, 1)
        # an episode cut by the time limit: bootstrap with the value of its last observation
        for index, done in enumerate(dones):
            info = infos[index]
            truncated = info.get("TimeLimit.truncated", False)
            if done and info.get("terminal_observation") is not None and truncated:
                terminal_obs = policy.obs_to_tensor(info["terminal_observation"])[0]
                with torch.no_grad():
                    terminal_value = policy.predict_values(terminal_obs)[0]
                rewards[index] += algorithm.gamma * terminal_value
        rollout_buffer.add(
            algorithm._last_obs, actions, rewards, algorithm._last_episode_starts, values, log_probs
        )
        algorithm._last_obs = new_obs
        algorithm._last_episode_starts = dones

    with torch.no_grad():
        values = policy.predict_values(obs_as_tensor(new_obs, algorithm.device))
    rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
    callback.update_locals({"values": values, "dones": dones, "new_obs": new_obs})
    callback.on_rollout_end()
    return True
