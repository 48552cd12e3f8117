"""The humanoid env as training and evaluation both make it (one place, so neither imports the other)."""

from __future__ import annotations

import copy
import multiprocessing
import signal
from typing import Any

import gymnasium as gym


def make_env(
    env_config: dict[str, Any],
    held_out: bool = False,
    render_mode: str | None = None,
    ignore_interrupt: bool = False,
) -> gym.Env:
    """One humanoid env; with ``ignore_interrupt``, made in a VecEnv worker process, it has that
    process ignore Ctrl-C so the main process can save first (made in the main process, as the
    block it steps itself, it leaves Ctrl-C to the trainer)."""
    if ignore_interrupt and multiprocessing.parent_process() is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    from clrl.envs.humanoid import HumanoidEnv

    return HumanoidEnv(config=env_config, render_mode=render_mode, held_out=held_out)


def one_terrain(env_config: dict[str, Any], kind: str) -> dict[str, Any]:
    """A copy of ``env_config`` whose episodes all have terrain type ``kind``: the evaluation
    scenarios' way (``terrain.types=[kind]``, ``terrain.weights=[1.0]``)."""
    config = copy.deepcopy(env_config)
    config["terrain"]["types"] = [kind]
    config["terrain"]["weights"] = [1.0]
    return config


def make_terrain_render_env(env_config: dict[str, Any], kind: str) -> gym.Env:
    """A rendering env (training dynamics) whose episodes all have terrain type ``kind``."""
    return make_env(one_terrain(env_config, kind), render_mode="rgb_array")
