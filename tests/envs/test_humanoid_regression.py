"""HumanoidEnv behaviour pinned to golden values: fixed-seed rollouts against ``data/humanoid_golden.npz``.

The golden file was written by the environment before its per-step arithmetic was rewritten for
speed (issue #8); the rewrite must not change what the env returns. Each scenario rolls out
``STEPS`` control steps of fixed-seed random actions (resetting when an episode ends) and records
the observations (all of them as per-step sums, every ``OBS_EVERY``-th in full), rewards, every
reward term, terminated/truncated and the numeric info values.

The physics does not depend on what the env computes from it (actions are fixed in advance), so
the trajectories agree to rounding; the tolerances only absorb reordered float arithmetic.
Regenerate (only when behaviour is meant to change): ``python tests/envs/test_humanoid_regression.py``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from clrl.config import load_config
from clrl.envs.humanoid import HumanoidEnv

GOLDEN = Path(__file__).parent / "data" / "humanoid_golden.npz"
STEPS = 150
OBS_EVERY = 25
INFO_KEYS = (
    "tracking_error_lin", "tracking_error_yaw", "terrain_level", "gait_frequency", "base_height",
    "distance", "energy", "fell",
)  # fmt: skip
#: The committed env, with the command it had when the golden file was written: a drawn yaw rate
#: (``command.mode: yaw_rate``) and slow planar commands kept (``command.min_lin_vel: 0``).
ENV = load_config("humanoid", overrides=["env.command.mode=yaw_rate", "env.command.min_lin_vel=0.0"])["env"]
#: The terms the reward counts (a term with scale 0 is reported as 0 and changes nothing)
SCALED_TERMS = sorted(term for term, scale in ENV["rewards"].items() if scale != 0)


def nominal_flat_config() -> dict:
    """Flat ground, no randomisation or pushes, no sensor noise, the fixed gait clock."""
    config = copy.deepcopy(ENV)
    config["clock"] = "fixed"
    config["terrain"].update(types=["flat"], weights=[1.0])
    for key in ("friction", "added_mass", "com_offset", "motor_strength", "kp_scale", "kd_scale"):
        value = 0.0 if key in ("added_mass", "com_offset") else 1.0
        config["randomization"][key] = [value, value]
    config["randomization"].update(action_delay=[0, 0], push_force=[0.0, 0.0])
    config["noise"]["scale"] = 0.0
    return config


def pushy_config() -> dict:
    """The default config with frequent pushes, so that push forces show up within a rollout."""
    config = copy.deepcopy(ENV)
    config["randomization"]["push_interval"] = [0.3, 0.6]
    return config


# name: (config, held_out, terrain level, seed, action amplitude)
SCENARIOS = {
    "default": (ENV, False, 0, 0, 0.5),
    "hard_terrain": (ENV, False, 9, 1, 0.3),
    "pushes": (pushy_config(), False, 5, 2, 0.3),
    "held_out": (ENV, True, 0, 3, 0.3),
    "nominal_flat": (nominal_flat_config(), False, 0, 4, 0.3),
}


def rollout(name: str) -> dict[str, np.ndarray]:
    """Arrays of one scenario; row t of the per-step arrays is step t (reset observations apart)."""
    config, held_out, level, seed, amplitude = SCENARIOS[name]
    env = HumanoidEnv(config, held_out=held_out)
    env.set_terrain_level(level)
    actions = np.random.default_rng(seed).uniform(-amplitude, amplitude, (STEPS, *env.action_space.shape))
    obs, info = env.reset(seed=seed)
    record: dict[str, list] = {key: [] for key in ("policy", "privileged", "reward", "terms", "done", "info")}
    resets = [(0, obs["policy"], obs["privileged"], [info[key] for key in INFO_KEYS])]
    for t, action in enumerate(actions.astype(np.float32)):
        obs, reward, terminated, truncated, info = env.step(action)
        record["policy"].append(obs["policy"])
        record["privileged"].append(obs["privileged"])
        record["reward"].append(reward)
        record["terms"].append([info["reward_terms"][term] for term in SCALED_TERMS])
        record["done"].append([terminated, truncated])
        record["info"].append([info[key] for key in INFO_KEYS])
        if terminated or truncated:
            obs, info = env.reset()
            resets.append((t + 1, obs["policy"], obs["privileged"], [info[key] for key in INFO_KEYS]))
    policy, privileged = np.array(record["policy"]), np.array(record["privileged"])
    return {
        "policy_sum": policy.astype(np.float64).sum(axis=1),
        "policy_abs_sum": np.abs(policy.astype(np.float64)).sum(axis=1),
        "privileged_sum": privileged.astype(np.float64).sum(axis=1),
        "privileged_abs_sum": np.abs(privileged.astype(np.float64)).sum(axis=1),
        "policy_sampled": policy[::OBS_EVERY],
        "privileged_sampled": privileged[::OBS_EVERY],
        "reward": np.array(record["reward"]),
        "terms": np.array(record["terms"]),
        "done": np.array(record["done"]),
        "info": np.array(record["info"], dtype=np.float64),
        "reset_steps": np.array([step for step, *_ in resets]),
        "reset_policy": np.array([policy for _, policy, _, _ in resets]),
        "reset_privileged": np.array([privileged for _, _, privileged, _ in resets]),
        "reset_info": np.array([info for *_, info in resets], dtype=np.float64),
    }


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as stored:
        return dict(stored)


@pytest.mark.parametrize("name", SCENARIOS)
def test_rollout_matches_the_golden_values(name, golden):
    got = rollout(name)
    for key, value in got.items():
        expected = golden[f"{name}/{key}"]
        assert value.shape == expected.shape, key
        if value.dtype == bool or key == "reset_steps":
            np.testing.assert_array_equal(value, expected, err_msg=f"{name}/{key}")
        else:
            # float32 observations: a few ulps; float64 values: reordered arithmetic
            np.testing.assert_allclose(value, expected, rtol=2e-6, atol=2e-6, err_msg=f"{name}/{key}")


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    # float32 keeps the file small and is far finer than the tolerances
    arrays = {
        f"{name}/{key}": value.astype(np.float32) if value.dtype == np.float64 else value
        for name in SCENARIOS
        for key, value in rollout(name).items()
    }
    np.savez_compressed(GOLDEN, **arrays)
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size:,} bytes)")
