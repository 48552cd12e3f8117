"""Gymnasium env (check_env, rewards, rendering, options) and the trajectory dataset builder."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import clrl.envs  # noqa: F401  (registers clrl/Sokoban-v0)
from clrl.envs.sokoban.dataset import DatasetError, build_trajectories, load_trajectories, save_trajectories
from clrl.envs.sokoban.env import SokobanEnv
from clrl.envs.sokoban.generator import generate_levels
from clrl.envs.sokoban.kernels import is_solved, one_hot, replay_states
from clrl.envs.sokoban.levels import Level, parse_level
from clrl.envs.sokoban.viewer import TILE_SIZE

UP, DOWN, LEFT, RIGHT = range(4)

CORRIDOR = parse_level(
    """
#######
#@$ . #
#  $. #
#######
""".strip("\n")
)


@pytest.mark.parametrize("render_mode", ["ansi", "rgb_array"])
def test_check_env_passes(render_mode):
    env = gym.make("clrl/Sokoban-v0", render_mode=render_mode, levels=[CORRIDOR], dim_room=(6, 8))
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (7, 6, 8) and env.observation_space.contains(obs)


def test_generated_levels_by_default_and_check_env():
    env = gym.make("clrl/Sokoban-v0").unwrapped
    check_env(env)
    first, _ = env.reset(seed=1)
    second, _ = env.reset(seed=1)
    assert (first == second).all()


def test_rewards_and_termination():
    env = SokobanEnv(levels=[CORRIDOR], dim_room=(4, 7))
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(RIGHT)  # box to (1, 3): not on a goal yet
    assert reward == pytest.approx(-0.1) and info["pushed"] and not terminated
    _, reward, terminated, _, info = env.step(RIGHT)  # box onto the goal at (1, 4)
    assert reward == pytest.approx(0.9) and info["boxes_on_goal"] == 1
    _, reward, _, _, _ = env.step(RIGHT)  # box pushed off the goal again
    assert reward == pytest.approx(-1.1)
    _, reward, _, _, info = env.step(DOWN)  # walk onto the lower goal
    assert reward == pytest.approx(-0.1) and info["moved"] and not info["pushed"]
    _, _, _, _, info = env.step(UP)
    assert info["moved"] and not info["pushed"]
    _, reward, _, _, info = env.step(UP)  # into the wall: nothing moves, the step still costs
    assert reward == pytest.approx(-0.1) and not info["moved"]


def test_solving_gives_the_solved_bonus():
    level = parse_level("######\n#@$.*#\n######")
    env = SokobanEnv(levels=[level], dim_room=(3, 6))
    env.reset(seed=0)
    _, reward, terminated, truncated, _ = env.step(RIGHT)
    assert terminated and not truncated and reward == pytest.approx(-0.1 + 1 + 10)


def test_truncation_after_max_steps():
    env = SokobanEnv(levels=[CORRIDOR], max_episode_steps=3)
    env.reset(seed=0)
    results = [env.step(UP) for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]


def test_render_modes_and_padding():
    env = SokobanEnv(render_mode="rgb_array", levels=[CORRIDOR])
    obs, _ = env.reset(seed=0)
    picture = env.render()
    assert picture.shape == (10 * TILE_SIZE, 10 * TILE_SIZE, 3) and picture.dtype == np.uint8
    assert obs[0, 5:].all()  # padding rows are walls
    text = SokobanEnv(render_mode="ansi", levels=[CORRIDOR], dim_room=(4, 7))
    text.reset(seed=0)
    assert text.render() == str(CORRIDOR) + "\n"


def test_bad_options_raise():
    env = SokobanEnv(levels=[CORRIDOR])
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"difficulty": 3})
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"level_index": 5})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be"):
        env.step(7)


def test_dataset_round_trip(tmp_path):
    levels = [*generate_levels(3, seed=5), Level(grid=CORRIDOR.grid, name="corridor")]
    dataset = build_trajectories(levels, generate=2, seed=9, shape=(10, 10), workers=1, progress=False)
    assert len(dataset) == 6 and dataset.num_unsolved == 0
    for k in range(len(dataset)):
        trajectory = dataset.trajectory(k)
        assert len(trajectory) == len(dataset.solutions[k]) + 1
        assert is_solved(trajectory[-1:])[0] and not is_solved(trajectory[:1])[0]
        assert (replay_states(trajectory[0], str(dataset.solutions[k])) == trajectory).all()
    assert one_hot(dataset.states).shape == (len(dataset.states), 7, 10, 10)
    path = tmp_path / "traj.npz"
    save_trajectories(path, dataset)
    loaded = load_trajectories(path)
    assert (loaded.states == dataset.states).all() and (loaded.offsets == dataset.offsets).all()
    assert loaded.names.tolist()[-3:] == ["corridor", "9/0", "9/1"]
    with pytest.raises(DatasetError):
        load_trajectories(tmp_path / "missing.npz")
