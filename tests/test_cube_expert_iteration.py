"""Expert iteration on the cube: the learned beam's own solution paths as CRTR trajectories, cached.

The shipped encoder's beam solves few-move scrambles at width 16 in milliseconds; random cubes need
the full width (seconds each), so these tests scramble 5 moves (``data.beam_scramble``).
"""

from pathlib import Path

import numpy as np
import pytest
from cube_paths import assert_batches_come_from

from clrl.config import load_config
from clrl.crtr import expert_iteration
from clrl.crtr.expert_iteration import beam_cubes, beam_paths, prepare_beam_paths
from clrl.crtr.model import CHECKPOINT_NAME, LearnedModel, pretrained_path
from clrl.crtr.train import check_config, train
from clrl.data.cube import BEAM_PATHS_FILE, CubeTask
from clrl.envs.cube.constants import SOLVED_STATE
from clrl.errors import ConfigError, UserError
from clrl.planners import CubeDomain

DOMAIN = CubeDomain()
SHIPPED = str(pretrained_path("cube"))


@pytest.fixture(scope="module")
def shipped_model():
    return LearnedModel.load("cube", Path(SHIPPED), "float32")


def beam_config(cubes=24, **data):
    config = load_config("cube")
    config["device"] = "cpu"
    config["data"].update(batch_size=32, trajectory_length=8, trajectories="beam", beam_cubes=cubes)
    config["data"].update(
        beam_from=SHIPPED, beam_scramble=5, beam_width=16, beam_budget=320, beam_goal_radius=0
    )
    config["data"].update(data)
    config["model"].update(width=64, blocks=1, latent_dim=16)
    config["train"].update(lr=1e-3, log_every=5, eval_every=1000, checkpoint_every=10, precision="float32")
    config["eval"].update(trajectories=10, greedy_puzzles=2, greedy_scramble=3, greedy_max_moves=10)
    config["eval"].update(nearer_child_states=5, nearer_child_max_distance=2)
    return config


def assert_paths_solve(cubes, states, offsets):
    """Each path starts at one of ``cubes`` (in order), moves one quarter turn a state, ends solved."""
    starts = [cube.tobytes() for cube in cubes]
    previous = -1
    for begin, end in zip(offsets[:-1], offsets[1:], strict=True):
        path = states[begin:end]
        assert len(path) >= 2
        index = starts.index(path[0].tobytes())
        assert index > previous  # in the cubes' order, each at most once
        previous = index
        np.testing.assert_array_equal(path[-1], SOLVED_STATE)
        children = DOMAIN.children(path[:-1])[0]  # (L, 12, 54)
        assert all((children[i] == path[i + 1]).all(axis=1).any() for i in range(len(path) - 1))


@pytest.mark.parametrize("goal_radius", [0, 2])
def test_each_beam_path_is_one_quarter_turn_per_step_from_its_cube_to_solved(shipped_model, goal_radius):
    cubes = beam_cubes(0, 6, 5)
    assert len({cube.tobytes() for cube in cubes}) == 6 and not DOMAIN.is_solved(cubes).any()
    states, offsets, unsolved = beam_paths(shipped_model, cubes, 16, 320, goal_radius, progress=False)
    assert unsolved == 0 and len(offsets) == 7 and offsets[-1] == len(states)
    assert_paths_solve(cubes, states, offsets)
    # 5 half-turn-metric moves are at most 10 quarter turns; the beam found no detour longer than that
    assert (np.diff(offsets) - 1 <= 10).all()


def test_unsolved_cubes_are_skipped_and_counted(shipped_model):
    cubes = beam_cubes(0, 6, 5)
    # budget = width: one depth of search, so only a cube one quarter turn from solved could be solved
    states, offsets, unsolved = beam_paths(shipped_model, cubes, 16, 16, 0, progress=False)
    assert unsolved == 6 - (len(offsets) - 1) and unsolved >= 5
    assert_paths_solve(cubes, states, offsets)


def test_the_random_cubes_are_seeded_and_apart_from_the_benchmark_suite():
    from clrl.crtr.evaluate import suite_puzzles

    np.testing.assert_array_equal(beam_cubes(3, 4, 1000), beam_cubes(3, 4, 1000))
    assert not (beam_cubes(3, 4, 1000) == beam_cubes(4, 4, 1000)).all()
    benchmark = {c.tobytes() for c in suite_puzzles("cube", "random", 20, 0, {})}
    assert not benchmark & {c.tobytes() for c in beam_cubes(0, 20, 1000)}


def test_a_round_builds_its_paths_once_and_trains_on_them(tmp_path, monkeypatch):
    config = beam_config()
    train("cube", config, run_dir=tmp_path, steps=10, resume=False)
    assert (tmp_path / CHECKPOINT_NAME).exists()
    with np.load(tmp_path / BEAM_PATHS_FILE) as saved:
        states, offsets, unsolved = saved["states"], saved["offsets"], int(saved["unsolved"])
    assert len(offsets) - 1 + unsolved == 24 and len(offsets) - 1 >= 16
    assert_paths_solve(beam_cubes(config["seed"], 24, 5), states, offsets)

    def no_search(*args, **kwargs):
        raise AssertionError("the cached paths should have been used")

    monkeypatch.setattr(expert_iteration, "beam_paths", no_search)
    assert prepare_beam_paths(config, tmp_path) == tmp_path / BEAM_PATHS_FILE
    task = CubeTask(config)
    task.prepare(tmp_path)
    np.testing.assert_array_equal(task._paths[0], states)
    assert_batches_come_from(task, states)


def test_a_round_whose_beam_solves_too_few_cubes_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"solved 4 of 4 cubes, and a batch takes 16 distinct paths"):
        prepare_beam_paths(beam_config(cubes=4), tmp_path)
    assert not (tmp_path / BEAM_PATHS_FILE).exists()


def test_the_beam_searches_with_init_from_when_beam_from_is_null():
    config = beam_config(beam_from=None)
    config["train"]["init_from"] = "runs/cube/expert1/checkpoint.pt"
    check_config("cube", config)
    assert expert_iteration.beam_from(config) == "runs/cube/expert1/checkpoint.pt"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"beam_from": None}, "data.trajectories=beam searches with a trained encoder: set data.beam_from"),
        ({"beam_cubes": 0}, "data.beam_cubes must be at least 1, got 0"),
        ({"beam_width": 0}, "data.beam_width must be at least 1, got 0"),
        ({"beam_scramble": 0}, "data.beam_scramble must be at least 1, got 0"),
        ({"beam_goal_radius": 8}, "data.beam_goal_radius must be at least 0 and at most 7, got 8"),
        ({"beam_budget": 8}, r"data.beam_budget \(8\) must be at least data.beam_width \(16\)"),
    ],
)
def test_bad_beam_settings_are_refused_with_one_line(data, message):
    with pytest.raises(ConfigError, match=message):
        check_config("cube", beam_config(**data))


def test_beam_settings_are_not_checked_for_other_sources():
    check_config("cube", beam_config(trajectories="walks", beam_from=None, beam_width=0))
