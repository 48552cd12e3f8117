"""One humanoid training run, timed in rounds on command: the training rows of
``benchmarks/humanoid_throughput.py`` start one of these per row and let them take turns.

It runs the real ``python -m clrl.train humanoid`` code path (``clrl.agents.training.train`` with
the shipped config plus the given ``key=value`` overrides, into a temporary run dir) of whichever
``clrl`` Python imports, so the same file times this tree and, with ``PYTHONPATH`` set to an older
checkout, the code before a change. After the first PPO update (warm-up: env construction, Numba
and the first rollout) it prints ``ready`` and the folder of the ``clrl``
package that runs, then, each time a line ``go`` arrives on stdin,
trains at least ``--steps`` more environment steps (whole rollouts and their updates) and prints
one JSON line: steps, wall seconds (in all, and in rollouts), CPU seconds of this process in
rollouts and in updates, CPU seconds of the updates' main thread alone (with
``train.update_threads`` above 1 the other threads run beside it; OpenMP's idle threads sleep, so
its CPU time is its busy time), CPU seconds of its descendants (the env worker processes, read
from ``/proc``). ``stop`` ends the run. While it waits for ``go`` its processes sleep, so rows
timed in turn do not share the CPU.

    python benchmarks/humanoid_training_rounds.py --steps 4096 [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Stop(Exception):
    """Raised from inside the training loop when the benchmark says ``stop``."""


def descendants_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of the live descendants of process ``root`` (Linux ``/proc``)."""
    parents, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    total = 0.0
    for pid in cpu:
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor != root:
            ancestor = parents.get(ancestor)
        if ancestor == root:
            total += cpu[pid]
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4096, help="environment steps per round (at least)")
    parser.add_argument("overrides", nargs="*", help="config overrides, key=value")
    args = parser.parse_args(argv)

    from clrl.agents import training
    from clrl.agents.ppo import LatentPPO
    from clrl.config import load_config

    me = os.getpid()
    protocol = sys.stdout
    sys.stdout = sys.stderr  # stdout carries the protocol; the trainer's own lines go to stderr

    def emit(line: str) -> None:
        protocol.write(line + "\n")
        protocol.flush()

    rollout_cpu, rollout_wall, update_main_cpu = [0.0], [0.0], [0.0]
    collect, update = LatentPPO.collect_rollouts, LatentPPO.train
    state: dict[str, float] = {}

    def start_round(model: LatentPPO) -> None:
        command = sys.stdin.readline().strip()
        if command != "go":
            raise Stop(command)
        rollout_cpu[0] = rollout_wall[0] = update_main_cpu[0] = 0.0
        state.update(
            steps=model.num_timesteps,
            wall=time.perf_counter(),
            cpu=time.process_time(),
            workers=descendants_cpu_seconds(me),
        )

    def timed_collect(self: LatentPPO, *a, **k):  # noqa: ANN002, ANN003, ANN202
        begin, begin_wall = time.process_time(), time.perf_counter()
        try:
            return collect(self, *a, **k)
        finally:
            rollout_cpu[0] += time.process_time() - begin
            rollout_wall[0] += time.perf_counter() - begin_wall

    def timed_update(self: LatentPPO) -> None:
        begin = time.thread_time()
        update(self)
        update_main_cpu[0] += time.thread_time() - begin
        if not state:  # the first update ends the warm-up
            emit(f"ready {Path(training.__file__).resolve().parents[1]}")  # the tree that runs
            start_round(self)
        elif self.num_timesteps - state["steps"] >= args.steps:
            cpu = time.process_time() - state["cpu"]
            result = {
                "steps": self.num_timesteps - state["steps"],
                "wall": time.perf_counter() - state["wall"],
                "rollout_wall": rollout_wall[0],
                "rollout_cpu": rollout_cpu[0],
                "update_cpu": cpu - rollout_cpu[0],
                "update_main_cpu": update_main_cpu[0],
                "workers_cpu": descendants_cpu_seconds(me) - state["workers"],
                "load": os.getloadavg()[0],
            }
            emit(json.dumps(result))
            start_round(self)

    LatentPPO.collect_rollouts = timed_collect  # type: ignore[method-assign]
    LatentPPO.train = timed_update  # type: ignore[method-assign]
    # no videos, no checkpoints inside the timed rounds
    config = load_config(
        "humanoid", None, ["train.video_every=0", f"train.checkpoint_every={10**12}", *args.overrides]
    )
    with tempfile.TemporaryDirectory(prefix="humanoid_rounds_") as run_dir:
        try:
            training.train("humanoid", config, run_dir=Path(run_dir), steps=10**12, resume=False)
        except Stop:
            pass


if __name__ == "__main__":
    main()
