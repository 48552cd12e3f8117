"""Compare humanoid training runs at equal environment steps, as a Markdown table.

``python -m clrl.agents.compare RUN_DIR [RUN_DIR ...] [--at-steps N] [--window W]`` reads each run's
TensorBoard events and its checkpoint's config and prints, per run, the mean of the last ``W``
logged values at or before step ``N`` (default: the largest step all runs reached) of the episodic
return, episode length, fall rate, contrastive accuracy and steps/s (or of the scalars given with
``--tags``, e.g. ``charts/fall_rate_stairs_up curriculum/level_slope_up``), with the machine
and the exact command above the table. ``--reaches TAG<=VALUE`` (repeatable) adds a column with the
first env step at which a scalar was at most ``VALUE``, e.g. how many steps each run took to track
flat ground within 0.15 m/s: ``--reaches eval/flat/lin_tracking_error<=0.15``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from clrl.agents.checkpointing import read_agent
from clrl.agents.training import CHECKPOINT_NAME
from clrl.cli import run_command
from clrl.errors import UserError
from clrl.runs import cpu_model

COLUMNS = {
    "charts/episodic_return": "return",
    "charts/episode_length": "episode length",
    "charts/fall_rate": "fall rate",
    "losses/contrastive_accuracy": "InfoNCE acc.",
    "charts/SPS": "steps/s",
}


def scalar_series(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of every event file in ``run_dir`` as ``tag -> [(step, value), ...]`` sorted by step."""
    series: dict[str, list[tuple[int, float]]] = {}
    files = sorted(run_dir.glob("events.out.tfevents.*"))
    if not files:
        raise UserError(f"no TensorBoard events in {run_dir}")
    for path in files:
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            series.setdefault(tag, []).extend((e.step, e.value) for e in accumulator.Scalars(tag))
    return {tag: sorted(values) for tag, values in series.items()}


def window_mean(values: list[tuple[int, float]], at_steps: int, window: int) -> float | None:
    upto = [value for step, value in values if step <= at_steps]
    return float(np.mean(upto[-window:])) if upto else None


def first_step_at_most(values: list[tuple[int, float]], threshold: float) -> str:
    """The first step whose value is at most ``threshold``, or ``not by <last step>``."""
    for step, value in values:
        if value <= threshold:
            return f"{step:,}"
    return f"not by {values[-1][0]:,}" if values else "-"


def parse_reaches(item: str) -> tuple[str, float]:
    """``TAG<=VALUE`` -> ``(TAG, VALUE)``."""
    tag, separator, value = item.partition("<=")
    try:
        threshold = float(value)
    except ValueError:
        threshold = None
    if not tag or not separator or threshold is None:
        raise UserError(f"--reaches takes TAG<=VALUE, e.g. eval/flat/lin_tracking_error<=0.15, got {item!r}")
    return tag, threshold


def describe(run_dir: Path) -> str:
    """``latent/encoder, clock, [mirror,] seed`` from the run's checkpoint config (``?`` without one)."""
    checkpoint_path = run_dir / CHECKPOINT_NAME
    if not checkpoint_path.is_file():
        return "?"
    config = read_agent(checkpoint_path).config
    agent = config["agent"]
    encoder = "" if agent["latent"] == "proprio" else f"/{agent['history_encoder']}"
    mirror = ", mirror" if config["ppo"].get("mirror_augmentation") else ""
    return f"{agent['latent']}{encoder}, clock {config['env']['clock']}{mirror}, seed {config['seed']}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clrl.agents.compare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run directories of python -m clrl.train humanoid")
    parser.add_argument("--at-steps", type=int, help="compare at this env step (default: common maximum)")
    parser.add_argument("--window", type=int, default=5, help="logged values averaged (default 5)")
    parser.add_argument("--tags", nargs="+", default=list(COLUMNS), help="TensorBoard scalars to compare")
    parser.add_argument(
        "--reaches",
        action="append",
        default=[],
        metavar="TAG<=VALUE",
        help="also the first env step at which TAG was at most VALUE (repeatable)",
    )
    args = parser.parse_args(argv)
    reaches = [parse_reaches(item) for item in args.reaches]
    runs = {run: scalar_series(run) for run in args.runs}
    reached = [
        max(step for step, _ in series["charts/SPS"]) for series in runs.values() if "charts/SPS" in series
    ]
    at_steps = args.at_steps if args.at_steps is not None else min(reached, default=0)
    print(f"Machine: {os.cpu_count()} cores, {cpu_model()}")
    print(f"Command: python -m clrl.agents.compare {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"Values: mean of the last {args.window} logged values at or before env step {at_steps}.\n")
    columns = [COLUMNS.get(tag, tag) for tag in args.tags]
    columns += [f"first step with {tag} <= {threshold:g}" for tag, threshold in reaches]
    print("| run | variant | " + " | ".join(columns) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for run, series in runs.items():
        cells = []
        for tag in args.tags:
            value = window_mean(series.get(tag, []), at_steps, args.window)
            cells.append("-" if value is None else f"{value:.3g}")
        cells += [first_step_at_most(series.get(tag, []), threshold) for tag, threshold in reaches]
        print(f"| {run.name} | {describe(run)} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))
