"""benchmarks/humanoid_dynamics_sweep.py: the swept factor takes exactly the asked value."""

from __future__ import annotations

import pytest
from benchmark_scripts import load_benchmark

from clrl.agents.environment import make_env
from clrl.agents.evaluation import overridden_env_config
from clrl.config import load_config

sweep = load_benchmark("humanoid_dynamics_sweep")


@pytest.mark.parametrize(("factor", "value"), [("friction", 0.12), ("action_delay", 3.0), ("kp_scale", 0.7)])
def test_every_episode_draws_the_swept_value_and_the_others_from_training(factor: str, value: float) -> None:
    config = load_config("humanoid")["env"]
    env_config = overridden_env_config(config, sweep.sweep_overrides(factor, value), source="test")
    low, high = config["randomization"]["kd_scale"]
    env = make_env(env_config).unwrapped
    try:
        for seed in range(3):
            env.reset(seed=seed)
            assert getattr(env.dynamics, factor) == pytest.approx(value)
            assert low <= env.dynamics.kd_scale <= high
    finally:
        env.close()
