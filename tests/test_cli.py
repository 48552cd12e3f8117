"""Command lines: help, one-line errors with exit code 2 for bad arguments."""

import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120)


def test_train_help_lists_the_four_jobs():
    result = run("clrl.train", "--help")
    assert result.returncode == 0
    for job in ("cube", "sokoban", "humanoid", "vision"):
        assert job in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("clrl.train", "chess"),
        ("clrl.evaluate", "chess"),
        ("clrl.solve", "chess"),
        ("clrl.train", "cube", "no_such_key=1"),
        ("clrl.train", "cube", "train.lr=fast"),
        ("clrl.train", "cube", "--steps", "many"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args):
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error:")
    assert "Traceback" not in result.stderr


def test_solve_and_evaluate_help():
    for module in ("clrl.solve", "clrl.evaluate"):
        assert run(module, "--help").returncode == 0
