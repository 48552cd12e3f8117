"""How the humanoid policy walks when the physics runs at another rate: fewer PD substeps per step.

Each control step (20 ms) runs ``env.physics_substeps`` MuJoCo steps of PD control; the policies
train with 5 (250 Hz, dt 4 ms). Fewer substeps cost less CPU per env step (issue 23, item 4:
training throughput), if the PD loop and the contacts stay stable at the longer time step. For each
checkpoint, scenario and substep count it prints the evaluation's figures (the training dynamics,
0.5 m/s straight ahead) and the CPU milliseconds per control step of the rollouts (env and policy).

    python benchmarks/humanoid_physics_rate.py [--checkpoint F ...] [--substeps 5 4 3] [--episodes 10]
"""

from __future__ import annotations

import time

from markdown_table import MarkdownTable

from clrl.agents.evaluation import (
    FLAT_GROUND,
    begin_policy_benchmark,
    loaded_policies,
    policy_benchmark_parser,
    roll_out,
)
from clrl.cli import run_command

SCENARIOS = {
    "flat": FLAT_GROUND,
    "stairs_up_10cm": [
        "terrain.types=[stairs_up]",
        "terrain.weights=[1.0]",
        "terrain.step_height=[0.1, 0.1]",
    ],
}


def main(argv: list[str] | None = None) -> None:
    parser = policy_benchmark_parser(__doc__.splitlines()[0], episodes=10, seed=0, per="scenario and rate")
    parser.add_argument("--substeps", type=int, nargs="+", default=[5, 4, 3], help="env.physics_substeps")
    args = parser.parse_args(argv)
    settings = begin_policy_benchmark()
    table = MarkdownTable(
        [
            "policy (env steps)",
            "scenario",
            "substeps (physics dt)",
            "episodes",
            "fall rate",
            "survival (s)",
            "lin err (m/s)",
            "yaw err (rad/s)",
            "distance (m)",
            "CPU ms per control step (env and policy)",
        ],
        "llrrrrrrrr",
    )
    table.print_header()
    for policy in loaded_policies(args.checkpoint):
        for name, overrides in SCENARIOS.items():
            for substeps in args.substeps:
                started = time.process_time()
                result, records = roll_out(
                    policy,
                    settings,
                    name,
                    [*overrides, f"physics_substeps={substeps}"],
                    args.episodes,
                    args.seed,
                )
                steps = sum(record.steps for record in records)
                # the env and the policy's forward passes, both in this process
                cpu_ms = 1000 * (time.process_time() - started) / max(steps, 1)
                dt_ms = 1000 / float(policy.checkpoint.config["env"]["control_hz"]) / substeps
                table.print_row(
                    policy.label,
                    name,
                    f"{substeps} ({dt_ms:.3g} ms)",
                    result.episodes,
                    f"{result.fall_rate:.2f}",
                    f"{result.survival_s:.1f}",
                    f"{result.lin_tracking_error:.3f}",
                    f"{result.yaw_tracking_error:.3f}",
                    f"{result.distance_m:.1f}",
                    f"{cpu_ms:.3f}",
                )


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))  # a bad checkpoint: one error line
