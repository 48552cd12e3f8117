"""The move head: its loss against a slow reference, the labelled pool's symmetric images, the
scores read over images, and its training run (resumes exactly, evaluates, refuses bad settings)."""

import numpy as np
import pytest
import torch
from benchmark_scripts import load_benchmark
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_cube_bellman import bellman_config, straight_and_resumed
from test_cube_child_ranking import slow_child_ranking_loss

from clrl.checkpoint import load_checkpoint
from clrl.crtr.child_ranking import labelled_states
from clrl.crtr.model import CHECKPOINT_NAME
from clrl.crtr.move_ranking import MovePool, MoveScores, move_ranking_loss, saved_move_scorer
from clrl.crtr.train import train
from clrl.envs.cube.symmetry import SYMMETRY_MOVES, apply_symmetry
from clrl.envs.cube.trajectories import random_states
from clrl.errors import UserError
from clrl.planners import CubeDomain
from clrl.planners.exact_distance import nearer_move_picks, table_distance

DOMAIN = CubeDomain()


def test_move_ranking_loss_matches_the_slow_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=(16, 12))
    nearer = rng.random((16, 12)) < 0.2
    nearer[np.arange(16), rng.integers(0, 12, 16)] = True
    for temperature in (0.5, 1.0):
        got = move_ranking_loss(torch.tensor(logits), torch.tensor(nearer), temperature)
        # the logits are negated distances of the child ranking's reference; the loss is float32
        assert got.item() == pytest.approx(slow_child_ranking_loss(-logits, nearer, temperature), rel=1e-6)


def test_pool_images_keep_their_labels_true_and_the_ring_drops_the_oldest(cube_tables):
    small, large = cube_tables
    states, nearer = labelled_states(np.random.default_rng(1), small, 64, 2, 4)
    assert nearer.any(axis=1).all() and len(states) <= 64
    pool = MovePool(capacity=len(states) + 8)
    pool.add(states, nearer)
    images, image_nearer = pool.sample(np.random.default_rng(2), 200)
    # every label of an image is the truth about that image's own quarter turns
    children = DOMAIN.children(images)[0]
    distance = table_distance(large, DOMAIN, images)
    child_distance = table_distance(large, DOMAIN, children.reshape(-1, 54)).reshape(image_nearer.shape)
    np.testing.assert_array_equal(image_nearer, child_distance == distance[:, None] - 1)
    # the ring: 16 more overwrite the 8 free rows and then the 8 oldest
    pool.add(states[:16], nearer[:16])
    assert pool.size == len(states) + 8 and pool.next == 8
    np.testing.assert_array_equal(pool.states[:8], states[8:16])
    restored = MovePool(capacity=pool.states.shape[0])
    restored.load_state_dict(pool.state_dict())
    assert restored.size == pool.size and restored.next == pool.next
    np.testing.assert_array_equal(restored.states, pool.states)


class RawLinear(torch.nn.Module):
    """Logits as a fixed random linear map of the raw colour ids: no symmetry of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.map = torch.nn.Linear(54, 12)
        torch.nn.init.normal_(self.map.weight, generator=torch.Generator().manual_seed(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.map(x)


def raw_ids(states: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(states.astype(np.float32))


def test_move_scores_over_all_images_give_every_image_of_a_state_its_scores_at_its_own_turns():
    states = random_states(np.random.default_rng(3), 5, 30)
    over_images = MoveScores(RawLinear(), raw_ids, symmetries=48)
    one_image = MoveScores(RawLinear(), raw_ids, symmetries=1)
    for symmetry in (5, 30):
        image = apply_symmetry(states, symmetry)
        turns = SYMMETRY_MOVES[symmetry]  # turn m of a state is turn g(m) of its image
        np.testing.assert_allclose(over_images(image)[:, turns], over_images(states), rtol=1e-5, atol=1e-5)
        assert not np.allclose(one_image(image)[:, turns], one_image(states), atol=1e-3)


def move_config():
    config = bellman_config()
    config["bellman"]["weight"] = 0.0
    config["move_ranking"].update(
        weight=1.0, batch_size=32, fresh_states=4, pool_size=64, initial_states=48, min_depth=1, max_depth=4
    )
    return config


def test_move_ranking_run_resumes_exactly_and_reports_its_head(tmp_path):
    config = move_config()
    config["train"]["eval_every"] = 40
    straight, _ = straight_and_resumed(tmp_path, config, ("encoder", "move_head"))
    assert straight.state["move_pool"]["states"].shape == (64, 54)  # 48 + 40 x 4 labelled, 64 kept
    scalars = EventAccumulator(str(tmp_path / "straight"), size_guidance={"scalars": 0}).Reload()
    assert {
        "losses/move_ranking_loss",
        "charts/move_ranking_nearer_rate",
        "eval/move_head_nearer_rate_d3",
        "eval/move_head_nearer_rate_48images_d3",
    } <= set(scalars.Tags()["scalars"])


def test_a_trained_move_head_picks_nearer_moves_near_solved(tmp_path, cube_tables):
    small, large = cube_tables
    config = move_config()
    config["train"]["lr"] = 3e-3
    train("cube", config, run_dir=tmp_path, steps=150, resume=False)
    path = tmp_path / CHECKPOINT_NAME
    scores = MoveScores(*saved_move_scorer(load_checkpoint(path, job="cube"), str(path)))
    states, _ = labelled_states(np.random.default_rng(9), small, 200, 2, 2)
    states = states[table_distance(large, DOMAIN, states) == 2]
    picks = nearer_move_picks(small, DOMAIN, scores, states, 2)
    assert picks.mean() > 0.5  # chance: about 1 or 2 of 12


@pytest.mark.parametrize(
    ("key", "value"),
    [("min_depth", 0), ("min_depth", 5), ("max_depth", 13), ("temperature", 0.0), ("fresh_states", 0)],
)
def test_bad_move_ranking_settings_are_refused(tmp_path, key, value):
    config = move_config()
    config["move_ranking"][key] = value
    with pytest.raises(UserError, match=f"move_ranking.{key}"):
        train("cube", config, run_dir=tmp_path, steps=1, resume=False)


def test_move_ranking_refuses_canonical_inputs(tmp_path):
    config = move_config()
    config["model"]["canonical"] = True
    with pytest.raises(UserError, match="canonical"):
        train("cube", config, run_dir=tmp_path, steps=1, resume=False)


def test_the_reach_benchmark_adds_a_column_for_each_move_head_and_refuses_none(tmp_path, capsys):
    reach = load_benchmark("cube_greedy_reach")
    train("cube", move_config(), run_dir=tmp_path, steps=5, resume=False)
    run = str(tmp_path / CHECKPOINT_NAME)
    flags = ["--states", "5", "--max-distance", "2", "--cubes", "0", "--move-head"]
    reach.main(["--checkpoint", "cube", run, *flags])  # the shipped file has no move head: no column
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| exact"))
    assert header.count("move head") == 1 and f"{run}, move head" in header
    with pytest.raises(UserError, match="none of the checkpoints has a move head"):
        reach.main(["--checkpoint", "cube", *flags])
