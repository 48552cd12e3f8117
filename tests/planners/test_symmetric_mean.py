"""Scoring a cube by the mean learned distance over its symmetric images."""

import numpy as np
import pytest

from clrl.checkpoint import load_checkpoint, save_checkpoint
from clrl.crtr.model import LearnedModel, check_symmetries
from clrl.envs.cube.symmetry import NUM_SYMMETRIES, apply_symmetry, symmetric_images
from clrl.envs.cube.trajectories import random_states
from clrl.errors import UserError
from clrl.planners import LatentDistance, SymmetricMean, misplaced_stickers
from clrl.solve import main as solve_main

STATES = random_states(np.random.default_rng(5), 16, 12)
ALL = np.arange(NUM_SYMMETRIES)


def test_the_mean_is_taken_over_each_state_s_own_images():
    def first_sticker(states):
        return states[:, 0].astype(np.float32)

    chosen = [0, 9, 40]
    scores = SymmetricMean(first_sticker, lambda s: symmetric_images(s, chosen), len(chosen))(STATES)
    expected = np.mean([apply_symmetry(STATES, k)[:, 0] for k in chosen], axis=0)
    np.testing.assert_allclose(scores, expected)


def test_a_heuristic_that_is_already_symmetric_is_unchanged():
    # misplaced stickers counts the same at every image: renaming colours moves home faces with them
    symmetric = SymmetricMean(misplaced_stickers, lambda s: symmetric_images(s, ALL), NUM_SYMMETRIES)
    np.testing.assert_array_equal(symmetric(STATES), misplaced_stickers(STATES))


def test_the_mean_over_all_48_is_the_same_at_every_image(tiny_checkpoint):
    model = LearnedModel.load("cube", tiny_checkpoint)
    plain, heuristic = model.heuristic(None), model.heuristic(None, NUM_SYMMETRIES)
    assert isinstance(plain, LatentDistance) and isinstance(heuristic, SymmetricMean)
    reference = heuristic(STATES)
    spread = [np.abs(plain(apply_symmetry(STATES, k)) - plain(STATES)).max() for k in (5, 30)]
    assert min(spread) > 1e-3, "the encoder alone is not symmetric, so the test can fail"
    for k in (5, 30, 47):
        np.testing.assert_allclose(heuristic(apply_symmetry(STATES, k)), reference, rtol=1e-5, atol=1e-5)


def test_a_canonical_encoder_scores_each_state_once_whatever_the_symmetry_count(tiny_checkpoint, tmp_path):
    saved = load_checkpoint(tiny_checkpoint, job="cube")
    saved.config["model"]["canonical"] = True  # the weights do not depend on it: same input width
    canonical_file = tmp_path / "canonical.pt"
    save_checkpoint(canonical_file, job="cube", step=saved.step, config=saved.config, state=saved.state)
    model = LearnedModel.load("cube", canonical_file)
    plain, asked = model.heuristic(None), model.heuristic(None, NUM_SYMMETRIES)
    assert isinstance(asked, LatentDistance), "48 identical images would cost 48 forward passes"
    np.testing.assert_array_equal(asked(STATES), plain(STATES))
    np.testing.assert_array_equal(plain(apply_symmetry(STATES, 30)), plain(STATES))


@pytest.mark.parametrize("bad", [0, NUM_SYMMETRIES + 1, True, 2.0])
def test_a_symmetry_count_the_cube_does_not_have_is_one_error(tiny_checkpoint, bad):
    with pytest.raises(UserError, match="symmetries must be an integer from 1 to 48 for cube"):
        LearnedModel.load("cube", tiny_checkpoint).heuristic(None, bad)
    with pytest.raises(UserError, match="from 1 to 1 for sokoban"):
        check_symmetries("sokoban", 2)


def test_the_solve_flag_is_checked_before_anything_loads(capsys):
    with pytest.raises(SystemExit) as exit_info:
        solve_main(["cube", "--scramble", "3", "--symmetries", "0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--symmetries must be at least 1" in err


def test_greedy_averages_over_all_48_by_default_and_the_flag_overrides_it():
    from argparse import Namespace

    from clrl.config import load_config
    from clrl.crtr.solve import chosen_settings

    defaults = load_config("cube")["solve"]
    args = Namespace(budget=None, beam_width=None, goal_radius=None, json=True, symmetries=None)
    assert chosen_settings(args, defaults, "greedy").symmetries == NUM_SYMMETRIES
    assert chosen_settings(args, defaults, "beam").symmetries == 1
    assert chosen_settings(Namespace(**{**vars(args), "symmetries": 4}), defaults, "beam").symmetries == 4
