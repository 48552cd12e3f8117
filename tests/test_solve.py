"""The solve command: JSON schema, replayed solutions, invalid states rejected without stopping a file."""

import json
from pathlib import Path

import pytest

from clrl.cli import run_command
from clrl.envs.cube.facelets import parse_facelets
from clrl.envs.cube.kernels import apply_sequence, is_solved
from clrl.envs.cube.notation import parse_moves
from clrl.solve import main

SOLVED = "UUUUUUUUURRRRRRRRRFFFFFFFFFDDDDDDDDDLLLLLLLLLBBBBBBBBB"
AFTER_R = "UUFUUFUUFRRRRRRRRRFFDFFDFFDDDBDDBDDBLLLLLLLLLUBBUBBUBB"
TWISTED = "UUUUUUUUBRRRRRRRRRFFFFFFFFFDDDDDDDDDLLLLLLLLLBBBBBBBBU"  # two stickers swapped


def solve(capsys, *argv):
    code = run_command(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def records(out):
    return [json.loads(line) for line in out.splitlines()]


def assert_solves(record):
    moves = parse_moves(record["solution"])
    state = apply_sequence(parse_facelets(record["state"])[None], moves)
    assert record["solved"] and is_solved(state)[0] and record["length"] == len(moves)


def test_json_schema_and_replay(capsys):
    code, out, _ = solve(capsys, "cube", "--state", AFTER_R, "--planner", "handcrafted", "--json")
    (record,) = records(out)
    assert code == 0
    assert {"state", "solved", "solution", "length", "nodes_expanded", "seconds"} <= record.keys()
    assert record["solution"] == "R'"
    assert_solves(record)


def test_states_file_keeps_going_past_an_invalid_state(capsys, tmp_path):
    states = tmp_path / "states.txt"
    states.write_text(f"{AFTER_R}\n{TWISTED}\n{SOLVED}\n")
    code, out, err = solve(capsys, "cube", "--states-file", str(states), "--planner", "kociemba", "--json")
    assert code == 1, "an invalid state makes the exit code non-zero"
    first, invalid, last = records(out)  # a row for every line, so a batch reader sees which failed
    assert [r["line"] for r in (first, invalid, last)] == [1, 2, 3]
    assert invalid["state"] == TWISTED and not invalid["solved"] and invalid["error"]
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err
    for record in (first, last):
        assert_solves(record)


def test_invalid_state_is_one_line_and_nonzero(capsys):
    code, out, err = solve(capsys, "cube", "--state", SOLVED[:-1] + "X", "--planner", "kociemba")
    assert code != 0 and out == "" and err.startswith("error:") and err.count("\n") == 1


def test_learned_beam_with_checkpoint_solves_a_short_scramble(capsys, tiny_checkpoint):
    # A beam as wide as the whole depth-3 ball solves any 3-move scramble whatever the heuristic:
    # this checks the checkpoint -> heuristic -> planner -> output path, not the model's skill.
    code, out, _ = solve(
        capsys,
        "cube",
        "--scramble",
        "3",
        "--seed",
        "1",
        "--checkpoint",
        str(tiny_checkpoint),
        "--planner",
        "beam",
        "--beam-width",
        "2000",
        "--budget",
        "20000",
        "--goal-radius",
        "0",
        "--json",
    )
    (record,) = records(out)
    assert code == 0 and "scramble" in record and record["nodes_expanded"] > 0
    assert record["symmetries"] == 1  # the searches read one image unless told otherwise
    assert_solves(record)


def test_greedy_says_how_many_symmetric_images_it_read(capsys, tiny_checkpoint):
    args = ["cube", "--scramble", "1", "--checkpoint", str(tiny_checkpoint), "--planner", "greedy"]
    code, out, _ = solve(capsys, *args, "--goal-radius", "0", "--budget", "20", "--symmetries", "2", "--json")
    (record,) = records(out)
    assert record["symmetries"] == 2 and record["planner"] == "greedy"
    code, out, _ = solve(capsys, *args, "--goal-radius", "1", "--budget", "20")
    assert code == 0 and "planner:  greedy on the mean of 48 symmetric images," in out


def test_default_goal_table_finishes_a_short_scramble_without_search(capsys, tiny_checkpoint):
    # 3 half-turn-metric moves are at most 6 quarter turns: inside the default radius-7 table.
    code, out, _ = solve(
        capsys,
        "cube",
        "--scramble",
        "3",
        "--checkpoint",
        str(tiny_checkpoint),
        "--planner",
        "greedy",
        "--json",
    )
    (record,) = records(out)
    assert code == 0 and record["nodes_expanded"] == 0 and record["length"] <= 6
    assert_solves(record)


def test_goal_radius_out_of_range_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["cube", "--scramble", "3", "--goal-radius", "-1"])
    err = capsys.readouterr().err
    assert exit_info.value.code != 0 and "radius" in err and err.strip().count("\n") == 0
    code, out, err = solve(capsys, "cube", "--scramble", "3", "--planner", "kociemba", "--goal-radius", "8")
    assert code != 0 and out == "" and "radius" in err and err.count("\n") == 1


def test_missing_checkpoint_is_a_clear_error(capsys, tmp_path):
    code, _, err = solve(capsys, "cube", "--scramble", "3", "--checkpoint", str(tmp_path / "none.pt"))
    assert code == 1 and "does not exist" in err


def test_sokoban_json_from_a_level_file(capsys, tmp_path):
    level = tmp_path / "level.txt"
    level.write_text("; 0\n#######\n#@ $ .#\n#######\n")
    code, out, _ = solve(capsys, "sokoban", "--levels", str(level), "--json")
    (record,) = records(out)
    assert code == 0 and record["index"] == 0 and record["solution"] == "rRR" and record["length"] == 3


def test_levels_file_keeps_going_past_a_malformed_level(capsys, tmp_path):
    level = "#######\n#@ $ .#\n#######\n"
    levels = tmp_path / "levels.txt"
    levels.write_text(f"; 0\n{level}\n; 1\n{level.replace('.', 'X')}\n; 2\n{level}")
    code, out, err = solve(capsys, "sokoban", "--levels", str(levels), "--json")
    assert code == 1, "a malformed level makes the exit code non-zero"
    first, malformed, last = records(out)  # a row for every level, so a batch reader sees which failed
    assert [r["index"] for r in (first, malformed, last)] == [0, 1, 2]
    assert first["solved"] and last["solved"] and first["solution"] == last["solution"] == "rRR"
    assert (
        not malformed["solved"] and "level 1, line 8, column 6: unknown character 'X'" in malformed["error"]
    )
    assert {"solution", "length", "nodes_expanded", "seconds"} <= malformed.keys()
    assert err.count("\n") == 1 and err.startswith("error:") and "Traceback" not in err
    code, out, err = solve(capsys, "sokoban", "--levels", str(levels))
    assert code == 1 and out.count("rRR (3 moves)") == 2 and err.count("\n") == 1


def test_default_planner_falls_back_to_kociemba_and_says_so(capsys, tiny_checkpoint):
    code, out, _ = solve(
        capsys, "cube", "--scramble", "20", "--checkpoint", str(tiny_checkpoint), "--budget", "64", "--json"
    )
    (record,) = records(out)
    assert code == 0 and record["planner"] == "kociemba"
    assert record["failed_attempts"][0]["planner"] == "beam"
    assert_solves(record)


def test_a_named_planner_reports_its_own_failure(capsys, tiny_checkpoint):
    code, out, _ = solve(
        capsys,
        "cube",
        "--scramble",
        "20",
        "--checkpoint",
        str(tiny_checkpoint),
        "--planner",
        "beam",
        "--budget",
        "64",
        "--json",
    )
    (record,) = records(out)
    assert code == 1 and not record["solved"] and record["planner"] == "beam" and record["solution"] == ""


def test_checkpoint_names_a_shipped_file_or_a_path(tmp_path):
    from clrl.crtr.model import pretrained_path, resolve_checkpoint

    assert resolve_checkpoint("cube", None) == pretrained_path("cube")
    assert resolve_checkpoint("cube", Path("sokoban")) == pretrained_path("sokoban")
    local = tmp_path / "sokoban"  # a file of that name where the user is wins over the shipped one
    local.write_bytes(b"")
    assert resolve_checkpoint("cube", local) == local
    assert resolve_checkpoint("cube", Path("runs/x/checkpoint.pt")) == Path("runs/x/checkpoint.pt")
