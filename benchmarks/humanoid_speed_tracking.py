"""How fast the humanoid policy walks when told to: tracking against the forward speed command.

Flat ground, the training dynamics (pushes included), a straight-ahead command of each given speed
(no sideways or turning command) for the whole 20 s episode. For each checkpoint and speed it
prints the fall rate, the velocity tracking errors of ``evaluate humanoid``, and the net speed:
distance from the start point over time survived, and its ratio to the command (turning away from
straight ahead lowers it too: see the yaw error).

    python benchmarks/humanoid_speed_tracking.py [--checkpoint F ...] [--speeds 0.25 0.5 0.75 1.0]
"""

from __future__ import annotations

from markdown_table import MarkdownTable

from clrl.agents.evaluation import (
    FLAT_GROUND,
    begin_policy_benchmark,
    loaded_policies,
    policy_benchmark_parser,
    roll_out,
)
from clrl.cli import run_command


def main(argv: list[str] | None = None) -> None:
    parser = policy_benchmark_parser(__doc__.splitlines()[0], episodes=10, seed=0, per="speed")
    parser.add_argument("--speeds", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0], metavar="M/S")
    args = parser.parse_args(argv)
    settings = begin_policy_benchmark()
    table = MarkdownTable(
        [
            "policy (env steps)",
            "command (m/s)",
            "episodes",
            "fall rate",
            "lin err (m/s)",
            "yaw err (rad/s)",
            "net speed (m/s)",
            "net speed / command",
        ],
        "lrrrrrrr",
    )
    table.print_header()
    for policy in loaded_policies(args.checkpoint):
        for speed in args.speeds:
            # after eval.common_overrides (0.5 m/s straight ahead), so this speed wins
            overrides = [*FLAT_GROUND, f"command.lin_vel_x=[{speed}, {speed}]"]
            result, _ = roll_out(policy, settings, f"forward_{speed:g}", overrides, args.episodes, args.seed)
            net_speed = result.distance_m / result.survival_s
            table.print_row(
                policy.label,
                f"{speed:g}",
                result.episodes,
                f"{result.fall_rate:.2f}",
                f"{result.lin_tracking_error:.3f}",
                f"{result.yaw_tracking_error:.3f}",
                f"{net_speed:.2f}",
                f"{net_speed / speed:.2f}",
            )


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))  # a bad checkpoint: one error line
