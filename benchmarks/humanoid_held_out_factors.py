"""Which held-out factor topples the humanoid policy: one factor at a time, the rest as in training.

The ``held_out_flat`` scenario of ``python -m clrl.evaluate humanoid`` draws every dynamics
parameter and the pushes from ``env.held_out`` at once. Here each scenario keeps the training
ranges (flat ground, 0.5 m/s straight ahead, as in the evaluation) and moves one factor to one of
its held-out intervals: friction low / high, added mass low / high, and so on, plus the held-out
pushes (force and interval together). A held-out range and its training range trade places in
the scenario's config, so the held-out set stays disjoint from the training one as
``check_config`` requires. Prints the evaluation's Markdown table (or one JSON object per scenario).

    python benchmarks/humanoid_held_out_factors.py [--checkpoint F] [--count 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from typing import Any

from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from clrl.agents.checkpointing import read_agent, restore_model
from clrl.agents.evaluation import (
    default_checkpoint,
    markdown_table,
    parse_scenarios,
    run_episodes,
    summarise,
)
from clrl.agents.training import make_env
from clrl.envs.humanoid.randomize import DYNAMICS_KEYS, intervals

FLAT = ["terrain.types=[flat]", "terrain.weights=[1.0]"]


def factor_scenarios(env_config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``eval.scenarios`` entries: the training dynamics, then one held-out interval per scenario."""
    training, held_out = env_config["randomization"], env_config["held_out"]
    scenarios: dict[str, dict[str, Any]] = {"training_dynamics": {"env_overrides": FLAT}}
    for key in DYNAMICS_KEYS:
        spans = intervals(held_out[key], key).tolist()
        for index, (low, high) in enumerate(spans):
            side = "" if len(spans) == 1 else ("_low" if index == 0 else "_high")
            scenarios[f"{key}{side}"] = {
                "env_overrides": [
                    *FLAT,
                    f"randomization.{key}=[{low}, {high}]",
                    f"held_out.{key}={list(training[key])}",
                ]
            }
    scenarios["pushes"] = {
        "env_overrides": [
            *FLAT,
            f"randomization.push_force={list(held_out['push_force'])}",
            f"randomization.push_interval={list(held_out['push_interval'])}",
            f"held_out.push_force={list(training['push_force'])}",
        ]
    }
    scenarios["all_held_out"] = {"held_out": True, "env_overrides": FLAT}
    return scenarios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="agent checkpoint (default: the shipped policy)")
    parser.add_argument("--count", type=int, default=10, help="episodes per scenario")
    parser.add_argument("--seed", type=int, default=0, help="episode i is reset with seed + i")
    parser.add_argument("--json", action="store_true", help="one JSON object per scenario")
    args = parser.parse_args()
    path = args.checkpoint or default_checkpoint()
    checkpoint = read_agent(path)
    env_config = checkpoint.config["env"]
    settings = {**checkpoint.config["eval"], "scenarios": factor_scenarios(env_config)}
    normalizer = None
    if "obs_rms" in checkpoint.state:
        probe = DummyVecEnv([lambda: make_env(env_config)])
        normalizer = VecNormalize(probe, training=False, norm_reward=False)
    model = restore_model(checkpoint, normalizer)
    results = []
    for scenario in parse_scenarios(settings, env_config):
        started = time.perf_counter()
        records, control_dt, weight = run_episodes(
            model, normalizer, scenario, args.count, args.seed, int(settings["parallel_envs"])
        )
        result = summarise(
            scenario.name, records, control_dt, weight, path, checkpoint.step, time.perf_counter() - started
        )
        results.append(result)
        print(json.dumps(asdict(result)) if args.json else f"{scenario.name}: done", flush=True)
    if not args.json:
        print(f"\ncheckpoint {path} (step {checkpoint.step}), {args.count} episodes per scenario")
        print(markdown_table(results))


if __name__ == "__main__":
    main()
