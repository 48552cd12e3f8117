"""GPU check: cube, sokoban and vision training on one GPU, then under ``torchrun`` on all of them.

For each job it runs the real command (``python -m clrl.train JOB``, then ``torchrun --standalone
--nproc_per_node N -m clrl.train JOB`` through this script's worker mode, which adds the peak GPU
memory of each rank) for a few hundred steps on the job's default model and global batch, and prints
optimizer steps/s (the median of the run's ``charts/SPS`` windows after the first, so start-up and
warm-up are left out), samples/s and the peak GPU memory of the busiest rank. Without CUDA it says
so and exits 0.

    python benchmarks/gpu_check.py [--steps 300] [--jobs cube sokoban vision] [--gpus N]

``--cpu`` runs the same pipeline on the CPU with two gloo processes (a dry run of this script; its
figures are not GPU figures).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

#: Overrides that keep each job's model and batch but make its evaluation short and its data small.
JOB_OVERRIDES = {
    "cube": [
        "eval.trajectories=20",
        "eval.greedy_puzzles=2",
        "eval.nearer_child_states=5",
        "eval.nearer_child_max_distance=3",
    ],
    "sokoban": ["data.generated_levels=300", "eval.trajectories=10", "eval.greedy_puzzles=2"],
    "vision": ["train.checkpoint_every=100000"],
}
#: The global batch key of each job, and the rows each rank's share must be a multiple of.
BATCH = {
    "cube": ("data.batch_size", 512, 2),
    "sokoban": ("data.batch_size", 512, 2),
    "vision": ("train.batch_size", 256, 1),
}
MARK = "gpu_check:"


def worker(argv: list[str]) -> int:
    """One process of a measured run: ``clrl.train`` with ``argv``, then this rank's peak GPU memory."""
    from clrl.cli import run_command
    from clrl.train import main

    code = run_command(main, argv)
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
    print(MARK, json.dumps({"rank": int(os.environ.get("RANK", 0)), "peak_bytes": peak}), flush=True)
    return code


def steps_per_second(run_dir: Path) -> float:
    """The median ``charts/SPS`` of the run after its first logging window (warm-up)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values = [event.value for event in EventAccumulator(str(run_dir)).Reload().Scalars("charts/SPS")]
    return float(np.median(values[1:] if len(values) > 1 else values))


def measure(job: str, processes: int, steps: int, device: str, work: Path) -> dict:
    key, default, group = BATCH[job]
    batch = -(-default // (processes * group)) * processes * group  # the default, split evenly
    run_dir = work / f"{job}-{processes}"
    run_dir.mkdir(parents=True, exist_ok=True)
    cached = work / f"{job}-1" / "trajectories.npz"  # Sokoban's levels, solved once for both runs
    if processes > 1 and cached.exists():
        (run_dir / "trajectories.npz").write_bytes(cached.read_bytes())
    args = [job, "--steps", str(steps), "--run-dir", str(run_dir), f"device={device}", f"{key}={batch}"]
    args += ["train.log_every=25", "train.eval_every=100000", *JOB_OVERRIDES[job]]
    launcher = [sys.executable]
    if processes > 1:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
        ]
    command = [*launcher, __file__, "--worker", "--", *args]
    print("$", shlex.join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise SystemExit(f"{job} on {processes} process(es) failed (exit {result.returncode}):\n{tail}")
    peaks = [
        json.loads(line[len(MARK) :])["peak_bytes"]
        for line in result.stdout.splitlines()
        if line.startswith(MARK)
    ]
    sps = steps_per_second(run_dir)
    return {"job": job, "processes": processes, "batch": batch, "sps": sps, "peak_gib": max(peaks) / 2**30}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per run")
    parser.add_argument("--jobs", nargs="+", default=list(BATCH), choices=list(BATCH))
    parser.add_argument("--gpus", type=int, help="processes of the torchrun runs (default: all visible GPUs)")
    parser.add_argument("--cpu", action="store_true", help="dry run on the CPU with two gloo processes")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.worker:
        return worker([a for a in rest if a != "--"])
    if not args.cpu and not torch.cuda.is_available():
        print("no CUDA device here: nothing to check (run this on a machine with GPUs)")
        return 0
    device = "cpu" if args.cpu else "cuda"
    processes = args.gpus or (2 if args.cpu else torch.cuda.device_count())
    what = (
        "CPU (dry run, gloo)"
        if args.cpu
        else f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    )
    print(f"machine: {what}; torch {torch.__version__}; {args.steps} steps per run", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as work:
        for job in args.jobs:
            for count in sorted({1, processes}):
                rows.append(measure(job, count, args.steps, device, Path(work)))
    print("\n| job | processes | global batch | steps/s | samples/s | peak GPU memory per rank |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        memory = f"{row['peak_gib']:.2f} GiB" if not args.cpu else "-"
        print(
            f"| {row['job']} | {row['processes']} | {row['batch']} | {row['sps']:.1f} | "
            f"{row['sps'] * row['batch']:.0f} | {memory} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
