"""CRTR puzzle training: a tiny run learns, checkpoints round-trip, and resume continues exactly."""

import numpy as np
import pytest
import torch

import clrl.crtr.train as crtr_train
from clrl.checkpoint import load_checkpoint, save_checkpoint
from clrl.config import load_config
from clrl.crtr.model import CHECKPOINT_NAME, build_model, load_start_encoder
from clrl.crtr.train import train
from clrl.data.cube import NEIGHBOUR_STICKERS, CubeTask
from clrl.envs.cube.constants import SOLVED_STATE
from clrl.envs.cube.kernels import apply_moves
from clrl.envs.cube.symmetry import apply_symmetry
from clrl.envs.cube.trajectories import random_states
from clrl.errors import UserError
from clrl.precision import AutocastForward
from clrl.runs import cosine_decay


def tiny_cube_config(**train_overrides):
    config = load_config("cube")
    config["device"] = "cpu"
    config["data"].update(batch_size=64, trajectory_length=8)
    config["model"].update(width=64, blocks=1, latent_dim=16)
    config["train"].update(lr=1e-3, log_every=10, eval_every=40, checkpoint_every=20)
    config["train"].update(train_overrides)
    config["eval"].update(trajectories=20, greedy_puzzles=4, greedy_scramble=3, greedy_max_moves=10)
    return config


def test_cube_batch_positives_are_later_on_the_same_walk():
    task = CubeTask(tiny_cube_config())
    rng = np.random.default_rng(0)
    anchors, futures = task.sample_batch(rng, 64, 2, 0.9)
    assert anchors.shape == futures.shape == (64, 54)
    # A future state is k >= 1 quarter turns after its anchor on a walk towards solved: never equal
    # to it for k = 1, and solved futures appear while solved anchors cannot.
    assert task.domain.is_solved(futures).any() and not task.domain.is_solved(anchors).any()
    assert task.featurize(anchors).shape == (64, 324)


def test_cube_cubie_input_is_one_piece_per_position_and_a_turn_moves_eight():
    config = tiny_cube_config()
    config["model"]["input"] = "cubies"
    task = CubeTask(config)
    assert task.encoder_inputs() == {"in_dim": 480}
    states = random_states(np.random.default_rng(1), 64, 30)
    features = task.featurize(states).view(64, 20, 24)
    assert torch.equal(features.sum(2), torch.ones(64, 20)), "one piece and orientation per position"
    # A quarter turn cycles 4 corners and 4 edges: exactly 8 of the 20 positions change.
    turned = task.featurize(apply_moves(states, 0)).view(64, 20, 24)
    assert ((features != turned).any(2).sum(1) == 8).all()


@pytest.mark.parametrize("encoder_input", ["onehot", "cubies"])
def test_cube_canonical_input_gives_every_symmetric_image_one_feature_row(encoder_input):
    config = tiny_cube_config()
    config["model"].update(input=encoder_input, canonical=True)
    task = CubeTask(config)
    states = random_states(np.random.default_rng(2), 32, 30)
    features = task.featurize(states)
    for symmetry in (1, 23, 24, 47):
        assert torch.equal(task.featurize(apply_symmetry(states, symmetry)), features)
    config["model"]["canonical"] = False
    assert not torch.equal(CubeTask(config).featurize(apply_symmetry(states, 1)), features)


@pytest.mark.parametrize("encoder_input", ["onehot", "cubies"])
def test_cube_neighbour_matches_are_all_set_when_solved_and_a_turn_breaks_twelve(encoder_input):
    config = tiny_cube_config()
    config["model"].update(input=encoder_input, neighbour_matches=True)
    task = CubeTask(config)
    width = {"onehot": 324, "cubies": 480}[encoder_input]
    assert task.encoder_inputs() == {"in_dim": width + 72}
    solved = task.featurize(SOLVED_STATE[None])
    assert solved.shape == (1, width + 72) and solved[0, width:].sum() == 72
    # Every checkpoint trained with the switch reads its columns in this order.
    first_face = [0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 0, 3, 3, 6, 1, 4, 4, 7, 2, 5, 5, 8]
    assert NEIGHBOUR_STICKERS[:12].ravel().tolist() == first_face
    # A quarter turn carries a row of three stickers onto each of four side faces: on each, the row
    # still matches itself but none of the three stickers below it (four faces x three pairs).
    for move in range(12):
        turned = task.featurize(apply_moves(SOLVED_STATE[None], move))
        assert turned[0, width:].sum() == 72 - 12
    # The pairs are the cube's own, so a symmetry permutes them and keeps how many match.
    states = random_states(np.random.default_rng(3), 32, 30)
    matches = task.featurize(states)[:, width:].sum(1)
    for symmetry in (1, 23, 24, 47):
        assert torch.equal(task.featurize(apply_symmetry(states, symmetry))[:, width:].sum(1), matches)
    config["model"]["neighbour_matches"] = False
    assert torch.equal(task.featurize(states)[:, :width], CubeTask(config).featurize(states))


def test_tiny_run_learns_and_resumes_exactly(tmp_path):
    config = tiny_cube_config()
    straight, split = tmp_path / "straight", tmp_path / "split"
    straight.mkdir()
    split.mkdir()
    train("cube", config, run_dir=straight, steps=80, resume=False)
    train("cube", config, run_dir=split, steps=40, resume=False)
    train("cube", config, run_dir=split, steps=80, resume=True)
    a = load_checkpoint(straight / CHECKPOINT_NAME, job="cube")
    b = load_checkpoint(split / CHECKPOINT_NAME, job="cube", expected_config=config)
    assert a.step == b.step == 80
    for key, value in a.state["encoder"].items():
        assert torch.equal(value, b.state["encoder"][key]), key
    events = list(straight.glob("events.out.tfevents.*"))
    assert events, "TensorBoard event file missing"

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(straight), size_guidance={"scalars": 0, "images": 0}).Reload()
    losses = [event.value for event in accumulator.Scalars("losses/crtr_loss")]
    assert losses[-1] < losses[0], "the CRTR loss should fall in a tiny run"
    assert "eval/spearman" in accumulator.Tags()["scalars"]
    assert "eval/greedy_rollout" in accumulator.Tags()["images"]


def test_cosine_decay_anneals_the_last_steps_from_one_to_zero():
    factors = [cosine_decay(step, 10, 4) for step in range(10)]
    assert factors[:7] == [1.0] * 7
    np.testing.assert_allclose(factors[7:], [(1 + np.cos(np.pi * k / 4)) / 2 for k in (1, 2, 3)])
    assert cosine_decay(10, 10, 4) == 0.0 and cosine_decay(50, 10, 4) == 0.0
    assert [cosine_decay(step, 10, 0) for step in range(12)] == [1.0] * 12
    assert cosine_decay(0, 10, 99) == 1.0 and cosine_decay(5, 10, 99) == cosine_decay(5, 10, 10)


def test_an_annealed_run_resumed_mid_anneal_takes_the_same_steps(tmp_path, monkeypatch):
    config = tiny_cube_config(lr_anneal_steps=40)
    straight, split = tmp_path / "straight", tmp_path / "split"
    split.mkdir()

    # the straight run's step-60 checkpoint, as a run stopped there (kill, then --resume) leaves it
    def save_and_keep(path, *, step, **saved):
        save_checkpoint(path, step=step, **saved)
        if step == 60:
            save_checkpoint(split / CHECKPOINT_NAME, step=step, **saved)

    monkeypatch.setattr(crtr_train, "save_checkpoint", save_and_keep)
    train("cube", config, run_dir=straight, steps=80, resume=False)
    monkeypatch.undo()
    train("cube", config, run_dir=split, steps=80, resume=True)
    a = load_checkpoint(straight / CHECKPOINT_NAME, job="cube")
    b = load_checkpoint(split / CHECKPOINT_NAME, job="cube")
    assert a.step == b.step == 80
    for key, value in a.state["encoder"].items():
        assert torch.equal(value, b.state["encoder"][key]), key

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(straight), size_guidance={"scalars": 0}).Reload()
    rates = {event.step: event.value for event in accumulator.Scalars("charts/learning_rate")}
    assert rates[10] == rates[40] == pytest.approx(1e-3)
    assert rates[40] > rates[50] > rates[60] > rates[70] > rates[80]
    assert rates[60] == pytest.approx(1e-3 * cosine_decay(59, 80, 40))

    # a resumed run may start an anneal it did not have: another length and anneal, same run
    train("cube", tiny_cube_config(), run_dir=tmp_path / "constant", steps=20, resume=False)
    longer = tiny_cube_config(lr_anneal_steps=10)
    train(
        "cube", longer, run_dir=tmp_path / "constant", steps=30, resume=True, given={"train.lr_anneal_steps"}
    )
    assert (
        load_checkpoint(tmp_path / "constant" / CHECKPOINT_NAME, job="cube").config["train"][
            "lr_anneal_steps"
        ]
        == 10
    )


def test_init_from_starts_from_the_saved_encoder(tmp_path):
    first, tuned = tmp_path / "first", tmp_path / "tuned"
    train("cube", tiny_cube_config(), run_dir=first, steps=20, resume=False)
    start = load_checkpoint(first / CHECKPOINT_NAME, job="cube").state["encoder"]
    # A learning rate this small leaves the weights where they started: the run began from them.
    config = tiny_cube_config(init_from=str(first / CHECKPOINT_NAME), lr=1e-12)
    train("cube", config, run_dir=tuned, steps=20, resume=False)
    saved = load_checkpoint(tuned / CHECKPOINT_NAME, job="cube")
    assert saved.step == 20, "a fine-tuning run counts its own steps from 0"
    for key, value in start.items():
        torch.testing.assert_close(saved.state["encoder"][key], value, rtol=0, atol=1e-9)

    config["model"]["width"] = 32
    with pytest.raises(UserError, match="different 'model' config"):
        train("cube", config, run_dir=tmp_path / "other", steps=1, resume=False)

    # A file written before a model key existed (here model.canonical) holds it at its default.
    older = load_checkpoint(first / CHECKPOINT_NAME, job="cube")
    del older.config["model"]["canonical"]
    older_file = tmp_path / "older.pt"
    save_checkpoint(older_file, job="cube", step=older.step, config=older.config, state=older.state)
    config = tiny_cube_config(init_from=str(older_file))
    train("cube", config, run_dir=tmp_path / "from_older", steps=1, resume=False)


def test_init_from_grows_a_residual_encoder_deeper_from_the_saved_distance(tmp_path):
    first = tmp_path / "first"
    train("cube", tiny_cube_config(), run_dir=first, steps=20, resume=False)
    saved_config = tiny_cube_config()
    task, saved_encoder = build_model("cube", saved_config)
    saved_encoder.load_state_dict(load_checkpoint(first / CHECKPOINT_NAME, job="cube").state["encoder"])
    deeper = tiny_cube_config(init_from=str(first / CHECKPOINT_NAME))
    deeper["model"]["blocks"] = 3
    _, grown = build_model("cube", deeper)
    load_start_encoder("cube", deeper, grown)
    assert len(grown.blocks) == 3
    features = task.featurize(random_states(np.random.default_rng(3), 32, 20))
    with torch.no_grad():
        torch.testing.assert_close(grown(features), saved_encoder(features), rtol=0, atol=1e-6)
    # the added blocks learn: their output layers get gradients although they start at zero
    grown(features).square().sum().backward()
    assert grown.blocks[2].net[-1].weight.grad.abs().sum() > 0
    # a grown run trains and saves its deeper encoder
    train("cube", deeper, run_dir=tmp_path / "grown", steps=2, resume=False)
    assert "blocks.2.net.3.weight" in load_checkpoint(tmp_path / "grown" / CHECKPOINT_NAME).state["encoder"]
    # weights that do not match the config saved with them are refused in one line
    damaged = load_checkpoint(first / CHECKPOINT_NAME, job="cube")
    del damaged.state["encoder"]["blocks.0.net.1.weight"]
    save_checkpoint(tmp_path / "damaged.pt", job="cube", step=1, config=damaged.config, state=damaged.state)
    deeper["train"]["init_from"] = str(tmp_path / "damaged.pt")
    with pytest.raises(UserError, match="not a 1-block network of this width"):
        load_start_encoder("cube", deeper, build_model("cube", deeper)[1])
    # shallower is not growth: refused like any other change of the model
    shallower = tiny_cube_config(init_from=str(tmp_path / "grown" / CHECKPOINT_NAME))
    with pytest.raises(UserError, match="different 'model' config"):
        train("cube", shallower, run_dir=tmp_path / "shallower", steps=1, resume=False)


def test_bad_config_values_are_rejected(tmp_path):
    config = tiny_cube_config()
    config["data"]["repetition_factor"] = 3
    with pytest.raises(UserError, match="multiple of data.repetition_factor"):
        train("cube", config, run_dir=tmp_path, steps=1, resume=False)
    config = tiny_cube_config()
    config["model"]["input"] = "pixels"
    with pytest.raises(UserError, match="model.input"):
        train("cube", config, run_dir=tmp_path, steps=1, resume=False)
    for key, value, message in (
        ("similarity", "cos", "loss.similarity must be one of dot, neg_sq_l2, neg_mrn, neg_iqe"),
        ("direction", "sideways", "loss.direction must be one of"),
    ):
        config = tiny_cube_config()
        config["loss"][key] = value
        with pytest.raises(UserError, match=message):
            train("cube", config, run_dir=tmp_path, steps=1, resume=False)
    with pytest.raises(UserError, match="train.precision must be one of auto, float32, bfloat16, got 'fp8'"):
        train("cube", tiny_cube_config(precision="fp8"), run_dir=tmp_path, steps=1, resume=False)
    config = tiny_cube_config()
    config["loss"]["similarity"], config["model"]["latent_dim"] = "neg_iqe", 12
    with pytest.raises(UserError, match="multiple of 8"):
        train("cube", config, run_dir=tmp_path, steps=1, resume=False)


def test_a_quasimetric_encoder_trains_and_plans(tmp_path):
    config = tiny_cube_config()
    config["loss"]["similarity"] = "neg_mrn"
    train("cube", config, run_dir=tmp_path, steps=20, resume=False)
    from clrl.crtr.model import LearnedModel

    model = LearnedModel.load("cube", tmp_path / CHECKPOINT_NAME)
    solved = model.task.goals(None)
    one_move = model.task.domain.children(solved)[0][0]  # (12, 54)
    scores = model.heuristic(solved)(np.concatenate([solved, one_move]))
    assert abs(float(scores[0])) < 1e-5, "a quasimetric puts the goal at distance 0"
    assert (scores[1:] >= 0).all()


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    config = tiny_cube_config(lr=1e30, checkpoint_every=1)
    with pytest.raises(UserError, match="loss became nan"):
        train("cube", config, run_dir=tmp_path, steps=200, resume=False)
    saved = load_checkpoint(tmp_path / CHECKPOINT_NAME, job="cube")
    assert all(torch.isfinite(value).all() for value in saved.state["encoder"].values())


def test_autocast_forward_computes_in_bfloat16_and_returns_float32():
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
    x = torch.randn(16, 32)
    exact = AutocastForward(encoder, "float32")(x)
    fast = AutocastForward(encoder, "bfloat16")(x)
    assert fast.dtype == torch.float32
    assert 0 < (fast - exact).abs().max() < 0.02 * exact.abs().max(), "bfloat16 keeps ~3 significant digits"
    fast.pow(2).sum().backward()
    assert all(p.grad.dtype == torch.float32 for p in encoder.parameters())
    # the wrapper owns no weights of its own: the encoder's state dict is what a checkpoint saves
    assert AutocastForward(encoder, "bfloat16").state_dict().keys() == {
        f"module.{key}" for key in encoder.state_dict()
    }


def test_a_bfloat16_run_saves_float32_weights_near_the_float32_run(tmp_path):
    saved = {}
    for precision in ("float32", "bfloat16"):
        run_dir = tmp_path / precision
        train("cube", tiny_cube_config(precision=precision), run_dir=run_dir, steps=20, resume=False)
        saved[precision] = load_checkpoint(run_dir / CHECKPOINT_NAME, job="cube").state["encoder"]
    for key, exact in saved["float32"].items():
        fast = saved["bfloat16"][key]
        assert fast.dtype == torch.float32
        # the same batches and seed: 20 Adam steps of at most lr = 1e-3 each apart at most
        assert (fast - exact).abs().max() < 20 * 1e-3, key
    assert any(not torch.equal(saved["bfloat16"][k], v) for k, v in saved["float32"].items())
    # a resumed run may change how it computes (not what it is)
    train("cube", tiny_cube_config(precision="float32"), run_dir=tmp_path / "bfloat16", steps=30, resume=True)
    assert load_checkpoint(tmp_path / "bfloat16" / CHECKPOINT_NAME, job="cube").step == 30
