"""Gymnasium cube env and its vectorised twin."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import clrl.envs  # noqa: F401  (registers clrl/Cube-v0)
from clrl.envs.cube import (
    INVERSE_MOVE,
    SOLVED_FACELETS,
    SOLVED_STATE,
    CubeEnv,
    CubeVectorEnv,
    InvalidCubeState,
    apply_moves,
    format_facelets,
    parse_moves,
)
from clrl.envs.cube.viewer import FACE_COLOURS


@pytest.mark.parametrize("render_mode", [None, "ansi", "rgb_array"])
def test_check_env_passes(render_mode):
    env = gym.make("clrl/Cube-v0", render_mode=render_mode)
    check_env(env.unwrapped, skip_render_check=render_mode is None)


def test_registered_id_makes_the_env():
    env = gym.make("clrl/Cube-v0", scramble_depth=3)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and env.action_space.n == 12
    assert info["facelets"] == format_facelets(obs)


def test_undoing_the_scramble_solves_with_reward_one():
    env = CubeEnv(scramble_depth=1)
    obs, _ = env.reset(seed=4)
    # Depth 1: the cube is one quarter turn from solved; find it and undo it.
    move = next(m for m in range(12) if np.array_equal(apply_moves(SOLVED_STATE, m)[0], obs))
    obs, reward, terminated, truncated, info = env.step(int(INVERSE_MOVE[move]))
    assert np.array_equal(obs, SOLVED_STATE) and reward == 1.0 and terminated and not truncated
    assert info["facelets"] == SOLVED_FACELETS


def test_reset_from_a_given_state_and_stepping_follows_the_kernels():
    env = CubeEnv()
    text = format_facelets(apply_moves(SOLVED_STATE, parse_moves("R")[0])[0])
    obs, _ = env.reset(options={"state": text})
    obs, reward, terminated, truncated, _ = env.step(3)  # R'
    assert terminated and reward == 1.0
    obs, _ = env.reset(seed=1, options={"scramble_depth": 7})
    for action in (0, 5, 11):
        expected = apply_moves(obs, action)[0]
        obs, reward, terminated, _, _ = env.step(action)
        assert np.array_equal(obs, expected) and reward == 0.0 and not terminated


def test_truncation_after_max_episode_steps():
    env = CubeEnv(scramble_depth=10, max_episode_steps=3)
    env.reset(seed=2)
    flags = [env.step(0)[3] for _ in range(3)]  # U three times cannot undo a 10-turn walk
    assert flags == [False, False, True]


def test_bad_input_raises():
    env = CubeEnv()
    with pytest.raises(InvalidCubeState, match="edge flip"):
        flipped = list(SOLVED_FACELETS)
        flipped[5], flipped[10] = flipped[10], flipped[5]
        env.reset(options={"state": "".join(flipped)})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"depth": 3})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(12)
    with pytest.raises(ValueError, match="render_mode"):
        CubeEnv(render_mode="human")


def test_renderings_show_the_stickers():
    env = CubeEnv(render_mode="rgb_array")
    env.reset(options={"state": SOLVED_FACELETS})
    image = env.render()
    assert image.shape == (144, 192, 3) and image.dtype == np.uint8
    # Centre of the U face block (row 1, column 4 of the 9 x 12 sticker grid).
    assert np.array_equal(image[16 + 8, 4 * 16 + 8], FACE_COLOURS[0])
    assert np.array_equal(image[4 * 16 + 8, 7 * 16 + 8], FACE_COLOURS[1])  # centre of R
    env = CubeEnv(render_mode="ansi")
    env.reset(options={"state": SOLVED_FACELETS})
    text = env.render()
    assert sum(text.count(letter) for letter in "URFDLB") == 54 and "\x1b[48;2;" in text


def test_vector_env_steps_like_the_kernels_and_autoresets_next_step():
    envs = gym.make_vec(
        "clrl/Cube-v0",
        num_envs=4,
        vectorization_mode="vector_entry_point",
        scramble_depth=1,
        max_episode_steps=5,
    )
    assert isinstance(envs.unwrapped, CubeVectorEnv)
    obs, _ = envs.reset(seed=3)
    undo = np.array(
        [
            next(INVERSE_MOVE[m] for m in range(12) if np.array_equal(apply_moves(SOLVED_STATE, m)[0], cube))
            for cube in obs
        ]
    )
    actions = undo.copy()
    actions[0] = (undo[0] + 2) % 12  # cube 0 does something else
    expected = apply_moves(obs, actions)
    obs, rewards, terminated, truncated, _ = envs.step(actions)
    assert np.array_equal(obs, expected)
    assert terminated.tolist() == [False, True, True, True] and rewards.tolist() == [0, 1, 1, 1]
    obs, rewards, terminated, truncated, _ = envs.step(np.zeros(4, dtype=np.int64))
    assert rewards[1:].tolist() == [0, 0, 0] and not terminated[1:].any()  # reset, actions ignored
    assert not (obs[1:] == SOLVED_STATE).all(axis=1).any()  # fresh depth-1 scrambles
    envs.close()
