"""How steep and how high the humanoid policy climbs: falls against stair height and slope angle.

The issue's terrain targets are one point each (10 cm steps, 15-degree slopes: ``evaluate
humanoid``'s ``stairs_up_10cm`` and ``slope_up_15deg``); this sweeps each shape over a range, with the
training dynamics and the 0.5 m/s straight-ahead command of ``eval.common_overrides``. Both shapes
rise for ``env.terrain.ramp_length`` (3 m) from the edge of the 1 m spawn platform, then turn back
down. For each checkpoint and shape it prints the fall rate, the time survived and the distance
from the start where the episode ended (the top is 4 m out; stairs climb 10 steps of 30 cm).

    python benchmarks/humanoid_terrain_sweep.py [--checkpoint F ...] [--step-heights M ...] [--slopes DEG ...]
        [--env KEY=VALUE ...]
"""

from __future__ import annotations

from markdown_table import MarkdownTable

from clrl.agents.evaluation import begin_policy_benchmark, loaded_policies, policy_benchmark_parser, roll_out
from clrl.cli import run_command


def terrain_overrides(kind: str, value: float) -> list[str]:
    """Env overrides for ``stairs_up`` with steps of ``value`` m, or ``slope_up`` of ``value`` degrees."""
    key = {"stairs_up": "step_height", "slope_up": "slope_degrees"}[kind]
    return [f"terrain.types=[{kind}]", "terrain.weights=[1.0]", f"terrain.{key}=[{value}, {value}]"]


def shape_label(kind: str, value: float) -> str:
    """``10 cm steps`` or ``15 degree slope``: the terrain column of the climbing benchmarks."""
    return f"{value * 100:g} cm steps" if kind == "stairs_up" else f"{value:g} degree slope"


def main(argv: list[str] | None = None) -> None:
    parser = policy_benchmark_parser(
        __doc__.splitlines()[0], episodes=10, seed=0, per="shape", env_example="terrain.resolution=0.05"
    )
    parser.add_argument(
        "--step-heights", type=float, nargs="+", default=[0.04, 0.06, 0.08, 0.10], metavar="M"
    )
    parser.add_argument("--slopes", type=float, nargs="*", default=[5.0, 10.0, 15.0], metavar="DEGREES")
    args = parser.parse_args(argv)
    settings = begin_policy_benchmark()
    shapes = [("stairs_up", height) for height in args.step_heights]
    shapes += [("slope_up", degrees) for degrees in args.slopes]
    table = MarkdownTable(
        [
            "policy (env steps)",
            "terrain",
            "episodes",
            "fall rate",
            "survival (s)",
            "distance (m)",
            "lin err (m/s)",
        ],
        "llrrrrr",
    )
    table.print_header()
    for policy in loaded_policies(args.checkpoint):
        for kind, value in shapes:
            name = f"{kind}_{value:g}"
            result, _ = roll_out(
                policy, settings, name, [*terrain_overrides(kind, value), *args.env], args.episodes, args.seed
            )
            table.print_row(
                policy.label,
                shape_label(kind, value),
                result.episodes,
                f"{result.fall_rate:.2f}",
                f"{result.survival_s:.1f}",
                f"{result.distance_m:.2f}",
                f"{result.lin_tracking_error:.3f}",
            )


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))  # a bad checkpoint: one error line
