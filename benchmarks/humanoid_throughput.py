"""Humanoid environment throughput: raw MuJoCo physics of the candidate models, control steps/s of
``clrl/Humanoid-v0`` in one process, in SB3's SubprocVecEnv and in this project's
BatchedSubprocVecEnv (several envs per worker process), beside Gymnasium's ``Humanoid-v5``.

Prints a Markdown table with the machine and the command. All figures come from one run, and the
timings of all rows are interleaved round by round (best of ``--repeats`` rounds each), so the
ratios compare like with like on a shared machine. Besides wall-clock rates the table gives steps
per CPU-second of the processes doing the work (the SubprocVecEnv workers and the main process),
which a busy machine disturbs much less.

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
from dataclasses import dataclass, field

import gymnasium as gym
import mujoco
import numpy as np

import clrl.envs  # noqa: F401  (registers clrl/Humanoid-v0)
from clrl.config import load_config
from clrl.envs.humanoid import HumanoidEnv
from clrl.envs.humanoid.robots import locomotion_assets
from clrl.envs.humanoid.vec_env import BatchedSubprocVecEnv
from clrl.runs import cpu_model

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class Case:
    """One row: ``run()`` takes ``steps`` steps; ``cpu()`` reads the CPU seconds of its processes."""

    what: str
    processes: int
    unit: str
    run: Callable[[], int]
    cpu: Callable[[], float] = time.process_time
    close: Callable[[], None] = lambda: None
    wall_rates: list[float] = field(default_factory=list)
    cpu_rates: list[float] = field(default_factory=list)

    def time_once(self) -> None:
        wall, cpu = time.perf_counter(), self.cpu()
        steps = self.run()
        self.wall_rates.append(steps / (time.perf_counter() - wall))
        self.cpu_rates.append(steps / max(self.cpu() - cpu, 1e-9))


def env_config(robot: str, terrain: str) -> dict:
    config = copy.deepcopy(load_config("humanoid")["env"])
    config["robot"] = robot
    if terrain != "mixed":
        config["terrain"].update(types=[terrain], weights=[1.0])
    return config


def physics_case(what: str, model: mujoco.MjModel, start: mujoco.MjData, steps: int) -> Case:
    """mj_step/s from the state ``start`` (a robot standing under PD at its nominal pose)."""
    data = mujoco.MjData(model)

    def run() -> int:
        mujoco.mj_copyData(data, model, start)
        for _ in range(steps):
            mujoco.mj_step(model, data)
        return steps

    return Case(what, 1, "mj_step/s", run)


def env_physics_case(robot: str, terrain: str, steps: int) -> Case:
    env = HumanoidEnv(env_config(robot, terrain))
    env.set_terrain_level(env.terrain_config["levels"] - 1)
    env.reset(seed=0)
    dt_ms = env.model.opt.timestep * 1000
    what = f"physics: {robot} feet-only, {terrain} (dt {dt_ms:g} ms, {env.model.nv} DoF)"
    return physics_case(what, env.model, env.data, steps)


def single_env_case(what: str, make: Callable[[], gym.Env], steps: int) -> Case:
    env = make()
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-0.3, 0.3, (steps, *env.action_space.shape)).astype(np.float32)

    def run() -> int:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return steps

    return Case(what, 1, "control steps/s", run, close=env.close)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def subproc_case(what: str, make: Callable[[], gym.Env], workers: int, steps: int, envs: int = 0) -> Case:
    """SB3's SubprocVecEnv (one env per worker) or, with ``envs``, BatchedSubprocVecEnv: ``envs``
    environments in ``workers`` processes."""
    from stable_baselines3.common.vec_env import SubprocVecEnv

    if envs:
        vec = BatchedSubprocVecEnv([make for _ in range(envs)], n_workers=workers, start_method="fork")
    else:
        vec = SubprocVecEnv([make for _ in range(workers)], start_method="fork")
    vec.seed(0)
    vec.reset()
    batches = max(1, steps // vec.num_envs)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.3, 0.3, (batches, vec.num_envs, *vec.action_space.shape)).astype(np.float32)

    def run() -> int:
        for action in actions:
            vec.step(action)  # the VecEnv resets finished episodes itself
        return batches * vec.num_envs

    def cpu() -> float:
        return time.process_time() + sum(process_cpu_seconds(p.pid) for p in vec.processes)

    return Case(what, workers, "control steps/s", run, cpu=cpu, close=vec.close)


def make_humanoid(robot: str, terrain: str) -> Callable[[], gym.Env]:
    return lambda: HumanoidEnv(env_config(robot, terrain))


def make_gymnasium_humanoid() -> gym.Env:
    return gym.make("Humanoid-v5")


def machine() -> str:
    model = cpu_model()
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
    parser.add_argument("--repeats", type=int, default=3, help="timing rounds (the best of each row is kept)")
    args = parser.parse_args(argv)
    steps, workers, physics_steps = args.steps, args.workers, args.physics_steps
    load_at_start = machine()

    scene = locomotion_assets().parents[2] / "mujoco_menagerie/unitree_g1/scene.xml"
    menagerie = mujoco.MjModel.from_xml_path(str(scene))
    menagerie_start = mujoco.MjData(menagerie)
    mujoco.mj_resetDataKeyframe(menagerie, menagerie_start, 0)
    cases = [
        physics_case(
            f"physics: Menagerie G1 scene.xml (all colliders, dt 2 ms, {menagerie.nv} DoF)",
            menagerie,
            menagerie_start,
            physics_steps,
        ),
        *(
            env_physics_case(robot, terrain, physics_steps)
            for robot in ("g1", "berkeley_humanoid")
            for terrain in ("flat", "rough")
        ),  # fmt: skip
        *(
            single_env_case(
                f"clrl/Humanoid-v0 {robot}, {terrain} terrain", make_humanoid(robot, terrain), steps
            )
            for robot, terrain in (("g1", "flat"), ("g1", "mixed"), ("berkeley_humanoid", "mixed"))
        ),  # fmt: skip
        single_env_case("gymnasium Humanoid-v5", make_gymnasium_humanoid, steps),
        subproc_case(
            f"clrl/Humanoid-v0 g1, mixed terrain, SubprocVecEnv x{workers}",
            make_humanoid("g1", "mixed"),
            workers,
            steps,
        ),
        subproc_case(
            f"gymnasium Humanoid-v5, SubprocVecEnv x{workers}", make_gymnasium_humanoid, workers, steps
        ),
        *(
            subproc_case(
                f"clrl/Humanoid-v0 g1, mixed terrain, BatchedSubprocVecEnv: {envs} envs in {workers} workers",
                make_humanoid("g1", "mixed"),
                workers,
                steps,
                envs,
            )
            for envs in (2 * workers, 4 * workers)
        ),
        subproc_case(
            f"gymnasium Humanoid-v5, BatchedSubprocVecEnv: {4 * workers} envs in {workers} workers",
            make_gymnasium_humanoid,
            workers,
            steps,
            4 * workers,
        ),
    ]
    for case in cases:
        case.run()  # warm up: first resets, caches
    for _ in range(args.repeats):
        for case in cases:
            case.time_once()
    for case in cases:
        case.close()

    reference = next(case for case in cases if case.what == "gymnasium Humanoid-v5")
    reference_wall, reference_cpu = max(reference.wall_rates), max(reference.cpu_rates)
    v5_ms = make_gymnasium_humanoid().unwrapped.dt * 1000
    print(f"- machine: {load_at_start}")
    print(f"- command: `{shlex.join(['python', *sys.argv])}`")
    print(
        f"- control step: 20 ms simulated for clrl/Humanoid-v0 (5 physics steps of 4 ms), {v5_ms:g} ms for v5"
    )
    print("- per CPU-second: steps divided by the CPU time of the main process and the workers")
    print()
    print("| what | processes | wall-clock rate | per CPU-second | unit | vs Humanoid-v5 (wall, CPU) |")
    print("|---|---:|---:|---:|---|---:|")
    for case in cases:
        wall, cpu = max(case.wall_rates), max(case.cpu_rates)
        ratio = (
            f"{wall / reference_wall:.2f}x, {cpu / reference_cpu:.2f}x" if case.unit != "mj_step/s" else ""
        )
        print(f"| {case.what} | {case.processes} | {wall:,.0f} | {cpu:,.0f} | {case.unit} | {ratio} |")


if __name__ == "__main__":
    main()
