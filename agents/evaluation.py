"""``python -m clrl.evaluate humanoid``: roll a trained policy out in held-out and sim-to-sim scenarios.

Every scenario of ``eval.scenarios`` (configs/humanoid.yaml) builds the env from the checkpoint's
own ``env:`` config with ``eval.common_overrides`` and the scenario's ``env_overrides`` (``key=value``
strings, checked like command-line overrides), ``held_out`` (dynamics, pushes and terrain shapes
from ``env.held_out``, outside the training ranges) and optionally another MuJoCo ``solver`` /
``integrator`` (the sim-to-sim check, together with a different physics rate). The deterministic
policy runs ``--count`` episodes per scenario (episode ``i`` is reset with seed ``--seed + i``) and
the report gives, per scenario:

* ``fall_rate``: fraction of episodes that ended in a fall;
* ``survival_s``: mean time until a fall or the end of the episode, in seconds;
* ``lin_tracking_error`` / ``yaw_tracking_error``: mean per-step velocity tracking error
  (m/s: planar speed error; rad/s: yaw rate error, against the yaw-rate command of the env's
  ``command.mode``, which in heading mode is computed from the heading error every step);
* ``heading_drift``: how fast the robot turned away from the commanded heading, in rad/s: the
  absolute heading error at the episode's end (``info["heading_error"]``: unwrapped, so a full
  turn counts) over the episode's duration, averaged over the episodes. The scenarios command no
  turn (``eval.common_overrides``), so it is the veer of a robot told to walk straight;
* ``distance_m``: mean distance from the start point at the end of the episode;
* ``cost_of_transport``: motor work / (robot weight * distance), over the episodes that moved at
  least 0.1 m (``null`` if none did); dimensionless, lower is better.

``--json`` prints one JSON object per scenario; ``--out FILE`` also writes the Markdown table;
``--video FILE.mp4`` (or ``eval.video=FILE.mp4``) saves the first episode of the first scenario.

``--held-out-factors`` replaces the scenarios by a diagnosis of the held-out set: flat ground with
the training dynamics, then one held-out interval at a time (friction low, friction high, ...,
action delay, the held-out pushes), then everything held out at once, then everything but one
factor, to show which factor a policy cannot take.

``--scenarios NAME,NAME`` runs only the named ones, in that order (of ``eval.scenarios``, or of the
held-out diagnosis with ``--held-out-factors``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco
import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from clrl.agents.checkpointing import read_agent, restore_model
from clrl.agents.environment import make_env
from clrl.agents.ppo import LatentPPO
from clrl.checkpoint import Checkpoint, shipped_checkpoint
from clrl.config import ConfigError, load_config, parse_override, set_checked
from clrl.envs.humanoid.randomize import DYNAMICS_KEYS, intervals
from clrl.errors import UserError
from clrl.runs import cpu_model

SHIPPED_POLICY = "humanoid_g1.pt"
#: Episodes that end closer than this to their start give no meaningful cost of transport.
MIN_DISTANCE_FOR_COT = 0.1
SOLVERS = {
    "newton": mujoco.mjtSolver.mjSOL_NEWTON,
    "cg": mujoco.mjtSolver.mjSOL_CG,
    "pgs": mujoco.mjtSolver.mjSOL_PGS,
}
INTEGRATORS = {
    "euler": mujoco.mjtIntegrator.mjINT_EULER,
    "implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST,
    "implicit": mujoco.mjtIntegrator.mjINT_IMPLICIT,
    "rk4": mujoco.mjtIntegrator.mjINT_RK4,
}
#: Env overrides of every held-out factor scenario: flat ground keeps terrain out of the diagnosis.
FLAT_GROUND = ["terrain.types=[flat]", "terrain.weights=[1.0]"]


@dataclass
class ScenarioResult:
    """The report of one scenario (one JSON object with ``--json``)."""

    scenario: str
    episodes: int
    fall_rate: float
    survival_s: float
    lin_tracking_error: float
    yaw_tracking_error: float
    heading_drift: float
    distance_m: float
    cost_of_transport: float | None
    checkpoint: str
    checkpoint_step: int
    seconds: float


@dataclass
class EpisodeRecord:
    """What one episode contributes to its scenario's report."""

    seed: int = -1  # its env's reset seed, which fixes the episode's draw of dynamics and terrain
    fell: bool = False
    steps: int = 0
    lin_error_sum: float = 0.0
    yaw_error_sum: float = 0.0
    heading_error: float = 0.0  # rad, at the latest step
    distance: float = 0.0
    energy: float = 0.0
    seconds_since_push: float = float("inf")  # at the episode's end: since the last push began

    def add_step(self, info: dict[str, Any]) -> None:
        self.steps += 1
        self.lin_error_sum += float(info["tracking_error_lin"])
        self.yaw_error_sum += float(info["tracking_error_yaw"])
        self.heading_error = float(info["heading_error"])
        self.distance = float(info["distance"])
        self.energy += float(info["energy"])
        self.seconds_since_push = float(info["seconds_since_push"])


@dataclass
class Scenario:
    name: str
    env_config: dict[str, Any]
    held_out: bool
    solver: str | None
    integrator: str | None


def parse_scenarios(settings: dict[str, Any], trained_env_config: dict[str, Any]) -> list[Scenario]:
    """The ``eval.scenarios`` of the config, each with its env config resolved and checked."""
    scenarios = settings["scenarios"]
    if not isinstance(scenarios, dict) or not scenarios:
        raise ConfigError(
            "eval.scenarios must map scenario names to {held_out, env_overrides, solver, integrator}"
        )
    parsed = []
    for name, scenario in scenarios.items():
        unknown = set(scenario) - {"held_out", "env_overrides", "solver", "integrator"}
        if unknown:
            raise ConfigError(f"eval.scenarios.{name} has unknown keys {sorted(unknown)}")
        solver, integrator = scenario.get("solver"), scenario.get("integrator")
        if solver is not None and solver not in SOLVERS:
            raise ConfigError(
                f"eval.scenarios.{name}.solver must be one of {', '.join(SOLVERS)}, got {solver!r}"
            )
        if integrator is not None and integrator not in INTEGRATORS:
            raise ConfigError(
                f"eval.scenarios.{name}.integrator must be one of {', '.join(INTEGRATORS)}, "
                f"got {integrator!r}"
            )
        overrides = [*settings["common_overrides"], *scenario.get("env_overrides", [])]
        env_config = overridden_env_config(trained_env_config, overrides, f"eval.scenarios.{name}")
        parsed.append(Scenario(name, env_config, bool(scenario.get("held_out", False)), solver, integrator))
    return parsed


def select_scenarios(settings: dict[str, Any], names: Any, source: str) -> dict[str, Any]:
    """``settings`` (the ``eval`` section) with only the scenarios ``names``, in that order;
    ``source`` names where the list came from in the one-line refusal of an unknown name."""
    known = settings["scenarios"]
    if not isinstance(known, dict):
        return settings  # parse_scenarios refuses it in one line
    if not (isinstance(names, list) and names and all(isinstance(n, str) and n in known for n in names)):
        raise ConfigError(
            f"{source} must list scenarios of eval.scenarios ({', '.join(known)}), got {names!r}"
        )
    return {**settings, "scenarios": {name: known[name] for name in names}}


def held_out_interval_names(key: str, count: int) -> list[str]:
    """Names of a factor's ``count`` held-out intervals: ``friction`` for one, ``friction_low`` and
    ``friction_high`` for two, ``friction_0``, ``friction_1``, ... for more."""
    suffixes = {1: [""], 2: ["_low", "_high"]}.get(count, [f"_{i}" for i in range(count)])
    return [f"{key}{suffix}" for suffix in suffixes]


def held_out_factor_scenarios(env_config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``eval.scenarios`` that move one factor at a time from its training range to a held-out one.

    All on flat ground: the training dynamics first, then one scenario per held-out interval of each
    dynamics parameter (``friction_low``, ``friction_high``, ..., ``action_delay``; ``_0``, ``_1``,
    ... for three or more intervals), the held-out pushes (force and interval together), the whole
    held-out set, and the whole set less one factor at a time (``all_held_out_but_friction``, ...,
    ``all_held_out_but_pushes``: that factor drawn from its training range), which shows the factor
    without which the others are survivable. A moved factor's training and held-out ranges trade
    places, so the two stay disjoint as the environment requires.
    """
    training, held_out = env_config["randomization"], env_config["held_out"]
    scenarios: dict[str, dict[str, Any]] = {"training_dynamics": {"env_overrides": FLAT_GROUND}}
    # the same swap drawn in held-out mode puts that one factor back in its training range
    back_to_training: dict[str, list[str]] = {}
    for key in DYNAMICS_KEYS:
        spans = intervals(held_out[key], f"held_out.{key}").tolist()
        for name, (low, high) in zip(held_out_interval_names(key, len(spans)), spans, strict=True):
            swapped = [f"randomization.{key}=[{low}, {high}]", f"held_out.{key}={list(training[key])}"]
            scenarios[name] = {"env_overrides": [*FLAT_GROUND, *swapped]}
            back_to_training.setdefault(key, swapped)
    pushes = [
        f"randomization.push_force={list(held_out['push_force'])}",
        f"randomization.push_interval={list(held_out['push_interval'])}",
        f"held_out.push_force={list(training['push_force'])}",
    ]
    scenarios["pushes"] = {"env_overrides": [*FLAT_GROUND, *pushes]}
    back_to_training["pushes"] = [*pushes, f"held_out.push_interval={list(training['push_interval'])}"]
    scenarios["all_held_out"] = {"held_out": True, "env_overrides": FLAT_GROUND}
    for factor, kept in back_to_training.items():
        scenarios[f"all_held_out_but_{factor}"] = {"held_out": True, "env_overrides": [*FLAT_GROUND, *kept]}
    return scenarios


def overridden_env_config(env_config: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    """A copy of ``env_config`` with ``key=value`` overrides applied (unknown keys are an error)."""
    config = {"env": copy.deepcopy(env_config)}
    for item in overrides:
        key, value = parse_override(item)
        set_checked(config, f"env.{key}", value, source=source)
    return config["env"]


def make_scenario_env(scenario: Scenario, render_mode: str | None = None) -> Any:
    env = make_env(scenario.env_config, scenario.held_out, render_mode)
    if scenario.solver is not None:
        env.unwrapped.model.opt.solver = SOLVERS[scenario.solver]
    if scenario.integrator is not None:
        env.unwrapped.model.opt.integrator = INTEGRATORS[scenario.integrator]
    return env


def run_episodes(
    model: LatentPPO,
    normalizer: VecNormalize | None,
    scenario: Scenario,
    count: int,
    seed: int,
    parallel: int,
) -> tuple[list[EpisodeRecord], float, float]:
    """``count`` deterministic episodes on ``parallel`` envs whose observations are batched per step.

    Returns the episode records, the control period (s) and the robot's weight (N).
    """
    envs = [make_scenario_env(scenario) for _ in range(min(parallel, count))]
    try:
        records = run_on_envs(model, normalizer, envs, count, seed)
        return records, float(envs[0].unwrapped.control_dt), float(envs[0].unwrapped.robot_weight)
    finally:
        for env in envs:
            env.close()


def run_on_envs(
    model: LatentPPO, normalizer: VecNormalize | None, envs: list[Any], count: int, seed: int
) -> list[EpisodeRecord]:
    records: list[EpisodeRecord] = []
    observations: dict[int, dict[str, np.ndarray]] = {}
    running: dict[int, EpisodeRecord] = {}
    next_episode = 0
    for index, env in enumerate(envs):
        observations[index] = env.reset(seed=seed + next_episode)[0]
        running[index] = EpisodeRecord(seed=seed + next_episode)
        next_episode += 1
    while running:
        active = sorted(running)
        batch = {key: np.stack([observations[i][key] for i in active]) for key in observations[active[0]]}
        if normalizer is not None:
            batch = normalizer.normalize_obs(batch)
        actions, _ = model.predict(batch, deterministic=True)
        for row, index in enumerate(active):
            observation, _, terminated, truncated, info = envs[index].step(actions[row])
            observations[index] = observation
            running[index].add_step(info)
            if not (terminated or truncated):
                continue
            running[index].fell = bool(info["fell"])
            records.append(running.pop(index))
            if next_episode < count:
                observations[index] = envs[index].reset(seed=seed + next_episode)[0]
                running[index] = EpisodeRecord(seed=seed + next_episode)
                next_episode += 1
    return records


def summarise(
    scenario: str,
    records: list[EpisodeRecord],
    control_dt: float,
    robot_weight: float,
    checkpoint: Path,
    step: int,
    seconds: float,
) -> ScenarioResult:
    """Means over the episodes of one scenario."""
    moved = [r for r in records if r.distance >= MIN_DISTANCE_FOR_COT]
    cot = float(np.mean([r.energy / (robot_weight * r.distance) for r in moved])) if moved else None
    return ScenarioResult(
        scenario=scenario,
        episodes=len(records),
        fall_rate=float(np.mean([r.fell for r in records])),
        survival_s=float(np.mean([r.steps * control_dt for r in records])),
        lin_tracking_error=float(np.mean([r.lin_error_sum / r.steps for r in records])),
        yaw_tracking_error=float(np.mean([r.yaw_error_sum / r.steps for r in records])),
        heading_drift=float(np.mean([abs(r.heading_error) / (r.steps * control_dt) for r in records])),
        distance_m=float(np.mean([r.distance for r in records])),
        cost_of_transport=cot,
        checkpoint=str(checkpoint),
        checkpoint_step=step,
        seconds=round(seconds, 2),
    )


def markdown_table(results: list[ScenarioResult]) -> str:
    lines = [
        "| scenario | episodes | fall rate | survival (s) | lin err (m/s) | yaw err (rad/s) "
        "| heading drift (rad/s) | distance (m) | CoT |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        cot = "-" if r.cost_of_transport is None else f"{r.cost_of_transport:.2f}"
        lines.append(
            f"| {r.scenario} | {r.episodes} | {r.fall_rate:.2f} | {r.survival_s:.1f} "
            f"| {r.lin_tracking_error:.3f} | {r.yaw_tracking_error:.3f} | {r.heading_drift:.3f} "
            f"| {r.distance_m:.2f} | {cot} |"
        )
    return "\n".join(lines)


def render_rollout(
    model: Any, env: Any, control_steps: int, frame_skip: int, seed: int = 0, normalizer: Any = None
) -> list[np.ndarray]:
    """RGB frames of ``model`` acting deterministically in ``env``.

    Observations are normalised like in training, by ``normalizer`` or else the model's VecNormalize.
    """
    normalizer = normalizer if normalizer is not None else model.get_vec_normalize_env()
    observation, _ = env.reset(seed=seed)
    frames = [env.render()]
    for step in range(1, control_steps + 1):
        model_input = normalizer.normalize_obs(observation) if normalizer is not None else observation
        action, _ = model.predict(model_input, deterministic=True)
        observation, _, terminated, truncated, _ = env.step(action)
        if step % frame_skip == 0 or terminated or truncated:
            frames.append(env.render())
        if terminated or truncated:
            break
    return frames


def save_video(
    path: Path, model: LatentPPO, normalizer: VecNormalize | None, scenario: Scenario, seed: int
) -> None:
    """An mp4 of one deterministic episode (every other control step, 25 fps)."""
    import imageio

    env = make_scenario_env(scenario, render_mode="rgb_array")
    try:
        frames = render_rollout(
            model, env, env.unwrapped.max_steps, frame_skip=2, seed=seed, normalizer=normalizer
        )
    finally:
        env.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimwrite(path, frames, fps=round(0.5 / env.unwrapped.control_dt))


def default_checkpoint() -> Path:
    shipped = shipped_checkpoint(SHIPPED_POLICY)
    if not shipped.is_file():
        raise UserError(f"no shipped humanoid policy at {shipped}; pass --checkpoint F")
    return shipped


def load_policy(checkpoint: Checkpoint) -> tuple[LatentPPO, VecNormalize | None]:
    """The checkpoint's policy and its frozen observation normaliser (``None`` if it trained without)."""
    normalizer = None
    if "obs_rms" in checkpoint.state:
        env_config = checkpoint.config["env"]
        probe = DummyVecEnv([lambda: make_env(env_config)])
        normalizer = VecNormalize(probe, training=False, norm_reward=False)
    return restore_model(checkpoint, normalizer), normalizer


@dataclass
class LoadedPolicy:
    """A checkpoint with its policy and frozen observation normaliser, for ad-hoc rollouts."""

    path: Path
    checkpoint: Checkpoint
    model: LatentPPO
    normalizer: VecNormalize | None

    @property
    def label(self) -> str:
        """``path (env steps)``: the policy column of the benchmark tables."""
        return f"{self.path} ({self.checkpoint.step:,})"

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The deterministic action for one env's observation, normalised as in training."""
        if self.normalizer is not None:
            observation = self.normalizer.normalize_obs(observation)
        action, _ = self.model.predict(observation, deterministic=True)
        return action


def loaded_policies(paths: list[str] | None) -> Iterator[LoadedPolicy]:
    """Each of ``paths`` (default: the shipped policy) loaded in turn; its normaliser closed after."""
    for path in paths or [str(default_checkpoint())]:
        checkpoint = read_agent(path)
        model, normalizer = load_policy(checkpoint)
        try:
            yield LoadedPolicy(Path(path), checkpoint, model, normalizer)
        finally:
            if normalizer is not None:
                normalizer.close()


def policy_scenario(
    policy: LoadedPolicy,
    settings: dict[str, Any],
    name: str,
    env_overrides: list[str],
    *,
    held_out: bool = False,
) -> Scenario:
    """One scenario on ``policy``'s trained env: its env overrides apply after ``eval.common_overrides``;
    ``held_out`` draws dynamics, pushes and terrain shapes from ``env.held_out``."""
    scenarios = {"scenarios": {name: {"env_overrides": env_overrides, "held_out": held_out}}}
    (scenario,) = parse_scenarios({**settings, **scenarios}, policy.checkpoint.config["env"])
    return scenario


def policy_benchmark_parser(
    description: str, *, episodes: int, seed: int, per: str, env_example: str | None = None
) -> argparse.ArgumentParser:
    """The options every humanoid policy benchmark (``benchmarks/humanoid_*.py``) shares; with an
    ``env_example``, also ``--env KEY=VALUE`` (repeatable): env overrides after the benchmark's own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--checkpoint", nargs="+", help="policies to test (default: the shipped one)")
    parser.add_argument("--episodes", type=int, default=episodes, help=f"20 s episodes per {per}")
    parser.add_argument("--seed", type=int, default=seed, help="episode i is reset with seed + i")
    if env_example is not None:
        parser.add_argument(
            "--env",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"one more env override, after the benchmark's own: e.g. {env_example}",
        )
    return parser


def begin_policy_benchmark() -> dict[str, Any]:
    """One torch thread (the rollouts step small batches), the command line and machine printed
    above the benchmark's table; returns the ``eval:`` settings its rollouts use."""
    torch.set_num_threads(1)
    print(f"`python {shlex.join(sys.argv)}`; {platform.node()}, {cpu_model()}\n")
    return load_config("humanoid")["eval"]


def roll_out(
    policy: LoadedPolicy,
    settings: dict[str, Any],
    name: str,
    env_overrides: list[str],
    episodes: int,
    seed: int,
    *,
    held_out: bool = False,
) -> tuple[ScenarioResult, list[EpisodeRecord]]:
    """``episodes`` of the scenario of :func:`policy_scenario`."""
    scenario = policy_scenario(policy, settings, name, env_overrides, held_out=held_out)
    records, control_dt, weight = run_episodes(
        policy.model, policy.normalizer, scenario, episodes, seed, int(settings["parallel_envs"])
    )
    step = policy.checkpoint.step
    return summarise(name, records, control_dt, weight, policy.path, step, 0.0), records


def evaluate(job: str, config: dict[str, Any], args: argparse.Namespace) -> None:
    """Evaluate a humanoid checkpoint in every scenario of ``config['eval']`` and print the report."""
    settings = config["eval"]
    checkpoint_path = Path(args.checkpoint) if args.checkpoint is not None else default_checkpoint()
    checkpoint = read_agent(checkpoint_path)
    if args.held_out_factors:
        settings = {**settings, "scenarios": held_out_factor_scenarios(checkpoint.config["env"])}
    if args.scenarios is not None:
        settings = select_scenarios(settings, list(args.scenarios), "--scenarios")
    scenarios = parse_scenarios(settings, checkpoint.config["env"])
    count = int(args.count if args.count is not None else settings["episodes"])
    model, normalizer = load_policy(checkpoint)
    video = args.video or settings["video"]
    if video:
        save_video(Path(video), model, normalizer, scenarios[0], int(args.seed))
    results = []
    for scenario in scenarios:
        started = time.perf_counter()
        records, control_dt, weight = run_episodes(
            model, normalizer, scenario, count, int(args.seed), int(settings["parallel_envs"])
        )
        result = summarise(
            scenario.name,
            records,
            control_dt,
            weight,
            checkpoint_path,
            checkpoint.step,
            time.perf_counter() - started,
        )
        results.append(result)
        if args.json:
            print(json.dumps(asdict(result)), flush=True)
    if normalizer is not None:
        normalizer.close()
    table = markdown_table(results)
    if not args.json:
        print(f"checkpoint {checkpoint_path} (step {checkpoint.step}), {count} episodes per scenario")
        print(table)
    if args.out is not None:
        Path(args.out).write_text(table + "\n")
