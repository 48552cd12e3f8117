"""Where on a slope or a staircase the humanoid policy slows, stalls and falls: speed and falls per stretch.

The slope and stairs scenarios (``evaluate humanoid``'s ``slope_up_15deg`` and ``stairs_up_10cm``) are
square pyramids around the 1 m spawn platform: ground rising for ``env.terrain.ramp_length`` (3 m) to
a top, falling for 3 m to a valley, rising again, and so on. Their targets ask for both distance and
few falls, and the two fail in different places: a policy that climbs the first rise can fall on the
way down. For each checkpoint and shape this rolls out the deterministic policy (training dynamics,
0.5 m/s straight ahead, as ``eval.common_overrides``) and prints the mean base speed on the platform,
on rising and on falling stretches, how many episodes ended on the first rising stretch without
falling (stalled below the first top), where the falls happened: before the first top, on a
falling stretch, or on a later rising one (after a valley), and the share of the feet on the ground
that stood at a tread's outer edge, half over the drop (the reward ``feet_edge``'s count; 0 on slopes).

    python benchmarks/humanoid_slope_profile.py [--checkpoint F ...] [--slopes DEG ...] [--step-heights M ...]
        [--episodes N]

``--slopes`` defaults to 15 degrees; ``--slopes`` with no value and ``--step-heights 0.1`` profile the
10 cm staircase alone.
"""

from __future__ import annotations

import numpy as np
from humanoid_terrain_sweep import shape_label, terrain_overrides
from markdown_table import MarkdownTable

from clrl.agents.evaluation import (
    LoadedPolicy,
    begin_policy_benchmark,
    loaded_policies,
    make_scenario_env,
    policy_benchmark_parser,
    policy_scenario,
)
from clrl.cli import run_command
from clrl.envs.humanoid.terrain import PLATFORM_HALF_SIZE
from clrl.errors import UserError

TABLE = MarkdownTable(
    [
        "policy (env steps)",
        "terrain",
        "episodes",
        "distance (m)",
        "speed: platform / rising / falling (m/s)",
        "ended upright before the first top",
        "falls: before the first top / on falling stretches / on later rises",
        "feet down at a tread edge",
    ],
    "llrrrrrr",
)


def stretch(ring_distance: float, ramp_length: float) -> int:
    """-1 on the platform, else which stretch (0: the first rise, 1: the first fall, 2: ...)."""
    return -1 if ring_distance <= 0.0 else int(ring_distance // ramp_length)


def profile(
    policy: LoadedPolicy, settings: dict, kind: str, value: float, episodes: int, seed: int
) -> list[str]:
    """One table row: ``episodes`` deterministic episodes up a pyramid of ``kind`` (``slope_up`` of
    ``value`` degrees or ``stairs_up`` with steps of ``value`` m)."""
    overrides = terrain_overrides(kind, value)
    env = make_scenario_env(policy_scenario(policy, settings, f"{kind}_{value:g}", overrides))
    robot = env.unwrapped
    ramp_length = float(robot.config["terrain"]["ramp_length"])
    speeds: dict[str, list[float]] = {"platform": [], "rising": [], "falling": []}
    distances, stalled, falls = [], 0, [0, 0, 0]
    feet_down = feet_on_edge = 0
    try:
        for episode in range(episodes):
            observation, _ = env.reset(seed=seed + episode)
            start = previous = robot.data.qpos[:2].copy()
            while True:
                observation, _, terminated, truncated, info = env.step(policy.act(observation))
                position = robot.data.qpos[:2].copy()
                # the terrain is centred on the spawn point; its stretches are rings of Chebyshev distance
                where = stretch(float(np.abs(position).max()) - PLATFORM_HALF_SIZE, ramp_length)
                part = "platform" if where < 0 else ("rising" if where % 2 == 0 else "falling")
                speeds[part].append(float(np.linalg.norm(position - previous)) / robot.control_dt)
                previous = position
                feet_down += info["feet_down"]
                feet_on_edge += info["feet_on_edge"]
                if terminated or truncated:
                    break
            distances.append(float(np.linalg.norm(position - start)))
            if info["fell"]:
                falls[0 if where <= 0 else (1 if where % 2 else 2)] += 1
            elif where <= 0:
                stalled += 1
    finally:
        env.close()
    speed = " / ".join(f"{np.mean(values):.2f}" if values else "-" for values in speeds.values())
    return [
        policy.label,
        shape_label(kind, value),
        str(episodes),
        f"{np.mean(distances):.2f}",
        speed,
        str(stalled),
        " / ".join(str(count) for count in falls),
        f"{feet_on_edge / max(feet_down, 1):.1%}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = policy_benchmark_parser(__doc__.splitlines()[0], episodes=20, seed=0, per="shape")
    parser.add_argument("--slopes", type=float, nargs="*", default=[15.0], metavar="DEGREES")
    parser.add_argument("--step-heights", type=float, nargs="*", default=[], metavar="M")
    args = parser.parse_args(argv)
    shapes = [("slope_up", degrees) for degrees in args.slopes]
    shapes += [("stairs_up", height) for height in args.step_heights]
    if not shapes:
        raise UserError("give at least one shape: --slopes DEG ... or --step-heights M ...")
    settings = begin_policy_benchmark()
    TABLE.print_header()
    for policy in loaded_policies(args.checkpoint):
        for kind, value in shapes:
            TABLE.print_row(*profile(policy, settings, kind, value, args.episodes, args.seed))


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))  # a bad checkpoint: one error line
