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

import numba
import numpy as np

from clrl.envs.cube import MOVE_PERMUTATIONS, apply_moves, children, random_states, random_walk_trajectories
from clrl.envs.cube import kernels as cube_kernels


def best_seconds(function: Callable[[], object], repeats: int) -> float:
    function()  # compile / load from cache, warm the caches
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return min(timings)


def numpy_per_state_moves(states: np.ndarray, moves: np.ndarray, out: np.ndarray) -> None:
    """The straightforward reference: one fancy-index gather per state in a Python loop."""
    for i in range(len(states)):
        out[i] = states[i][MOVE_PERMUTATIONS[moves[i]]]


def numpy_batched_moves(states: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """The best plain-NumPy version: one gather over the whole batch."""
    return np.take_along_axis(states, MOVE_PERMUTATIONS[moves], axis=1)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


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

    rows: list[tuple[str, str, float, str]] = []  # (what, threads, per second, unit)

    small = states[: args.numpy_states]
    seconds = best_seconds(lambda: numpy_per_state_moves(small, moves[: len(small)], out[: len(small)]),
                           max(1, args.repeats // 2))
    numpy_loop_rate = len(small) / seconds
    rows.append(("NumPy, per-state loop (`state[perm]`)", "1", numpy_loop_rate, "moves/s"))
    seconds = best_seconds(lambda: numpy_batched_moves(states, moves), args.repeats)
    rows.append(("NumPy, one batched gather (`take_along_axis`)", "1", args.states / seconds, "moves/s"))

    seconds = best_seconds(lambda: cube_kernels.apply_moves_kernel(states, moves, out), args.repeats)
    serial_rate = args.states / seconds
    rows.append(("Numba `apply_moves`, serial kernel", "1", serial_rate, "moves/s"))
    parallel_rates = {}
    for threads in thread_counts:
        numba.set_num_threads(threads)
        seconds = best_seconds(lambda: apply_moves(states, moves, out=out), args.repeats)
        parallel_rates[threads] = args.states / seconds
        rows.append(("Numba `apply_moves`, parallel kernel", str(threads), parallel_rates[threads],
                     "moves/s"))

    parents = states[: args.states // 12]
    for threads in thread_counts:
        numba.set_num_threads(threads)
        seconds = best_seconds(lambda: children(parents), args.repeats)
        rows.append(("Numba `children` (12 per state)", str(threads), 12 * len(parents) / seconds, "moves/s"))

    generated = args.trajectories * (args.length + 1)
    for threads in thread_counts:
        numba.set_num_threads(threads)
        seconds = best_seconds(lambda: random_walk_trajectories(rng, args.trajectories, args.length),
                               args.repeats)
        rows.append((f"`random_walk_trajectories` (length {args.length}, incl. RNG)", str(threads),
                     generated / seconds, "states/s"))

    command = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable), *sys.argv])
    print("## Cube kernel throughput\n")
    print(f"- machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, Numba {numba.__version__} (threading layer {numba.threading_layer()})")
    print(f"- load average when it finished: {os.getloadavg()[0]:.1f} (other jobs share these cores)")
    print(f"- command: `{command}`")
    print(f"- batch: {args.states:,} states for the kernels, {args.numpy_states:,} for the per-state loop; "
          f"best of {args.repeats} timings\n")
    print("| what | threads | throughput | unit | vs NumPy per-state |")
    print("|---|---:|---:|---|---:|")
    for what, threads, rate, unit in rows:
        ratio = f"{rate / numpy_loop_rate:,.0f}x" if unit == "moves/s" else ""
        print(f"| {what} | {threads} | {rate / 1e6:,.2f} M | {unit} | {ratio} |")
    if len(parallel_rates) == 2:
        speed_up = parallel_rates[2] / parallel_rates[1]
        print(f"\n2-thread / 1-thread speed-up of `apply_moves`: {speed_up:.2f}x")


if __name__ == "__main__":
    main()
