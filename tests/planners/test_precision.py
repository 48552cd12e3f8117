"""The learned distance in bfloat16: close to float32, same order for clearly separated states."""

import numpy as np
import pytest
import torch

from clrl.cli import run_command
from clrl.crtr.model import LearnedModel
from clrl.envs.cube.trajectories import random_walk_trajectories
from clrl.errors import ConfigError
from clrl.planners import LatentDistance
from clrl.precision import native_precision
from clrl.solve import main as solve_main


def test_bfloat16_scores_track_float32(tiny_checkpoint):
    exact = LearnedModel.load("cube", tiny_checkpoint)
    fast = LearnedModel.load("cube", tiny_checkpoint, "bfloat16")
    walks = random_walk_trajectories(np.random.default_rng(0), 50, 10).states.reshape(-1, 54)
    start = walks[0]
    reference, scores = exact.heuristic(start)(walks), fast.heuristic(start)(walks)
    assert scores.dtype == np.float32
    # bfloat16 keeps 8 bits of mantissa: about 1% of the score's scale
    scale = np.abs(reference).max()
    assert np.abs(scores - reference).max() < 0.02 * scale
    assert np.abs(scores - reference).max() > 0, "the forward pass did run in bfloat16"
    assert np.corrcoef(scores, reference)[0, 1] > 0.999


def test_unknown_precision_is_refused(tiny_checkpoint, capsys):
    with pytest.raises(ConfigError, match="precision must be one of auto, float32, bfloat16"):
        LearnedModel.load("cube", tiny_checkpoint, "fp8")
    with pytest.raises(ValueError, match="precision"):
        LatentDistance(torch.nn.Identity(), torch.as_tensor, np.zeros((1, 3)), "dot", precision="half")
    argv = ["cube", "--scramble", "3", "--checkpoint", str(tiny_checkpoint), "--precision", "x"]
    assert run_command(solve_main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "precision must be one of" in err


def test_solve_in_bfloat16_solves_a_short_scramble(tiny_checkpoint, capsys):
    args = ["cube", "--scramble", "3", "--seed", "1", "--checkpoint", str(tiny_checkpoint)]
    args += ["--planner", "beam", "--beam-width", "2000", "--goal-radius", "0", "--precision", "bfloat16"]
    assert run_command(solve_main, args) == 0
    assert "solution:" in capsys.readouterr().out


def test_auto_picks_a_precision_the_device_has(tiny_checkpoint):
    chosen = native_precision("cpu")
    assert chosen in ("float32", "bfloat16")
    heuristic = LearnedModel.load("cube", tiny_checkpoint, "auto").heuristic(np.zeros((1, 54), np.uint8))
    assert heuristic.precision == chosen
