"""The per-env terrain and push curriculum: its level rules (legged_gym's for the terrain), what it
sends to real humanoid envs, what it logs, and the levels a resumed run starts from."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import DummyVecEnv

from clrl.agents.callbacks import CurriculumCallback, next_level, next_terrain_level
from clrl.agents.checkpointing import read_agent
from clrl.agents.environment import make_env
from clrl.agents.training import CHECKPOINT_NAME, check_config, push_floors
from clrl.checkpoint import save_checkpoint
from clrl.config import ConfigError, load_config
from clrl.envs.humanoid.terrain import TERRAIN_TYPES
from clrl.train import main as train_main

CONFIG = load_config("humanoid")


def test_next_push_level_moves_one_step_within_bounds_and_a_demotion_wins():
    assert next_level(2, 4, promoted=True, demoted=False) == 3
    assert next_level(4, 4, promoted=True, demoted=False) == 4
    assert next_level(2, 4, promoted=False, demoted=True) == 1
    assert next_level(0, 4, promoted=False, demoted=True) == 0
    assert next_level(2, 4, promoted=True, demoted=True) == 1
    assert next_level(2, 4, promoted=False, demoted=False) == 2


def terrain_step(level: int, distance: float, required: float = 5.0, **kwargs) -> int:
    """One terrain step at top level 9, half a tile of 4 m, ``required`` m asked for."""
    rng = kwargs.pop("rng", np.random.default_rng(0))
    return next_terrain_level(level, 9, distance, required, promote_distance=4.0, rng=rng, **kwargs)


def test_terrain_level_follows_legged_gyms_promote_and_demote_rule():
    assert terrain_step(3, distance=4.5) == 4  # past half a tile: up, though short of the 5 m asked for
    assert terrain_step(3, distance=4.0, required=3.0) == 3  # exactly half a tile is not more: stays
    assert terrain_step(3, distance=2.0) == 2  # under half the commanded distance: down
    assert terrain_step(3, distance=2.0, required=1.5) == 3  # between the two: stays
    assert terrain_step(0, distance=0.0) == 0  # never below level 0
    assert terrain_step(3, distance=0.0, required=0.0) == 3  # a standing command asks for nothing
    assert terrain_step(3, distance=0.0, may_demote=False) == 3  # a fall blamed on a push
    assert terrain_step(3, distance=6.0, may_demote=False) == 4
    assert terrain_step(3, distance=6.0, may_promote=False) == 3  # fell far out: no promotion
    assert terrain_step(3, distance=2.0, may_promote=False) == 2  # still demoted by a short walk


def test_robots_that_clear_the_top_level_go_to_a_random_level():
    rng = np.random.default_rng(0)
    levels = [terrain_step(9, distance=5.0, rng=rng) for _ in range(400)]
    assert set(levels) == set(range(10))  # uniform over 0..9, the top included, as in legged_gym
    assert terrain_step(8, distance=5.0) == 9  # reaching the top is not clearing it


def test_a_terrain_floor_holds_demotions_and_the_random_level_after_the_top():
    assert terrain_step(4, distance=0.0, floor=4) == 4  # a fall at the floor: stays
    assert terrain_step(5, distance=0.0, floor=4) == 4
    assert terrain_step(4, distance=5.0, floor=4) == 5  # promotion as without a floor
    rng = np.random.default_rng(0)
    levels = [terrain_step(9, distance=5.0, rng=rng, floor=4) for _ in range(400)]
    assert set(levels) == set(range(4, 10))


def test_a_floor_raises_the_starting_levels_of_its_type_and_holds_its_episodes(venv):
    curriculum = CurriculumCallback(
        4,
        max_terrain_level=9,
        promote_distance=3.0,
        terrain_levels=np.full((4, len(TERRAIN_TYPES)), 2),
        per_terrain=True,
        floors={"stairs_up": 4},
    )
    stairs = TERRAIN_TYPES.index("stairs_up")
    np.testing.assert_array_equal(curriculum.terrain_levels[:, stairs], [4, 4, 4, 4])
    curriculum.init_callback(SimpleNamespace(get_env=lambda: venv, num_timesteps=0))
    curriculum.on_training_start({}, {})
    curriculum.locals = {
        "dones": np.array([True, True, True, True]),
        "infos": [
            episode_end(fell=True, terrain="stairs_up"),  # at the floor: stays
            episode_end(fell=False, distance=4.0, terrain="stairs_up"),
            episode_end(fell=True, terrain="slope_up"),  # no floor: down
            episode_end(fell=True, terrain="stairs_up"),
        ],
    }
    curriculum.on_step()
    assert levels_of(venv, "stairs_up") == [4, 5, 4, 4]
    assert levels_of(venv, "slope_up") == [2, 2, 1, 2]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.curriculum_floor.stairs_up=10"], "stairs_up must be a level of 0 to 9, got 10"),
        (["train.curriculum_floor.stairs_up=-1"], "stairs_up must be a level of 0 to 9, got -1"),
        (
            ["train.curriculum_floor.stairs_up=4", "train.curriculum_per_terrain=false"],
            "needs train.curriculum_per_terrain: true",
        ),
    ],
)
def test_a_floor_outside_the_levels_or_under_one_shared_level_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_config(load_config("humanoid", overrides=overrides))


def test_a_floor_for_a_type_without_levels_is_refused():
    config = load_config("humanoid")
    config["train"]["curriculum_floor"] = {"flat": 1}
    with pytest.raises(ConfigError, match="no terrain type with levels: 'flat'"):
        check_config(config)


def test_push_floors_span_the_configured_floor_and_stay_in_the_training_range():
    np.testing.assert_allclose(push_floors(CONFIG), np.linspace(0.0, 60.0, 5))
    config = {**CONFIG, "train": {**CONFIG["train"], "push_floor": [0.0, 81.0]}}
    with pytest.raises(ConfigError, match="push_force \\[0, 80\\]"):
        push_floors(config)


def episode_end(
    fell: bool,
    distance: float = 0.0,
    since_push: float = math.inf,
    terrain: str = "rough",
    command_speed: float = 0.5,
) -> dict:
    """An episode's last info: with the 20 s episodes of the tests a 0.5 m/s command asks for 10 m,
    so an episode that ends under 5 m from its start goes down unless it passed half a tile."""
    return {
        "fell": fell,
        "distance": distance,
        "seconds_since_push": since_push,
        "terrain_type": terrain,
        "command_speed": command_speed,
    }


def levels_of(venv, kind: str) -> list[int]:
    """The level each env will use for terrain ``kind`` from its next reset."""
    return [levels[kind] for levels in venv.get_attr("terrain_levels")]


@pytest.fixture(scope="module")
def venv():
    envs = DummyVecEnv([lambda: make_env(CONFIG["env"]) for _ in range(4)])
    yield envs
    envs.close()


def test_falls_are_blamed_on_a_recent_push_or_on_the_terrain(venv):
    curriculum = CurriculumCallback(
        4,
        max_terrain_level=9,
        promote_distance=3.0,
        terrain_levels=np.array([2, 2, 2, 2]),
        push_floors=np.array([0.0, 30.0, 60.0]),
        push_levels=np.array([1, 1, 1, 1]),
        push_blame_seconds=2.0,
    )
    curriculum.init_callback(SimpleNamespace(get_env=lambda: venv, num_timesteps=0))
    curriculum.on_training_start({}, {})
    assert all(
        levels_of(venv, kind) == [2, 2, 2, 2] for kind in TERRAIN_TYPES
    )  # one level per env, every type
    assert venv.get_attr("push_floor") == [30.0, 30.0, 30.0, 30.0]

    curriculum.locals = {
        "dones": np.array([True, True, True, False]),
        "infos": [
            episode_end(fell=False, distance=4.0),  # past half a tile (3 m here), no fall: both up
            episode_end(fell=True, since_push=1.2),  # toppled by a push: pushes down, terrain stays
            episode_end(fell=True, since_push=5.0),  # fell long after a push, short: terrain down
            episode_end(fell=True, since_push=0.1),  # still running: nothing changes
        ],
    }
    curriculum.on_step()
    # without curriculum_per_terrain an episode on any terrain moves the level of every type
    np.testing.assert_array_equal(curriculum.terrain_levels, np.repeat([[3], [2], [1], [2]], 6, axis=1))
    np.testing.assert_array_equal(curriculum.push_levels, [2, 0, 1, 1])
    assert all(levels_of(venv, kind) == [3, 2, 1, 2] for kind in TERRAIN_TYPES)
    assert venv.get_attr("push_floor") == [60.0, 0.0, 30.0, 30.0]


def test_without_push_floors_only_the_terrain_moves_and_every_fall_is_the_terrains(venv):
    for env in venv.envs:
        env.unwrapped.set_push_floor(0.0)
    curriculum = CurriculumCallback(
        4, max_terrain_level=9, promote_distance=3.0, terrain_levels=np.array([0, 0, 2, 0])
    )
    curriculum.init_callback(SimpleNamespace(get_env=lambda: venv, num_timesteps=0))
    curriculum.on_training_start({}, {})
    curriculum.locals = {
        "dones": np.array([True, True, True, False]),
        "infos": [
            episode_end(fell=False, distance=4.0),
            episode_end(fell=False),  # stood still under a walking command: down, but 0 is the floor
            episode_end(fell=True, since_push=0.5),  # every fall is the terrain's: down
            {},
        ],
    }
    curriculum.on_step()
    np.testing.assert_array_equal(curriculum.terrain_levels[:, 0], [1, 0, 1, 0])
    np.testing.assert_array_equal(curriculum.push_levels, [0, 0, 0, 0])
    assert venv.get_attr("push_floor") == [0.0, 0.0, 0.0, 0.0]


def test_per_terrain_levels_move_only_the_episodes_terrain_type(venv):
    start = np.full((4, len(TERRAIN_TYPES)), 3)
    curriculum = CurriculumCallback(
        4, max_terrain_level=9, promote_distance=3.0, terrain_levels=start, per_terrain=True
    )
    curriculum.init_callback(SimpleNamespace(get_env=lambda: venv, num_timesteps=0))
    curriculum.on_training_start({}, {})
    curriculum.locals = {
        "dones": np.array([True, True, True, True]),
        "infos": [
            episode_end(fell=True, terrain="stairs_up"),  # stairs down a level, slopes stay
            episode_end(fell=False, distance=4.0, terrain="slope_up"),  # slopes up, stairs stay
            # 2 m: short of half a tile, over half of the 0.1 m/s x 20 s asked for: no change
            episode_end(fell=False, distance=2.0, terrain="stairs_up", command_speed=0.1),
            episode_end(fell=True, terrain="slope_up"),
        ],
    }
    curriculum.on_step()
    assert levels_of(venv, "stairs_up") == [2, 3, 3, 3]
    assert levels_of(venv, "slope_up") == [3, 4, 3, 2]
    assert levels_of(venv, "rough") == [3, 3, 3, 3]
    stairs, slopes = TERRAIN_TYPES.index("stairs_up"), TERRAIN_TYPES.index("slope_up")
    np.testing.assert_array_equal(curriculum.terrain_levels[:, stairs], [2, 3, 3, 3])
    np.testing.assert_array_equal(curriculum.terrain_levels[:, slopes], [3, 4, 3, 2])


@pytest.mark.parametrize("promote_falls", [True, False])
def test_a_fall_far_out_moves_up_only_when_falls_may_promote(venv, promote_falls):
    curriculum = CurriculumCallback(
        4,
        max_terrain_level=9,
        promote_distance=3.0,
        terrain_levels=np.full((4, len(TERRAIN_TYPES)), 3),
        per_terrain=True,
        promote_falls=promote_falls,
    )
    curriculum.init_callback(SimpleNamespace(get_env=lambda: venv, num_timesteps=0))
    curriculum.on_training_start({}, {})
    curriculum.locals = {
        "dones": np.array([True, True, True, True]),
        "infos": [
            episode_end(fell=True, distance=4.0, terrain="slope_down"),  # ran down, fell climbing back
            episode_end(fell=False, distance=4.0, terrain="slope_down"),
            episode_end(fell=True, distance=1.0, terrain="slope_down"),
            episode_end(fell=True, distance=8.0, terrain="slope_down"),  # fell past half the 10 m asked
        ],
    }
    curriculum.on_step()
    # not promoted, a fall is judged by the demotion rule: down 4 m out (under half the 10 m asked
    # for), kept 8 m out
    far_fall, farther_fall = (4, 4) if promote_falls else (2, 3)
    assert levels_of(venv, "slope_down") == [far_fall, 4, 2, farther_fall]


def test_the_mean_level_of_each_terrain_type_is_logged_under_curriculum(venv):
    start = np.arange(4 * len(TERRAIN_TYPES)).reshape(4, len(TERRAIN_TYPES)) % 10
    curriculum = CurriculumCallback(
        4,
        max_terrain_level=9,
        promote_distance=3.0,
        terrain_levels=start,
        per_terrain=True,
        push_floors=np.array([0.0, 30.0]),
        push_levels=np.array([1, 0, 0, 1]),
    )
    logger = Logger(folder=None, output_formats=[])
    curriculum.init_callback(SimpleNamespace(get_env=lambda: venv, num_timesteps=0, logger=logger))
    curriculum.on_rollout_end()
    logged = logger.name_to_value
    for column, kind in enumerate(TERRAIN_TYPES):
        if kind == "flat":  # no difficulty: nothing to show
            assert f"curriculum/level_{kind}" not in logged
        else:
            assert logged[f"curriculum/level_{kind}"] == pytest.approx(start[:, column].mean())
    assert {"curriculum/level_stairs_up", "curriculum/level_slope_down"} <= set(logged)
    assert logged["curriculum/push_level"] == pytest.approx(0.5)


def test_levels_of_a_file_written_before_per_terrain_levels_apply_to_every_type():
    curriculum = CurriculumCallback(
        2, max_terrain_level=9, promote_distance=3.0, terrain_levels=np.array([4, 1])
    )
    np.testing.assert_array_equal(curriculum.terrain_levels, [[4] * 6, [1] * 6])
    with pytest.raises(ValueError, match="shape"):
        CurriculumCallback(2, max_terrain_level=9, promote_distance=3.0, terrain_levels=np.zeros((2, 5)))


class TrainingStarted(Exception):
    """Raised once the curriculum has sent its starting levels, ending the run before a rollout."""


@pytest.fixture
def levels_at_start(monkeypatch: pytest.MonkeyPatch) -> dict:
    """What the curriculum of the next training run starts from, and what its envs were sent."""
    seen: dict = {}
    send_levels = CurriculumCallback._on_training_start

    def record(self: CurriculumCallback) -> None:
        send_levels(self)
        venv = self.training_env
        sent = venv.get_attr("terrain_levels")  # per env: {terrain type: level}
        seen.update(
            terrain=self.terrain_levels.copy(),
            push=self.push_levels.copy(),
            sent_terrain=[[levels[kind] for kind in TERRAIN_TYPES] for levels in sent],
            sent_push_floor=venv.get_attr("push_floor"),
        )
        raise TrainingStarted

    monkeypatch.setattr(CurriculumCallback, "_on_training_start", record)
    return seen


@pytest.mark.parametrize("start", ["resume", "init_from"])
def test_resume_and_fine_tune_start_from_the_saved_levels_of_every_env_and_terrain_type(
    start: str,
    levels_at_start: dict,
    tiny_run: Path,
    tiny_overrides: tuple[str, ...],
    tiny_steps: int,
    tmp_path: Path,
) -> None:
    terrain = np.array([[1, 2, 3, 4, 5, 6], [9, 8, 7, 6, 5, 4]])  # a level per env and terrain type
    push = np.array([3, 1])
    saved = read_agent(tiny_run / CHECKPOINT_NAME)
    state = {
        **saved.state,
        "terrain_levels": torch.from_numpy(terrain),
        "push_levels": torch.from_numpy(push),
    }
    run_dir = tmp_path / "run"
    source = run_dir / CHECKPOINT_NAME if start == "resume" else tmp_path / "source.pt"
    save_checkpoint(source, job="humanoid", step=saved.step, config=saved.config, state=state)
    argv = ["humanoid", "--steps", str(tiny_steps + 64), "--run-dir", str(run_dir), *tiny_overrides]
    argv += ["train.video_every=0", "train.curriculum_per_terrain=true"]
    argv += ["--resume"] if start == "resume" else [f"train.init_from={source}"]
    with pytest.raises(TrainingStarted):
        train_main(argv)
    np.testing.assert_array_equal(levels_at_start["terrain"], terrain)
    np.testing.assert_array_equal(levels_at_start["push"], push)
    assert levels_at_start["sent_terrain"] == terrain.tolist()
    floors = push_floors(load_config("humanoid", overrides=list(tiny_overrides)))
    assert levels_at_start["sent_push_floor"] == [floors[3], floors[1]]
