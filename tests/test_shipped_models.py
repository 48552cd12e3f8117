"""The shipped puzzle encoders (clrl/pretrained/cube.pt, sokoban.pt), tested for what they are for.

Their latent distance must fall as a state nears the goal, point greedy descent the right way near
solved, and steer a small best-first search (no goal table, no fallback) to scrambles that a blind
search of the same budget does not reach. A flipped or scrambled heuristic fails every test here;
the solve tests elsewhere use a wide beam and the goal table, which hide a broken heuristic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from clrl import checkpoint as checkpoint_module
from clrl.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from clrl.crtr.model import LearnedModel, pretrained_path
from clrl.crtr.solve import SearchSettings, solve_one
from clrl.envs.cube.constants import SOLVED_STATE
from clrl.envs.cube.trajectories import random_states, random_walk_trajectories
from clrl.envs.sokoban.kernels import replay_states
from clrl.envs.sokoban.levels import load_levels
from clrl.envs.sokoban.solver import solve
from clrl.planners.domain import CubeDomain
from clrl.planners.exact_distance import nearer_child_rate, states_at_distance, table_distance
from clrl.planners.goal_table import GoalTable
from clrl.planners.search import best_first

DOMAIN = CubeDomain()
BOXOBAN = Path(__file__).resolve().parents[2] / "shared" / "data" / "boxoban"  # shared/ beside the repo
needs_boxoban = pytest.mark.skipif(not BOXOBAN.exists(), reason="Boxoban levels not present")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cube() -> LearnedModel:
    return LearnedModel.load("cube", None)


@pytest.fixture(scope="module")
def sokoban() -> LearnedModel:
    return LearnedModel.load("sokoban", None)


@pytest.fixture(scope="module")
def table() -> GoalTable:
    """Every cube state within 4 quarter turns of solved (11,206 states; built in milliseconds)."""
    return GoalTable.build(DOMAIN, SOLVED_STATE, 4, DOMAIN.inverse_action)


def test_shipped_encoders_load_with_their_task_and_architecture(cube, sokoban):
    assert cube.task.job == "cube" and sokoban.task.job == "sokoban"
    latent = cube.encoder(cube.task.featurize(SOLVED_STATE[None].copy()))
    assert latent.shape == (1, cube.config["model"]["latent_dim"]) and torch.isfinite(latent).all()
    goals = sokoban.task.goals(sokoban.task.heldout(seed=0, count=1).states[0])
    latents = sokoban.encoder(sokoban.task.featurize(goals))
    assert latents.shape == (len(goals), sokoban.config["model"]["latent_dim"])


def test_cube_latent_distance_rises_with_every_move_of_a_walk_from_solved(cube):
    walks = random_walk_trajectories(np.random.default_rng(0), 300, 6).states  # (300, 7, 54), last solved
    scores = cube.heuristic(SOLVED_STATE)(walks.reshape(-1, 54)).reshape(walks.shape[:2])
    by_moves = scores[:, ::-1]  # column k: k quarter turns from solved along the walk
    means = by_moves.mean(axis=0)
    assert np.all(np.diff(means) > 0), np.round(means, 3)
    # not only on average: most single steps away from solved raise the score too
    assert (np.diff(by_moves, axis=1) > 0).mean(axis=0).min() >= 0.8


def solution_paths(sokoban: LearnedModel, levels: str) -> list[np.ndarray]:
    """States along classical-solver solutions: of fresh generated levels (never trained on), or of
    the first Boxoban levels of the file the shipped encoder's training trajectories came from."""
    if levels == "generated":
        heldout = sokoban.task.heldout(seed=0, count=4)
        return [heldout.states[a:b] for a, b in zip(heldout.offsets[:-1], heldout.offsets[1:], strict=True)]
    chosen = load_levels(BOXOBAN / "unfiltered_train" / "000.txt")[:4]
    return [replay_states(level, solve(level).solution) for level in chosen]


@pytest.mark.parametrize("levels", ["generated", pytest.param("boxoban_held_in", marks=needs_boxoban)])
def test_sokoban_latent_distance_falls_along_solutions(sokoban, levels):
    for states in solution_paths(sokoban, levels):
        along = sokoban.heuristic(states[0])(states)
        moves_to_go = np.arange(len(states))[::-1]
        assert spearmanr(along, moves_to_go).statistic > 0.7
        assert along[0] > along[-1] + 0.2, "the start is farther from the goal than the solved level"


def test_cube_best_child_is_nearer_near_solved(cube, table):
    """Read as it was trained since session 30: the mean over symmetric images
    (``bellman.prediction_symmetries=4``, ``child_ranking.symmetries=4``). One image alone errs more
    near solved (94-95% at 3-6 moves since session 31, docs/cube.md); the default search finishes
    along the 7-move table there."""
    rng = np.random.default_rng(0)
    heuristic = cube.heuristic(SOLVED_STATE, symmetries=4)
    for distance in range(1, 5):
        states = states_at_distance(table, DOMAIN, random_states, distance, 60, rng)
        assert nearer_child_rate(table, DOMAIN, heuristic, states, distance) >= 0.9, distance


def scrambles_at_distance(table: GoalTable, distance: int, count: int) -> np.ndarray:
    states = states_at_distance(table, DOMAIN, random_states, distance, count, np.random.default_rng(5))
    assert (table_distance(table, DOMAIN, states) == -1).all()  # beyond the table: no shortcut
    return states


def test_small_learned_search_solves_scrambles_a_blind_search_does_not(cube, table):
    """Seven quarter turns from solved, 1,500 nodes: best-first on the latent distance solves every
    one; best-first on a constant (breadth-first order) only gets through depth 3 (1,195 states)."""
    budget = 1500
    settings = SearchSettings(budget=budget, beam_width=1, goal_radius=0)
    for start in scrambles_at_distance(table, 7, 3):
        blind = best_first(DOMAIN, lambda states: np.zeros(len(states)), start, budget, expand_batch=64)
        assert not blind.solved
        result, solution, length = solve_one("cube", "bestfs", start, cube, settings)
        assert result.solved and result.nodes_expanded <= budget, result
        assert 7 <= len(result.actions) <= 15 and length == len(solution.split())


def test_checkpoint_of_an_incompatible_code_version_is_refused(tmp_path, monkeypatch):
    shipped = load_checkpoint(pretrained_path("sokoban"), job="sokoban")

    def written_by(version: str) -> Path:
        """The shipped encoder saved again, as code of ``version`` would have written it."""
        monkeypatch.setattr(checkpoint_module, "code_version", lambda: version)
        path = tmp_path / f"{version}.pt"
        save_checkpoint(path, job="sokoban", step=shipped.step, config=shipped.config, state=shipped.state)
        return path

    LearnedModel.load("sokoban", written_by(shipped.code_version))  # the same code's file loads
    for version in ("0.0.3+abc1234", "1.0.0"):
        with pytest.raises(CheckpointError) as refused:
            LearnedModel.load("sokoban", written_by(version))
        message = str(refused.value)
        assert version in message and len(message.splitlines()) == 1, message


def test_greedy_descent_alone_solves_random_cubes_with_the_symmetric_distance(cube):
    """No search, no goal table: the shipped encoder read as the mean over the cube's 48 symmetric
    images leads greedy descent home from random cubes (all 100 of the evaluation's in session 16)."""
    from clrl.crtr.evaluate import suite_puzzles

    settings = SearchSettings(budget=2000, beam_width=0, goal_radius=0, symmetries=48)
    for start in suite_puzzles("cube", "random", 2, 0, {}):
        result, _, _ = solve_one("cube", "greedy", start, cube, settings)
        assert result.solved and len(result.actions) < 2000  # solve_one replays the solution
