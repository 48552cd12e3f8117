"""python -m clrl.evaluate cube: rows for every suite and planner, with the documented fields."""

import json

from clrl.cli import run_command
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
    ]
    assert run_command(main, argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["metric"] == "spearman" and -1 <= rows[0]["value"] <= 1
    planners = {row["planner"]: row for row in rows[1:]}
    assert set(planners) == {"beam", "handcrafted", "kociemba"}
    for row in planners.values():
        assert {"suite", "solve_rate", "mean_length", "mean_nodes", "seconds_per_puzzle"} <= row.keys()
        assert row["puzzles"] == 2
    assert planners["kociemba"]["solve_rate"] == 1.0
    assert planners["beam"]["mean_nodes"] <= 40 + 8, "beam search stays within its node budget"
    assert planners["beam"]["goal_radius"] == 7 and planners["kociemba"]["goal_radius"] == 0
    assert "| scramble20 | kociemba |" in table.read_text()
    assert "| scramble20 | beam (width 8, goal table r7) |" in table.read_text()
