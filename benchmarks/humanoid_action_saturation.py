"""How often the humanoid policy asks for more than the env lets it: leg actions at the clip.

The env clips each leg action to +-``env.action_clip`` (joint targets within ``action_scale`` times
that of the nominal pose). A policy pinned at the clip cannot lengthen its stride, only its cadence.
For each checkpoint, forward speed and clip (default: the clip it trained with), deterministic 20 s
episodes on flat ground under the training dynamics (``--env`` puts them elsewhere, e.g. on 10 cm
steps: ``--env "terrain.types=[stairs_up]" --env "terrain.weights=[1.0]" --env
"terrain.step_height=[0.1, 0.1]"``); it prints the fall rate, tracking error and
distance, the fraction of leg-action entries of the policy's mean at or beyond the clip, the three
joints most often there, and the mean gait frequency. A clip other than the trained one shows what
the same weights do with the bound moved.

    python benchmarks/humanoid_action_saturation.py [--checkpoint F ...] [--speeds 0.5 1.0] [--clips C ...]
        [--env KEY=VALUE ...]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from markdown_table import MarkdownTable

from clrl.agents.evaluation import (
    FLAT_GROUND,
    LoadedPolicy,
    begin_policy_benchmark,
    loaded_policies,
    make_scenario_env,
    policy_benchmark_parser,
    policy_scenario,
)
from clrl.cli import run_command

TABLE = MarkdownTable(
    [
        "policy (env steps)",
        "command (m/s)",
        "action clip",
        "episodes",
        "fall rate",
        "lin err (m/s)",
        "distance (m)",
        "leg actions at the clip",
        "joints most at the clip",
        "gait frequency (Hz)",
    ],
    "lrrrrrrrlr",
)


def saturation_row(
    policy: LoadedPolicy,
    settings: dict,
    speed: float,
    clip: float,
    episodes: int,
    seed: int,
    env_overrides: Sequence[str] = (),
) -> str:
    overrides = [*FLAT_GROUND, f"command.lin_vel_x=[{speed}, {speed}]", f"action_clip={clip}", *env_overrides]
    env = make_scenario_env(policy_scenario(policy, settings, "saturation", overrides))
    n_legs = len(env.unwrapped.leg_actuators)
    at_clip, errors, frequencies, falls, distances = [], [], [], 0, []
    try:
        for episode in range(episodes):
            observation, _ = env.reset(seed=seed + episode)
            while True:
                batch = {key: value[None] for key, value in observation.items()}
                if policy.normalizer is not None:
                    batch = policy.normalizer.normalize_obs(batch)
                with torch.no_grad():
                    tensor, _ = policy.model.policy.obs_to_tensor(batch)
                    # the Gaussian's mean before any clipping: what the policy asks for
                    action = policy.model.policy.get_distribution(tensor).distribution.mean.numpy()[0]
                at_clip.append(np.abs(action[:n_legs]) >= clip)
                observation, _, terminated, truncated, info = env.step(action)
                errors.append(info["tracking_error_lin"])
                frequencies.append(info["gait_frequency"])
                if terminated or truncated:
                    falls += bool(info["fell"])
                    distances.append(info["distance"])
                    break
        joints = env.unwrapped.robot.leg_joints
    finally:
        env.close()
    per_joint = np.mean(at_clip, axis=0)
    top = np.argsort(per_joint)[::-1][:3]
    worst = ", ".join(f"{joints[i].removesuffix('_joint')} {per_joint[i]:.2f}" for i in top)
    return TABLE.row(
        policy.label,
        f"{speed:g}",
        f"{clip:g}",
        episodes,
        f"{falls / episodes:.2f}",
        f"{np.mean(errors):.3f}",
        f"{np.mean(distances):.2f}",
        f"{np.mean(at_clip):.3f}",
        worst,
        f"{np.mean(frequencies):.2f}",
    )


def main(argv: list[str] | None = None) -> None:
    parser = policy_benchmark_parser(
        __doc__.splitlines()[0], episodes=5, seed=0, per="row", env_example="terrain.types=[stairs_up]"
    )
    parser.add_argument("--speeds", type=float, nargs="+", default=[0.5, 1.0], metavar="M/S")
    parser.add_argument("--clips", type=float, nargs="+", help="env.action_clip values (default: trained)")
    args = parser.parse_args(argv)
    settings = begin_policy_benchmark()
    TABLE.print_header()
    for policy in loaded_policies(args.checkpoint):
        for clip in args.clips or [float(policy.checkpoint.config["env"]["action_clip"])]:
            for speed in args.speeds:
                row = saturation_row(policy, settings, speed, clip, args.episodes, args.seed, args.env)
                print(row, flush=True)


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))  # a bad checkpoint: one error line
