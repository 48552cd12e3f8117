"""Command lines: help, one-line errors with exit code 2 for bad arguments."""

import subprocess
import sys

import pytest

from clrl.cli import run_command


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


@pytest.mark.parametrize(
    "args",
    [
        ("--steps", "0"),
        ("train.steps=-5",),
        ("train.lr=.nan",),
        ("model.width=0",),
        ("model.width=1000000000000",),  # refused before a petabyte is asked for
    ],
)
def test_bad_values_exit_2_with_one_line(args, tmp_path):
    result = run("clrl.train", "cube", "--run-dir", str(tmp_path / "run"), *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error:")
    assert not list(tmp_path.rglob("*.pt"))


def test_solve_and_evaluate_help():
    for module in ("clrl.solve", "clrl.evaluate"):
        assert run(module, "--help").returncode == 0


def test_sigterm_before_any_training_is_an_interrupt_too(capsys):
    """A command stopped while it still loads or builds its tables ends like Ctrl-C, not killed."""
    import os
    import signal

    def entry(argv):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM should have interrupted the command")

    previous = signal.getsignal(signal.SIGTERM)
    assert run_command(entry, []) == 130
    assert capsys.readouterr().err == "interrupted\n"
    assert signal.getsignal(signal.SIGTERM) is previous, "the handler is the command's only"


def test_sigterm_saves_a_checkpoint_first(tmp_path):
    """``kill`` (SIGTERM) stops a run like Ctrl-C: the steps so far are saved, exit code 130."""
    import signal
    import time

    from clrl.checkpoint import load_checkpoint

    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "clrl.train", "cube", "--steps", "100000", "--run-dir", str(run_dir)]
    tiny = ["model.width=32", "model.blocks=1", "data.batch_size=32", "train.checkpoint_every=100000"]
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr_file:
        process = subprocess.Popen(command + tiny, stdout=subprocess.DEVNULL, stderr=stderr_file, text=True)
        deadline = time.monotonic() + 300  # the goal table may be built first: seconds, more when loaded
        while "train cube:" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)  # into the training loop
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    stderr = log.read_text()
    assert process.returncode == 130, stderr
    assert "interrupted: saved step" in stderr
    saved = load_checkpoint(run_dir / "checkpoint.pt", job="cube")
    assert saved.step > 0
