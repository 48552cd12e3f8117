"""``python -m clrl.agents.compare``: the Markdown table of runs at equal env steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from clrl.agents.compare import main as compare_main
from clrl.cli import run_command


def test_a_row_per_run_with_the_chosen_scalars(tiny_run: Path, capsys):
    assert (
        compare_main([str(tiny_run), "--tags", "charts/fall_rate", "charts/no_such_tag", "--window", "99"])
        == 0
    )
    header, rule, row = capsys.readouterr().out.strip().splitlines()[-3:]
    assert header == "| run | variant | fall rate | charts/no_such_tag |"
    assert rule == "|---|---|---:|---:|"
    (events,) = [EventAccumulator(str(path)) for path in tiny_run.glob("events.out.tfevents.*")]
    events.Reload()
    falls = np.mean([event.value for event in events.Scalars("charts/fall_rate")])
    variant = "contrastive/mlp, clock adaptive, seed 0"
    assert row == f"| {tiny_run.name} | {variant} | {falls:.3g} | - |"


def test_a_folder_without_events_is_one_error_line(tmp_path: Path, capsys):
    assert run_command(compare_main, [str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"error: no TensorBoard events in {tmp_path}"]


def test_reaches_gives_the_first_step_at_or_below_the_threshold(tiny_run: Path, capsys):
    (events,) = [EventAccumulator(str(path)) for path in tiny_run.glob("events.out.tfevents.*")]
    events.Reload()
    falls = [(event.step, event.value) for event in events.Scalars("charts/fall_rate")]
    lowest = min(value for _, value in falls)
    first = next(step for step, value in falls if value <= lowest)
    argv = [str(tiny_run), "--tags", "charts/fall_rate", "--reaches", f"charts/fall_rate<={lowest}"]
    argv += ["--reaches", f"charts/fall_rate<={lowest - 1}"]
    assert compare_main(argv) == 0
    header, _, row = capsys.readouterr().out.strip().splitlines()[-3:]
    columns = [f"first step with charts/fall_rate <= {threshold:g}" for threshold in (lowest, lowest - 1)]
    assert header.endswith(" | ".join(columns) + " |")
    assert row.endswith(f"| {first:,} | not by {falls[-1][0]:,} |")


def test_a_malformed_reaches_is_one_error_line(tiny_run: Path, capsys):
    assert run_command(compare_main, [str(tiny_run), "--reaches", "eval/flat/lin_tracking_error=0.15"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: --reaches takes TAG<=VALUE")
