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

import torch

from clrl.agents.evaluation import FLAT_GROUND, loaded_policies, roll_out
from clrl.cli import run_command
from clrl.config import load_config
from clrl.runs import cpu_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", nargs="+", help="policies to test (default: the shipped one)")
    parser.add_argument("--speeds", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0], metavar="M/S")
    parser.add_argument("--episodes", type=int, default=10, help="20 s episodes per speed")
    parser.add_argument("--seed", type=int, default=0, help="episode i is reset with seed + i")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings = load_config("humanoid")["eval"]
    print(f"`python {shlex.join(sys.argv)}`; {platform.node()}, {cpu_model()}\n")
    print(
        "| policy (env steps) | command (m/s) | episodes | fall rate | lin err (m/s) | yaw err (rad/s) "
        "| net speed (m/s) | net speed / command |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for policy in loaded_policies(args.checkpoint):
        for speed in args.speeds:
            # after eval.common_overrides (0.5 m/s straight ahead), so this speed wins
            overrides = [*FLAT_GROUND, f"command.lin_vel_x=[{speed}, {speed}]"]
            result, _ = roll_out(policy, settings, f"forward_{speed:g}", overrides, args.episodes, args.seed)
            net_speed = result.distance_m / result.survival_s
            print(
                f"| {policy.path} ({policy.checkpoint.step:,}) | {speed:g} | {result.episodes} "
                f"| {result.fall_rate:.2f} | {result.lin_tracking_error:.3f} "
                f"| {result.yaw_tracking_error:.3f} | {net_speed:.2f} | {net_speed / speed:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))  # a bad checkpoint: one error line
