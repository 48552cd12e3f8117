"""``python -m clrl.evaluate JOB [--checkpoint F] [--json] [--count N] [--out F] [--video F] [k=v ...]``.

Humanoid only: ``--video F`` and ``--held-out-factors``.

Each job's module provides ``evaluate(job, config, args) -> None``: it loads the checkpoint (the
shipped one in ``clrl/pretrained/`` by default), runs the benchmark and prints its table, or one JSON
object per line with ``--json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clrl.cli import OneLineParser, import_job_module, job_parser, run_command
from clrl.config import load_config

EVALUATORS = {
    "cube": ("clrl.crtr.evaluate", "planners with the learned distance on scrambled cubes"),
    "sokoban": ("clrl.crtr.evaluate", "planners with the learned distance on Boxoban levels"),
    "humanoid": ("clrl.agents.evaluation", "held-out dynamics, terrains and sim-to-sim checks"),
    "vision": ("clrl.vision.evaluate", "linear probe, kNN, OOD AUROC and Rank-N-Contrast regression"),
}
#: Jobs whose evaluation can record a rollout video and diagnose held-out factors.
HUMANOID_ONLY_JOBS = ("humanoid",)


def build_parser() -> OneLineParser:
    parser = job_parser("python -m clrl.evaluate", "Evaluate", EVALUATORS)
    parser.add_argument("--checkpoint", type=Path, help="checkpoint file (default: the shipped one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per result")
    parser.add_argument("--count", type=int, help="number of puzzles / episodes / samples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation set")
    parser.add_argument("--out", type=Path, help="also write the results table (Markdown) here")
    parser.add_argument("--video", type=Path, help="humanoid: save the first episode as this mp4")
    parser.add_argument(
        "--held-out-factors",
        action="store_true",
        help="humanoid: one held-out factor at a time, then all but one, instead of the configured scenarios",
    )
    parser.add_argument(
        "--scenarios",
        type=lambda names: names.split(","),
        metavar="NAME,NAME",
        help="humanoid: only these scenarios, in this order (comma-separated)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    if args.count is not None and args.count <= 0:
        build_parser().error(f"--count must be positive, got {args.count}")
    humanoid_flags = (
        ("--video", args.video is not None),
        ("--held-out-factors", args.held_out_factors),
        ("--scenarios", args.scenarios is not None),
    )
    for flag, given in humanoid_flags:
        if given and args.job not in HUMANOID_ONLY_JOBS:
            build_parser().error(f"{flag} is only for {', '.join(HUMANOID_ONLY_JOBS)}, not {args.job}")
    config = load_config(args.job, args.config, args.overrides)
    module_name, _ = EVALUATORS[args.job]
    module = import_job_module(module_name, f"evaluation for {args.job!r}")
    module.evaluate(args.job, config, args)
    return 0


def entry_point() -> None:
    raise SystemExit(run_command(main, None))


if __name__ == "__main__":
    entry_point()
