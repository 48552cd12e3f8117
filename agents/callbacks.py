"""SB3 callbacks for the humanoid run: TensorBoard charts, rollout videos, curriculum, checkpoints, progress.

All scalars go through SB3's logger (one TensorBoard event stream with SB3's ``train/*``):

* ``charts/episodic_return``, ``charts/episode_length``: episodes finished during the rollout
  (undiscounted, unnormalised return, from ``VecMonitor``);
* ``charts/fall_rate``: fraction of those episodes that ended in a fall, and
  ``charts/fall_rate_<terrain type>`` the same over the episodes on each terrain type (``flat``,
  ``stairs_up`` ...) that finished during the rollout;
* ``reward/<term>``: mean per control step of each scaled reward term in ``info["reward_terms"]``;
* ``charts/tracking_error_lin``, ``charts/tracking_error_yaw``, ``charts/gait_frequency``,
  ``charts/terrain_level``, ``charts/push_floor`` (N), ``charts/base_height``: means per control step;
* ``curriculum/level_<terrain type>`` (``level_rough``, ``level_slope_up``, ``level_stairs_up`` ...):
  the mean over the training envs of the curriculum's level for each terrain type that has a
  difficulty (all but flat), and ``curriculum/push_level`` with the push curriculum;
* ``charts/SPS``: environment steps per second of wall time, training included;
* ``videos/rollout_<terrain type>`` (``rollout_flat``, ``rollout_stairs_up``, ``rollout_slope_up``):
  a few seconds of the deterministic policy on one terrain type, tracking camera, at the start,
  periodically and at the end of training (:class:`RolloutVideoCallback`);
* ``eval/<scenario>/<metric>`` (``eval/flat/lin_tracking_error``, ``eval/slope_up_15deg/distance_m``
  ...): the deterministic policy on ``python -m clrl.evaluate humanoid``'s scenarios, periodically
  and at the end of training (:class:`EvaluationCallback`).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Video
from tqdm import tqdm

from clrl.agents.evaluation import Scenario, make_scenario_env, render_rollout, run_on_envs, summarise
from clrl.envs.humanoid.terrain import TERRAIN_TYPES

#: Per-step scalars of ``info`` averaged into ``charts/<name>``.
STEP_SCALARS = (
    "tracking_error_lin",
    "tracking_error_yaw",
    "gait_frequency",
    "terrain_level",
    "push_floor",
    "base_height",
)
NOT_FOR_TEXT_LOGS = ("stdout", "log", "json", "csv")
TERRAIN_COLUMNS = {kind: column for column, kind in enumerate(TERRAIN_TYPES)}  # of the terrain levels


class EpisodeStatsCallback(BaseCallback):
    """Averages the envs' ``info`` over each rollout into the ``charts/*`` and ``reward/*`` scalars."""

    def __init__(self) -> None:
        super().__init__()
        self._reset_sums()
        self._last_time = time.perf_counter()
        self._last_steps = 0

    def _reset_sums(self) -> None:
        self.step_sums: dict[str, float] = defaultdict(float)
        self.step_counts: dict[str, int] = defaultdict(int)
        self.returns: list[float] = []
        self.lengths: list[int] = []
        self.falls = 0
        self.terrain_episodes: dict[str, int] = defaultdict(int)
        self.terrain_falls: dict[str, int] = defaultdict(int)

    def _on_training_start(self) -> None:
        self._last_time = time.perf_counter()
        self._last_steps = self.num_timesteps

    def _on_step(self) -> bool:
        for info, done in zip(self.locals["infos"], self.locals["dones"], strict=True):
            for name, value in info.get("reward_terms", {}).items():
                self._add(f"reward/{name}", value)
            for name in STEP_SCALARS:
                if name in info:
                    self._add(f"charts/{name}", info[name])
            if done:
                episode = info.get("episode")
                if episode is not None:
                    self.returns.append(float(episode["r"]))
                    self.lengths.append(int(episode["l"]))
                fell = bool(info.get("fell", False))
                self.falls += fell
                terrain = info.get("terrain_type")
                if terrain is not None:
                    self.terrain_episodes[terrain] += 1
                    self.terrain_falls[terrain] += fell
        return True

    def _add(self, key: str, value: Any) -> None:
        self.step_sums[key] += float(value)
        self.step_counts[key] += 1

    def _on_rollout_end(self) -> None:
        for key, total in self.step_sums.items():
            self.logger.record(key, total / self.step_counts[key])
        if self.returns:
            self.logger.record("charts/episodic_return", float(np.mean(self.returns)))
            self.logger.record("charts/episode_length", float(np.mean(self.lengths)))
            self.logger.record("charts/fall_rate", self.falls / len(self.returns))
        for terrain, episodes in self.terrain_episodes.items():
            self.logger.record(f"charts/fall_rate_{terrain}", self.terrain_falls[terrain] / episodes)
        now = time.perf_counter()
        self.logger.record(
            "charts/SPS", (self.num_timesteps - self._last_steps) / max(now - self._last_time, 1e-9)
        )
        self._last_time, self._last_steps = now, self.num_timesteps
        self._reset_sums()


def next_level(level: int, top: int, promoted: bool, demoted: bool) -> int:
    """One push curriculum step: down one after ``demoted``, else up one after ``promoted``, within 0..top."""
    if demoted:
        return max(level - 1, 0)
    if promoted:
        return min(level + 1, top)
    return level


def next_terrain_level(
    level: int,
    top: int,
    distance: float,
    required_distance: float,
    promote_distance: float,
    rng: np.random.Generator,
    may_demote: bool = True,
    may_promote: bool = True,
    floor: int = 0,
) -> int:
    """legged_gym's terrain curriculum step (``_update_terrain_curriculum`` of ``legged_robot.py``).

    Up one level after an episode that ended more than ``promote_distance`` (half a terrain tile)
    from its start; otherwise down one if it ended less than ``required_distance`` (half of what
    the command asked for: ``0.5 * |commanded velocity| * episode length``) from it. A robot that
    clears the top level goes to a level drawn uniformly from floor..top; none goes below ``floor``
    (legged_gym: 0). ``may_demote=False`` keeps a level a short walk would lower (a fall blamed on a
    push); ``may_promote=False`` keeps a level a long walk would raise (an episode that ended in a fall).
    """
    if distance > promote_distance and may_promote:
        level += 1
    elif distance < required_distance and may_demote:
        level -= 1
    if level > top:
        return int(rng.integers(floor, top + 1))
    return max(level, floor)


class CurriculumCallback(BaseCallback):
    """Per-env terrain and push difficulty, moved at the end of each episode.

    With a push curriculum, a fall that comes within ``push_blame_seconds`` of the start of a push
    is the push's; any other fall (every fall, without one) is the terrain's. At the end of each
    episode:

    * terrain: legged_gym's rule (:func:`next_terrain_level`): one level up after ending more than
      ``promote_distance`` metres from the start, one down after ending less than half the
      distance the commands asked for (``0.5 * info["command_speed"] * episode_seconds``: the
      commands' mean planar speed over the whole episode length, so a fall early in an episode
      counts as a short walk), a random level after clearing the top one. A fall blamed on a push
      does not lower the terrain level. With ``promote_falls=False`` an episode that ended in a
      fall does not raise it, however far out it fell, and the demotion rule judges it instead
      (legged_gym promotes it: a robot that runs down a slope and falls climbing back counts as
      coping). The levels are kept per env and terrain type (columns in
      :data:`TERRAIN_TYPES` order). With ``per_terrain`` only the level of the episode's terrain
      type moves (legged_gym gives each terrain type its own column of levels), so stairs that
      topple the policy do not hold its slopes back; without it one level moves for every type.
      With ``floors`` no level of a type goes below that type's floor, so the policy keeps
      practising a terrain the rule would take it off (stairs it falls on hold a blind walker at
      2-5 cm steps). Sent with ``env_method("set_terrain_level")``, used from the env's next reset
      (the VecEnv has already reset it: from the episode after next);
    * pushes (when ``push_floors`` is given): one level up after an episode without a fall, one down
      after a fall of the push's. Level ``L`` draws every push from ``[push_floors[L], push_force
      high]`` (``env_method("set_push_floor")``, used from the next push), so the policy meets the
      top of its training range more often as it copes, not only a push of it now and then.

    Args:
        n_envs: number of training envs.
        max_terrain_level: highest terrain level the env accepts.
        promote_distance: metres from the start at an episode's end to move one terrain level up
            (``train.curriculum_promote_distance``; legged_gym: half a terrain tile).
        episode_seconds: the env's episode length (s), for the distance a command asks for.
        terrain_levels: starting terrain levels (e.g. from a checkpoint), ``(n_envs, len(TERRAIN_TYPES))``
            or one per env for every type, ``(n_envs,)``; zeros by default.
        terrain: whether the terrain levels move (``train.curriculum``).
        per_terrain: whether each terrain type has its own level (``train.curriculum_per_terrain``).
        promote_falls: whether an episode that ended in a fall may move its terrain level up
            (``train.curriculum_promote_falls``; legged_gym: yes).
        floors: lowest terrain level of each type named (``train.curriculum_floor``); the starting
            levels are raised to them. ``None`` or a type left out: 0.
        push_floors: lowest push force (N) of each push level; ``None``: no push curriculum.
        push_levels: starting push levels; zeros by default.
        push_blame_seconds: how soon after a push's start a fall counts as the push's.
        seed: seeds the draw of a random level for the robots that clear the top one.
    """

    def __init__(
        self,
        n_envs: int,
        max_terrain_level: int,
        promote_distance: float,
        episode_seconds: float = 20.0,
        terrain_levels: np.ndarray | None = None,
        terrain: bool = True,
        per_terrain: bool = False,
        promote_falls: bool = True,
        floors: Mapping[str, int] | None = None,
        push_floors: np.ndarray | None = None,
        push_levels: np.ndarray | None = None,
        push_blame_seconds: float = 2.0,
        seed: int | None = None,
    ):
        super().__init__()
        self.max_terrain_level = max_terrain_level
        self.promote_distance = promote_distance
        self.episode_seconds = episode_seconds
        self.rng = np.random.default_rng(seed)
        self.terrain = terrain
        self.per_terrain = per_terrain
        self.promote_falls = promote_falls
        self.push_floors = None if push_floors is None else np.asarray(push_floors, dtype=np.float64)
        self.push_blame_seconds = push_blame_seconds
        if terrain_levels is not None and np.ndim(terrain_levels) == 1:
            terrain_levels = np.repeat(np.asarray(terrain_levels)[:, None], len(TERRAIN_TYPES), axis=1)
        self.floors = np.zeros(len(TERRAIN_TYPES), dtype=np.int64)
        for kind, floor in (floors or {}).items():
            self.floors[TERRAIN_COLUMNS[kind]] = floor
        self.terrain_levels = np.maximum(
            starting_levels(terrain_levels, (n_envs, len(TERRAIN_TYPES)), "terrain"), self.floors
        )
        self.push_levels = starting_levels(push_levels, (n_envs,), "push")

    def _on_training_start(self) -> None:
        for index in range(len(self.push_levels)):
            if self.terrain:
                for kind in TERRAIN_TYPES:
                    self._send_terrain(index, kind)
            self._send_push(index)

    def _on_step(self) -> bool:
        for index, (info, done) in enumerate(zip(self.locals["infos"], self.locals["dones"], strict=True)):
            if not done:
                continue
            fell = bool(info.get("fell", False))
            push_fall = (
                self.push_floors is not None
                and fell
                and info.get("seconds_since_push", np.inf) <= self.push_blame_seconds
            )
            if self.terrain:
                kind = info["terrain_type"]
                old = self.terrain_levels[index, TERRAIN_COLUMNS[kind]]
                level = next_terrain_level(
                    old,
                    self.max_terrain_level,
                    distance=info.get("distance", 0.0),
                    required_distance=0.5 * info.get("command_speed", 0.0) * self.episode_seconds,
                    promote_distance=self.promote_distance,
                    rng=self.rng,
                    may_demote=not push_fall,
                    may_promote=self.promote_falls or not fell,
                    floor=int(self.floors[TERRAIN_COLUMNS[kind]]),
                )
                if level != old:
                    if self.per_terrain:
                        self.terrain_levels[index, TERRAIN_COLUMNS[kind]] = level
                    else:
                        self.terrain_levels[index] = level
                    self._send_terrain(index, kind if self.per_terrain else None)
            if self.push_floors is not None:
                old = self.push_levels[index]
                self.push_levels[index] = next_level(
                    old, len(self.push_floors) - 1, promoted=not fell, demoted=push_fall
                )
                if self.push_levels[index] != old:
                    self._send_push(index)
        return True

    def _on_rollout_end(self) -> None:
        if self.terrain:
            for kind, column in TERRAIN_COLUMNS.items():
                if kind != "flat":  # flat ground has no difficulty
                    self.logger.record(
                        f"curriculum/level_{kind}", float(self.terrain_levels[:, column].mean())
                    )
        if self.push_floors is not None:
            self.logger.record("curriculum/push_level", float(self.push_levels.mean()))

    def level(self, kind: str) -> int:
        """The training envs' mean level of terrain type ``kind``, rounded (what a video shows)."""
        return round(float(self.terrain_levels[:, TERRAIN_COLUMNS[kind]].mean()))

    def _send_terrain(self, index: int, kind: str | None) -> None:
        """The level of ``kind`` (``None``: of every type, all equal) to env ``index``."""
        level = int(self.terrain_levels[index, TERRAIN_COLUMNS[kind] if kind is not None else 0])
        self.training_env.env_method("set_terrain_level", level, kind, indices=[index])

    def _send_push(self, index: int) -> None:
        if self.push_floors is not None:
            floor = float(self.push_floors[self.push_levels[index]])
            self.training_env.env_method("set_push_floor", floor, indices=[index])


def starting_levels(levels: np.ndarray | None, shape: tuple[int, ...], what: str) -> np.ndarray:
    if levels is None:
        return np.zeros(shape, dtype=np.int64)
    levels = np.asarray(levels, dtype=np.int64).copy()
    if levels.shape != shape:
        raise ValueError(f"need {what} curriculum levels of shape {shape}, got shape {levels.shape}")
    return levels


def next_multiple(step: int, every_steps: int) -> int:
    """The first multiple of ``every_steps`` after ``step``: when a periodic callback acts next (a
    resumed run keeps the schedule of the run it continues)."""
    return (step // every_steps + 1) * every_steps


def video_slot(step: int, every_steps: int) -> int:
    """The place in the terrain cycle of a start or end video at env step ``step``:
    ``ceil(step / every_steps)``, the place of the next periodic video (the one at ``m * every_steps``
    has place ``m``), so a run's end video shows the terrain its last periodic one did not."""
    return -(-step // every_steps)


class RolloutVideoCallback(BaseCallback):
    """Renders the deterministic policy for ``seconds`` into TensorBoard, one terrain type per video.

    A video at the start of training (before the first rollout), one every ``every_steps`` env
    steps and one at the normal end of training (unless a periodic one was just logged at that
    step), each written at once under ``videos/rollout_<terrain type>`` at the step it shows.

    The videos cycle through ``terrains``: video place ``k`` shows ``terrains[k % len(terrains)]``.
    Places follow the step count, so a resumed run carries on the cycle without saving it: the
    periodic video at ``m * every_steps`` has place ``m``; a start or end video at step ``s`` has
    :func:`video_slot` (0 at a fresh start), and a resumed run's start video the place after it, so
    a run's end video and its resumption at the same step show different terrains.

    Args:
        make_render_env: builds, for a terrain type, one env with ``render_mode="rgb_array"`` that
            shows only that type (called once per type, lazily).
        every_steps: environment steps between periodic videos.
        seconds: length of each video in simulated seconds.
        control_dt: seconds per control step (to turn ``seconds`` into steps).
        frame_skip: render every ``frame_skip``-th control step (software rendering is slow).
        terrains: the terrain types to cycle through (``train.video_terrains``).
        terrain_level: the curriculum's level of a terrain type now, set on the render env before
            each video; ``None``: the render env keeps its ``env.terrain.initial_level``.
    """

    def __init__(
        self,
        make_render_env: Callable[[str], Any],
        every_steps: int,
        seconds: float,
        control_dt: float,
        frame_skip: int = 2,
        terrains: Sequence[str] = ("flat",),
        terrain_level: Callable[[str], int] | None = None,
    ) -> None:
        super().__init__()
        if not terrains:
            raise ValueError("need at least one terrain type for the videos")
        self.make_render_env = make_render_env
        self.every_steps = every_steps
        self.control_steps = max(1, round(seconds / control_dt))
        self.frame_skip = frame_skip
        self.fps = max(1, round(1.0 / (control_dt * frame_skip)))
        self.terrains = tuple(terrains)
        self.terrain_level = terrain_level
        self.next_video_step = every_steps
        self.last_video_step: int | None = None
        self.render_envs: dict[str, Any] = {}

    def _on_training_start(self) -> None:
        self.next_video_step = next_multiple(self.num_timesteps, self.every_steps)
        start = self.num_timesteps
        self.log_video(video_slot(start, self.every_steps) + (start > 0))

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.num_timesteps < self.next_video_step:
            return
        self.next_video_step = next_multiple(self.num_timesteps, self.every_steps)
        self.log_video(self.num_timesteps // self.every_steps)

    def _on_training_end(self) -> None:
        try:
            if self.last_video_step != self.num_timesteps:
                self.log_video(video_slot(self.num_timesteps, self.every_steps))
        finally:
            for env in self.render_envs.values():
                env.close()
            self.render_envs.clear()

    def log_video(self, place: int) -> None:
        """Render the terrain of cycle place ``place`` and write it to TensorBoard at this step."""
        terrain = self.terrains[place % len(self.terrains)]
        frames = self.record(terrain)
        self.last_video_step = self.num_timesteps
        if not frames:
            return
        video = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).unsqueeze(0)  # (1, T, C, H, W)
        key = f"videos/rollout_{terrain}"
        # written now, not with the rollout's scalars: the start video comes before any dump and
        # the end one after the last
        for output in self.logger.output_formats:
            output.write({key: Video(video, fps=self.fps)}, {key: NOT_FOR_TEXT_LOGS}, self.num_timesteps)

    def record(self, terrain: str) -> list[np.ndarray]:
        """Frames of one deterministic rollout on ``terrain`` (stops early if the robot falls)."""
        if terrain not in self.render_envs:
            self.render_envs[terrain] = self.make_render_env(terrain)
        env = self.render_envs[terrain]
        if self.terrain_level is not None:
            env.unwrapped.set_terrain_level(self.terrain_level(terrain), terrain)
        return render_rollout(self.model, env, self.control_steps, self.frame_skip)


class EvaluationCallback(BaseCallback):
    """Evaluates the deterministic policy while it trains, as ``python -m clrl.evaluate humanoid`` does.

    Every ``every_steps`` env steps (at the end of a rollout) and at the normal end of training, it
    runs ``episodes`` episodes of each scenario (episode ``i`` reset with seed ``seed + i``: the
    same episodes every time, so the figures of one run compare across steps), with observations
    normalised by the training VecNormalize's statistics of the moment, and logs
    ``eval/<scenario>/<metric>`` for each of :attr:`METRICS` and one line of text. The policies of
    a long run swing between evaluations by more than their trend, so ``keep(step)``, if given,
    saves the evaluated policy: every figure then belongs to a file that can be evaluated further
    or shipped.
    """

    METRICS = ("fall_rate", "lin_tracking_error", "heading_drift", "distance_m")

    def __init__(
        self,
        scenarios: Sequence[Scenario],
        every_steps: int,
        episodes: int,
        parallel_envs: int,
        keep: Callable[[int], object] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.scenarios = tuple(scenarios)
        self.every_steps = every_steps
        self.episodes = episodes
        self.seed = seed
        self.parallel_envs = max(1, min(parallel_envs, episodes))
        self.keep = keep
        self.next_eval_step = every_steps
        self.last_eval_step: int | None = None
        self.envs: dict[str, list[Any]] = {}

    def _on_training_start(self) -> None:
        self.next_eval_step = next_multiple(self.num_timesteps, self.every_steps)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.num_timesteps < self.next_eval_step:
            return
        self.next_eval_step = next_multiple(self.num_timesteps, self.every_steps)
        self.evaluate()  # SB3 writes the scalars with the rollout's

    def _on_training_end(self) -> None:
        try:
            if self.last_eval_step != self.num_timesteps:
                self.evaluate()
                self.logger.dump(self.num_timesteps)
        finally:
            for envs in self.envs.values():
                for env in envs:
                    env.close()
            self.envs.clear()

    def evaluate(self) -> None:
        """Evaluate every scenario now, record its scalars and print one line."""
        step = self.num_timesteps
        self.last_eval_step = step
        kept = None if self.keep is None else Path(self.keep(step))
        normalizer = self.model.get_vec_normalize_env()
        parts = []
        for scenario in self.scenarios:
            if scenario.name not in self.envs:
                self.envs[scenario.name] = [make_scenario_env(scenario) for _ in range(self.parallel_envs)]
            envs = self.envs[scenario.name]
            started = time.perf_counter()
            records = run_on_envs(self.model, normalizer, envs, self.episodes, seed=self.seed)
            unwrapped = envs[0].unwrapped
            result = summarise(
                scenario.name,
                records,
                float(unwrapped.control_dt),
                float(unwrapped.robot_weight),
                kept or Path(),
                step,
                time.perf_counter() - started,
            )
            for metric in self.METRICS:
                self.logger.record(f"eval/{scenario.name}/{metric}", getattr(result, metric))
            falls = round(result.fall_rate * result.episodes)
            parts.append(
                f"{scenario.name} {result.lin_tracking_error:.3f} m/s, {result.distance_m:.2f} m, "
                f"{falls}/{result.episodes} falls"
            )
        where = "" if kept is None else f" (policy kept as {kept})"
        tqdm.write(f"evaluation at step {step}: " + "; ".join(parts) + where)


class PeriodicCheckpointCallback(BaseCallback):
    """Saves ``save()`` every ``every_steps`` env steps, at the end of a rollout (atomically)."""

    def __init__(self, save: Callable[[], object], every_steps: int) -> None:
        super().__init__()
        self.save = save
        self.every_steps = every_steps
        self.next_save_step = every_steps

    def _on_training_start(self) -> None:
        self.next_save_step = next_multiple(self.num_timesteps, self.every_steps)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.num_timesteps >= self.next_save_step:
            self.save()
            self.next_save_step = next_multiple(self.num_timesteps, self.every_steps)


class ProgressBarCallback(BaseCallback):
    """A tqdm bar over environment steps (its rate is env steps/s) with the latest mean return."""

    def __init__(self, total_steps: int, disable: bool | None = None) -> None:
        super().__init__()
        self.total_steps = total_steps
        self.disable = disable
        self.bar: tqdm | None = None

    def _on_training_start(self) -> None:
        self.bar = tqdm(
            total=self.total_steps,
            initial=self.num_timesteps,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            disable=self.disable if self.disable is not None else not os.isatty(2),
        )

    def _on_step(self) -> bool:
        assert self.bar is not None
        self.bar.update(self.training_env.num_envs)
        return True

    def _on_rollout_end(self) -> None:
        assert self.bar is not None
        returns = self.logger.name_to_value.get("charts/episodic_return")
        if returns is not None:
            self.bar.set_postfix(ret=f"{returns:.2f}", refresh=False)

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


class UpdateThreadsCallback(BaseCallback):
    """Gives the PPO update ``update_threads`` torch threads and the rollout ``rollout_threads``.

    While the rollout runs, the env worker processes need the cores and the policy's forward pass
    on a few observations gains nothing from threads; during the update the workers wait, so the
    minibatch gradients may use every core.
    """

    def __init__(self, rollout_threads: int, update_threads: int) -> None:
        super().__init__()
        self.rollout_threads = rollout_threads
        self.update_threads = update_threads

    def _on_rollout_start(self) -> None:
        torch.set_num_threads(self.rollout_threads)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        torch.set_num_threads(self.update_threads)

    def _on_training_end(self) -> None:
        torch.set_num_threads(self.rollout_threads)
