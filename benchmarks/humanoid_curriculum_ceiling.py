"""What legged_gym's terrain rule does to a walker that follows every training command exactly.

An ideal walker (no dynamics: it moves at the commanded planar velocity in its own frame and turns at
the heading mode's commanded yaw rate) runs 20 s episodes under the training commands of the
humanoid config, drawn by the env's own ``sample_command`` (standing with ``standing_probability``,
else forward and sideways speeds and a target heading from their ranges, slow commands zeroed), a
new command every ``--resample-seconds``. Each episode's end is
judged by the curriculum's own rule (:func:`clrl.agents.callbacks.next_terrain_level`: up past
``train.curriculum_promote_distance`` from the start, down under half the commanded path). Since
the walker never falls or slows, the shares it gets are the rule's ceiling for a perfect policy:
what a new command every 10 s costs, when two commands in different directions end an episode
near its start.

    python benchmarks/humanoid_curriculum_ceiling.py [--episodes N] [--resample-seconds S ...]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from markdown_table import MarkdownTable

from clrl.agents.callbacks import next_terrain_level
from clrl.config import load_config
from clrl.envs.humanoid.env import heading_yaw_rate, wrap_angle
from clrl.envs.humanoid.randomize import sample_command

LEVEL, TOP = 3, 9  # any level away from both ends: a promotion gives 4, a demotion 2


def ideal_episode(
    rng: np.random.Generator, command: dict, seconds: float, resample_seconds: float, dt: float
):
    """(distance from the start at the end, commanded path length) of one ideal walker's episode."""
    x = y = yaw = target = path = 0.0
    forward = sideways = 0.0
    every = max(1, round(resample_seconds / dt))
    for step in range(round(seconds / dt)):
        if step % every == 0:
            drawn = sample_command(rng, command, "heading")
            if drawn is None:  # stand, holding the current heading
                forward = sideways = 0.0
                target = yaw
            else:
                forward, sideways, offset = drawn
                target += wrap_angle(offset - target)  # the start heading is 0
        yaw += heading_yaw_rate(target, yaw) * dt
        x += (math.cos(yaw) * forward - math.sin(yaw) * sideways) * dt
        y += (math.sin(yaw) * forward + math.cos(yaw) * sideways) * dt
        path += math.hypot(forward, sideways) * dt
    return math.hypot(x, y), path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=4000)
    parser.add_argument("--resample-seconds", type=float, nargs="+", default=[10.0, 20.0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = load_config("humanoid")
    env, train = config["env"], config["train"]
    seconds, dt = float(env["episode_seconds"]), 1.0 / float(env["control_hz"])
    table = MarkdownTable(["new command every (s)", "episodes", "promoted", "held", "demoted"], "rrrrr")
    resample_flags = " ".join(f"{seconds:g}" for seconds in args.resample_seconds)
    command = (
        f"python benchmarks/humanoid_curriculum_ceiling.py --episodes {args.episodes} --seed {args.seed} "
        f"--resample-seconds {resample_flags}"
    )
    print(f"`{command}`\n")
    print("\n".join(table.header()))
    for resample in args.resample_seconds:
        rng = np.random.default_rng(args.seed)
        moves = []
        for _ in range(args.episodes):
            distance, path = ideal_episode(rng, env["command"], seconds, resample, dt)
            level = next_terrain_level(
                LEVEL,
                TOP,
                distance,
                required_distance=0.5 * path,
                promote_distance=float(train["curriculum_promote_distance"]),
                rng=rng,
            )
            moves.append(level - LEVEL)
        moves = np.array(moves)
        shares = [f"{np.mean(moves > 0):.3f}", f"{np.mean(moves == 0):.3f}", f"{np.mean(moves < 0):.3f}"]
        print(table.row(f"{resample:g}", args.episodes, *shares))


if __name__ == "__main__":
    main()
