"""Sokoban's learned path end to end: CRTR training on solver trajectories, the planner domain's LURD
output, the learned best-first planner with the shipped encoder, and ``python -m clrl.evaluate sokoban``.

Every solution found here is replayed on :class:`~clrl.envs.sokoban.env.SokobanEnv`, the Gymnasium
env, whose rules the planners never call.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from clrl.cli import run_command
from clrl.config import load_config
from clrl.crtr.evaluate import suite_puzzles
from clrl.crtr.model import CHECKPOINT_NAME, LearnedModel
from clrl.crtr.solve import SearchSettings, solve_one
from clrl.crtr.train import train
from clrl.envs.sokoban.constants import LETTER_TO_ACTION
from clrl.envs.sokoban.dataset import build_trajectories, save_trajectories
from clrl.envs.sokoban.env import SokobanEnv
from clrl.envs.sokoban.levels import Level, load_levels, parse_level
from clrl.evaluate import main as evaluate_main
from clrl.planners.domain import SokobanDomain

BOXOBAN = Path(__file__).resolve().parents[2] / "shared" / "data" / "boxoban"  # shared/ beside the repo
needs_boxoban = pytest.mark.skipif(not BOXOBAN.exists(), reason="Boxoban levels not present")
#: Levels of ``unfiltered_train/000.txt`` (trajectories the shipped encoder trained on) that its
#: best-first search solves in about 1,000 nodes; with the heuristic's sign flipped, none in 3,000.
EASY_BOXOBAN = (2, 8, 12)
BUDGET = 2000

CORRIDOR = """\
#######
#.$ @ #
#######"""


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def shipped() -> LearnedModel:
    return LearnedModel.load("sokoban", None)


def replay_on_env(level: Level, lurd: str) -> bool:
    """Play a LURD string on the Gymnasium env; every letter must move, its case must say whether it
    pushed. Returns whether the episode ended solved on the last letter."""
    env = SokobanEnv(levels=[level], level_index=0, dim_room=level.grid.shape, max_episode_steps=10_000)
    env.reset(seed=0)
    terminated = False
    for index, letter in enumerate(lurd):
        assert not terminated, f"solved before letter {index}"
        _, _, terminated, _, info = env.step(LETTER_TO_ACTION[letter])
        assert info["moved"] and info["pushed"] == letter.isupper(), (index, letter, info)
    return terminated


def test_domain_writes_steps_in_lower_case_and_pushes_in_upper_case():
    level = parse_level(CORRIDOR)
    domain = SokobanDomain()
    left = LETTER_TO_ACTION["l"]
    assert domain.format_solution(level.grid, [left, left]) == "lL"
    assert replay_on_env(level, "lL")
    result, solution, length = solve_one("sokoban", "classical", level.grid, None, SearchSettings(100, 1))
    assert result.solved and solution == "lL" and length == 2


def test_crtr_training_on_solver_trajectories_learns(tmp_path: Path):
    """A few dozen steps on ten solved levels: the CRTR loss falls from chance (log of the batch
    size: no state told from the others) to a third of it, and the checkpoint plans."""
    dataset = build_trajectories(generate=10, seed=0, workers=1, progress=False)
    save_trajectories(tmp_path / "trajectories.npz", dataset)
    config = load_config("sokoban")
    config["device"] = "cpu"
    config["data"].update(dataset=str(tmp_path / "trajectories.npz"), batch_size=16, repetition_factor=2)
    config["model"].update(channels=16, blocks=1, latent_dim=16)
    config["train"].update(lr=1e-3, log_every=5, eval_every=60, checkpoint_every=60)
    config["eval"].update(trajectories=2, greedy_puzzles=1, greedy_max_moves=5)
    run_dir = tmp_path / "run"
    train("sokoban", config, run_dir=run_dir, steps=60, resume=False)

    events = EventAccumulator(str(run_dir)).Reload()
    losses = [event.value for event in events.Scalars("losses/crtr_loss")]
    assert losses[0] == pytest.approx(math.log(16), abs=0.3)
    assert np.mean(losses[-3:]) < 0.5 * math.log(16), losses
    model = LearnedModel.load("sokoban", run_dir / CHECKPOINT_NAME)
    level = parse_level(CORRIDOR)
    result, solution, _ = solve_one("sokoban", "bestfs", level.grid, model, SearchSettings(50, 1))
    assert result.solved and replay_on_env(level, solution)


def easy_levels(source: str) -> list[Level]:
    if source == "boxoban_held_in":
        levels = load_levels(BOXOBAN / "unfiltered_train" / "000.txt")
        return [levels[i] for i in EASY_BOXOBAN]
    grids = suite_puzzles("sokoban", "generated", 3, 0, {})  # the evaluate command's held-out levels
    return [Level(grid=grid, name=str(i), source="generator") for i, grid in enumerate(grids)]


@pytest.mark.parametrize("source", ["generated", pytest.param("boxoban_held_in", marks=needs_boxoban)])
def test_learned_best_first_search_solves_easy_levels_and_its_lurd_replays(shipped, source):
    settings = SearchSettings(budget=BUDGET, beam_width=64)
    for level in easy_levels(source):
        result, solution, length = solve_one("sokoban", "bestfs", level.grid, shipped, settings)
        assert result.solved and result.nodes_expanded <= BUDGET, (level.name, result.nodes_expanded)
        assert length == len(solution) == len(result.actions)
        assert replay_on_env(level, solution), level.name


def test_evaluate_sokoban_reports_the_shipped_models_correlation_and_solve_rate(capsys):
    argv = [
        "sokoban",
        "--count",
        "2",
        "--json",
        "benchmark.planners=[bestfs, classical]",
        f"benchmark.budget.bestfs={BUDGET}",
        "benchmark.spearman_trajectories=4",
    ]
    assert run_command(evaluate_main, argv) == 0
    spearman, *rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert spearman["metric"] == "spearman" and spearman["value"] > 0.6
    by_planner = {row["planner"]: row for row in rows}
    assert set(by_planner) == {"bestfs", "classical"}
    for row in rows:
        assert row["suite"] == "generated" and row["puzzles"] == 2 and row["solve_rate"] == 1.0
    assert by_planner["bestfs"]["mean_nodes"] <= BUDGET
