"""The humanoid's velocity command: legged_gym's heading mode (the default), the yaw-rate mode, the
zeroing of slow planar commands and the heading error the evaluation turns into heading drift."""

from __future__ import annotations

import copy
import functools
import math

import mujoco
import numpy as np
import pytest

from clrl.config import ConfigError, load_config
from clrl.envs.humanoid import HumanoidEnv
from clrl.envs.humanoid.env import heading_yaw_rate, wrap_angle

ENV = load_config("humanoid")["env"]
#: The command keys the env reads at every draw (the others it reads once, when it is built).
RANGES = ("lin_vel_x", "lin_vel_y", "yaw_rate", "heading", "standing_probability")


def command_config(**command) -> dict:
    """Flat ground, no randomisation, pushes or sensor noise, no standing or sideways command; the
    command keys given."""
    config = copy.deepcopy(ENV)
    config["terrain"].update(types=["flat"], weights=[1.0])
    for key in ("friction", "motor_strength", "kp_scale", "kd_scale"):
        config["randomization"][key] = [1.0, 1.0]
    for key in ("added_mass", "com_offset", "push_force"):
        config["randomization"][key] = [0.0, 0.0]
    config["randomization"]["action_delay"] = [0, 0]
    config["noise"]["scale"] = 0.0
    config["command"].update(standing_probability=0.0, lin_vel_y=[0.0, 0.0])
    config["command"].update(command)
    return config


@functools.cache
def cached_env(mode: str, min_lin_vel: float = 0.2) -> HumanoidEnv:
    """One env per mode (building one takes seconds); tests set the command ranges, which the env
    reads at every draw, through :func:`reset_with`."""
    return HumanoidEnv(command_config(mode=mode, min_lin_vel=min_lin_vel))


def reset_with(env: HumanoidEnv, seed: int, **command) -> dict:
    """Reset ``env`` with :func:`command_config`'s command ranges updated by ``command``."""
    ranges = {key: value for key, value in command_config()["command"].items() if key in RANGES}
    env.config["command"].update(ranges, **command)
    return env.reset(seed=seed)[0]


def newest_command(env: HumanoidEnv, observation: dict) -> np.ndarray:
    """(vx, vy, yaw rate) of the newest frame of the policy observation."""
    start = 0
    for name, size in env.policy_frame_fields:
        if name == "command":
            break
        start += size
    frame = observation["policy"][-env.frame_size :]
    return frame[start : start + 3].astype(np.float64)


def base_yaw(env: HumanoidEnv) -> float:
    """The base's heading read from MuJoCo: the yaw of its x axis."""
    x_axis = env.data.xmat[env.root_body].reshape(3, 3)[:, 0]
    return math.atan2(x_axis[1], x_axis[0])


def set_base_yaw(env: HumanoidEnv, yaw: float) -> None:
    env.data.qpos[3:7] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))
    env.data.qvel[:] = 0.0
    mujoco.mj_forward(env.model, env.data)


def test_heading_rule_wraps_and_clips_like_legged_gym():
    assert wrap_angle(3 * math.pi / 2) == pytest.approx(-math.pi / 2)
    assert wrap_angle(-3 * math.pi / 2) == pytest.approx(math.pi / 2)
    assert heading_yaw_rate(0.4, 0.0) == pytest.approx(0.2)
    assert heading_yaw_rate(0.0, 0.4) == pytest.approx(-0.2)
    assert heading_yaw_rate(3.0, 0.0) == 1.0 and heading_yaw_rate(-3.0, 0.0) == -1.0
    # 350 degrees to the left is 10 degrees to the right
    assert heading_yaw_rate(math.radians(350), 0.0) == pytest.approx(0.5 * math.radians(-10))


def test_heading_mode_is_the_default():
    assert ENV["command"]["mode"] == "heading"
    assert cached_env("heading").heading_mode and not cached_env("yaw_rate").heading_mode


@pytest.mark.parametrize("offset", [0.6, 3.0, -1.5])
def test_the_yaw_rate_command_is_recomputed_from_the_heading_every_control_step(offset: float):
    env = cached_env("heading")
    observation = reset_with(env, 3, heading=[offset, offset], lin_vel_x=[0.5, 0.5])
    target = base_yaw(env) + offset
    rng = np.random.default_rng(0)
    seen = []
    for _ in range(40):
        command = newest_command(env, observation)
        expected = float(np.clip(0.5 * wrap_angle(target - base_yaw(env)), -1.0, 1.0))
        assert command[2] == pytest.approx(expected, abs=1e-6)
        assert command[:2] == pytest.approx([0.5, 0.0])
        seen.append(command[2])
        # turn the base a little each step, as a walking robot would
        set_base_yaw(env, base_yaw(env) + rng.uniform(-0.1, 0.1))
        observation, _, terminated, truncated, _ = env.step(np.zeros(env.action_space.shape, np.float32))
        assert not (terminated or truncated)
    if abs(offset) < 2:  # unclipped: the command follows the heading
        assert np.ptp(seen) > 0.05


def test_yaw_rate_mode_keeps_the_drawn_yaw_rate_until_the_next_draw():
    env = cached_env("yaw_rate")
    observation = reset_with(env, 0, yaw_rate=[0.3, 0.3], lin_vel_x=[0.5, 0.5])
    for _ in range(10):
        assert newest_command(env, observation) == pytest.approx([0.5, 0.0, 0.3])
        set_base_yaw(env, base_yaw(env) + 0.2)
        observation, *_ = env.step(np.zeros(env.action_space.shape, np.float32))


@pytest.mark.parametrize(
    ("vx", "vy", "min_lin_vel", "kept"),
    [(0.1, 0.1, 0.2, False), (0.15, -0.15, 0.2, True), (0.1, 0.1, 0.0, True), (-0.3, 0.0, 0.2, True)],
)
def test_planar_commands_slower_than_min_lin_vel_become_zero(vx, vy, min_lin_vel, kept):
    modes = ("heading", "yaw_rate") if min_lin_vel else ("yaw_rate",)
    for mode in modes:
        env = cached_env(mode, min_lin_vel)
        reset_with(env, 0, lin_vel_x=[vx, vx], lin_vel_y=[vy, vy])
        observation, _, _, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
        expected = [vx, vy] if kept else [0.0, 0.0]
        assert newest_command(env, observation)[:2] == pytest.approx(expected, abs=1e-6)
        assert info["command_speed"] == pytest.approx(math.hypot(*expected), abs=1e-6)


@pytest.mark.parametrize("mode", ["heading", "yaw_rate"])
def test_heading_error_is_the_unwrapped_turn_away_from_the_commanded_heading(mode: str):
    """With no turn commanded, a robot spun 5 rad (more than half a turn) is 5 rad off, not 5 - 2 pi;
    the heading mode's yaw-rate command still takes the short way back."""
    env = cached_env(mode)
    reset_with(env, 1, heading=[0.0, 0.0], yaw_rate=[0.0, 0.0], lin_vel_x=[0.5, 0.5])
    start = base_yaw(env)
    for k in range(1, 11):
        set_base_yaw(env, start + 0.5 * k)
        observation, _, _, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
    turned = wrap_angle(base_yaw(env) - start) + 2 * math.pi  # the spin ended 5 rad round
    assert info["heading_error"] == pytest.approx(turned, abs=1e-6)
    assert info["heading_error"] == pytest.approx(5.0, abs=0.02)
    if mode == "heading":
        assert newest_command(env, observation)[2] == pytest.approx(
            0.5 * wrap_angle(-info["heading_error"]), abs=1e-6
        )


def test_yaw_rate_mode_heading_error_follows_the_integrated_command():
    env = cached_env("yaw_rate")
    reset_with(env, 2, yaw_rate=[0.5, 0.5], lin_vel_x=[0.5, 0.5])
    start = base_yaw(env)
    for _ in range(25):  # hold the heading for 0.5 s while 0.25 rad of turn is commanded
        set_base_yaw(env, start)
        _, _, _, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
    assert info["heading_error"] == pytest.approx(-0.25, abs=0.01)


def test_a_new_target_heading_is_reached_the_short_way_round():
    """Targets drawn relative to the start heading: after a draw the commanded heading moves from
    the previous target by the wrapped difference, so the heading error stays within half a turn."""
    env = HumanoidEnv(command_config(mode="heading", resample_seconds=0.02, lin_vel_x=[0.5, 0.5]))
    env.reset(seed=4)
    for _ in range(30):  # a new target every step; the robot follows it exactly
        set_base_yaw(env, env._heading_reference)
        _, _, _, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
        assert abs(info["heading_error"]) <= math.pi + 1e-6


def test_bad_command_mode_and_ranges_are_config_errors():
    with pytest.raises(ConfigError, match="env.command.mode"):
        HumanoidEnv(command_config(mode="turn"))
    with pytest.raises(ConfigError, match="command.heading"):
        HumanoidEnv(command_config(heading=[1.0, -1.0]))
    with pytest.raises(ConfigError, match="min_lin_vel"):
        HumanoidEnv(command_config(min_lin_vel=-0.1))
