"""Sokoban benchmark: batched Numba step throughput vs pure Python, and the classical solver.

Prints Markdown tables with the machine and the exact command. Examples::

    python benchmarks/sokoban_throughput.py --part step
    python benchmarks/sokoban_throughput.py --part solver \
        --levels ../shared/data/boxoban/medium_valid/000.txt --budget 100000

Step part: the same random action sequence applied to N copies of Boxoban-sized levels by
(a) ``clrl.envs.sokoban.kernels.step`` on an ``(N, 10, 10)`` array, (b) a straightforward pure-Python
implementation of the same rules on lists of lists, (c) ``SokobanEnv.step`` one env at a time, and
(d) gym-sokoban if it is importable. Both (a) and (b) end in identical states, which is checked.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time

import numba
import numpy as np

from clrl.envs.sokoban.env import SokobanEnv
from clrl.envs.sokoban.generator import generate_levels
from clrl.envs.sokoban.kernels import step
from clrl.envs.sokoban.levels import load_levels
from clrl.envs.sokoban.solver import DEFAULT_BUDGET, solve
from clrl.runs import cpu_model

# Pure-Python rules on the same cell codes (wall 0, floor 1, goal 2, box 3, box on goal 4, player 5,
# player on goal 6), written the obvious way without tables.
_DELTAS = [(-1, 0), (1, 0), (0, -1), (0, 1)]


def python_step(grid: list[list[int]], action: int) -> None:
    """Apply one action in place to a list-of-lists grid."""
    r = next(i for i, row in enumerate(grid) if 5 in row or 6 in row)
    c = grid[r].index(5) if 5 in grid[r] else grid[r].index(6)
    dr, dc = _DELTAS[action]
    r1, c1, r2, c2 = r + dr, c + dc, r + 2 * dr, c + 2 * dc
    here, ahead = grid[r][c], grid[r1][c1]
    left_behind = 2 if here == 6 else 1
    if ahead in (1, 2):
        grid[r][c] = left_behind
        grid[r1][c1] = 6 if ahead == 2 else 5
    elif ahead in (3, 4):
        beyond = grid[r2][c2] if 0 <= r2 < len(grid) and 0 <= c2 < len(grid[0]) else 0
        if beyond in (1, 2):
            grid[r][c] = left_behind
            grid[r1][c1] = 6 if ahead == 4 else 5
            grid[r2][c2] = 4 if beyond == 2 else 3


def machine() -> str:
    model = cpu_model()
    return (
        f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, NumPy {np.__version__}, "
        f"Numba {numba.__version__}"
    )


def python_step_array(state: np.ndarray, action: int) -> None:
    """The same rules in pure Python on the kernel's own ``(H, W)`` uint8 array (as gym-sokoban does)."""
    ((r, c),) = np.argwhere(state >= 5)
    dr, dc = _DELTAS[action]
    r1, c1, r2, c2 = r + dr, c + dc, r + 2 * dr, c + 2 * dc
    here, ahead = state[r, c], state[r1, c1]
    left_behind = 2 if here == 6 else 1
    if ahead in (1, 2):
        state[r, c] = left_behind
        state[r1, c1] = 6 if ahead == 2 else 5
    elif ahead in (3, 4):
        beyond = state[r2, c2] if 0 <= r2 < state.shape[0] and 0 <= c2 < state.shape[1] else 0
        if beyond in (1, 2):
            state[r, c] = left_behind
            state[r1, c1] = 6 if ahead == 4 else 5
            state[r2, c2] = 4 if beyond == 2 else 3


def _best_rate(run, work: int, repeats: int) -> tuple[float, float]:
    """``(wall, cpu)`` items per second of the fastest of ``repeats`` runs.

    The CPU is shared with other jobs: the best run is the least disturbed one, and process CPU time
    does not count the slices other jobs take (all code timed here is single-threaded).
    """
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return work / best_wall, work / max(best_cpu, 1e-9)


def bench_step(
    grids: np.ndarray, num_steps: int, python_states: int, repeats: int, gym_sokoban_python: str | None
) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 4, size=(num_steps, len(grids)))
    final: dict[str, object] = {}

    def run_numba() -> None:
        states = grids.copy()
        for t in range(num_steps):
            states = step(states, actions[t])[0]
        final["numba"] = states

    def run_lists() -> None:
        lists = [g.tolist() for g in grids[:python_states]]
        for t in range(num_steps):
            for i, grid in enumerate(lists):
                python_step(grid, int(actions[t, i]))
        final["lists"] = np.array(lists, dtype=np.uint8)

    def run_arrays() -> None:
        arrays = grids[:python_states].copy()
        for t in range(num_steps):
            for i in range(len(arrays)):
                python_step_array(arrays[i], int(actions[t, i]))
        final["arrays"] = arrays

    step(grids[:1], actions[0, :1])  # compile or load from cache outside the timing
    numba_rate = _best_rate(run_numba, num_steps * len(grids), repeats)
    lists_rate = _best_rate(run_lists, num_steps * python_states, repeats)
    arrays_rate = _best_rate(run_arrays, num_steps * python_states, repeats)
    for name in ("lists", "arrays"):
        if not (final[name] == final["numba"][:python_states]).all():
            raise SystemExit(f"pure-Python ({name}) and Numba steps disagree")

    env = SokobanEnv(levels=None)
    env.reset(seed=0)
    env.step(0)  # compile or load from cache outside the timing
    count = 20_000

    def run_env() -> None:
        for t in range(count):
            env.step(int(actions[t % num_steps, t % len(grids)]))

    env_rate = _best_rate(run_env, count, repeats)
    rows = [
        (f"Numba `step`, batch {len(grids)}", *numba_rate),
        (f"pure Python, lists of lists ({python_states} states)", *lists_rate),
        (f"pure Python, the same uint8 arrays ({python_states} states)", *arrays_rate),
        ("`SokobanEnv.step` (one env, one-hot obs, rewards)", *env_rate),
    ]
    rows.extend(bench_gym_sokoban(gym_sokoban_python, repeats))
    return rows


# Runs inside a separate interpreter that has gym-sokoban (it needs the old `gym` package, which must
# not enter the project's environment). Prints two rates: rules only, and full step with the smallest
# observation it offers.
_GYM_SOKOBAN_PROBE = """
import sys, time, warnings
warnings.filterwarnings("ignore")
import gym, gym_sokoban, numpy as np
env = gym.make("Sokoban-v0").unwrapped
env.seed(0)
env.reset()
actions = [int(a) for a in np.random.default_rng(0).integers(1, 5, size=5000)]  # 1..4: push U D L R
def rules():
    for a in actions:
        env._push(a); env._calc_reward(); env._check_if_done()
def full():
    for a in actions:
        env.step(a, observation_mode="tiny_rgb_array")
for run in (rules, full):
    best_wall = best_cpu = float("inf")
    for _ in range(int(sys.argv[1])):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    print(len(actions) / best_wall, len(actions) / best_cpu)
"""


def bench_gym_sokoban(python: str | None, repeats: int) -> list[tuple[str, float, float]]:
    """gym-sokoban's own step, measured in ``python`` (an interpreter where it is installed)."""
    if python is None:
        return [("gym-sokoban: not measured (pass --gym-sokoban-python)", float("nan"), float("nan"))]
    output = subprocess.run(
        [python, "-c", _GYM_SOKOBAN_PROBE, str(repeats)], capture_output=True, text=True, check=True
    ).stdout.split()
    rates = [float(x) for x in output[-4:]]
    return [
        ("gym-sokoban 0.0.6, rules only (`_push`, reward, done)", rates[0], rates[1]),
        ("gym-sokoban 0.0.6, `step` (tiny_rgb_array observation)", rates[2], rates[3]),
    ]


def bench_solver(levels, budget: int, weight: float) -> dict:
    solve(levels[0], budget=10)  # compile or load from cache outside the timing
    results = []
    for level in levels:
        results.append(solve(level, budget=budget, weight=weight))
    solved = [r for r in results if r.solved]
    seconds = np.array([r.seconds for r in results])
    nodes = np.array([r.nodes_expanded for r in results])
    return {
        "levels": len(results),
        "solved": len(solved),
        "rate": len(solved) / len(results),
        "mean_nodes": float(nodes.mean()),
        "median_nodes": float(np.median(nodes)),
        "max_nodes": int(nodes.max()),
        "mean_s": float(seconds.mean()),
        "median_s": float(np.median(seconds)),
        "max_s": float(seconds.max()),
        "total_s": float(seconds.sum()),
        "mean_length": float(np.mean([len(r.solution) for r in solved])) if solved else float("nan"),
        "mean_pushes": float(np.mean([r.pushes for r in solved])) if solved else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["step", "solver", "all"], default="all")
    parser.add_argument("--levels", nargs="+", default=None, help="Boxoban files (default: generated levels)")
    parser.add_argument("--limit", type=int, default=None, help="first N levels only (solver part)")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--python-states", type=int, default=256)
    parser.add_argument(
        "--gym-sokoban-python", default=None, help="interpreter of a separate venv with gym-sokoban installed"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per implementation; best is kept")
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET)
    parser.add_argument("--weight", type=float, default=1.0)
    args = parser.parse_args(argv)

    if args.levels:
        levels = [level for path in args.levels for level in load_levels(path)]
    else:
        levels = generate_levels(64, seed=0)
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f} at start\n")
    print(f"Command: `python {' '.join(shlex.quote(a) for a in sys.argv)}`\n")
    if args.part in ("step", "all"):
        grids = np.stack([levels[i % len(levels)].grid for i in range(args.batch)])
        print(f"### Step throughput ({args.steps} random actions per state, best of {args.repeats} runs)\n")
        print("| implementation | steps/s (wall) | steps per CPU-second | Numba speedup (CPU) |")
        print("|---|---:|---:|---:|")
        rows = bench_step(grids, args.steps, args.python_states, args.repeats, args.gym_sokoban_python)
        numba_cpu = rows[0][2]
        for name, wall, cpu in rows:
            print(f"| {name} | {wall:,.0f} | {cpu:,.0f} | {numba_cpu / cpu:,.0f}x |")
        print()
    if args.part in ("solver", "all"):
        chosen = levels[: args.limit]
        stats = bench_solver(chosen, args.budget, args.weight)
        source = ", ".join(args.levels) if args.levels else "64 generated levels (seed 0)"
        budget = f"budget {args.budget:,} expanded push states"
        print(f"### Classical solver (A*, weight {args.weight}, {budget})\n")
        print(f"Levels: {source}, {stats['levels']} levels\n")
        print(
            "| solved | rate | nodes mean / median / max | seconds mean / median / max | total s "
            "| mean LURD length | mean pushes |"
        )
        print("|---:|---:|---|---|---:|---:|---:|")
        print(
            f"| {stats['solved']}/{stats['levels']} | {100 * stats['rate']:.1f}% | "
            f"{stats['mean_nodes']:,.0f} / {stats['median_nodes']:,.0f} / {stats['max_nodes']:,} | "
            f"{stats['mean_s']:.3f} / {stats['median_s']:.3f} / {stats['max_s']:.2f} | "
            f"{stats['total_s']:.1f} | "
            f"{stats['mean_length']:.1f} | {stats['mean_pushes']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
