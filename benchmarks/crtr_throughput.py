"""CRTR training throughput: optimizer steps/s for the puzzle configs, and where the time goes.

For each model size it times the full training step (fresh Numba trajectories, featurize, forward,
CRTR loss, backward, Adam) and the data part alone, with 1 and 2 torch threads and the encoder in
float32 and in bfloat16 autocast (``train.precision``), all in one run; each row is the median of
``--repeats`` timings taken in turns with the other precision's.

    python benchmarks/crtr_throughput.py [--steps 30] [--threads 1 2] [--precision float32 bfloat16]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time

import numpy as np
import torch

from clrl.config import load_config
from clrl.crtr.model import build_model
from clrl.losses.crtr import crtr_loss
from clrl.precision import AutocastForward
from clrl.runs import cpu_model

SIZES = [(256, 2), (512, 2), (1024, 4)]


def time_steps(job: str, config: dict, steps: int, data_only: bool, precision: str = "float32") -> float:
    task, encoder = build_model(job, config)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=3e-4)
    forward = AutocastForward(encoder, precision)
    rng = np.random.default_rng(0)
    data = config["data"]

    def step() -> None:
        anchors, futures = task.sample_batch(
            rng, data["batch_size"], data["repetition_factor"], data["gamma"]
        )
        inputs = task.featurize(np.concatenate([anchors, futures]))
        if data_only:
            return
        anchor_latents, future_latents = forward(inputs).chunk(2)
        loss = crtr_loss(anchor_latents, future_latents, similarity=config["loss"]["similarity"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--job", default="cube", choices=["cube"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3, help="timings per row, taken in turns; median")
    formats = ["float32", "bfloat16"]
    parser.add_argument("--precision", nargs="+", default=formats, choices=formats)
    parser.add_argument("--sizes", nargs="+", default=[f"{w}x{b}" for w, b in SIZES], help="width x blocks")
    args = parser.parse_args()
    config = load_config(args.job)
    versions = f"torch {torch.__version__}, Python {platform.python_version()}"
    print(f"Machine: {os.cpu_count()} cores, {cpu_model()}, {versions}")
    print(f"Command: python {shlex.join(sys.argv)}  (batch {config['data']['batch_size']})\n")
    print("| model (width x blocks) | torch threads | precision | steps/s | data only (batches/s) |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        width, blocks = (int(part) for part in size.split("x"))
        config["model"].update(width=width, blocks=blocks)
        for threads in args.threads:
            torch.set_num_threads(threads)
            data = time_steps(args.job, config, args.steps, data_only=True)
            # the precisions take turns, so a change in machine load reaches every row alike
            timings = {precision: [] for precision in args.precision}
            for _ in range(args.repeats):
                for precision in args.precision:
                    timings[precision].append(
                        time_steps(args.job, config, args.steps, data_only=False, precision=precision)
                    )
            for precision, rates in timings.items():
                full = float(np.median(rates))
                row = f"| {width} x {blocks} | {threads} | {precision} | {full:.1f} | {data:.0f} |"
                print(row, flush=True)


if __name__ == "__main__":
    main()
