"""Humanoid environment throughput: raw MuJoCo physics of the candidate models, control steps/s of
``clrl/Humanoid-v0`` in one process and in SB3's SubprocVecEnv, beside Gymnasium's ``Humanoid-v5``.

Prints a Markdown table with the machine and the command. All figures come from one run, so ratios
compare like with like on a shared machine; each figure is the best of ``--repeats`` timings.

    python benchmarks/humanoid_throughput.py [--steps 2000] [--workers 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import gymnasium as gym
import mujoco
import numpy as np

import clrl.envs  # noqa: F401  (registers clrl/Humanoid-v0)
from clrl.config import load_config
from clrl.envs.humanoid import HumanoidEnv
from clrl.envs.humanoid.robots import locomotion_assets


class Row(NamedTuple):
    what: str
    processes: int
    rate: float  # steps per wall-clock second
    unit: str


def best_rate(run: Callable[[], int], repeats: int) -> float:
    """Best steps/s over ``repeats`` calls of ``run`` (which returns the number of steps it took)."""
    run()  # warm up (compilation caches, first reset)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        steps = run()
        rates.append(steps / (time.perf_counter() - start))
    return max(rates)


def physics_rate(model: mujoco.MjModel, keyframe: int, steps: int, repeats: int) -> float:
    data = mujoco.MjData(model)

    def run() -> int:
        mujoco.mj_resetDataKeyframe(model, data, keyframe)
        for _ in range(steps):
            mujoco.mj_step(model, data)
        return steps

    return best_rate(run, repeats)


def env_config(robot: str, terrain: str) -> dict:
    config = copy.deepcopy(load_config("humanoid")["env"])
    config["robot"] = robot
    if terrain != "mixed":
        config["terrain"].update(types=[terrain], weights=[1.0])
    return config


def single_env_rate(make: Callable[[], gym.Env], steps: int, repeats: int) -> float:
    env = make()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.3, 0.3, (steps, *env.action_space.shape)).astype(np.float32)

    def run() -> int:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return steps

    rate = best_rate(run, repeats)
    env.close()
    return rate


def make_humanoid(robot: str, terrain: str) -> Callable[[], gym.Env]:
    return lambda: HumanoidEnv(env_config(robot, terrain))


def make_gymnasium_humanoid() -> gym.Env:
    return gym.make("Humanoid-v5")


def subproc_rate(make: Callable[[], gym.Env], workers: int, steps: int, repeats: int) -> float:
    from stable_baselines3.common.vec_env import SubprocVecEnv

    vec = SubprocVecEnv([make for _ in range(workers)], start_method="fork")
    vec.seed(0)
    vec.reset()
    rng = np.random.default_rng(0)
    batches = max(1, steps // workers)
    actions = rng.uniform(-0.3, 0.3, (batches, workers, *vec.action_space.shape)).astype(np.float32)

    def run() -> int:
        for action in actions:
            vec.step(action)  # SubprocVecEnv resets finished episodes itself
        return batches * workers

    rate = best_rate(run, repeats)
    vec.close()
    return rate


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, MuJoCo {mujoco.__version__}, "
        f"load average {load:.1f} at start"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="control steps per timing")
    parser.add_argument("--physics-steps", type=int, default=5000, help="mj_step calls per physics timing")
    parser.add_argument("--workers", type=int, default=2, help="SubprocVecEnv worker processes")
    parser.add_argument("--repeats", type=int, default=3, help="timings per figure (best is kept)")
    args = parser.parse_args(argv)

    rows: list[Row] = []
    steps, repeats, workers = args.steps, args.repeats, args.workers
    control = "control steps/s"
    scene = locomotion_assets().parents[2] / "mujoco_menagerie/unitree_g1/scene.xml"
    menagerie_g1 = mujoco.MjModel.from_xml_path(str(scene))
    rate = physics_rate(menagerie_g1, 0, args.physics_steps, repeats)
    rows.append(Row("physics: Menagerie G1 scene.xml (all colliders, dt 2 ms)", 1, rate, "mj_step/s"))
    for robot in ("g1", "berkeley_humanoid"):
        env = HumanoidEnv(env_config(robot, "flat"))
        dt_ms = env.model.opt.timestep * 1000
        for terrain in ("flat", "rough"):
            _reset_on(env, terrain)
            rate = physics_rate_from_env(env, args.physics_steps, repeats)
            rows.append(Row(f"physics: {robot} feet-only, {terrain} (dt {dt_ms:g} ms)", 1, rate, "mj_step/s"))
    for robot, terrain in (("g1", "flat"), ("g1", "mixed"), ("berkeley_humanoid", "mixed")):
        rate = single_env_rate(make_humanoid(robot, terrain), steps, repeats)
        rows.append(Row(f"clrl/Humanoid-v0 {robot}, {terrain} terrain", 1, rate, control))
    rate = single_env_rate(make_gymnasium_humanoid, steps, repeats)
    rows.append(Row("gymnasium Humanoid-v5", 1, rate, control))
    rate = subproc_rate(make_humanoid("g1", "mixed"), workers, steps, repeats)
    rows.append(Row(f"clrl/Humanoid-v0 g1, mixed terrain, SubprocVecEnv x{workers}", workers, rate, control))
    rate = subproc_rate(make_gymnasium_humanoid, workers, steps, repeats)
    rows.append(Row(f"gymnasium Humanoid-v5, SubprocVecEnv x{workers}", workers, rate, control))

    reference = next(row.rate for row in rows if row.what == "gymnasium Humanoid-v5")
    print(f"- machine: {machine()}")
    print(f"- command: `{shlex.join([sys.executable.rsplit('/', 1)[-1], *sys.argv])}`")
    v5_ms = make_gymnasium_humanoid().unwrapped.dt * 1000
    print(
        f"- control step: 20 ms simulated for clrl/Humanoid-v0 (5 physics steps of 4 ms), {v5_ms:g} ms for v5"
    )
    print()
    print("| what | processes | throughput | unit | vs Humanoid-v5 (1 process) |")
    print("|---|---:|---:|---|---:|")
    for row in rows:
        ratio = f"{row.rate / reference:.2f}x" if row.unit == "control steps/s" else ""
        print(f"| {row.what} | {row.processes} | {row.rate:,.0f} | {row.unit} | {ratio} |")


def _reset_on(env: HumanoidEnv, terrain: str) -> None:
    """Reset ``env`` onto one terrain type at the top curriculum level."""
    env.terrain_config = dict(env.terrain_config, types=[terrain], weights=[1.0])
    env.set_terrain_level(env.terrain_config["levels"] - 1)
    env.reset(seed=0)


def physics_rate_from_env(env: HumanoidEnv, steps: int, repeats: int) -> float:
    """mj_step/s of the environment's own model standing in its current episode (PD at the nominal pose)."""
    model, data = env.model, env.data
    state = mujoco.MjData(model)
    mujoco.mj_copyData(state, model, data)

    def run() -> int:
        mujoco.mj_copyData(data, model, state)
        for _ in range(steps):
            mujoco.mj_step(model, data)
        return steps

    return best_rate(run, repeats)


if __name__ == "__main__":
    main()
