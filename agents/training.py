"""``python -m clrl.train humanoid``: PPO with a contrastive privileged latent and an adaptive gait clock.

Builds ``train.n_envs`` humanoid envs (with ``train.vec_env: batched``, a block of envs per core:
one stepped by this process, the others by a worker process each), wraps them in ``VecMonitor``
(raw episode returns) and ``VecNormalize`` (observation and reward normalisation), trains
:class:`~clrl.agents.ppo.LatentPPO` with :class:`~clrl.agents.policy.ContrastiveActorCriticPolicy`
and writes into the run dir:

* TensorBoard events (SB3's ``train/*``, ``losses/*``, ``charts/*``, ``reward/*``, and
  ``videos/rollout_<terrain type>`` at the start, every ``train.video_every`` steps and at the end);
* ``checkpoints/last.pt`` every ``train.checkpoint_every`` env steps, at the end, and on Ctrl-C or
  SIGTERM (never a non-finite one); each save is printed;
* every ``train.eval_every`` env steps and at the end, an evaluation of the deterministic policy on
  ``train.eval_scenarios`` (scenarios of ``eval.scenarios``, as ``python -m clrl.evaluate humanoid``
  runs them) into ``eval/<scenario>/*``, and the evaluated policy as ``checkpoints/step_<N>.pt``.

``--steps N`` stands for ``train.steps``, the run's total number of environment steps. With
``--resume`` training continues from ``checkpoints/last.pt`` up to that total under the run's saved
config, as the puzzle and vision jobs do (:func:`clrl.config.resume_config`): the keys the command
line sets are applied where a resumed run may change them (``ppo:``, the env count, processes,
threads, device, checkpoint and video settings; :data:`clrl.config.JOB_RESUMABLE_KEYS`) and printed;
any other change (``env:``, ``agent:``, ``seed`` ...) is refused with one line (exit code 2) before
anything is written. TensorBoard forgets what a killed run logged after that checkpoint.
``train.init_from: F`` fine-tunes instead: a new run (steps from 0, a fresh optimizer) starts from
F's weights, normalisation statistics and curriculum levels, under this config's ``env:`` section,
which may differ from F's; a blind F (``env.scan.policy: false``) may start a perceptive run, whose
actor begins with zero weights on the scan, and a longer ``env.history`` starts with zero weights on
the older frames.
"""

from __future__ import annotations

import copy
import functools
import itertools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# Rendering runs headless; MuJoCo reads this when it first creates a GL context.
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import torch
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecMonitor, VecNormalize
from tqdm import tqdm

from clrl.agents.callbacks import (
    CurriculumCallback,
    EpisodeStatsCallback,
    EvaluationCallback,
    PeriodicCheckpointCallback,
    ProgressBarCallback,
    RolloutVideoCallback,
    UpdateThreadsCallback,
)
from clrl.agents.checkpointing import initialise_from, read_agent, restore_model, save_agent
from clrl.agents.environment import make_env, make_terrain_render_env
from clrl.agents.evaluation import Scenario, parse_scenarios, select_scenarios
from clrl.agents.policy import ContrastiveActorCriticPolicy
from clrl.agents.ppo import LatentPPO
from clrl.agents.symmetry import MirrorAugmentation
from clrl.checkpoint import CheckpointError, check_sections
from clrl.config import ADAM_LEARNING_RATE, AT_LEAST_ONE, POSITIVE, Bound, check_bounds, resume_config
from clrl.envs.humanoid.env import check_env_config, field_slices
from clrl.envs.humanoid.randomize import intervals
from clrl.envs.humanoid.terrain import TERRAIN_TYPES
from clrl.envs.humanoid.vec_env import BatchedSubprocVecEnv
from clrl.errors import ConfigError
from clrl.precision import check_precision, resolve_precision
from clrl.runs import (
    check_model_size,
    diverged,
    make_writer,
    resuming_line,
    saved_on_interrupt,
    seed_everything,
)

ACTIVATIONS = {"elu": torch.nn.ELU, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
CHECKPOINT_NAME = Path("checkpoints") / "last.pt"


VEC_ENVS = {"batched": BatchedSubprocVecEnv, "subproc": SubprocVecEnv, "dummy": DummyVecEnv}
#: The range of every numeric ``ppo:``, ``agent:`` and ``train:`` key the trainer reads.
BOUNDS = {
    "ppo.learning_rate": ADAM_LEARNING_RATE,
    "ppo.desired_kl": POSITIVE,
    "ppo.n_steps": AT_LEAST_ONE,
    "ppo.batch_size": AT_LEAST_ONE,
    "ppo.n_epochs": AT_LEAST_ONE,
    "ppo.gamma": Bound(0, high=1),
    "ppo.gae_lambda": Bound(0, high=1),
    "ppo.clip_range": POSITIVE,
    "ppo.ent_coef": Bound(0),
    "ppo.vf_coef": Bound(0),
    "ppo.max_grad_norm": POSITIVE,
    "ppo.target_kl": POSITIVE,
    "agent.latent_dim": AT_LEAST_ONE,
    "agent.aux_weight": Bound(0),
    "agent.aux_temperature": POSITIVE,
    "train.steps": AT_LEAST_ONE,
    "train.n_envs": AT_LEAST_ONE,
    "train.checkpoint_every": AT_LEAST_ONE,
    "train.video_every": Bound(0),
    "train.video_seconds": POSITIVE,
    "train.video_frame_skip": AT_LEAST_ONE,
    "train.eval_every": Bound(0),
    "train.eval_episodes": AT_LEAST_ONE,
    "train.eval_seed": Bound(0),
    "train.curriculum_promote_distance": POSITIVE,
    "train.push_blame_seconds": Bound(0),
}
HIDDEN_SIZES = ("encoder_hidden", "privileged_hidden", "actor_hidden", "critic_hidden")


def check_config(config: dict[str, Any]) -> None:
    """Refuse values no run can use (:class:`ConfigError`, exit code 2) in this process, before any
    env worker starts: an error inside a worker reaches the user only as a broken pipe."""
    check_bounds(config, BOUNDS)
    agent = config["agent"]
    for key in HIDDEN_SIZES:
        sizes = agent[key]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
            raise ConfigError(f"agent.{key} must list layer sizes of at least 1, got {sizes!r}")
    # the hidden-to-hidden layers alone: a lower bound of the networks' size, known before any env
    check_model_size(
        lambda: torch.nn.ModuleList(
            torch.nn.Linear(a, b) for key in HIDDEN_SIZES for a, b in itertools.pairwise(agent[key])
        ),
        {f"agent.{key}": agent[key] for key in HIDDEN_SIZES},
    )
    check_env_config(config["env"])
    check_precision(config["train"]["precision"], "train.precision")
    terrains = config["train"]["video_terrains"]
    if not (isinstance(terrains, list) and terrains and all(kind in TERRAIN_TYPES for kind in terrains)):
        raise ConfigError(
            f"train.video_terrains must list terrain types of {', '.join(TERRAIN_TYPES)}, got {terrains!r}"
        )
    check_curriculum_floor(config)
    training_scenarios(config)


def check_curriculum_floor(config: dict[str, Any]) -> None:
    """``train.curriculum_floor``: a level of 0 .. levels-1 for terrain types that have a level of
    their own (a floor under one shared level would lift every type)."""
    floors = config["train"]["curriculum_floor"]
    top = int(config["env"]["terrain"]["levels"]) - 1
    for kind, floor in floors.items():
        if kind not in TERRAIN_TYPES or kind == "flat":
            raise ConfigError(f"train.curriculum_floor names no terrain type with levels: {kind!r}")
        if not (isinstance(floor, int) and not isinstance(floor, bool) and 0 <= floor <= top):
            raise ConfigError(f"train.curriculum_floor.{kind} must be a level of 0 to {top}, got {floor!r}")
    if any(floors.values()) and not config["train"]["curriculum_per_terrain"]:
        raise ConfigError("train.curriculum_floor needs train.curriculum_per_terrain: true")


def training_scenarios(config: dict[str, Any]) -> list[Scenario]:
    """The scenarios of ``eval.scenarios`` named by ``train.eval_scenarios``, for the evaluations
    during training (none with ``train.eval_every: 0``)."""
    if not config["train"]["eval_every"]:
        return []
    chosen = select_scenarios(config["eval"], config["train"]["eval_scenarios"], "train.eval_scenarios")
    return parse_scenarios(chosen, config["env"])


class PurgingTensorBoardOutput(TensorBoardOutputFormat):
    """SB3's TensorBoard output writing through :func:`clrl.runs.make_writer`, so a resumed run
    purges the steps its killed predecessor logged after the checkpoint."""

    def __init__(self, run_dir: Path, resumed_step: int | None) -> None:
        self.writer = make_writer(run_dir, resumed_step)
        self._is_closed = False


def make_vec_env(config: dict[str, Any], n_envs: int, seed: int, kind: str, held_out: bool = False) -> VecEnv:
    """``n_envs`` seeded envs: a block of envs per core (``kind="batched"``; with
    ``train.main_process_block`` this process steps one block, worker processes the others), one
    subprocess each (``"subproc"``) or all in this process (``"dummy"``)."""
    if kind not in VEC_ENVS:
        raise ConfigError(f"train.vec_env must be one of {', '.join(VEC_ENVS)}, got {kind!r}")
    factory = functools.partial(make_env, config["env"], held_out, None, kind != "dummy")
    options = {"main_process_block": bool(config["train"]["main_process_block"])} if kind == "batched" else {}
    venv: VecEnv = VEC_ENVS[kind]([factory] * n_envs, **options)
    venv.seed(seed)
    return venv


def policy_kwargs(config: dict[str, Any], privileged_fields: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` for :class:`ContrastiveActorCriticPolicy` from the ``agent:`` section;
    ``privileged_fields`` are the env's (name, size) in the order of its privileged vector."""
    agent = config["agent"]
    if agent["activation"] not in ACTIVATIONS:
        raise ConfigError(
            f"agent.activation must be one of {', '.join(ACTIVATIONS)}, got {agent['activation']!r}"
        )
    return {
        "net_arch": {"pi": list(agent["actor_hidden"]), "vf": list(agent["critic_hidden"])},
        "activation_fn": ACTIVATIONS[agent["activation"]],
        "log_std_init": float(agent["log_std_init"]),
        "features_extractor_kwargs": {
            "history_length": int(config["env"]["history"]),
            "latent": agent["latent"],
            "history_encoder": agent["history_encoder"],
            "latent_dim": int(agent["latent_dim"]),
            "encoder_hidden": list(agent["encoder_hidden"]),
            "privileged_hidden": list(agent["privileged_hidden"]),
            "contrastive_inputs": contrastive_inputs(agent["contrastive_fields"], privileged_fields),
        },
        "aux_temperature": float(agent["aux_temperature"]),
        "aux_similarity": agent["aux_similarity"],
        "aux_direction": agent["aux_direction"],
    }


def contrastive_inputs(
    fields: Sequence[str] | None, privileged_fields: Sequence[tuple[str, int]]
) -> list[int] | None:
    """The privileged vector's entries that ``agent.contrastive_fields`` names (``None``: all)."""
    if fields is None:
        return None
    slices = field_slices(privileged_fields)
    if not fields or any(name not in slices for name in fields):
        raise ConfigError(
            f"agent.contrastive_fields must name privileged fields ({', '.join(slices)}), got {list(fields)}"
        )
    return [index for name in fields for index in range(slices[name].start, slices[name].stop)]


def ppo_hyperparameters(config: dict[str, Any]) -> dict[str, Any]:
    """:class:`LatentPPO` keyword arguments of the ``ppo:`` section (and ``agent.aux_weight``)."""
    ppo = config["ppo"]
    return {
        "aux_weight": float(config["agent"]["aux_weight"]),
        "learning_rate": float(ppo["learning_rate"]),
        "n_steps": int(ppo["n_steps"]),
        "batch_size": int(ppo["batch_size"]),
        "n_epochs": int(ppo["n_epochs"]),
        "gamma": float(ppo["gamma"]),
        "gae_lambda": float(ppo["gae_lambda"]),
        "clip_range": float(ppo["clip_range"]),
        "ent_coef": float(ppo["ent_coef"]),
        "vf_coef": float(ppo["vf_coef"]),
        "max_grad_norm": float(ppo["max_grad_norm"]),
        "target_kl": None if ppo["target_kl"] is None else float(ppo["target_kl"]),
        "desired_kl": None if ppo["desired_kl"] is None else float(ppo["desired_kl"]),
    }


def mirror_augmentation(config: dict[str, Any]) -> MirrorAugmentation | None:
    """The left-right mirror of the env's observations and actions with ``ppo.mirror_augmentation``."""
    if not config["ppo"]["mirror_augmentation"]:
        return None
    return MirrorAugmentation.for_humanoid(config["env"])


def update_options(config: dict[str, Any]) -> dict[str, Any]:
    """The :class:`LatentPPO` arguments the config gives and the saved model does not hold: the
    mirror augmentation and the update's number format (``train.precision``, resolved)."""
    return {
        "mirror": mirror_augmentation(config),
        "precision": resolve_precision(config["train"]["precision"], config["train"]["device"]),
    }


def build_model(config: dict[str, Any], venv: VecEnv, seed: int) -> LatentPPO:
    """A fresh :class:`LatentPPO` from the ``ppo:`` and ``agent:`` sections."""
    try:
        return LatentPPO(
            ContrastiveActorCriticPolicy,
            venv,
            policy_kwargs=policy_kwargs(config, venv.get_attr("privileged_fields", indices=[0])[0]),
            seed=seed,
            device=config["train"]["device"],
            verbose=0,
            **update_options(config),
            **ppo_hyperparameters(config),
        )
    except ValueError as exc:  # bad latent mode, encoder, similarity ... from the policy
        raise ConfigError(str(exc)) from None


def wrap_normalize(venv: VecEnv, config: dict[str, Any]) -> VecEnv:
    agent = config["agent"]
    venv = VecMonitor(venv)
    if not (agent["normalize_observations"] or agent["normalize_reward"]):
        return venv
    return VecNormalize(
        venv,
        norm_obs=bool(agent["normalize_observations"]),
        norm_reward=bool(agent["normalize_reward"]),
        gamma=float(config["ppo"]["gamma"]),
    )


def train(
    job: str,
    config: dict[str, Any],
    *,
    run_dir: Path,
    steps: int | None,
    resume: bool,
    given: Iterable[str] | None = None,
) -> None:
    """Train the humanoid policy into ``run_dir`` (the ``train`` entry point of ``clrl.train``).

    ``steps`` (``--steps``) stands for ``train.steps``, so the checkpoint records the run's length.
    With ``resume``, the run continues under its saved config (completed for older files by
    :func:`~clrl.agents.checkpointing.read_agent`), changed only where ``config`` asks for it at the
    keys of ``given`` (the keys the command line set; None: every key of ``config``) and only within
    :func:`clrl.config.resumable_keys`; any other change is refused.
    """
    check_config(config)
    config = copy.deepcopy(config)
    if steps is not None:
        config["train"]["steps"] = steps
        given = None if given is None else {*given, "train.steps"}
    checkpoint_path = run_dir / CHECKPOINT_NAME
    checkpoint = None
    changed: dict[str, tuple[Any, Any]] = {}
    if resume:
        if not checkpoint_path.is_file():
            raise CheckpointError(f"--resume: no checkpoint at {checkpoint_path}")
        checkpoint = read_agent(checkpoint_path)
        config, changed = resume_config(job, checkpoint.config, config, given, source=str(checkpoint_path))
        check_config(config)
    settings = config["train"]
    total_steps = int(settings["steps"])
    if checkpoint is not None and checkpoint.step >= total_steps:
        raise ConfigError(
            f"--resume: the checkpoint is already at {checkpoint.step} steps; pass --steps above that"
        )
    start = None
    if checkpoint is None and settings["init_from"] is not None:
        # the env may differ (that is what a fine-tune is for); the network may not, but for the
        # fields its contrastive target reads (the privileged encoder then starts afresh)
        start = read_agent(settings["init_from"])
        target = start.config["agent"]["contrastive_fields"]
        as_saved = {**config, "agent": {**config["agent"], "contrastive_fields": target}}
        check_sections(settings["init_from"], start.config, as_saved, ("agent",))
    seed = int(config["seed"])
    seed_everything(seed)
    rollout_threads, update_threads = int(settings["torch_threads"]), int(settings["update_threads"])
    if rollout_threads < 1 or update_threads < 0:
        raise ConfigError(
            f"train.torch_threads must be >= 1 and train.update_threads >= 0 (0: every core), "
            f"got {rollout_threads} and {update_threads}"
        )
    update_threads = update_threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(rollout_threads)
    n_envs = int(settings["n_envs"])
    floors = push_floors(config)  # checked even when unused: a bad value fails now, not when switched on
    if checkpoint is not None:
        print(resuming_line(run_dir, checkpoint.step, changed), flush=True)
    else:
        origin = f" from the weights of {settings['init_from']}" if start is not None else ""
        print(f"training humanoid into {run_dir}{origin}", flush=True)
    # a resumed run must not replay the episode seeds its first part already used
    env_seed = seed if checkpoint is None else seed + checkpoint.step
    venv = wrap_normalize(make_vec_env(config, n_envs, env_seed, settings["vec_env"]), config)
    model: LatentPPO | None = None
    curriculum: CurriculumCallback | None = None
    saved_step = None if checkpoint is None else checkpoint.step  # the checkpoint a stop names

    def save() -> str:
        nonlocal saved_step
        if model is None or curriculum is None:
            return "nothing trained yet, nothing saved"
        save_agent(checkpoint_path, model, config, curriculum.terrain_levels, curriculum.push_levels)
        saved_step = model.num_timesteps
        return f"saved step {saved_step} to {checkpoint_path}"

    def keep(step: int) -> Path:
        assert model is not None and curriculum is not None
        path = run_dir / "checkpoints" / f"step_{step}.pt"
        return save_agent(path, model, config, curriculum.terrain_levels, curriculum.push_levels)

    try:
        # `kill PID` of a background run saves first, like Ctrl-C (nohup'd jobs may ignore SIGINT)
        with saved_on_interrupt(save):
            if checkpoint is not None:
                # the resumed config's ppo: section applies (a longer rollout, another clip ...), not
                # the hyperparameters in the saved model
                model = restore_model(
                    checkpoint,
                    venv,
                    device=settings["device"],
                    **update_options(config),
                    **ppo_hyperparameters(config),
                )
                if "ppo.learning_rate" in changed:
                    # SB3's schedule holds the new rate already; the optimizer still holds the saved
                    # step size (with ppo.desired_kl: the adapted one), which the new rate replaces
                    for group in model.policy.optimizer.param_groups:
                        group["lr"] = float(config["ppo"]["learning_rate"])
            else:
                model = build_model(config, venv, seed)
                if start is not None:
                    initialise_from(model, start)
            # a resumed run and a fine-tune both carry on the curriculum of the file they start from
            source = checkpoint if checkpoint is not None else start
            source_state = {} if source is None else source.state
            terrain_levels = saved_levels(source_state, "terrain_levels", n_envs)
            push_levels = saved_levels(source_state, "push_levels", n_envs)
            resumed_step = None if checkpoint is None else checkpoint.step
            model.set_logger(Logger(str(run_dir), [PurgingTensorBoardOutput(run_dir, resumed_step)]))
            curriculum = CurriculumCallback(
                n_envs,
                max_terrain_level=int(config["env"]["terrain"]["levels"]) - 1,
                promote_distance=float(settings["curriculum_promote_distance"]),
                episode_seconds=float(config["env"]["episode_seconds"]),
                terrain_levels=terrain_levels,
                terrain=bool(settings["curriculum"]),
                per_terrain=bool(settings["curriculum_per_terrain"]),
                promote_falls=bool(settings["curriculum_promote_falls"]),
                floors=settings["curriculum_floor"],
                push_floors=floors if settings["push_curriculum"] else None,
                push_levels=push_levels,
                push_blame_seconds=float(settings["push_blame_seconds"]),
                seed=env_seed,
            )
            callbacks: list[Any] = [
                EpisodeStatsCallback(),
                UpdateThreadsCallback(rollout_threads, update_threads),
            ]
            if settings["curriculum"] or settings["push_curriculum"]:
                callbacks.append(curriculum)
            if settings["video_every"]:
                callbacks.append(
                    RolloutVideoCallback(
                        functools.partial(make_terrain_render_env, config["env"]),
                        every_steps=int(settings["video_every"]),
                        seconds=float(settings["video_seconds"]),
                        control_dt=1.0 / float(config["env"]["control_hz"]),
                        frame_skip=int(settings["video_frame_skip"]),
                        terrains=settings["video_terrains"],
                        terrain_level=curriculum.level if settings["curriculum"] else None,
                    )
                )
            if settings["eval_every"]:
                callbacks.append(
                    EvaluationCallback(
                        training_scenarios(config),
                        every_steps=int(settings["eval_every"]),
                        episodes=int(settings["eval_episodes"]),
                        seed=int(settings["eval_seed"]),
                        parallel_envs=int(config["eval"]["parallel_envs"]),
                        keep=keep if settings["eval_keep_checkpoints"] else None,
                    )
                )
            callbacks.append(
                PeriodicCheckpointCallback(lambda: tqdm.write(save()), int(settings["checkpoint_every"]))
            )
            callbacks.append(ProgressBarCallback(total_steps))
            try:
                model.learn(
                    total_steps - model.num_timesteps,
                    callback=CallbackList(callbacks),
                    reset_num_timesteps=checkpoint is None,
                )
            except ValueError as exc:  # torch's distribution check meeting a NaN policy output
                if "found invalid values" not in str(exc):
                    raise
                raise diverged(
                    f"the policy's outputs became non-finite near step {model.num_timesteps}",
                    checkpoint_path,
                    saved_step,
                    "lower ppo.learning_rate",
                ) from None
            print(save(), flush=True)
    finally:
        venv.close()


def saved_levels(checkpoint_state: dict[str, Any], key: str, n_envs: int) -> np.ndarray | None:
    """Saved curriculum levels (a row per env), repeated or cut to ``n_envs`` rows if the run now
    has another count."""
    levels = checkpoint_state.get(key)
    return None if levels is None else np.resize(levels.numpy(), (n_envs, *levels.shape[1:]))


def push_floors(config: dict[str, Any]) -> np.ndarray:
    """The lowest push force (N) of each push curriculum level, from ``train.push_floor``."""
    settings = config["train"]
    levels = int(settings["push_levels"])
    first, last = (float(x) for x in settings["push_floor"])
    ((low, high),) = intervals(config["env"]["randomization"]["push_force"], "env.randomization.push_force")
    if levels < 1 or not low <= first <= last <= high:
        raise ConfigError(
            f"train.push_floor must rise within env.randomization.push_force [{low:g}, {high:g}] "
            f"over train.push_levels >= 1 levels, got {settings['push_floor']} over {levels}"
        )
    return np.linspace(first, last, levels)
