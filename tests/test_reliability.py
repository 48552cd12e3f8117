"""Reliability (issue 26): no non-finite weights are ever saved or called good, damaged checkpoints
are refused, every refusal is one line with the documented exit code, a resumed run logs each step
once, SIGTERM saves, and batch input with a byte-order mark or a bad line is handled row by row.

Runs are tiny (a 32-wide cube encoder, a few steps) and go through the real command lines in this
process (``run_command``), which is what ``python -m clrl.train`` calls.
"""

from __future__ import annotations

import errno
import json
import math
import os
import signal
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from clrl.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, shipped_checkpoint
from clrl.cli import json_line, run_command
from clrl.crtr.model import CHECKPOINT_NAME
from clrl.solve import main as solve_main
from clrl.train import main as train_main

#: A cube run of a few seconds: a 32-wide encoder, batch 32, evaluation only at the end and small.
TINY_CUBE = (
    "device=cpu",
    "model.width=32",
    "model.blocks=1",
    "model.latent_dim=8",
    "data.batch_size=32",
    "data.trajectory_length=6",
    "train.log_every=1",
    "train.eval_every=1000",
    "eval.trajectories=4",
    "eval.greedy_puzzles=2",
    "eval.greedy_scramble=2",
    "eval.greedy_max_moves=4",
    "eval.nearer_child_states=2",
    "eval.nearer_child_max_distance=2",
)
SOLVED = "UUUUUUUUURRRRRRRRRFFFFFFFFFDDDDDDDDDLLLLLLLLLBBBBBBBBB"
AFTER_R = "UUFUUFUUFRRRRRRRRRFFDFFDFFDDDBDDBDDBLLLLLLLLLUBBUBBUBB"


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_cube(run_dir: Path, steps: int, *overrides: str, resume: bool = False) -> int:
    argv = ["cube", "--steps", str(steps), "--run-dir", str(run_dir), *TINY_CUBE, *overrides]
    return run_command(train_main, argv + (["--resume"] if resume else []))


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The command's stderr, asserted to be one ``error:`` line and no traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:") or "Traceback" in line]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


def all_finite(state) -> bool:
    return all(torch.isfinite(value).all() for value in state.values())


# ------------------------------------------------------------------- non-finite weights are never saved


def test_a_state_with_nan_is_never_written_and_the_old_file_stays(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    good = {"weights": torch.ones(3), "optimizer": {"state": {0: {"exp_avg_sq": torch.ones(3)}}}}
    save_checkpoint(path, job="cube", step=1, config={}, state=good)
    before = path.read_bytes()
    diverged = {
        "weights": torch.ones(3),
        "optimizer": {"state": {0: {"exp_avg_sq": torch.tensor([1, math.inf, 1])}}},
    }
    with pytest.raises(CheckpointError, match=r"optimizer\.state\.0\.exp_avg_sq \(1 of 3 values\)"):
        save_checkpoint(path, job="cube", step=2, config={}, state=diverged)
    with pytest.raises(CheckpointError, match="not finite"):
        save_checkpoint(
            path, job="cube", step=2, config={}, state={"weights": torch.ones(1)}, packed=[math.nan]
        )
    assert path.read_bytes() == before


def test_a_nan_checkpoint_written_by_older_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, job="cube", step=1, config={}, state={"weights": torch.ones(3)})
    payload = torch.load(path, weights_only=True)
    del payload["digest"]
    payload["state"]["weights"][1] = math.nan
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="non-finite"):
        load_checkpoint(path)


@pytest.mark.parametrize("learning_rate", [".inf", ".nan", "0", "-1e-3"])
def test_a_learning_rate_that_is_not_a_positive_number_exits_2(
    learning_rate: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train_cube(tmp_path, 1, f"train.lr={learning_rate}") == 2
    assert "train.lr must be" in one_error_line(capsys)
    assert not (tmp_path / CHECKPOINT_NAME).exists()


@pytest.mark.parametrize(
    ("nan_step", "kept"),
    [(1, "none saved"), (3, "the last good checkpoint is {path} (step 2)")],
)
def test_a_step_to_nan_weights_stops_and_names_only_a_finite_checkpoint(
    nan_step: int,
    kept: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An Adam step turns the weights to NaN after a finite loss (what an infinite update does): the
    run stops there, saves nothing non-finite, and names a checkpoint only if one was saved."""
    real_step = torch.optim.Adam.step
    steps_taken = []

    def step_to_nan(self, closure=None):
        result = real_step(self, closure)
        steps_taken.append(1)
        if len(steps_taken) == nan_step:
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(math.nan)
        return result

    monkeypatch.setattr(torch.optim.Adam, "step", step_to_nan)
    path = tmp_path / CHECKPOINT_NAME
    assert train_cube(tmp_path, 10, "train.checkpoint_every=1") == 1
    error = one_error_line(capsys)
    assert f"step {nan_step} made the weights non-finite: encoder." in error
    assert kept.format(path=path) in error
    if nan_step == 1:
        assert not path.exists()
    else:
        saved = load_checkpoint(path, job="cube")
        assert saved.step == 2 and all_finite(saved.state["encoder"])


# ------------------------------------------------------------------------------ damaged checkpoints


def flip_bytes_in_tensor_data(path: Path, marker: torch.Tensor) -> None:
    """Overwrite the bytes of ``marker`` (a tensor saved in the file) where they lie in the file."""
    data = bytearray(path.read_bytes())
    needle = marker.numpy().tobytes()
    offset = data.find(needle)
    assert offset >= 0, "the tensor's bytes are stored uncompressed"
    data[offset : offset + 64] = bytes(b ^ 0x01 for b in data[offset : offset + 64])  # still finite floats
    path.write_bytes(bytes(data))


def test_flipped_bytes_in_tensor_data_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    marker = torch.arange(4096, dtype=torch.float32)
    save_checkpoint(path, job="cube", step=1, config={}, state={"encoder": {"weight": marker}})
    load_checkpoint(path, job="cube")  # intact: loads
    flip_bytes_in_tensor_data(path, marker)
    with pytest.raises(CheckpointError, match=f"checkpoint {path} is damaged"):
        load_checkpoint(path, job="cube")


def test_a_file_without_digest_still_loads_even_when_damaged(tmp_path: Path) -> None:
    """Files written before checkpoints carried a digest (those shipped in clrl/pretrained/) load
    unchecked: there is nothing to check them against."""
    load_checkpoint(shipped_checkpoint("sokoban.pt"), job="sokoban")  # shipped before digests existed
    path = tmp_path / "shipped_style.pt"
    marker = torch.arange(4096, dtype=torch.float32)
    save_checkpoint(path, job="cube", step=1, config={}, state={"encoder": {"weight": marker}})
    payload = torch.load(path, weights_only=True)
    del payload["digest"]
    torch.save(payload, path)
    flip_bytes_in_tensor_data(path, marker)
    loaded = load_checkpoint(path, job="cube")
    assert not torch.equal(loaded.state["encoder"]["weight"], marker)


def test_damaged_checkpoint_is_one_line_from_the_solve_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "checkpoint.pt"
    assert train_cube(tmp_path, 1) == 0
    saved = load_checkpoint(path, job="cube")
    flip_bytes_in_tensor_data(path, saved.state["encoder"]["stem.weight"].flatten()[:16])
    capsys.readouterr()
    argv = ["cube", "--state", AFTER_R, "--planner", "greedy", "--checkpoint", str(path), "--json"]
    assert run_command(solve_main, argv) == 1
    assert "is damaged" in one_error_line(capsys)


# --------------------------------------------------------------------------------- JSON output


def test_json_rows_write_non_finite_numbers_as_null(capsys: pytest.CaptureFixture[str]) -> None:
    from clrl.crtr.evaluate import emit
    from clrl.crtr.solve import print_record

    assert json_line({"a": math.nan, "b": [math.inf, 1.5], "c": {"d": -math.inf}}) == (
        '{"a": null, "b": [null, 1.5], "c": {"d": null}}'
    )
    emit({"suite": "heldout trajectories", "metric": "spearman", "value": math.nan}, True)
    print_record({"solved": False, "seconds": math.nan}, True)
    for line in capsys.readouterr().out.splitlines():
        assert "NaN" not in line
        json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


# ------------------------------------------------------------- bad values: one line and exit code 2


@pytest.mark.parametrize(
    ("job", "override", "message"),
    [
        ("cube", "train.steps=-5", "train.steps must be at least 1"),
        ("cube", "model.width=0", "model.width must be at least 1"),
        ("cube", "model.blocks=0", "model.blocks must be at least 1"),
        ("cube", "model.latent_dim=0", "model.latent_dim must be at least 1"),
        ("cube", "data.batch_size=0", "data.batch_size must be at least 1"),
        ("cube", "model.width=1000000000000", "make it smaller"),
        ("cube", "model.width=100000", "would have at least 4e+10 parameters"),
        ("sokoban", "model.channels=0", "model.channels must be at least 1"),
        ("vision", "train.lr=.nan", "train.lr must be a finite number"),
        ("vision", "model.channels=0", "model.channels must be at least 1"),
        ("humanoid", "env.control_hz=0", "env.control_hz must be positive"),
        ("humanoid", "agent.actor_hidden=[0]", "agent.actor_hidden must list layer sizes"),
        ("humanoid", "agent.critic_hidden=[1000000, 1000000]", "make it smaller"),
    ],
)
def test_bad_values_exit_2_with_one_line(
    job: str, override: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the humanoid's default vec env starts worker processes: the check must come before them
    argv = [job, "--steps", "1", "--run-dir", str(tmp_path), override]
    assert run_command(train_main, argv) == 2
    assert message in one_error_line(capsys)
    assert not list(tmp_path.rglob("*.pt"))


def test_zero_steps_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train_main(["cube", "--steps", "0", "--run-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--steps must be positive" in one_error_line(capsys)


# ------------------------------------------------------------------- the run dir refuses to be written


def test_a_run_dir_that_cannot_be_created_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert train_cube(blocker / "run", 1) == 1
    assert "cannot create the run dir" in one_error_line(capsys)


def test_a_full_disk_keeps_the_last_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert train_cube(tmp_path, 2) == 0
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()

    def disk_full(path, data) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr("clrl.checkpoint.atomic_write_bytes", disk_full)
    capsys.readouterr()
    assert train_cube(tmp_path, 4, resume=True) == 1
    error = one_error_line(capsys)
    assert "No space left on device" in error and "the previous checkpoint.pt is kept" in error
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before


def test_events_that_cannot_be_written_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TensorBoard writes from a thread and reports a full disk at the next call, anywhere in the loop."""
    from torch.utils.tensorboard import SummaryWriter

    def disk_full(self, *args, **kwargs) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(SummaryWriter, "add_scalar", disk_full)
    assert train_cube(tmp_path, 2) == 1
    assert "No space left on device" in one_error_line(capsys)


# ------------------------------------------------------------------------------ huge Sokoban levels


def test_a_huge_level_is_refused_by_the_learned_planners(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size = 200
    rows = [list("#" * size)] + [list("#" + " " * (size - 2) + "#") for _ in range(size - 2)]
    rows += [list("#" * size)]
    rows[1][1], rows[2][2], rows[2][3] = "@", "$", "."
    levels = tmp_path / "huge.txt"
    levels.write_text("; 0\n" + "\n".join("".join(row) for row in rows) + "\n")
    assert run_command(solve_main, ["sokoban", "--levels", str(levels), "--planner", "bestfs"]) == 1
    assert "200x200 level is too large for the learned planners" in one_error_line(capsys)


# -------------------------------------------------------------- resume logs every step once (TensorBoard)


def scalar_steps_after_purges(run_dir: Path) -> list[tuple[str, int]]:
    """``(tag, step)`` of every scalar TensorBoard shows: a session start with ``step`` S (what
    ``purge_step`` writes) drops the steps >= S logged before it, as TensorBoard does."""
    files = [EventFileLoader(str(path)).Load() for path in run_dir.glob("events.out.tfevents.*")]
    events = sorted((event for file in files for event in file), key=lambda event: event.wall_time)
    shown: list[tuple[str, int]] = []
    for event in events:
        if event.HasField("session_log") and event.session_log.status == event.session_log.START:
            shown = [(tag, step) for tag, step in shown if step < event.step]
        for value in event.summary.value:
            if value.HasField("simple_value") or value.metadata.plugin_data.plugin_name == "scalars":
                shown.append((value.tag, event.step))
    return shown


def test_resume_after_a_kill_logs_each_step_once(tmp_path: Path) -> None:
    """A run killed after logging steps 3-4 but before saving them resumes from step 2 and logs 3-4
    again: the older 3-4 must be purged."""
    assert train_cube(tmp_path, 2) == 0
    checkpoint_at_2 = (tmp_path / CHECKPOINT_NAME).read_bytes()
    assert train_cube(tmp_path, 4, resume=True) == 0
    (tmp_path / CHECKPOINT_NAME).write_bytes(checkpoint_at_2)  # the kill: steps 3-4 never saved
    assert train_cube(tmp_path, 4, resume=True) == 0
    shown = scalar_steps_after_purges(tmp_path)
    losses = sorted(step for tag, step in shown if tag == "losses/crtr_loss")
    assert losses == [1, 2, 3, 4]
    assert len(shown) == len(set(shown)), "a (tag, step) pair is shown twice"


# ----------------------------------------------- resume applies what may change and refuses the rest


def test_resume_applies_the_changes_it_allows_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train_cube(tmp_path, 2) == 0
    capsys.readouterr()
    assert train_cube(tmp_path, 4, "train.log_every=2", "train.lr=1e-4", resume=True) == 0
    out = capsys.readouterr().out
    assert f"resuming {tmp_path} from step 2; changed: " in out
    for change in ("train.steps 2 -> 4", "train.lr 0.0003 -> 0.0001", "train.log_every 1 -> 2"):
        assert change in out
    saved = load_checkpoint(tmp_path / CHECKPOINT_NAME, job="cube")
    assert (saved.config["train"]["log_every"], saved.config["train"]["lr"]) == (2, 1e-4)
    assert all(group["lr"] == 1e-4 for group in saved.state["optimizer"]["param_groups"])
    losses = sorted(step for tag, step in scalar_steps_after_purges(tmp_path) if tag == "losses/crtr_loss")
    assert losses == [1, 2, 4], "the resumed part logs every 2nd step"


def test_resume_refuses_a_change_to_what_the_run_is_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train_cube(tmp_path, 2) == 0
    files = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    capsys.readouterr()
    assert train_cube(tmp_path, 4, "model.width=64", "seed=1", "train.log_every=2", resume=True) == 2
    error = one_error_line(capsys)
    assert "model.width=32 (given 64)" in error and "seed=0 (given 1)" in error
    assert "log_every" not in error.split("may change only")[0], "a key that may change is not named"
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == files


def test_resume_without_overrides_keeps_the_saved_config_and_a_config_file_is_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run was made with the TINY_CUBE overrides: a resume that repeats none of them is still
    that run (the defaults are not asked for), and ``--config F`` is held to F's own keys."""
    assert train_cube(tmp_path, 2) == 0
    resume = ["cube", "--run-dir", str(tmp_path), "--resume"]
    assert run_command(train_main, [*resume, "--steps", "3"]) == 0
    assert f"resuming {tmp_path} from step 2; changed: train.steps 2 -> 3\n" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME, job="cube").config["model"]["width"] == 32
    same_model = tmp_path / "same_model.yaml"
    same_model.write_text("model:\n  width: 32\ntrain:\n  eval_every: 500\n")
    assert run_command(train_main, [*resume, "--steps", "4", "--config", str(same_model)]) == 0
    assert "changed: train.steps 3 -> 4, train.eval_every 1000 -> 500\n" in capsys.readouterr().out
    other_model = tmp_path / "other_model.yaml"
    other_model.write_text("model:\n  width: 64\n")
    assert run_command(train_main, [*resume, "--steps", "5", "--config", str(other_model)]) == 2
    assert "model.width=32 (given 64)" in one_error_line(capsys)


def test_the_humanoid_logger_purges_after_the_resumed_step(tmp_path: Path) -> None:
    from clrl.agents.training import PurgingTensorBoardOutput

    output = PurgingTensorBoardOutput(tmp_path, resumed_step=64)
    output.write({"charts/SPS": 1.0}, {"charts/SPS": None}, step=96)
    output.close()
    (events,) = [list(EventFileLoader(str(path)).Load()) for path in tmp_path.glob("events.out.*")]
    starts = [event.step for event in events if event.HasField("session_log")]
    assert starts == [65]


# ------------------------------------------------------------------ the humanoid says what it does


HUMANOID_TINY = (
    "train.vec_env=dummy",
    "train.n_envs=2",
    "ppo.n_steps=16",
    "ppo.batch_size=32",
    "ppo.n_epochs=1",
    "train.checkpoint_every=32",
    "train.video_every=0",
    "env.episode_seconds=0.4",
)


def test_humanoid_prints_its_start_saves_and_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tmp_path / "checkpoints" / "last.pt"
    argv = ["humanoid", "--run-dir", str(tmp_path), *HUMANOID_TINY]
    assert run_command(train_main, [*argv, "--steps", "32"]) == 0
    out = capsys.readouterr().out
    assert f"training humanoid into {tmp_path}" in out and f"saved step 32 to {checkpoint}" in out
    assert run_command(train_main, [*argv, "--steps", "64", "--resume", "ppo.clip_range=0.1"]) == 0
    out = capsys.readouterr().out
    assert f"resuming {tmp_path} from step 32; changed: " in out
    assert "ppo.clip_range 0.2 -> 0.1" in out and "train.steps 32 -> 64" in out
    assert f"saved step 64 to {checkpoint}" in out


# ------------------------------------------------------------------------ the vision trainer too


VISION_TINY = ("loss=simclr", "dataset=digits", "threads=1", "train.batch_size=64", "train.eval_every=100")


def test_vision_sigterm_saves_and_resume_says_from_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_step = torch.optim.AdamW.step
    steps_taken = []

    def terminated_on_third_step(self, closure=None):
        result = real_step(self, closure)
        steps_taken.append(1)
        if len(steps_taken) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return result

    monkeypatch.setattr(torch.optim.AdamW, "step", terminated_on_third_step)
    argv = ["vision", "--run-dir", str(tmp_path), "--steps", "20", *VISION_TINY]
    assert run_command(train_main, argv) == 130
    err = capsys.readouterr().err
    assert "interrupted: saved step 2 to" in err  # the third step is stopped before it counts
    assert load_checkpoint(tmp_path / "checkpoint.pt", job="vision").step == 2
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)
    assert run_command(train_main, [*argv, "--resume"]) == 0
    out = capsys.readouterr().out
    assert f"resuming {tmp_path} from step 2" in out and "(step 20)" in out


# --------------------------------------------------------------------------------- batch input


def test_a_byte_order_mark_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from clrl.envs.sokoban.levels import load_levels

    states = tmp_path / "states.txt"
    states.write_text(f"{AFTER_R}\n{SOLVED}\n", encoding="utf-8-sig")
    argv = ["cube", "--states-file", str(states), "--planner", "kociemba", "--json"]
    assert run_command(solve_main, argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["solved"] for row in rows] == [True, True]
    level = tmp_path / "level.txt"
    level.write_text("; 0\n#####\n#@$.#\n#####\n", encoding="utf-8-sig")
    assert load_levels(level)[0].num_boxes == 1
