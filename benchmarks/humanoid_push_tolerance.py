"""How hard a push the humanoid policy takes: fall rate against a fixed push force.

Flat ground, the training dynamics, a 0.5 m/s walk command (``eval.common_overrides``); every push
has exactly the given force (random direction, ``push_seconds`` long) and they come every
``--interval`` seconds (default the held-out interval, 3-5 s). For each checkpoint and force it
prints the fall rate, the mean survival time and the median time from the start of the last push
to a fall, as a Markdown table with the machine and the command. The training pushes are 0-80 N
every 4-8 s and the held-out ones 100-140 N every 3-5 s (configs/humanoid.yaml).

    python benchmarks/humanoid_push_tolerance.py [--checkpoint F ...] [--forces 40 60 80 100 120 140]
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
from pathlib import Path

import numpy as np
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
    parser.add_argument("--forces", type=float, nargs="+", default=[40, 60, 80, 100, 120, 140], metavar="N")
    parser.add_argument("--interval", type=float, nargs=2, default=[3.0, 5.0], metavar=("LOW", "HIGH"))
    parser.add_argument("--episodes", type=int, default=20, help="20 s episodes per force")
    parser.add_argument("--seed", type=int, default=1000, help="episode i is reset with seed + i")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = load_config("humanoid")["eval"]
    print(f"`python {shlex.join(sys.argv)}`; {platform.node()}, {cpu_model()}\n")
    print(
        "| policy (env steps) | push (N) | episodes | fall rate | survival (s) | push to fall, median (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for path in args.checkpoint or [str(default_checkpoint())]:
        checkpoint = read_agent(path)
        model, normalizer = load_policy(checkpoint)
        for force in args.forces:
            overrides = [
                *FLAT_GROUND,
                f"randomization.push_force=[{force}, {force}]",
                f"randomization.push_interval={list(args.interval)}",
                "held_out.push_force=[1000.0, 1001.0]",  # out of the way: held-out pushes must stay disjoint
            ]
            scenarios = {"scenarios": {"pushes": {"env_overrides": overrides}}}
            (scenario,) = parse_scenarios({**settings, **scenarios}, checkpoint.config["env"])
            records, control_dt, weight = run_episodes(
                model, normalizer, scenario, args.episodes, args.seed, int(settings["parallel_envs"])
            )
            result = summarise(scenario.name, records, control_dt, weight, Path(path), checkpoint.step, 0.0)
            to_fall = [r.seconds_since_push for r in records if r.fell]
            median_to_fall = f"{np.median(to_fall):.2f}" if to_fall else "-"
            print(
                f"| {path} ({checkpoint.step:,}) | {force:g} | {result.episodes} | {result.fall_rate:.2f} "
                f"| {result.survival_s:.1f} | {median_to_fall} |",
                flush=True,
            )
        if normalizer is not None:
            normalizer.close()


if __name__ == "__main__":
    main()
