"""python -m clrl.evaluate cube: rows for every suite and planner, with the documented fields."""

import json
import math

from clrl.cli import run_command
from clrl.crtr.model import pretrained_path
from clrl.evaluate import main


def test_cube_evaluation_json_rows(capsys, tiny_checkpoint, tmp_path):
    table = tmp_path / "table.md"
    argv = [
        "cube",
        "--checkpoint",
        str(tiny_checkpoint),
        "--count",
        "2",
        "--json",
        "--out",
        str(table),
        "benchmark.planners=[beam, handcrafted, kociemba]",
        "benchmark.suites=[scramble20]",
        "benchmark.beam_width=8",
        "benchmark.budget.beam=40",
        "benchmark.budget.handcrafted=30",
        "benchmark.spearman_trajectories=4",
        "benchmark.symmetries.beam=2",
    ]
    assert run_command(main, argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["metric"] == "spearman" and math.isfinite(rows[0]["value"])
    planners = {row["planner"]: row for row in rows[1:]}
    assert set(planners) == {"beam", "handcrafted", "kociemba"}
    for row in planners.values():
        assert {"suite", "solve_rate", "mean_length", "mean_nodes", "seconds_per_puzzle"} <= row.keys()
        assert row["puzzles"] == 2
    assert planners["kociemba"]["solve_rate"] == 1.0
    assert planners["beam"]["mean_nodes"] <= 40 + 8, "beam search stays within its node budget"
    assert planners["beam"]["goal_radius"] == 7 and planners["kociemba"]["goal_radius"] == 0
    assert "| scramble20 | kociemba |" in table.read_text()
    assert planners["beam"]["symmetries"] == 2 and planners["kociemba"]["symmetries"] is None
    assert "| scramble20 | beam (width 8, goal table r7, mean of 2 symmetric images) |" in table.read_text()


def test_cube_evaluation_of_the_shipped_encoder_reports_a_strong_correlation(capsys):
    """Latent distance against moves-to-go on held-out 20-move walks: the shipped encoder scores
    0.8-0.9 on such samples; an encoder whose distance points away from solved scores below 0."""
    argv = ["cube", "--checkpoint", str(pretrained_path("cube")), "--count", "1", "--json"]
    overrides = ["benchmark.planners=[kociemba]", "benchmark.suites=[scramble20]"]
    assert run_command(main, [*argv, *overrides, "benchmark.spearman_trajectories=8"]) == 0
    spearman, kociemba = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert spearman["metric"] == "spearman" and spearman["value"] > 0.6, spearman
    assert kociemba["planner"] == "kociemba" and kociemba["solve_rate"] == 1.0
