"""benchmarks/humanoid_held_out_falls.py and the episode seeds it reads the draws back from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark

from clrl.agents.checkpointing import read_agent
from clrl.agents.environment import make_env
from clrl.agents.evaluation import (
    FLAT_GROUND,
    held_out_interval_names,
    load_policy,
    make_scenario_env,
    parse_scenarios,
    run_on_envs,
)
from clrl.agents.training import CHECKPOINT_NAME
from clrl.cli import run_command
from clrl.config import load_config
from clrl.envs.humanoid.randomize import DYNAMICS_KEYS, intervals

falls = load_benchmark("humanoid_held_out_falls")


def test_every_held_out_draw_lies_in_one_named_interval_of_each_factor() -> None:
    config = load_config("humanoid")["env"]
    spans = {key: intervals(config["held_out"][key], key) for key in DYNAMICS_KEYS}
    env = make_env(config, held_out=True).unwrapped
    try:
        seen = {key: set() for key in DYNAMICS_KEYS}
        for seed in range(12):
            env.reset(seed=seed)
            for key in DYNAMICS_KEYS:
                index = falls.interval_of(falls.scalar(env.dynamics, key), spans[key])
                low, high = spans[key][index]
                assert low - 1e-9 <= falls.scalar(env.dynamics, key) <= high + 1e-9
                seen[key].add(index)
        assert seen["friction"] == {0, 1}  # both sides of the training range are drawn
        assert falls.scalar(env.dynamics, "com_offset") == env.dynamics.com_offset[0]
    finally:
        env.close()
    assert held_out_interval_names("friction", len(spans["friction"])) == ["friction_low", "friction_high"]
    assert held_out_interval_names("action_delay", len(spans["action_delay"])) == ["action_delay"]


def test_records_carry_the_seed_that_reproduces_their_episode_whatever_the_order(tiny_run: Path) -> None:
    checkpoint = read_agent(tiny_run / CHECKPOINT_NAME)
    model, normalizer = load_policy(checkpoint)
    settings = load_config("humanoid", overrides=['eval.common_overrides=["episode_seconds=0.3"]'])["eval"]
    scenarios = {"held_out_flat": {"held_out": True, "env_overrides": FLAT_GROUND}}
    (scenario,) = parse_scenarios({**settings, "scenarios": scenarios}, checkpoint.config["env"])
    envs = [make_scenario_env(scenario) for _ in range(2)]
    try:
        together = run_on_envs(model, normalizer, envs, 4, seed=7)
        alone = [run_on_envs(model, normalizer, envs[:1], 1, seed=seed)[0] for seed in range(7, 11)]
    finally:
        for env in envs:
            env.close()
    assert sorted(r.seed for r in together) == [7, 8, 9, 10]
    by_seed = {r.seed: r for r in together}
    for record in alone:
        assert by_seed[record.seed].steps == record.steps
        assert by_seed[record.seed].distance == pytest.approx(record.distance)
        assert np.isfinite(record.distance)


def test_an_unknown_interval_is_refused_in_one_line_before_any_table(tiny_run: Path, capsys) -> None:
    argv = ["--checkpoint", str(tiny_run / CHECKPOINT_NAME), "--given", "friction_middle", "--episodes", "1"]
    assert run_command(falls.main, argv) == 1
    out, err = capsys.readouterr()
    assert not [line for line in out.splitlines() if line.startswith("|")]
    (line,) = err.strip().splitlines()
    assert line.startswith("error: --given must be one of friction_low, friction_high, ")
    assert line.endswith("got 'friction_middle'")
