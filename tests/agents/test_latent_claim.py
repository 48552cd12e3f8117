"""``benchmarks/humanoid_latent_claim.py`` (issue 23, item 7): scenarios, summary and reused results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark

from clrl.agents.evaluation import loaded_policies, parse_scenarios, policy_scenario
from clrl.agents.training import CHECKPOINT_NAME
from clrl.cli import run_command
from clrl.config import load_config

latent_claim = load_benchmark("humanoid_latent_claim")


def result_row(scenario: str, arm: str, seed: int, fall_rate: float, **fields: object) -> dict[str, object]:
    row = {
        "scenario": scenario,
        "episodes": 20,
        "fall_rate": fall_rate,
        "lin_tracking_error": 0.1,
        "distance_m": 5.0,
        "checkpoint": f"{arm}_{seed}.pt",
        "checkpoint_step": 1000,
        "arm": arm,
        "seed": seed,
        "eval_seed": 0,
    }
    return {**row, **fields}


def test_summary_gives_seed_means_differences_from_the_reference_and_the_seed_spread() -> None:
    results = [
        result_row("held_out_flat", "proprio", 0, 0.2),
        result_row("held_out_flat", "proprio", 1, 0.4),
        result_row("held_out_flat", "contrastive", 0, 0.1),
        result_row("held_out_flat", "contrastive", 1, 0.15),
        result_row("slope_up_15deg", "proprio", 0, 0.0, distance_m=6.0),
        result_row("slope_up_15deg", "contrastive", 0, 0.5, distance_m=2.0),
    ]
    table, rows = latent_claim.summary_rows(results, "proprio")
    assert table.columns == [
        "scenario",
        "metric",
        "proprio",
        "contrastive",
        "contrastive - proprio",
        "seed spread",
        "copy spread",
    ]
    # the terrain comes before the held-out set in the summary, whatever the order measured
    # one seed per arm on the slope: no spread to show beside the differences
    assert rows[:2] == [
        ["slope_up_15deg", "fall rate", "0.00 (0.00)", "0.50 (0.50)", "+0.500", "-", "-"],
        ["slope_up_15deg", "distance (m)", "6.00 (6.00)", "2.00 (2.00)", "-4.000", "-", "-"],
    ]
    assert rows[2] == [
        "held_out_flat",
        "fall rate",
        "0.30 (0.20 / 0.40)",
        "0.12 (0.10 / 0.15)",
        "-0.175 (-0.100 / -0.250)",  # within seed 0, within seed 1
        "0.200",
        "-",
    ]


def test_claim_scenarios_are_the_targets_terrain_gentler_terrain_and_each_held_out_factor_alone() -> None:
    config = load_config("humanoid")
    scenarios = latent_claim.claim_scenarios(config["eval"], config["env"])
    assert list(scenarios)[:5] == list(latent_claim.NAMED_SCENARIOS)
    factors = [name for name in scenarios if name.startswith("factor_")]
    assert "factor_action_delay" in factors and "factor_pushes" in factors
    assert len(factors) == len(scenarios) - len(latent_claim.NAMED_SCENARIOS) - len(
        latent_claim.GENTLER_TERRAIN
    )
    settings = {**config["eval"], "scenarios": scenarios}
    built = {
        scenario.name: scenario.env_config["terrain"] for scenario in parse_scenarios(settings, config["env"])
    }
    assert built["stairs_up_6cm"]["types"] == ["stairs_up"] and built["stairs_up_6cm"]["step_height"] == [
        0.06,
        0.06,
    ]
    assert built["slope_up_10deg"]["slope_degrees"] == [10.0, 10.0]
    assert not any(scenario.get("held_out") for name, scenario in scenarios.items() if name in factors)
    assert scenarios["held_out_flat"]["held_out"] and not scenarios["flat"]["held_out"]


def test_policy_scenario_draws_from_the_held_out_set_when_asked(tiny_run: Path) -> None:
    settings = load_config("humanoid")["eval"]
    (policy,) = loaded_policies([str(tiny_run / CHECKPOINT_NAME)])
    assert not policy_scenario(policy, settings, "flat", []).held_out
    assert policy_scenario(policy, settings, "flat", [], held_out=True).held_out


def test_results_already_in_the_file_are_reused_not_measured_again(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tiny_run / CHECKPOINT_NAME
    (policy,) = loaded_policies([str(checkpoint)])
    config = load_config("humanoid")
    names = latent_claim.claim_scenarios(config["eval"], policy.checkpoint.config["env"])
    step = policy.checkpoint.step
    rows = [
        result_row(name, "contrastive", 0, 0.25, checkpoint=str(checkpoint), checkpoint_step=step, episodes=3)
        for name in names
    ]
    results = tmp_path / "claim.jsonl"
    results.write_text("".join(json.dumps(row) + "\n" for row in rows))
    latent_claim.main(["--checkpoint", str(checkpoint), "--episodes", "3", "--results", str(results)])
    output = capsys.readouterr().out
    assert results.read_text().count("\n") == len(rows)  # nothing measured, nothing appended
    assert "| held_out_flat | fall rate | 0.25 (0.25) | - | - |" in output


def test_results_alone_are_summarised_and_copies_of_a_seed_averaged(tmp_path: Path, capsys) -> None:
    results = tmp_path / "claim.jsonl"
    rows = [result_row("flat", "proprio", 0, 0.0), result_row("flat", "contrastive", 0, 0.0)]
    rows.append(result_row("flat", "contrastive", 1, 0.0, episodes=10))  # another episode count: left out
    rows.append(result_row("flat", "proprio", 0, 0.5, checkpoint="copy.pt"))  # a second copy of seed 0
    results.write_text("".join(json.dumps(row) + "\n" for row in rows))
    latent_claim.main(["--results", str(results), "--episodes", "20"])
    output = capsys.readouterr().out.strip().splitlines()
    assert "- proprio, seed 0: copy.pt (1,000), proprio_0.pt (1,000)" in output
    assert output[-4] == (
        "| scenario | metric | proprio | contrastive | contrastive - proprio | seed spread | copy spread |"
    )
    assert output[-2:] == [
        "| flat | lin err (m/s) | 0.100 (0.100) | 0.100 (0.100) | +0.000 | - | 0.000 |",
        "| flat | fall rate | 0.25 (0.25) | 0.00 (0.00) | -0.250 | - | 0.500 |",
    ]
    assert run_command(latent_claim.main, ["--results", str(results), "--episodes", "5"]) == 1
    assert "no results of 5 episodes per scenario from seed 0" in capsys.readouterr().err
