"""The seed's claim (issue 23, item 7): does the contrastive latent make the policy more robust?

Evaluates policies of several latent arms (``agent.latent``: contrastive, proprio, regression, ...)
and training seeds on the same episodes: flat ground, the issue's 10 cm stairs and 15-degree slope
and gentler ones (6 cm, 10 degrees: where arms that all fail the targets' can still differ), each
held-out dynamics factor alone (the rows of ``evaluate humanoid --held-out-factors``), the whole
held-out set on flat ground, and the held-out set on the held-out terrain. Each checkpoint's arm and
seed come from its own config; several checkpoints of one arm and seed (copies a run kept near the
budget) count as that seed's copies and are averaged. After a row per checkpoint and scenario as
each is measured, it prints one summary table: per scenario, each arm's mean over its seeds with
each seed's value, the difference of each arm from ``--reference`` (and, over the seeds both trained,
the difference within each seed), the seed spread (the largest max - min over the seeds of one arm)
and the copy spread (the same over the copies of one arm and seed), so a difference can be read
beside the noise between seeds and between a run's copies.

``--results FILE.jsonl`` appends every scenario's result as it is measured and reuses the results
already in the file (same checkpoint file, step, episodes and seed), so arms trained in different
sessions are evaluated once and summarised together. With ``--results`` and no ``--checkpoint`` it
only summarises the file's results for ``--episodes`` and ``--seed`` (no checkpoint is read).

    python benchmarks/humanoid_latent_claim.py --checkpoint F [F ...] [--episodes 20] [--seed 0]
        [--reference proprio] [--results FILE.jsonl]
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from humanoid_terrain_sweep import terrain_overrides
from markdown_table import MarkdownTable

from clrl.agents.evaluation import (
    begin_policy_benchmark,
    held_out_factor_scenarios,
    loaded_policies,
    policy_benchmark_parser,
    roll_out,
)
from clrl.cli import run_command
from clrl.errors import UserError

#: The ``eval.scenarios`` of configs/humanoid.yaml the claim is measured on, besides the factor rows.
NAMED_SCENARIOS = ("flat", "stairs_up_10cm", "slope_up_15deg", "held_out_flat", "held_out_terrain")

#: Gentler shapes than the targets' (which a policy at a walking budget may fail on alike), where arms
#: can differ: name -> (terrain type, step height in m or slope in degrees).
GENTLER_TERRAIN = {"stairs_up_6cm": ("stairs_up", 0.06), "slope_up_10deg": ("slope_up", 10.0)}

#: The summary's scenario order: the terrain from gentle to the targets', then the held-out sets.
SUMMARY_ORDER = (
    "flat",
    "stairs_up_6cm",
    "stairs_up_10cm",
    "slope_up_10deg",
    "slope_up_15deg",
    "held_out_flat",
    "held_out_terrain",
)

#: What each summary row reports: (result field, column label, format).
FALLS = ("fall_rate", "fall rate", "{:.2f}")
TRACKING = ("lin_tracking_error", "lin err (m/s)", "{:.3f}")
DISTANCE = ("distance_m", "distance (m)", "{:.2f}")


def claim_scenarios(settings: dict[str, Any], env_config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Scenario name -> ``{held_out, env_overrides}``: the named ones, the gentler terrain, then one held-out
    factor at a time."""
    scenarios = {name: settings["scenarios"][name] for name in NAMED_SCENARIOS}
    for name, (kind, value) in GENTLER_TERRAIN.items():
        scenarios[name] = {"held_out": False, "env_overrides": terrain_overrides(kind, value)}
    for name, scenario in held_out_factor_scenarios(env_config).items():
        if name != "training_dynamics" and not name.startswith("all_held_out"):
            scenarios[f"factor_{name}"] = scenario
    return scenarios


def arm_and_seed(config: dict[str, Any]) -> tuple[str, int]:
    """A checkpoint's arm (its ``agent.latent``) and training seed."""
    return str(config["agent"]["latent"]), int(config["seed"])


def summary_metrics(scenario: str) -> list[tuple[str, str, str]]:
    """The summary rows of a scenario: (result field, label, format) each."""
    if scenario == "flat":
        return [TRACKING, FALLS]
    if scenario.startswith("slope") or scenario.startswith("stairs"):
        return [FALLS, DISTANCE]
    if scenario.startswith("factor_"):  # most single factors topple no arm: how well it still tracks
        return [FALLS, TRACKING]
    return [FALLS]


def read_results(path: Path | None) -> list[dict[str, Any]]:
    if path is None or not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not a results file of this benchmark (JSON lines): {error}") from None


def measured_key(row: dict[str, Any]) -> tuple[str, int, int, int]:
    return (row["checkpoint"], row["checkpoint_step"], row["episodes"], row["eval_seed"])


def summary_rows(results: list[dict[str, Any]], reference: str) -> tuple[MarkdownTable, list[list[str]]]:
    """The summary table: per scenario and metric, each arm's mean over its seeds and each seed's value
    (the mean over that seed's copies), the differences from ``reference`` (:func:`paired_difference`),
    the seed spread and the copy spread (the largest max - min over the copies of one arm and seed)."""
    copies: dict[tuple[str, str], dict[str, dict[int, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    scenarios: list[str] = []
    for row in results:
        if row["scenario"] not in scenarios:
            scenarios.append(row["scenario"])
        for field, _, _ in summary_metrics(row["scenario"]):
            copies[row["scenario"], field][row["arm"]][row["seed"]].append(row[field])
    arms = sorted({row["arm"] for row in results}, key=lambda arm: (arm != reference, arm))
    others = [arm for arm in arms if arm != reference]
    columns = ["scenario", "metric", *arms]
    if reference in arms:
        columns += [f"{arm} - {reference}" for arm in others]
    columns += ["seed spread", "copy spread"]
    table = MarkdownTable(columns, "ll" + "r" * (len(columns) - 2))
    rows = []
    scenarios.sort(
        key=lambda name: SUMMARY_ORDER.index(name) if name in SUMMARY_ORDER else len(SUMMARY_ORDER)
    )
    for scenario in scenarios:
        for field, label, style in summary_metrics(scenario):
            by_copy = copies[scenario, field]
            by_arm = {
                arm: {seed: float(np.mean(values)) for seed, values in by_copy[arm].items()} for arm in arms
            }
            means = {arm: float(np.mean(list(by_arm[arm].values()))) for arm in arms if by_arm[arm]}
            cells = [scenario, label]
            for arm in arms:
                seeds = by_arm[arm]
                listed = " / ".join(style.format(seeds[seed]) for seed in sorted(seeds))
                cells.append(f"{style.format(means[arm])} ({listed})" if seeds else "-")
            if reference in arms:
                for arm in others:
                    cells.append(paired_difference(by_arm[arm], by_arm[reference]))
            seed_spreads = [max(s.values()) - min(s.values()) for s in by_arm.values() if len(s) > 1]
            copy_spreads = [max(c) - min(c) for s in by_copy.values() for c in s.values() if len(c) > 1]
            for spreads in (seed_spreads, copy_spreads):  # "-": one seed per arm, one copy per seed
                cells.append(f"{max(spreads):.3f}" if spreads else "-")
            rows.append(cells)
    return table, rows


def paired_difference(arm: dict[int, float], reference: dict[int, float]) -> str:
    """The difference of the arm's mean from the reference's and, where they share more than one
    seed, the difference within each shared seed: a claim that holds has the same sign in every seed."""
    if not arm or not reference:
        return "-"
    cell = f"{np.mean(list(arm.values())) - np.mean(list(reference.values())):+.3f}"
    shared = sorted(arm.keys() & reference.keys())
    if len(shared) > 1:
        cell += " (" + " / ".join(f"{arm[seed] - reference[seed]:+.3f}" for seed in shared) + ")"
    return cell


def main(argv: list[str] | None = None) -> None:
    parser = policy_benchmark_parser(__doc__.splitlines()[0], episodes=20, seed=0, per="scenario")
    parser.add_argument("--reference", default="proprio", help="the arm the others are compared with")
    parser.add_argument("--results", type=Path, help="JSON lines: append each result, reuse those in it")
    args = parser.parse_args(argv)
    settings = begin_policy_benchmark()
    results = read_results(args.results)
    if args.checkpoint is None and args.results is not None:
        print_summary(results, args.episodes, args.seed, args.reference)
        return
    measured = {(measured_key(row), row["scenario"]) for row in results}
    evaluated: set[tuple[str, int, int, int]] = set()
    table = MarkdownTable(
        ["policy (env steps)", "arm", "seed", "scenario", "fall rate", "lin err", "distance"], "llrlrrr"
    )
    table.print_header()
    for policy in loaded_policies(args.checkpoint):
        config = policy.checkpoint.config
        arm, seed = arm_and_seed(config)
        key = (str(policy.path), policy.checkpoint.step, args.episodes, args.seed)
        evaluated.add(key)
        for name, scenario in claim_scenarios(settings, config["env"]).items():
            if (key, name) in measured:
                continue
            result, _ = roll_out(
                policy,
                settings,
                name,
                list(scenario.get("env_overrides", [])),
                args.episodes,
                args.seed,
                held_out=bool(scenario.get("held_out", False)),
            )
            row = {**asdict(result), "arm": arm, "seed": seed, "eval_seed": args.seed}
            results.append(row)
            if args.results is not None:
                with args.results.open("a") as file:
                    file.write(json.dumps(row) + "\n")
            table.print_row(
                policy.label,
                arm,
                seed,
                name,
                f"{result.fall_rate:.2f}",
                f"{result.lin_tracking_error:.3f}",
                f"{result.distance_m:.2f}",
            )
    print_summary(
        [row for row in results if measured_key(row) in evaluated], args.episodes, args.seed, args.reference
    )


def print_summary(results: list[dict[str, Any]], episodes: int, seed: int, reference: str) -> None:
    """The summary table of the results measured with ``episodes`` per scenario from ``seed``."""
    chosen = [row for row in results if row["episodes"] == episodes and row["eval_seed"] == seed]
    if not chosen:
        raise UserError(f"no results of {episodes} episodes per scenario from seed {seed} to summarise")
    copies: dict[tuple[str, int], set[str]] = defaultdict(set)
    for row in chosen:
        copies[row["arm"], row["seed"]].add(f"{Path(row['checkpoint']).name} ({row['checkpoint_step']:,})")
    summary, rows = summary_rows(chosen, reference)
    print(
        f"\n{episodes} episodes per scenario, episode i reset with seed {seed} + i; copies per arm and seed:"
    )
    for (arm, training_seed), names in sorted(copies.items()):
        print(f"- {arm}, seed {training_seed}: {', '.join(sorted(names))}")
    print()
    summary.print_header()
    for cells in rows:
        summary.print_row(*cells)


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))  # a bad checkpoint or results file: one error line
