"""Which draws of the held-out dynamics topple the humanoid policy: falls by held-out interval.

Flat ground, a 0.5 m/s walk command (``eval.common_overrides``), every factor drawn from its held-out
set at once, as in the ``held_out_flat`` scenario of ``python -m clrl.evaluate humanoid``. Each
episode's draw is read back from its reset seed, and the falls are counted by the held-out interval
each factor fell in (friction 0.10-0.25 or 1.3-1.6, motor strength 0.7-0.8 or 1.2-1.3, ...): the
interval where nearly every episode falls is where a policy would have to change first. With
``--given friction_high`` (a factor and an interval, named as ``--held-out-factors`` names its
scenarios) only the episodes drawn in that interval are counted, e.g. to see what topples the
episodes that low friction does not. ``--env KEY=VALUE`` changes the scenario after its flat
ground, e.g. a flat height field instead of the plane (``terrain.types=[rough]``, no roughness).

    python benchmarks/humanoid_held_out_falls.py [--checkpoint F ...] [--episodes 200] [--seed 10000]
        [--given friction_high] [--env KEY=VALUE ...]
"""

from __future__ import annotations

import numpy as np
from markdown_table import MarkdownTable

from clrl.agents.evaluation import (
    FLAT_GROUND,
    EpisodeRecord,
    begin_policy_benchmark,
    held_out_interval_names,
    loaded_policies,
    make_scenario_env,
    policy_benchmark_parser,
    policy_scenario,
    roll_out,
)
from clrl.cli import run_command
from clrl.envs.humanoid.randomize import DYNAMICS_KEYS, Dynamics, intervals
from clrl.errors import UserError


def scalar(dynamics: Dynamics, key: str) -> float:
    """The factor's value in one number; the centre of mass by its forward offset (each axis is drawn
    from the held-out intervals on its own)."""
    value = getattr(dynamics, key)
    return float(value[0]) if key == "com_offset" else float(value)


def interval_of(value: float, spans: np.ndarray) -> int:
    """Index of the held-out interval holding ``value``."""
    return int(np.flatnonzero((spans[:, 0] - 1e-9 <= value) & (value <= spans[:, 1] + 1e-9))[0])


def main(argv: list[str] | None = None) -> None:
    parser = policy_benchmark_parser(
        __doc__.splitlines()[0], episodes=200, seed=10000, per="policy", env_example="terrain.types=[rough]"
    )
    parser.add_argument(
        "--given", metavar="FACTOR_INTERVAL", help="count only these episodes, e.g. friction_high"
    )
    args = parser.parse_args(argv)
    settings = begin_policy_benchmark()
    table = MarkdownTable(
        ["policy (env steps)", "factor", "held-out interval", "episodes", "falls", "fall rate"], "lllrrr"
    )
    for number, policy in enumerate(loaded_policies(args.checkpoint)):
        held_out = policy.checkpoint.config["env"]["held_out"]
        spans = {key: intervals(held_out[key], f"held_out.{key}") for key in DYNAMICS_KEYS}
        labels = {
            name: (key, index)
            for key in DYNAMICS_KEYS
            for index, name in enumerate(held_out_interval_names(key, len(spans[key])))
        }
        if args.given is not None and args.given not in labels:
            raise UserError(f"--given must be one of {', '.join(labels)}, got {args.given!r}")
        ground = [*FLAT_GROUND, *args.env]
        scenario = policy_scenario(policy, settings, "held_out_flat", ground, held_out=True)
        env = make_scenario_env(scenario)
        if number == 0:  # after the first file's names and the --env overrides are checked: no table
            table.print_header()
        _, records = roll_out(
            policy, settings, "held_out_flat", ground, args.episodes, args.seed, held_out=True
        )
        drawn: list[tuple[EpisodeRecord, dict[str, int]]] = []
        for record in records:
            env.reset(seed=record.seed)
            dynamics = env.unwrapped.dynamics
            drawn.append(
                (record, {key: interval_of(scalar(dynamics, key), spans[key]) for key in DYNAMICS_KEYS})
            )
        env.close()
        if args.given is not None:
            key, index = labels[args.given]
            drawn = [(record, where) for record, where in drawn if where[key] == index]
        falls = [record.fell for record, _ in drawn]
        rate = f"{np.mean(falls):.2f}" if falls else "-"
        table.print_row(policy.label, "all", args.given or "all", len(falls), sum(falls), rate)
        for key, index in labels.values():
            chosen = [record.fell for record, where in drawn if where[key] == index]
            if not chosen or len(spans[key]) == 1:
                continue
            lo, hi = spans[key][index]
            factor = "com_offset (forward)" if key == "com_offset" else key
            table.print_row(
                policy.label, factor, f"{lo:g} to {hi:g}", len(chosen), sum(chosen), f"{np.mean(chosen):.2f}"
            )


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))  # a bad checkpoint or --given: one error line
