"""How fast the humanoid policy walks when told to: tracking against the forward speed command.

Flat ground, the training dynamics (pushes included), a straight-ahead command of each given speed
(no sideways or turning command) for the whole 20 s episode. For each checkpoint and speed it
prints the fall rate, the velocity tracking errors of ``evaluate humanoid``, and the net speed:
distance from the start point over time survived, and its ratio to the command (turning away from
straight ahead lowers it too: see the yaw error).

    python benchmarks/humanoid_speed_tracking.py [--checkpoint F ...] [--speeds 0.25 0.5 0.75 1.0]
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
from pathlib import Path

import torch

from clrl.agents.checkpointing import read_agent
from clrl.agents.evaluation import (
    FLAT_GROUND,
    default_checkpoint,
    load_policy,
    parse_scenarios,
    run_episodes,
    summarise,
)
from clrl.config import load_config
from clrl.runs import cpu_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", nargs="+", help="policies to test (default: the shipped one)")
    parser.add_argument("--speeds", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0], metavar="M/S")
    parser.add_argument("--episodes", type=int, default=10, help="20 s episodes per speed")
    parser.add_argument("--seed", type=int, default=0, help="episode i is reset with seed + i")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = load_config("humanoid")["eval"]
    print(f"`python {shlex.join(sys.argv)}`; {platform.node()}, {cpu_model()}\n")
    print(
        "| policy (env steps) | command (m/s) | episodes | fall rate | lin err (m/s) | yaw err (rad/s) "
        "| net speed (m/s) | net speed / command |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for path in args.checkpoint or [str(default_checkpoint())]:
        checkpoint = read_agent(path)
        model, normalizer = load_policy(checkpoint)
        for speed in args.speeds:
            # after eval.common_overrides (0.5 m/s straight ahead), so this speed wins
            overrides = [*FLAT_GROUND, f"command.lin_vel_x=[{speed}, {speed}]"]
            scenarios = {"scenarios": {f"forward_{speed:g}": {"env_overrides": overrides}}}
            (scenario,) = parse_scenarios({**settings, **scenarios}, checkpoint.config["env"])
            records, control_dt, weight = run_episodes(
                model, normalizer, scenario, args.episodes, args.seed, int(settings["parallel_envs"])
            )
            result = summarise(scenario.name, records, control_dt, weight, Path(path), checkpoint.step, 0.0)
            net_speed = result.distance_m / result.survival_s
            print(
                f"| {path} ({checkpoint.step:,}) | {speed:g} | {result.episodes} | {result.fall_rate:.2f} "
                f"| {result.lin_tracking_error:.3f} | {result.yaw_tracking_error:.3f} "
                f"| {net_speed:.2f} | {net_speed / speed:.2f} |",
                flush=True,
            )
        if normalizer is not None:
            normalizer.close()


if __name__ == "__main__":
    main()
