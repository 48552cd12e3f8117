"""TensorBoard rollout videos: which terrain each one shows, and when (``RolloutVideoCallback``)."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from stable_baselines3.common.logger import Video

from clrl.agents.callbacks import RolloutVideoCallback, video_slot
from clrl.agents.environment import make_terrain_render_env
from clrl.config import load_config

TERRAINS = ("flat", "stairs_up", "slope_up")


class FakeRenderEnv:
    """Two-pixel frames, an episode that never ends, and the terrain levels it was given."""

    def __init__(self, kind: str, levels: list[tuple[str, int, str | None]]) -> None:
        self.kind = kind
        self.levels = levels
        self.unwrapped = self
        self.closed = False

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict]:
        return np.zeros(3), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        return np.zeros(3), 0.0, False, False, {}

    def render(self) -> np.ndarray:
        return np.zeros((2, 2, 3), dtype=np.uint8)

    def set_terrain_level(self, level: int, kind: str | None = None) -> None:
        self.levels.append((self.kind, level, kind))

    def close(self) -> None:
        self.closed = True


class FakeOutput:
    """An SB3 output format that keeps ``(step, tag)`` of every video written to it."""

    def __init__(self) -> None:
        self.videos: list[tuple[int, str]] = []

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        ((key, value),) = key_values.items()
        assert isinstance(value, Video) and value.frames.shape[:2] == (1, 3)  # (1, T, C, H, W)
        assert "tensorboard" not in key_excluded[key]
        self.videos.append((step, key))


def run_part(
    start: int, end: int, every: int, rollout: int = 64, level: int | None = None
) -> tuple[list[tuple[int, str]], list[tuple[str, int, str | None]], list[FakeRenderEnv]]:
    """A run (or a resumed part of one) from step ``start`` to ``end``, one rollout at a time."""
    output, levels, envs = FakeOutput(), [], []

    def make(kind: str) -> FakeRenderEnv:
        envs.append(FakeRenderEnv(kind, levels))
        return envs[-1]

    model = SimpleNamespace(
        num_timesteps=start,
        logger=SimpleNamespace(output_formats=[output]),
        get_vec_normalize_env=lambda: None,
        predict=lambda observation, deterministic: (np.zeros(1), None),
    )
    callback = RolloutVideoCallback(
        make,
        every_steps=every,
        seconds=0.08,
        control_dt=0.02,
        frame_skip=2,
        terrains=TERRAINS,
        terrain_level=None if level is None else lambda kind: level,
    )
    callback.init_callback(model)
    callback.on_training_start({}, {})
    for step in range(start + rollout, end + 1, rollout):
        model.num_timesteps = step
        callback.on_step()
        callback.on_rollout_end()
    callback.on_training_end()
    return output.videos, levels, envs


def test_the_video_slot_is_the_place_of_the_next_periodic_video() -> None:
    assert [video_slot(step, 100) for step in (0, 1, 99, 100, 101, 200, 201)] == [0, 1, 1, 1, 2, 2, 3]


def test_a_run_shorter_than_video_every_gets_a_start_and_an_end_video_on_other_terrains() -> None:
    videos, _, envs = run_part(0, 128, every=100_000)
    assert videos == [(0, "videos/rollout_flat"), (128, "videos/rollout_stairs_up")]
    assert [env.kind for env in envs] == ["flat", "stairs_up"] and all(env.closed for env in envs)


def test_periodic_videos_cycle_the_terrains_and_the_cycle_follows_the_step_count_across_a_resume() -> None:
    # every 100 steps, 64-step rollouts: periodic videos when a rollout passes 100, 200, 300 ...
    first, _, _ = run_part(0, 256, every=100)
    assert first == [
        (0, "videos/rollout_flat"),  # start: place 0
        (128, "videos/rollout_stairs_up"),  # passed 100: place 1
        (256, "videos/rollout_slope_up"),  # passed 200: place 2; no end video at the same step
    ]
    resumed, _, _ = run_part(256, 448, every=100)
    assert resumed == [
        (256, "videos/rollout_stairs_up"),  # resumed start: the place after ceil(256 / 100) = 3
        (320, "videos/rollout_flat"),  # passed 300: place 3, as without the stop
        (448, "videos/rollout_stairs_up"),  # passed 400: place 4
    ]
    # a run that ends between periodic videos: the end video shows the terrain of the next one
    ended, _, _ = run_part(0, 192, every=100)
    assert ended[-1] == (192, "videos/rollout_slope_up")


def test_each_video_env_gets_the_curriculum_level_of_its_terrain() -> None:
    _, levels, _ = run_part(0, 128, every=100_000, level=7)
    assert levels == [("flat", 7, "flat"), ("stairs_up", 7, "stairs_up")]
    _, levels, _ = run_part(0, 128, every=100_000)
    assert levels == []  # no curriculum: the env's initial level


@pytest.mark.parametrize(
    ("kind", "field", "top"), [("stairs_up", "step_height", 0.14), ("slope_up", "slope_degrees", 22.0)]
)
def test_the_render_env_shows_only_its_terrain_at_the_level_it_is_given(
    kind: str, field: str, top: float
) -> None:
    config = load_config("humanoid")
    training_terrain = copy.deepcopy(config["env"]["terrain"])
    env = make_terrain_render_env(config["env"], kind)
    try:
        for _ in range(3):
            env.reset(seed=None)
            assert env.unwrapped.terrain.kind == kind
        env.unwrapped.set_terrain_level(int(config["env"]["terrain"]["levels"]) - 1, kind)
        env.reset(seed=0)
        assert getattr(env.unwrapped.terrain, field) == pytest.approx(top)
    finally:
        env.close()
    assert config["env"]["terrain"] == training_terrain  # the training envs' config is left as it was
