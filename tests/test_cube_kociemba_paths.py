"""CRTR on near-optimal cube trajectories: Kociemba solution paths, cached, sampled like walks."""

import numpy as np
import pytest
from cube_paths import assert_batches_come_from

from clrl.config import load_config
from clrl.crtr.model import CHECKPOINT_NAME
from clrl.crtr.train import train
from clrl.data.cube import KOCIEMBA_PATHS_FILE, CubeTask, kociemba_paths
from clrl.envs.cube.constants import SOLVED_STATE
from clrl.envs.cube.trajectories import random_states
from clrl.errors import UserError
from clrl.planners import CubeDomain

DOMAIN = CubeDomain()


def kociemba_config(cubes=24):
    config = load_config("cube")
    config["device"] = "cpu"
    config["data"].update(batch_size=32, trajectory_length=8, trajectories="kociemba", kociemba_cubes=cubes)
    config["model"].update(width=64, blocks=1, latent_dim=16)
    config["train"].update(lr=1e-3, log_every=5, eval_every=1000, checkpoint_every=10)
    config["eval"].update(trajectories=10, greedy_puzzles=2, greedy_scramble=3, greedy_max_moves=10)
    config["eval"].update(nearer_child_states=5, nearer_child_max_distance=2)
    return config


def test_each_path_is_one_quarter_turn_per_step_from_its_cube_to_solved():
    cubes = random_states(np.random.default_rng(0), 6, 1000)
    states, offsets = kociemba_paths(cubes, workers=2)
    assert offsets[0] == 0 and offsets[-1] == len(states) and len(offsets) == 7
    for k, cube in enumerate(cubes):
        path = states[offsets[k] : offsets[k + 1]]
        np.testing.assert_array_equal(path[0], cube)
        np.testing.assert_array_equal(path[-1], SOLVED_STATE)
        children = DOMAIN.children(path[:-1])[0]  # (L, 12, 54)
        assert all((children[i] == path[i + 1]).all(axis=1).any() for i in range(len(path) - 1))
        # random cubes are about 20 half turns from solved (26-34 quarter turns here)
        assert 20 <= len(path) - 1 <= 40


def test_paths_are_built_once_and_batches_come_from_them(tmp_path):
    task = CubeTask(kociemba_config(cubes=8))
    task.prepare(tmp_path)
    assert (tmp_path / KOCIEMBA_PATHS_FILE).exists()
    states, offsets = task._paths
    again = CubeTask(kociemba_config(cubes=8))
    again.prepare(tmp_path)  # read from the cache: the same paths
    np.testing.assert_array_equal(again._paths[0], states)
    assert_batches_come_from(task, states)


def test_a_run_on_kociemba_paths_trains_and_saves(tmp_path):
    train("cube", kociemba_config(), run_dir=tmp_path, steps=10, resume=False)
    assert (tmp_path / CHECKPOINT_NAME).exists()


def test_an_unknown_trajectory_source_is_refused():
    config = kociemba_config()
    config["data"]["trajectories"] = "solver"
    with pytest.raises(UserError, match="data.trajectories must be one of walks, kociemba"):
        CubeTask(config)
