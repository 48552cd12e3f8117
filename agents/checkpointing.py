"""Humanoid agent checkpoints: the SB3 model zip, VecNormalize statistics and curriculum in one file.

One file per checkpoint, written atomically by :func:`clrl.checkpoint.save_checkpoint` (which
uses :func:`clrl.checkpoint.atomic_write_bytes`), so it carries the full config, the code version
and the environment step like every clrl checkpoint. Its ``state`` holds

* ``sb3_zip``: the bytes of ``model.save()`` (SB3's own format: weights, optimizer, hyperparameters);
* ``obs_rms`` / ``ret_rms``: VecNormalize's running mean, variance and count as tensors (no pickle);
* ``terrain_levels`` / ``push_levels``: the curriculum levels of each training env (terrain: a
  column per terrain type; files written before that hold one level per env).
"""

from __future__ import annotations

import copy
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from clrl.agents.policy import GruHistoryEncoder
from clrl.agents.ppo import LatentPPO
from clrl.checkpoint import Checkpoint, CheckpointError, check_sections, load_checkpoint, save_checkpoint

JOB = "humanoid"
#: Config sections that fix observation and network shapes: :func:`read_agent` with an
#: ``expected_config`` refuses a file whose sections differ (a resume refuses any change to what the
#: run is through :func:`clrl.config.resume_config`).
ARCHITECTURE_SECTIONS = ("env", "agent")
#: The actor MLP's first layer, whose inputs end with the terrain scan in a perceptive policy.
ACTOR_INPUT_LAYER = "mlp_extractor.policy_net.0.weight"
#: The critic MLP's first layer, whose inputs begin with the flattened policy history.
VALUE_INPUT_LAYER = "mlp_extractor.value_net.0.weight"
#: Keys added after humanoid checkpoints were shipped, with the value those runs had (the command
#: keys: the yaw-rate mode, with no zeroing of slow commands; ``heading`` is unused there; the update
#: in float32). A key added with its old behaviour as the default needs no entry here: a resume fills
#: it from configs/humanoid.yaml (:func:`clrl.config.with_added_keys`).
KEYS_ADDED = {
    "env.action_clip": 1.0,
    "env.rewards.hip_roll_yaw": 0.0,
    "env.command.mode": "yaw_rate",
    "env.command.heading": [-math.pi, math.pi],
    "env.command.min_lin_vel": 0.0,
    "env.swing_height": None,
    "env.scan.policy": False,
    "env.noise.scan": 0.05,
    "train.precision": "float32",
    "agent.contrastive_fields": None,
}


def save_agent(
    path: str | Path,
    model: LatentPPO,
    config: dict[str, Any],
    terrain_levels: np.ndarray | None = None,
    push_levels: np.ndarray | None = None,
) -> Path:
    """Atomically write ``model`` (and its VecNormalize statistics, if any) to ``path``."""
    buffer = io.BytesIO()
    model.save(buffer)
    state: dict[str, Any] = {"sb3_zip": buffer.getvalue()}
    normalizer = model.get_vec_normalize_env()
    if normalizer is not None:
        state["obs_rms"] = {key: rms_state(rms) for key, rms in normalizer.obs_rms.items()}
        state["ret_rms"] = rms_state(normalizer.ret_rms)
    for key, levels in (("terrain_levels", terrain_levels), ("push_levels", push_levels)):
        if levels is not None:
            state[key] = torch.as_tensor(np.asarray(levels, dtype=np.int64))
    # the zip holds the weights and optimizer moments as bytes: they are checked finite before it
    packed = {"policy": model.policy.state_dict(), "optimizer": model.policy.optimizer.state_dict()}
    return save_checkpoint(path, job=JOB, step=model.num_timesteps, config=config, state=state, packed=packed)


def read_agent(
    path: str | Path,
    expected_config: dict[str, Any] | None = None,
    match_sections: tuple[str, ...] = ARCHITECTURE_SECTIONS,
) -> Checkpoint:
    """Load and check a humanoid checkpoint file without building the model.

    Its config gains the keys added since it was written (:data:`KEYS_ADDED`), so a checkpoint of
    an older release still evaluates and resumes as it trained.
    """
    checkpoint = load_checkpoint(path, job=JOB)
    if "sb3_zip" not in checkpoint.state:
        raise CheckpointError(f"checkpoint {path} holds no humanoid policy (missing 'sb3_zip')")
    for dotted_key, value in KEYS_ADDED.items():
        *sections, key = dotted_key.split(".")
        node = checkpoint.config
        for section in sections:
            node = node[section]
        node.setdefault(key, copy.deepcopy(value))
    if expected_config is not None:
        check_sections(path, checkpoint.config, expected_config, match_sections)
    return checkpoint


def initialise_from(model: LatentPPO, checkpoint: Checkpoint) -> None:
    """Fine-tuning: give a new ``model`` the saved policy weights and normalisation statistics.

    Its optimizer and step count stay fresh; the env it trains on may differ from the saved run's
    (rewards, ranges, ``action_clip``) as long as observation and action shapes match, or the
    saved policy is blind and the new one perceptive (:func:`with_scan_inputs`), or the new one
    reads a longer history (:func:`with_older_frames`), or its contrastive target reads other
    privileged fields (``agent.contrastive_fields``: the privileged encoder starts afresh). With an
    adaptive step size (``ppo.desired_kl``) the first step is the smaller of ``ppo.learning_rate``
    and the step the saved run had come to: the rule lowers a step only after a minibatch has
    overshot, and the default 1e-3 on a long run's policy (settled near 1e-5) overshot by a KL of 15
    in the first update, after which every training episode fell for a while.
    """
    saved = LatentPPO.load(io.BytesIO(checkpoint.state["sb3_zip"]), env=None, device=model.device)
    weights = saved.policy.state_dict()
    extractor, saved_extractor = model.policy.features_extractor, saved.policy.features_extractor
    added_scan = extractor.scan_size - saved_extractor.scan_size
    if added_scan > 0:
        weights = with_scan_inputs(weights, added_scan)
    elif added_scan < 0:
        raise CheckpointError(
            "the checkpoint's actor reads the terrain scan and this env gives it none: "
            "fine-tune it with env.scan.policy=true"
        )
    added_frames = extractor.history_length - saved_extractor.history_length
    if added_frames and extractor.frame_size == saved_extractor.frame_size:
        if added_frames < 0 or isinstance(extractor.history_encoder, GruHistoryEncoder):
            raise CheckpointError(
                f"the checkpoint's history of {saved_extractor.history_length} frames can only grow "
                f"under the mlp history encoder (env.history={extractor.history_length} asked)"
            )
        weights = with_older_frames(weights, added_frames * extractor.frame_size, extractor.latent)
    if extractor.contrastive_inputs != saved_extractor.contrastive_inputs:
        # another contrastive target: the privileged encoder starts afresh, everything else as saved
        fresh = model.policy.state_dict()
        weights = {
            name: fresh[name] if "privileged_encoder." in name else weight for name, weight in weights.items()
        }
    try:
        model.policy.load_state_dict(weights)
    except RuntimeError as exc:  # torch lists every mismatched tensor; the first says enough
        lines = str(exc).splitlines()
        reason = lines[1].strip() if len(lines) > 1 else lines[0]
        raise CheckpointError(f"the checkpoint's network does not fit this env ({reason})") from None
    if model.desired_kl is not None:
        reached = saved.policy.optimizer.param_groups[0]["lr"]
        for group in model.policy.optimizer.param_groups:
            group["lr"] = min(group["lr"], reached)
    normalizer = model.get_vec_normalize_env()
    if normalizer is not None and "obs_rms" in checkpoint.state:
        state = checkpoint.state
        if added_frames > 0:
            state = {**state, "obs_rms": {**state["obs_rms"]}}
            state["obs_rms"]["policy"] = with_older_frame_statistics(
                state["obs_rms"]["policy"], added_frames, extractor.frame_size
            )
        restore_normalizer(normalizer, state, new_keys=("scan",) if added_scan > 0 else ())


def with_scan_inputs(weights: dict[str, torch.Tensor], scan_size: int) -> dict[str, torch.Tensor]:
    """A blind policy's weights for the perceptive network (``env.scan.policy: true``) of the same
    config: the actor reads the scan as its last ``scan_size`` inputs, and their weights start at
    zero, so the fine-tune starts from the blind policy's actions and learns what the scan adds."""
    first = weights[ACTOR_INPUT_LAYER]
    widened = dict(weights)
    widened[ACTOR_INPUT_LAYER] = torch.cat([first, first.new_zeros(first.shape[0], scan_size)], dim=1)
    return widened


def with_older_frames(
    weights: dict[str, torch.Tensor], added_inputs: int, latent: str
) -> dict[str, torch.Tensor]:
    """A policy's weights for the same network reading a longer history (a larger ``env.history``):
    every layer that reads the flattened history (the history encoder, the critic and, without a
    latent, the actor) gets ``added_inputs`` zero input weights in front, where the older frames
    come, so the fine-tune starts acting as the saved policy and learns what the older frames add."""
    history_readers = ("history_encoder.net.0.weight", VALUE_INPUT_LAYER)
    if latent == "proprio":
        history_readers += (ACTOR_INPUT_LAYER,)
    widened = dict(weights)
    for name, weight in weights.items():
        if name.endswith(history_readers):
            widened[name] = torch.cat([weight.new_zeros(weight.shape[0], added_inputs), weight], dim=1)
    return widened


def with_older_frame_statistics(
    saved: dict[str, torch.Tensor], added_frames: int, frame_size: int
) -> dict[str, torch.Tensor]:
    """The ``policy`` observation's running statistics for a history ``added_frames`` longer: each
    older frame starts with the oldest saved frame's (every frame of the history is the same signal,
    later)."""

    def older(values: torch.Tensor) -> torch.Tensor:
        return torch.cat([values[:frame_size].repeat(added_frames), values])

    return {"mean": older(saved["mean"]), "var": older(saved["var"]), "count": saved["count"]}


def restore_model(
    checkpoint: Checkpoint, env: VecEnv | None, device: str | torch.device = "cpu", **hyperparameters: Any
) -> LatentPPO:
    """The :class:`LatentPPO` saved in ``checkpoint``, attached to ``env`` (may be ``None``).

    When ``env`` is a :class:`VecNormalize`, its statistics are replaced by the saved ones.
    ``hyperparameters`` (``n_steps``, ``clip_range`` ...) replace the saved ones; weights,
    optimizer state (with an adaptive step size) and step count are always the saved ones.
    """
    if isinstance(env, VecNormalize) and "obs_rms" in checkpoint.state:
        restore_normalizer(env, checkpoint.state)
    return LatentPPO.load(io.BytesIO(checkpoint.state["sb3_zip"]), env=env, device=device, **hyperparameters)


def restore_normalizer(
    normalizer: VecNormalize, state: dict[str, Any], new_keys: tuple[str, ...] = ()
) -> None:
    """Copy saved running statistics into ``normalizer``; those of ``new_keys``, observations the
    saved run did not have, stay as they start."""
    saved_keys = set(state["obs_rms"])
    if saved_keys != set(normalizer.obs_rms) - set(new_keys):
        raise CheckpointError(
            f"checkpoint normalises observations {sorted(saved_keys)}, "
            f"the env has {sorted(normalizer.obs_rms)}"
        )
    for key, saved in state["obs_rms"].items():
        load_rms_state(normalizer.obs_rms[key], saved, what=f"observation {key!r}")
    load_rms_state(normalizer.ret_rms, state["ret_rms"], what="return")


def rms_state(rms: RunningMeanStd) -> dict[str, torch.Tensor]:
    return {
        "mean": torch.as_tensor(np.asarray(rms.mean, dtype=np.float64)),
        "var": torch.as_tensor(np.asarray(rms.var, dtype=np.float64)),
        "count": torch.tensor(float(rms.count), dtype=torch.float64),
    }


def load_rms_state(rms: RunningMeanStd, saved: dict[str, torch.Tensor], what: str) -> None:
    mean = saved["mean"].numpy()
    if mean.shape != np.shape(rms.mean):
        raise CheckpointError(
            f"checkpoint {what} statistics have shape {mean.shape}, the env gives {np.shape(rms.mean)}"
        )
    rms.mean = mean.copy()
    rms.var = saved["var"].numpy().copy()
    rms.count = float(saved["count"])
