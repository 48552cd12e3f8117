"""``python -m clrl.train JOB [--config F] [--steps N] [--run-dir DIR] [--resume] [key=value ...]``.

Each job lives in its own module, which provides
``train(job, config, *, run_dir, steps, resume, given) -> None``. ``--steps`` counts optimizer steps for
the puzzles and vision, environment steps for the humanoid.

``--resume`` continues the run in ``--run-dir`` (default: the newest in ``runs/JOB``) under the
config it saved. The keys this command line sets (``key=value``, ``--steps``, the keys of
``--config F``) may change how far it trains, how often it logs, evaluates, saves and records
video, and its learning rate (:data:`clrl.config.RESUMABLE_KEYS`; the humanoid also its ``ppo:``
section, env count, processes, threads and device: :data:`clrl.config.JOB_RESUMABLE_KEYS`); it
prints what changed. A change to any other key is refused with one line and exit code 2.

``torchrun --nproc_per_node N -m clrl.train cube|sokoban|vision ...`` trains one model on N
processes (several machines with ``--nnodes``): see :mod:`clrl.distributed`. The humanoid trains in
one process only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from clrl import distributed
from clrl.cli import OneLineParser, import_job_module, job_parser, run_command
from clrl.config import given_keys, load_config
from clrl.errors import UserError
from clrl.runs import make_run_dir

TRAINERS = {
    "cube": ("clrl.crtr.train", "CRTR encoder for the Rubik's Cube (configs/cube.yaml)"),
    "sokoban": ("clrl.crtr.train", "CRTR encoder for Sokoban (configs/sokoban.yaml)"),
    "humanoid": (
        "clrl.agents.training",
        "PPO humanoid with contrastive privileged latent (configs/humanoid.yaml)",
    ),
    "vision": ("clrl.vision.train", "contrastive losses on image benchmarks (configs/vision.yaml)"),
}
#: The jobs ``torchrun`` can spread over several processes.
DATA_PARALLEL = ("cube", "sokoban", "vision")


def build_parser() -> OneLineParser:
    parser = job_parser("python -m clrl.train", "Train", TRAINERS)
    parser.add_argument("--steps", type=int, help="optimizer steps (puzzles, vision) or env steps (humanoid)")
    parser.add_argument(
        "--run-dir", type=Path, help="TensorBoard events and checkpoints (default runs/JOB/<time>)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the run dir's last checkpoint")
    return parser


def latest_run_dir(job: str) -> Path:
    runs = sorted(p for p in (Path("runs") / job).glob("*") if p.is_dir())
    if not runs:
        raise UserError(f"--resume found no earlier run in runs/{job}; pass --run-dir")
    return runs[-1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_intermixed_args(argv)
    if args.steps is not None and args.steps <= 0:
        parser.error(f"--steps must be positive, got {args.steps}")
    if distributed.launched_world_size() > 1 and args.job not in DATA_PARALLEL:
        parser.error(f"{args.job} trains in one process; run it without torchrun")
    config = load_config(args.job, args.config, args.overrides)
    module_name, _ = TRAINERS[args.job]
    module = import_job_module(module_name, f"training for {args.job!r}")
    with distributed.session(config.get("device", "auto")):
        run_dir = None
        if distributed.is_main():  # one run dir for all ranks, even when named after the time
            given = args.run_dir if args.run_dir is not None or not args.resume else latest_run_dir(args.job)
            run_dir = make_run_dir(args.job, given)
        run_dir = distributed.from_main(run_dir)
        # with --resume, the keys the command line set are laid over the run's saved config
        asked = given_keys(args.config, args.overrides)
        module.train(args.job, config, run_dir=run_dir, steps=args.steps, resume=args.resume, given=asked)
    return 0


def entry_point() -> None:
    code = run_command(main, None)
    if distributed.launched_world_size() > 1:
        # A rank that has saved, left its process group and printed its last line can still be
        # killed by SIGABRT ("terminate called without an active exception") while the interpreter
        # shuts down gloo's threads, which turns a clean stop (130) into a crash; nothing is left to
        # finalise, so the rank leaves without that shutdown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


if __name__ == "__main__":
    entry_point()
