"""End-to-end: a short contrastive run on digits beats its random initialisation; resume; evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from clrl.checkpoint import load_checkpoint
from clrl.config import ConfigError, load_config
from clrl.errors import UserError
from clrl.evaluate import main as evaluate_main
from clrl.runs import seed_everything
from clrl.vision.model import (
    CHECKPOINT_NAME,
    build_model,
    load_benchmark_data,
    load_trained_model,
    resolve_model_config,
)
from clrl.vision.train import epoch_knn_accuracy, train

FAST = ["threads=1", "train.eval_every=100", "train.checkpoint_every=100"]


@pytest.fixture(scope="module")
def simclr_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("simclr")
    config = load_config("vision", overrides=["loss=simclr", "dataset=digits", "train.epochs=4", *FAST])
    train("vision", config, run_dir=run_dir)
    return run_dir


def test_short_training_beats_the_random_encoder_on_knn(simclr_run: Path) -> None:
    config = load_config("vision", overrides=["dataset=digits"])
    data = load_benchmark_data(config)
    seed_everything(config["seed"])  # the initialisation the run started from
    random_model = build_model(resolve_model_config(config), data)
    trained_model, _, _ = load_trained_model(simclr_run / CHECKPOINT_NAME, torch.device("cpu"))
    device = torch.device("cpu")
    random_accuracy = epoch_knn_accuracy(random_model, data, config, device)
    trained_accuracy = epoch_knn_accuracy(trained_model, data, config, device)
    assert trained_accuracy > random_accuracy + 0.03, (random_accuracy, trained_accuracy)


def test_run_writes_the_tensorboard_scalars(simclr_run: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(simclr_run)).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"losses/train_loss", "eval/knn_accuracy", "eval/effective_rank"} <= tags
    assert {"eval/alignment", "eval/uniformity"} <= tags
    losses = [event.value for event in events.Scalars("losses/train_loss")]
    assert losses[-1] < losses[0]


def test_resume_continues_to_the_same_step_count(tmp_path: Path) -> None:
    overrides = ["loss=moco", "dataset=digits", "train.epochs=2", *FAST]
    config = load_config("vision", overrides=overrides)
    train("vision", config, run_dir=tmp_path, steps=3)
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME, job="vision").step == 3
    train("vision", config, run_dir=tmp_path, steps=7, resume=True)
    saved = load_checkpoint(tmp_path / CHECKPOINT_NAME, job="vision")
    assert saved.step == 7
    assert saved.state["key_model"] is not None and saved.state["loss"]["queue.count"] > 0
    other = load_config("vision", overrides=["loss=renyi", "dataset=digits", *FAST])
    with pytest.raises(UserError, match="loss='moco'"):
        train("vision", other, run_dir=tmp_path, steps=9, resume=True)


def test_resume_sets_a_new_learning_rate_under_the_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config("vision", overrides=["loss=simclr", "dataset=digits", "train.epochs=1", *FAST])
    train("vision", config, run_dir=tmp_path, steps=4)
    rates = []
    real_step = torch.optim.AdamW.step

    def recording_step(self, closure=None):
        rates.append(self.param_groups[0]["lr"])
        return real_step(self, closure)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    config["train"]["lr"] = 1e-4
    train("vision", config, run_dir=tmp_path, steps=8, resume=True)
    assert "changed: train.lr 0.001 -> 0.0001" in capsys.readouterr().out
    # the cosine schedule over the new length, from the new base rate
    assert rates == pytest.approx([1e-4 * 0.5 * (1 + np.cos(np.pi * step / 8)) for step in range(4, 8)])
    saved = load_checkpoint(tmp_path / CHECKPOINT_NAME, job="vision")
    assert saved.config["train"]["lr"] == 1e-4 and saved.state["schedule"]["base_lrs"] == [1e-4]
    config["train"]["weight_decay"] = 0.5
    with pytest.raises(ConfigError, match=r"train\.weight_decay=0\.0001 \(given 0\.5\)"):
        train("vision", config, run_dir=tmp_path, steps=9, resume=True)


def test_evaluate_command_prints_every_metric_as_json(
    simclr_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = str(simclr_run / CHECKPOINT_NAME)
    code = evaluate_main(
        [
            "vision",
            "--checkpoint",
            checkpoint,
            "--json",
            "--count",
            "120",
            "threads=1",
            "eval.l1_baseline_epochs=0",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["test_samples"] == 120 and result["loss"] == "simclr"
    assert 0.5 < result["linear_probe"] <= 1 and 0.5 < result["knn"] <= 1
    assert result["ood_auroc"] is None and result["factor_mae"] > 0


def test_ood_run_scores_the_held_out_classes_as_out_of_distribution(tmp_path: Path) -> None:
    """The AUROC is that of the held-out classes' test samples (negatives) against the rest
    (positives) by feature norm: features whose norm marks the held-out classes score exactly 1."""
    config = load_config(
        "vision", overrides=["dataset=digits", "ood_classes=[8, 9]", "train.epochs=1", *FAST]
    )
    train("vision", config, run_dir=tmp_path)
    from clrl.vision.evaluate import evaluate_features
    from clrl.vision.metrics import extract_features, feature_norm_auroc

    model, trained, data = load_trained_model(tmp_path / CHECKPOINT_NAME, torch.device("cpu"))
    assert trained["ood_classes"] == [8, 9]
    cpu = torch.device("cpu")
    train_features = extract_features(model, data.train_x, cpu)
    test_features = extract_features(model, data.test_x, cpu)
    held_out = torch.from_numpy(np.isin(data.test_y, [8, 9]))
    results = evaluate_features(train_features, test_features, data, config["eval"], [8, 9])
    expected = feature_norm_auroc(test_features[~held_out], test_features[held_out])
    assert results["ood_auroc"] == pytest.approx(expected, abs=1e-12)
    directions = test_features / test_features.norm(dim=1, keepdim=True)
    marked = directions * torch.where(held_out, 0.5, 2.0)[:, None]  # in-distribution: the larger norm
    assert evaluate_features(train_features, marked, data, config["eval"], [8, 9])["ood_auroc"] == 1.0


@pytest.mark.parametrize("loss", ["simclr", "moco", "renyi", "slr", "rnc", "advssl"])
def test_every_registered_loss_trains_for_a_few_steps(tmp_path: Path, loss: str) -> None:
    # Stateful losses (MoCo queue, SLR queue and RNG, Adv-SSL's dual matrix) must survive
    # repeated steps: the second backward is where in-place state updates would break.
    config = load_config("vision", overrides=[f"loss={loss}", "train.batch_size=64", *FAST])
    train("vision", config, run_dir=tmp_path, steps=3)
    saved = load_checkpoint(tmp_path / CHECKPOINT_NAME, job="vision")
    assert saved.step == 3 and saved.config["loss"] == loss


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("loss=byol", "unknown loss 'byol'"),
        ("dataset=svhn", "unknown dataset 'svhn'"),
        ("ood_classes=[12]", "not classes of digits"),
    ],
)
def test_bad_settings_are_config_errors(tmp_path: Path, override: str, message: str) -> None:
    config = load_config("vision", overrides=[override, *FAST])
    with pytest.raises(ConfigError, match=message):
        train("vision", config, run_dir=tmp_path, steps=1)


def test_rnc_needs_a_dataset_with_a_continuous_factor(tmp_path: Path) -> None:
    config = load_config("vision", overrides=["loss=rnc", "dataset=cifar10", f"data_dir={tmp_path}", *FAST])
    with pytest.raises(ConfigError, match="loss=rnc regresses a continuous factor, which cifar10"):
        train("vision", config, run_dir=tmp_path, steps=1)


def recording_loss(declares: bool, calls: list) -> type[torch.nn.Module]:
    """A loss class that declares every need (or none) and records what the trainer gives it."""

    class RecordingLoss(torch.nn.Module):
        needs_labels = needs_feature_dim = needs_seed = needs_momentum_encoder = declares

        def __init__(self, **given) -> None:
            super().__init__()
            calls.append(("built with", given))

        def forward(self, z1, z2, labels=None):
            calls.append(("called with", z2.requires_grad, None if labels is None else labels.shape))
            return (z1 - z2).pow(2).sum(dim=1).mean()

    return RecordingLoss


@pytest.mark.parametrize("declares", [True, False])
def test_trainer_gives_a_loss_what_its_class_declares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, declares: bool
) -> None:
    from clrl.losses import LOSSES

    calls: list = []
    monkeypatch.setitem(LOSSES, "recorder", recording_loss(declares, calls))
    config = load_config("vision", overrides=["loss=recorder", "seed=3", "train.batch_size=64", *FAST])
    train("vision", config, run_dir=tmp_path, steps=2)
    built, *steps = calls
    # needs_feature_dim / needs_seed: constructor arguments; needs_labels: the slant of each digit;
    # needs_momentum_encoder: the key view comes, without gradient, from a saved EMA copy.
    assert built == ("built with", {"dim": 64, "seed": 3} if declares else {})
    assert steps == [("called with", not declares, torch.Size([64]) if declares else None)] * 2
    saved = load_checkpoint(tmp_path / CHECKPOINT_NAME, job="vision")
    assert (saved.state["key_model"] is not None) == declares


def test_a_loss_that_needs_labels_needs_a_dataset_with_a_continuous_factor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clrl.losses import LOSSES

    monkeypatch.setitem(LOSSES, "recorder", recording_loss(True, []))
    overrides = ["loss=recorder", "dataset=cifar10", f"data_dir={tmp_path}", *FAST]
    config = load_config("vision", overrides=overrides)
    with pytest.raises(ConfigError, match="loss=recorder regresses a continuous factor, which cifar10"):
        train("vision", config, run_dir=tmp_path, steps=1)
