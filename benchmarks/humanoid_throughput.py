"""Humanoid environment throughput: raw MuJoCo physics of the candidate models, control steps/s of
``clrl/Humanoid-v0`` in one process, in SB3's SubprocVecEnv and in this project's
BatchedSubprocVecEnv (several envs per worker process), beside Gymnasium's ``Humanoid-v5``.

Prints a Markdown table with the machine and the command. All figures come from one run, and the
timings of all rows are interleaved round by round (best of ``--repeats`` rounds each), so the
ratios compare like with like on a shared machine. Besides wall-clock rates the table gives steps
per CPU-second of the processes doing the work (the SubprocVecEnv workers and the main process),
which a busy machine disturbs much less.

A second table times PPO training itself (``python -m clrl.train humanoid``'s code path, the shipped
config): each row is one training run in its own process tree
(``benchmarks/humanoid_training_rounds.py``), and the rows take turns, ``--training-steps``
environment steps (whole rollouts and their updates) per turn, the others asleep meanwhile. With
``--baseline REF`` the first row runs the code of git commit ``REF`` (checked out into a temporary
folder), so a change is measured side by side with the code before it. Rows of config variants
(``--variants``, of ``TRAINING_VARIANTS``) follow; each gives CPU milliseconds per env step in the
env worker processes, in the trainer's rollout loop (policy, VecEnv wrappers, callbacks, and the
physics of the block of envs it steps itself with ``train.main_process_block``), in its PPO update
and in the update's main thread, and the wall-clock milliseconds per env step in rollouts and in
the rest (the update, logging). On a shared machine the wall-clock figures show the other jobs too;
the CPU figures carry over better.

    python benchmarks/humanoid_throughput.py [--steps 2000] [--workers 2] [--repeats 3]
        [--only env|training] [--training-steps 4096] [--baseline REF] [--variants a,b]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
from markdown_table import MarkdownTable

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


def subproc_case(
    what: str,
    make: Callable[[], gym.Env],
    workers: int,
    steps: int,
    envs: int = 0,
    main_process_block: bool = False,
    work_ms: float = 0.0,
) -> Case:
    """SB3's SubprocVecEnv (one env per worker) or, with ``envs``, BatchedSubprocVecEnv: ``envs``
    environments in ``workers`` blocks (with ``main_process_block`` the first stepped by this
    process). ``work_ms``: this process computes that long between steps (a busy loop, as the
    trainer's policy pass; counted in the rates), while the workers wait."""
    from stable_baselines3.common.vec_env import SubprocVecEnv

    if envs:
        vec = BatchedSubprocVecEnv(
            [make for _ in range(envs)],
            n_workers=workers,
            start_method="fork",
            main_process_block=main_process_block,
        )
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
            end = time.perf_counter() + work_ms / 1000
            while time.perf_counter() < end:
                pass
        return batches * vec.num_envs

    def cpu() -> float:
        return time.process_time() + sum(process_cpu_seconds(p.pid) for p in vec.processes)

    return Case(what, workers, "control steps/s", run, cpu=cpu, close=vec.close)


#: ms of the trainer's own work between two VecEnv steps of 32 envs (policy pass, wrappers, buffer)
TRAINER_WORK_MS = 1.3
ROOT = Path(__file__).resolve().parents[1]
#: Training rows that may follow the shipped config's (``--variants``): name -> (what, config overrides).
#: Each training row holds its own envs: ~1.5 GB with 32 (~4.5 GB with visual meshes, before 67bc506).
TRAINING_VARIANTS = {
    "precision_float32": (
        "the PPO update in float32 (train.precision=float32; auto computes in bfloat16 where it is native)",
        ["train.precision=float32"],
    ),
    "main_process_block_false": (
        "every block of envs in a worker process (train.main_process_block=false, as before session 27)",
        ["train.main_process_block=false"],
    ),
    "update_threads_0": (
        "the PPO update on every core (train.update_threads=0)",
        ["train.update_threads=0"],
    ),
    "n_envs_64": (
        "64 envs x 32-step rollouts (train.n_envs=64 ppo.n_steps=32)",
        ["train.n_envs=64", "ppo.n_steps=32"],
    ),
    "n_epochs_3": ("3 epochs per update (ppo.n_epochs=3)", ["ppo.n_epochs=3"]),
    "physics_substeps_4": (
        "200 Hz physics, 4 substeps of 5 ms per control step (env.physics_substeps=4; legged_gym's G1)",
        ["env.physics_substeps=4"],
    ),
    "mirror_augmentation": (
        "each minibatch doubled by its mirror image (ppo.mirror_augmentation=true: item 7, the 60M run)",
        ["ppo.mirror_augmentation=true"],
    ),
    "n_envs_64_physics_substeps_4": (
        "64 envs x 32-step rollouts, 200 Hz physics",
        ["train.n_envs=64", "ppo.n_steps=32", "env.physics_substeps=4"],
    ),
    "n_envs_128_physics_substeps_4": (
        "128 envs x 16-step rollouts, 200 Hz physics",
        ["train.n_envs=128", "ppo.n_steps=16", "env.physics_substeps=4"],
    ),
    "n_envs_64_n_epochs_3": (
        "64 envs x 32-step rollouts, 3 epochs per update",
        ["train.n_envs=64", "ppo.n_steps=32", "ppo.n_epochs=3"],
    ),
}
#: setuptools' package-dir mapping (pyproject.toml): what a plain checkout needs to import as ``clrl``
PACKAGE_DIRS = {"envs": "envs", "agents": "agents", "planners": "planners", "configs": "configs"}


def checkout(ref: str, into: Path) -> Path:
    """Commit ``ref`` of this repository extracted into ``into``, importable as ``clrl`` with
    ``PYTHONPATH=into`` (the sub-packages linked where setuptools' package-dir mapping puts them)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    for name, folder in PACKAGE_DIRS.items():
        (into / "clrl" / name).symlink_to(into / folder, target_is_directory=True)
    return into


@dataclass
class TrainingCase:
    """One training run (``humanoid_training_rounds.py``) in its own process tree; ``time_once`` lets
    it train one round and keeps the round's figures."""

    what: str
    process: subprocess.Popen
    tree: Path
    log: Path
    overrides: list[str] = field(default_factory=list)
    rounds: list[dict] = field(default_factory=list)

    @classmethod
    def start(cls, what: str, overrides: list[str], steps: int, log: Path, tree: Path = ROOT) -> TrainingCase:
        environment = dict(os.environ)
        if tree != ROOT:  # this tree is the installed one; another must come first on the path
            environment["PYTHONPATH"] = str(tree)
        command = [sys.executable, str(ROOT / "benchmarks/humanoid_training_rounds.py"), f"--steps={steps}"]
        process = subprocess.Popen(
            [*command, *overrides],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
            cwd=tree,
            env=environment,
        )
        return cls(what, process, tree, log, list(overrides))

    def wait_ready(self) -> None:
        line = self.process.stdout.readline().split()
        if not line or line[0] != "ready":
            tail = self.log.read_text()[-3000:]
            raise RuntimeError(f"training row {self.what!r} did not start; the end of its log:\n{tail}")
        if Path(line[1]).resolve() != self.tree.resolve():
            raise RuntimeError(f"training row {self.what!r} ran the code in {line[1]}, not {self.tree}")

    def time_once(self) -> None:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        self.rounds.append(json.loads(self.process.stdout.readline()))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write("stop\n")
            self.process.stdin.flush()
            self.process.wait(timeout=120)

    def round_rates(self) -> tuple[list[float], list[float]]:
        """Per round: wall-clock steps/s and steps per CPU-second (trainer and env workers)."""
        wall = [r["steps"] / r["wall"] for r in self.rounds]
        cpu = [r["steps"] / (r["rollout_cpu"] + r["update_cpu"] + r["workers_cpu"]) for r in self.rounds]
        return wall, cpu

    def ratios(self, reference: TrainingCase) -> tuple[float, float]:
        """Median over rounds of this row's rate over ``reference``'s in the same round (wall, CPU):
        each round's rows ran within seconds of each other, so slow swings of a shared machine's
        load cancel."""
        mine, theirs = self.round_rates(), reference.round_rates()
        return tuple(  # type: ignore[return-value]
            statistics.median(a / b for a, b in zip(ours, reference_rates, strict=True))
            for ours, reference_rates in zip(mine, theirs, strict=True)
        )

    def split_ms(self) -> tuple[float, float, float, float]:
        """Median CPU ms per env step: env workers, trainer's rollout loop, trainer's update, and the
        update's main thread."""
        return tuple(  # type: ignore[return-value]
            statistics.median(1000 * r[key] / r["steps"] for r in self.rounds)
            for key in ("workers_cpu", "rollout_cpu", "update_cpu", "update_main_cpu")
        )

    def split(self) -> str:
        return " / ".join(f"{ms:.3f}" for ms in self.split_ms())

    def wall_split(self) -> str:
        """Median wall ms per env step in rollouts and in the rest (the update, callbacks, logging)."""
        rollouts, rest = (
            statistics.median(1000 * value(r) / r["steps"] for r in self.rounds)
            for value in (lambda r: r["rollout_wall"], lambda r: r["wall"] - r["rollout_wall"])
        )
        return f"{rollouts:.3f} / {rest:.3f}"


def training_table(args: argparse.Namespace, scratch: Path) -> list[str]:
    """Time PPO training rows in turns; the Markdown lines of their table."""
    rows: list[tuple[str, list[str], Path]] = []
    if args.baseline:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", args.baseline],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        tree = checkout(args.baseline, scratch / "baseline")
        rows.append((f"shipped config, the code of {commit} (before)", [], tree))
    rows.append(("shipped config, this tree", [], ROOT))
    for name in args.variants:
        what, overrides = TRAINING_VARIANTS[name]
        rows.append((f"this tree, {what}", overrides, ROOT))
    cases = [
        TrainingCase.start(what, overrides, args.training_steps, scratch / f"training_{i}.log", tree)
        for i, (what, overrides, tree) in enumerate(rows)
    ]
    try:
        for case in cases:
            case.wait_ready()
        for _ in range(args.repeats):
            for case in cases:
                case.time_once()
    finally:
        for case in cases:
            case.close()
    loads = [r["load"] for case in cases for r in case.rounds]
    lines = [
        f"- training: {args.training_steps} env steps per round, {args.repeats} rounds; rates: the best "
        "round; ratios: the median over rounds of the ratio to the first row in the same round; "
        f"load average {min(loads):.1f}-{max(loads):.1f} during the rounds",
        "",
    ]
    table = MarkdownTable(
        [
            "PPO training",
            "wall-clock rate",
            "per CPU-second",
            "vs first row (wall, CPU)",
            "CPU ms per env step: env workers / rollout loop / update / update's main thread",
            "wall ms per env step: rollouts / update and the rest",
        ],
        "lrrrrr",
    )
    lines += table.header()
    for case in cases:
        wall, cpu = (max(rates) for rates in case.round_rates())
        wall_ratio, cpu_ratio = case.ratios(cases[0])
        lines.append(
            table.row(
                case.what,
                f"{wall:,.0f}",
                f"{cpu:,.0f}",
                f"{wall_ratio:.2f}x, {cpu_ratio:.2f}x",
                case.split(),
                case.wall_split(),
            )
        )
    return lines


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


def env_table(args: argparse.Namespace) -> list[str]:
    """Time the physics and environment rows in turns; the Markdown lines of their table."""
    steps, workers, physics_steps = args.steps, args.workers, args.physics_steps

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
        # the trainer's shape: 32 envs, and its ~1.3 ms policy pass between steps while the workers wait
        *(
            subproc_case(
                f"clrl/Humanoid-v0 g1, mixed terrain, BatchedSubprocVecEnv: 32 envs in {blocks}, "
                f"{TRAINER_WORK_MS} ms of main-process work between steps",
                make_humanoid("g1", "mixed"),
                workers,
                steps,
                32,
                main_process_block=main_block,
                work_ms=TRAINER_WORK_MS,
            )
            for blocks, main_block in (
                (f"{workers} workers", False),
                (f"this process's block + {workers - 1} worker(s)", True),
            )
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
    lines = [
        "- control step: 20 ms simulated for clrl/Humanoid-v0 (5 physics steps of 4 ms), "
        f"{v5_ms:g} ms for v5",
        "",
    ]
    table = MarkdownTable(
        ["what", "processes", "wall-clock rate", "per CPU-second", "unit", "vs Humanoid-v5 (wall, CPU)"],
        "lrrrlr",
    )
    lines += table.header()
    for case in cases:
        wall, cpu = max(case.wall_rates), max(case.cpu_rates)
        ratio = (
            f"{wall / reference_wall:.2f}x, {cpu / reference_cpu:.2f}x" if case.unit != "mj_step/s" else ""
        )
        lines.append(table.row(case.what, case.processes, f"{wall:,.0f}", f"{cpu:,.0f}", case.unit, ratio))
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="control steps per timing")
    parser.add_argument("--physics-steps", type=int, default=5000, help="mj_step calls per physics timing")
    parser.add_argument("--workers", type=int, default=2, help="SubprocVecEnv worker processes")
    parser.add_argument("--repeats", type=int, default=3, help="timing rounds (the best of each row is kept)")
    parser.add_argument("--only", choices=("env", "training"), help="time only these rows (default: both)")
    parser.add_argument("--training-steps", type=int, default=4096, help="env steps per training round")
    parser.add_argument(
        "--baseline", help="git ref whose code runs as the first training row (the code before)"
    )
    parser.add_argument(
        "--variants",
        type=lambda text: [name for name in text.split(",") if name],
        default=["update_threads_0", "n_envs_64", "n_epochs_3"],
        help=f"training variant rows, comma-separated: {', '.join(TRAINING_VARIANTS)} (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.variants) - set(TRAINING_VARIANTS)
    if unknown:
        parser.error(
            f"unknown --variants {', '.join(sorted(unknown))}; known: {', '.join(TRAINING_VARIANTS)}"
        )
    print(f"- machine: {machine()}")
    print(f"- command: `{shlex.join(['python', *sys.argv])}`")
    print("- per CPU-second: steps divided by the CPU time of the main process and the workers")
    if args.only != "training":
        print("\n".join(env_table(args)))
        print()
    if args.only != "env":
        scratch = Path(tempfile.mkdtemp(prefix="humanoid_throughput_"))
        try:
            print("\n".join(training_table(args, scratch)))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
