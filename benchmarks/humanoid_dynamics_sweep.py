"""Where a held-out dynamics factor topples the humanoid policy: fall rate against one fixed value.

Flat ground, a 0.5 m/s walk command (``eval.common_overrides``), every other factor drawn from its
training range; the swept factor (``--factor``, one of ``DYNAMICS_KEYS`` in
``clrl.envs.humanoid.randomize``) is set to exactly each of ``--values`` in every episode. For each
checkpoint and value it prints the fall rate, the mean survival time, the linear tracking error and
the distance from the start, as a Markdown table with the machine and the command. ``python -m
clrl.evaluate humanoid --held-out-factors`` draws each factor from its whole held-out interval; this
shows where inside (or outside) that interval the falls begin, e.g. the friction coefficient below
which a policy cannot walk (training 0.3-1.2, held out 0.1-0.25 and 1.3-1.6). ``--env`` moves the episodes off
flat ground, e.g. onto the 15-degree slope: ``--env "terrain.types=[slope_up]" --env
"terrain.weights=[1.0]" --env "terrain.slope_degrees=[15.0, 15.0]"``.

    python benchmarks/humanoid_dynamics_sweep.py [--checkpoint F ...] [--factor friction]
        [--values 0.1 0.15 0.2 0.25 0.3] [--episodes 20] [--seed 1000] [--env KEY=VALUE ...]
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
from clrl.envs.humanoid.randomize import DYNAMICS_KEYS

#: Added to a swept value to give the held-out interval, which must stay disjoint from the
#: training one: far out of the way, as the held-out set plays no part here.
OUT_OF_THE_WAY = 1000.0


def sweep_overrides(factor: str, value: float) -> list[str]:
    """Env overrides for flat ground with ``factor`` exactly ``value`` in every episode."""
    far = value + OUT_OF_THE_WAY
    return [
        *FLAT_GROUND,
        f"randomization.{factor}=[{value}, {value}]",
        f"held_out.{factor}=[{far}, {far + 1}]",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = policy_benchmark_parser(
        __doc__.splitlines()[0], episodes=20, seed=1000, per="value", env_example="terrain.types=[slope_up]"
    )
    parser.add_argument("--factor", choices=DYNAMICS_KEYS, default="friction")
    parser.add_argument("--values", type=float, nargs="+", default=[0.1, 0.15, 0.2, 0.25, 0.3])
    args = parser.parse_args(argv)
    settings = begin_policy_benchmark()
    table = MarkdownTable(
        [
            "policy (env steps)",
            args.factor,
            "episodes",
            "fall rate",
            "survival (s)",
            "lin err (m/s)",
            "distance (m)",
        ],
        "lrrrrrr",
    )
    table.print_header()
    for policy in loaded_policies(args.checkpoint):
        for value in args.values:
            overrides = [*sweep_overrides(args.factor, value), *args.env]
            result, _ = roll_out(policy, settings, args.factor, overrides, args.episodes, args.seed)
            table.print_row(
                policy.label,
                f"{value:g}",
                result.episodes,
                f"{result.fall_rate:.2f}",
                f"{result.survival_s:.1f}",
                f"{result.lin_tracking_error:.3f}",
                f"{result.distance_m:.2f}",
            )


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))  # a bad checkpoint: one error line
