"""Cube kernel throughput: batched Numba moves (1 and 2 threads) vs NumPy, children, trajectory generation.

Prints a Markdown table with the machine and the command. All figures come from one run, so the ratios
compare like with like even on a shared machine; each figure is the best of ``--repeats`` timings.

    python benchmarks/cube_throughput.py [--states 200000] [--numpy-states 20000] [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np

from clrl.envs.cube import MOVE_PERMUTATIONS, apply_moves, children, random_states, random_walk_trajectories
from clrl.envs.cube import kernels as cube_kernels
from clrl.runs import cpu_model


class Row(NamedTuple):
    """One line of the table: throughput in items per wall-clock second and per CPU second."""

    what: str
    threads: int
    wall_rate: float
    cpu_rate: float
    unit: str


class Timing(NamedTuple):
    """Best wall-clock and best process CPU time (all threads) of repeated calls, in seconds."""

    wall: float
    cpu: float


def best_seconds(function: Callable[[], object], repeats: int) -> Timing:
    function()  # compile / load from cache, warm the caches
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timing(min(walls), min(cpus))


def numpy_per_state_moves(states: np.ndarray, moves: np.ndarray, out: np.ndarray) -> None:
    """The straightforward reference: one fancy-index gather per state in a Python loop."""
    for i in range(len(states)):
        out[i] = states[i][MOVE_PERMUTATIONS[moves[i]]]


def numpy_batched_moves(states: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """The best plain-NumPy version: one gather over the whole batch."""
    return np.take_along_axis(states, MOVE_PERMUTATIONS[moves], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=200_000, help="batch size for the Numba kernels")
    parser.add_argument("--numpy-states", type=int, default=20_000, help="states for the per-state loop")
    parser.add_argument("--trajectories", type=int, default=20_000, help="walks per trajectory batch")
    parser.add_argument("--length", type=int, default=20, help="walk length (quarter turns)")
    parser.add_argument("--repeats", type=int, default=10, help="timings per figure; the best is kept")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    states = random_states(rng, args.states, 20)
    moves = rng.integers(0, 12, size=args.states)
    out = np.empty_like(states)
    max_threads = numba.config.NUMBA_NUM_THREADS
    thread_counts = [t for t in (1, 2) if t <= max_threads]

    rows: list[Row] = []

    def measure(what: str, threads: int, items: int, unit: str, function: Callable[[], object]) -> Row:
        if "Numba" in what or "random_walk" in what:
            numba.set_num_threads(threads)
        timing = best_seconds(function, args.repeats)
        row = Row(what, threads, items / timing.wall, items / timing.cpu, unit)
        rows.append(row)
        return row

    small = states[: args.numpy_states]
    numpy_loop = measure(
        "NumPy, per-state loop (`state[perm]`)",
        1,
        len(small),
        "moves",
        lambda: numpy_per_state_moves(small, moves[: len(small)], out[: len(small)]),
    )
    measure(
        "NumPy, one batched gather (`take_along_axis`)",
        1,
        args.states,
        "moves",
        lambda: numpy_batched_moves(states, moves),
    )
    measure(
        "Numba `apply_moves`, serial kernel",
        1,
        args.states,
        "moves",
        lambda: cube_kernels.apply_moves_kernel(states, moves, out),
    )
    parallel = {
        threads: measure(
            "Numba `apply_moves`, parallel kernel",
            threads,
            args.states,
            "moves",
            lambda: apply_moves(states, moves, out=out),
        )
        for threads in thread_counts
    }
    parents = states[: args.states // 12]
    for threads in thread_counts:
        measure(
            "Numba `children` (12 per state)", threads, 12 * len(parents), "moves", lambda: children(parents)
        )
    for threads in thread_counts:
        measure(
            f"`random_walk_trajectories` (length {args.length}, incl. RNG)",
            threads,
            args.trajectories * (args.length + 1),
            "states",
            lambda: random_walk_trajectories(rng, args.trajectories, args.length),
        )

    command = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable), *sys.argv])
    print("## Cube kernel throughput\n")
    print(
        f"- machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, Numba {numba.__version__} (threading layer {numba.threading_layer()})"
    )
    print(f"- load average when it finished: {os.getloadavg()[0]:.1f} (other jobs share these cores)")
    print(f"- command: `{command}`")
    print(
        f"- batch: {args.states:,} states for the kernels, {args.numpy_states:,} for the per-state loop; "
        f"best of {args.repeats} timings. Wall: items per second of elapsed time. CPU: items per second "
        "of process CPU time summed over threads, i.e. per busy core, which time slices lost to other "
        "jobs do not dilute.\n"
    )
    print("| what | threads | wall, M/s | CPU, M/s per core | unit | CPU vs NumPy per-state |")
    print("|---|---:|---:|---:|---|---:|")
    for row in rows:
        ratio = f"{row.cpu_rate / numpy_loop.cpu_rate:,.0f}x" if row.unit == "moves" else ""
        print(
            f"| {row.what} | {row.threads} | {row.wall_rate / 1e6:,.2f} | {row.cpu_rate / 1e6:,.2f} "
            f"| {row.unit} | {ratio} |"
        )
    if len(parallel) == 2:
        print(
            f"\n2-thread / 1-thread wall speed-up of `apply_moves`: "
            f"{parallel[2].wall_rate / parallel[1].wall_rate:.2f}x"
        )


if __name__ == "__main__":
    main()
