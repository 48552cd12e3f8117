"""The cube distance's own losses: the Bellman refinement's exact targets, and runs of it, of the
walk-length regression and of the nearer-child ranking that train and resume."""

import numpy as np
import pytest
import torch

from clrl.checkpoint import load_checkpoint
from clrl.config import load_config
from clrl.crtr.bellman import DistanceHead, GreedyPool, bellman_targets, child_distances, scramble_states
from clrl.crtr.model import CHECKPOINT_NAME, build_model
from clrl.crtr.train import evaluate_encoder, train
from clrl.errors import UserError
from clrl.planners import CubeDomain
from clrl.planners.exact_distance import table_distance

DOMAIN = CubeDomain()


def test_targets_are_exact_inside_the_table_and_one_past_it(cube_tables):
    small, large = cube_tables
    states, _ = scramble_states(np.random.default_rng(0), 200, 5)
    exact = table_distance(large, DOMAIN, states)
    # A child distance that is far too low everywhere: it is raised to the table radius + 1.
    targets = bellman_targets(small, states, lambda children: np.zeros(len(children)))
    inside = exact <= small.radius
    np.testing.assert_array_equal(targets[inside], exact[inside])
    one_past = exact == small.radius + 1
    assert one_past.any()
    np.testing.assert_array_equal(targets[one_past], small.radius + 1)


def test_with_exact_child_distances_the_target_is_the_exact_distance(cube_tables):
    small, large = cube_tables
    states, _ = scramble_states(np.random.default_rng(1), 200, 4)
    exact = table_distance(large, DOMAIN, states)
    assert (exact == 4).any()
    targets = bellman_targets(small, states, lambda c: table_distance(large, DOMAIN, c).astype(float))
    np.testing.assert_array_equal(targets, exact)


def test_search_depth_makes_targets_exact_where_the_walk_length_bounds_the_distance(cube_tables):
    small, large = cube_tables
    states, walk_lengths = scramble_states(np.random.default_rng(3), 300, 5)
    exact = table_distance(large, DOMAIN, states)
    wrong = lambda children: np.zeros(len(children))  # noqa: E731 - a target network that is wrong everywhere
    targets = bellman_targets(small, states, wrong, walk_lengths, search_depth=2)
    searched = walk_lengths <= small.radius + 2
    assert (exact[searched] == 4).any() and (~searched).any()
    np.testing.assert_array_equal(targets[searched], exact[searched])
    # beyond the search, where no child is in the table, the wrong child distances set the target
    beyond = ~searched & (exact > small.radius + 1)
    assert beyond.any()
    np.testing.assert_array_equal(targets[beyond], small.radius + 2)


def test_greedy_pool_moves_to_the_nearest_child_and_restarts_cubes_greedy_has_solved(cube_tables):
    small, large = cube_tables
    rng = np.random.default_rng(2)
    states, _ = scramble_states(rng, 300, 5)
    exact = table_distance(large, DOMAIN, states)
    states = states[exact > small.radius]  # the pool's cubes never lie inside the table
    pool = GreedyPool(states.copy(), restart_every=10**9)
    # The children's distances: exact to 5, and 9 beyond (only read outside the small table).
    children, distances = child_distances(
        small,
        pool.states,
        lambda c: np.where((d := table_distance(large, DOMAIN, c)) >= 0, d, 9).astype(float),
    )
    restarted = pool.step(rng, children, distances, small.radius)
    solved = distances.min(axis=1) <= small.radius  # the best child is in the table: greedy is done
    assert solved.any() and not solved.all()
    assert restarted == solved.sum()
    moved = table_distance(large, DOMAIN, pool.states[~solved])
    np.testing.assert_array_equal(moved, exact[exact > small.radius][~solved] - 1)  # one move nearer
    assert (table_distance(small, DOMAIN, pool.states[solved]) < 0).all()  # fresh random cubes
    everyone = GreedyPool(states.copy(), restart_every=1)
    assert everyone.step(rng, children, distances, small.radius) == len(states)


def test_distance_head_is_increasing_in_the_latent_score():
    head = DistanceHead()
    with torch.no_grad():
        head.raw_scale.fill_(-3.0)
        head.offset.fill_(5.0)
    scores = torch.linspace(-4, 4, 9)
    assert (head(scores).diff() > 0).all()


def bellman_config():
    config = load_config("cube")
    config["device"] = "cpu"
    config["data"].update(batch_size=64, trajectory_length=8)
    config["model"].update(width=64, blocks=1, latent_dim=16)
    config["train"].update(lr=1e-3, log_every=10, eval_every=1000, checkpoint_every=20)
    config["eval"].update(trajectories=20, greedy_puzzles=4, greedy_scramble=3, greedy_max_moves=10)
    config["loss"]["crtr_weight"] = 0.0
    config["bellman"].update(weight=1.0, batch_size=64, max_depth=6, table_radius=3, target_every=10)
    config["eval"].update(nearer_child_states=10, nearer_child_max_distance=3)
    return config


def straight_and_resumed(tmp_path, config, parts):
    """The checkpoints of 40 steps in one go (run dir ``tmp_path / "straight"``) and of 25 then
    resumed to 40 (``tmp_path / "split"``), asserted equal in ``parts``."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    train("cube", config, run_dir=straight, steps=40, resume=False)
    train("cube", config, run_dir=split, steps=25, resume=False)
    train("cube", config, run_dir=split, steps=40, resume=True)
    a = load_checkpoint(straight / CHECKPOINT_NAME, job="cube")
    b = load_checkpoint(split / CHECKPOINT_NAME, job="cube")
    for part in parts:
        for key, value in a.state[part].items():
            assert torch.equal(value, b.state[part][key]), (part, key)
    return a, b


@pytest.mark.parametrize(
    ("greedy_states", "target_symmetries", "prediction_symmetries", "search_depth"),
    [(0, 1, 1, 0), (16, 1, 1, 2), (16, 4, 1, 0), (16, 4, 4, 0)],
)
def test_bellman_run_learns_and_resumes_exactly(
    tmp_path, greedy_states, target_symmetries, prediction_symmetries, search_depth
):
    config = bellman_config()
    config["bellman"].update(
        greedy_states=greedy_states,
        target_symmetries=target_symmetries,
        prediction_symmetries=prediction_symmetries,
        search_depth=search_depth,
    )
    a, b = straight_and_resumed(
        tmp_path, config, ("encoder", "distance_head", "target_encoder", "target_head")
    )
    if greedy_states:
        assert torch.equal(a.state["greedy_pool"], b.state["greedy_pool"])
        assert a.state["greedy_pool"].shape == (greedy_states, 54)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = EventAccumulator(str(tmp_path / "straight"), size_guidance={"scalars": 0}).Reload()
    losses = [event.value for event in scalars.Scalars("losses/bellman_loss")]
    assert losses[-1] < losses[0], "the Bellman loss should fall in a tiny run"
    assert "losses/crtr_loss" not in scalars.Tags()["scalars"]
    rates = {f"eval/nearer_child_rate{images}_d{d}" for images in ("", "_48images") for d in (1, 2, 3)}
    assert rates <= set(scalars.Tags()["scalars"])
    assert ("charts/greedy_pool_target_mean" in scalars.Tags()["scalars"]) == bool(greedy_states)


def test_the_nearer_child_rate_read_over_images_is_one_image_for_a_canonical_encoder():
    config = bellman_config()
    config["eval"]["nearer_child_symmetries"] = 4
    task, encoder = build_model("cube", config)
    suite, heldout = task.reach_suite(0), task.heldout(0, 20)
    metrics, _ = evaluate_encoder(task, encoder, config, heldout, torch.device("cpu"), suite)
    assert {f"nearer_child_rate_4images_d{d}" for d in (1, 2, 3)} <= set(metrics)
    # every image of a state is one input to a canonical encoder: the mean over 4 is the one image
    config["model"]["canonical"] = True
    task, encoder = build_model("cube", config)
    metrics, _ = evaluate_encoder(task, encoder, config, heldout, torch.device("cpu"), suite)
    for d in (1, 2, 3):
        assert metrics[f"nearer_child_rate_4images_d{d}"] == metrics[f"nearer_child_rate_d{d}"]


@pytest.mark.parametrize(
    "key", ["bellman.target_symmetries", "bellman.prediction_symmetries", "eval.nearer_child_symmetries"]
)
@pytest.mark.parametrize("value", [0, 49])
def test_symmetry_counts_beyond_the_cubes_48_images_are_refused(tmp_path, key, value):
    config = bellman_config()
    section, name = key.split(".")
    config[section][name] = value
    with pytest.raises(UserError, match=key):
        train("cube", config, run_dir=tmp_path, steps=1, resume=False)


def test_no_loss_at_all_is_refused(tmp_path):
    config = bellman_config()
    config["bellman"]["weight"] = 0.0
    with pytest.raises(UserError, match="must not all be 0"):
        train("cube", config, run_dir=tmp_path, steps=1, resume=False)


def test_scramble_walk_lengths_bound_the_exact_distance(cube_tables):
    _, large = cube_tables
    states, walk_lengths = scramble_states(np.random.default_rng(2), 300, 5)
    exact = table_distance(large, DOMAIN, states)
    assert (exact >= 0).all() and (exact <= walk_lengths).all()
    assert (exact < walk_lengths).any(), "some walks double back"
    assert set(walk_lengths) == {1, 2, 3, 4, 5}


def test_walk_regression_run_orders_states_by_walk_length(tmp_path):
    config = bellman_config()
    config["bellman"]["weight"] = 0.0
    config["walk_regression"].update(weight=1.0, batch_size=256, max_depth=6)
    train("cube", config, run_dir=tmp_path, steps=150, resume=False)
    saved = load_checkpoint(tmp_path / CHECKPOINT_NAME, job="cube")
    assert "distance_head" in saved.state and "target_encoder" not in saved.state

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0}).Reload()
    losses = [event.value for event in scalars.Scalars("losses/walk_regression_loss")]
    assert losses[-1] < 0.5 * losses[0], "the regression loss should fall in a tiny run"
    # the trained encoder's latent score orders held-out states by walk length
    (spearman,) = [event.value for event in scalars.Scalars("eval/spearman")][-1:]
    assert spearman > 0.5


def test_fine_tuning_starts_from_the_saved_distance_head(tmp_path):
    config = bellman_config()
    train("cube", config, run_dir=tmp_path / "first", steps=20, resume=False)
    first = load_checkpoint(tmp_path / "first" / CHECKPOINT_NAME, job="cube")
    config["train"]["init_from"] = str(tmp_path / "first" / CHECKPOINT_NAME)
    config["train"]["lr"] = 1e-12  # one step that moves nothing: the head must be the one loaded
    train("cube", config, run_dir=tmp_path / "second", steps=1, resume=False)
    second = load_checkpoint(tmp_path / "second" / CHECKPOINT_NAME, job="cube")
    for key, value in first.state["distance_head"].items():
        torch.testing.assert_close(second.state["distance_head"][key], value)


def ranking_config():
    config = bellman_config()
    config["bellman"]["weight"] = 0.0
    config["child_ranking"].update(weight=1.0, batch_size=16, min_depth=1, max_depth=4)
    return config


@pytest.mark.parametrize(("symmetries", "mined_from"), [(1, 0), (4, 0), (4, 48)])
def test_child_ranking_run_resumes_exactly(tmp_path, symmetries, mined_from):
    config = ranking_config()
    config["child_ranking"].update(symmetries=symmetries, mined_from=mined_from)
    straight_and_resumed(tmp_path, config, ("encoder", "distance_head"))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("min_depth", 0),
        ("min_depth", 5),
        ("max_depth", 13),
        ("temperature", 0.0),
        ("batch_size", 0),
        ("symmetries", 0),
        ("symmetries", 49),
        ("mined_from", -1),
    ],
)
def test_bad_child_ranking_settings_are_refused(tmp_path, key, value):
    config = ranking_config()
    config["child_ranking"][key] = value
    with pytest.raises(UserError, match=f"child_ranking.{key}"):
        train("cube", config, run_dir=tmp_path, steps=1, resume=False)
