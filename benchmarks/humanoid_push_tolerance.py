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

import numpy as np
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
    parser = policy_benchmark_parser(__doc__.splitlines()[0], episodes=20, seed=1000, per="force")
    parser.add_argument("--forces", type=float, nargs="+", default=[40, 60, 80, 100, 120, 140], metavar="N")
    parser.add_argument("--interval", type=float, nargs=2, default=[3.0, 5.0], metavar=("LOW", "HIGH"))
    args = parser.parse_args(argv)
    settings = begin_policy_benchmark()
    table = MarkdownTable(
        [
            "policy (env steps)",
            "push (N)",
            "episodes",
            "fall rate",
            "survival (s)",
            "push to fall, median (s)",
        ],
        "lrrrrr",
    )
    table.print_header()
    for policy in loaded_policies(args.checkpoint):
        for force in args.forces:
            overrides = [
                *FLAT_GROUND,
                f"randomization.push_force=[{force}, {force}]",
                f"randomization.push_interval={list(args.interval)}",
                "held_out.push_force=[1000.0, 1001.0]",  # out of the way: held-out pushes must stay disjoint
            ]
            result, records = roll_out(policy, settings, "pushes", overrides, args.episodes, args.seed)
            to_fall = [r.seconds_since_push for r in records if r.fell]
            median_to_fall = f"{np.median(to_fall):.2f}" if to_fall else "-"
            table.print_row(
                policy.label,
                f"{force:g}",
                result.episodes,
                f"{result.fall_rate:.2f}",
                f"{result.survival_s:.1f}",
                median_to_fall,
            )


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))  # a bad checkpoint: one error line
