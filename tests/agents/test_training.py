"""``python -m clrl.train humanoid`` end to end on the real environment, with tiny budgets."""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import signal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from clrl.agents.callbacks import CurriculumCallback
from clrl.agents.checkpointing import initialise_from, read_agent, restore_model, save_agent
from clrl.agents.evaluation import (
    default_checkpoint,
    evaluate,
    load_policy,
    parse_scenarios,
    run_episodes,
    summarise,
)
from clrl.agents.ppo import MAX_ADAPTIVE_LR, MIN_ADAPTIVE_LR, LatentPPO
from clrl.agents.training import (
    CHECKPOINT_NAME,
    build_model,
    make_env,
    make_vec_env,
    saved_levels,
    wrap_normalize,
)
from clrl.checkpoint import CheckpointError
from clrl.cli import run_command
from clrl.config import load_config
from clrl.envs.humanoid.env import field_slices
from clrl.envs.humanoid.terrain import TERRAIN_TYPES
from clrl.evaluate import build_parser as build_evaluate_parser
from clrl.train import main as train_main

EXPECTED_SCALARS = {
    "charts/episodic_return",
    "charts/episode_length",
    "charts/fall_rate",
    "charts/SPS",
    "charts/tracking_error_lin",
    "charts/tracking_error_yaw",
    "charts/terrain_level",
    "charts/push_floor",
    "charts/gait_frequency",
    "curriculum/level_stairs_up",
    "curriculum/level_slope_up",
    "curriculum/push_level",
    "reward/tracking_lin_vel",
    "reward/feet_phase_contact",
    "losses/contrastive_loss",
    "losses/contrastive_accuracy",
    "train/value_loss",
    "train/policy_gradient_loss",
    "train/approx_kl",
    "train/entropy_loss",
}


def read_events(run_dir: Path) -> list[EventAccumulator]:
    accumulators = []
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0})
        accumulator.Reload()
        accumulators.append(accumulator)
    return accumulators


def test_training_writes_finite_scalars_a_start_and_an_end_video_and_a_checkpoint(
    tiny_run: Path, tiny_overrides: tuple[str, ...], tiny_steps: int
) -> None:
    (events,) = read_events(tiny_run)
    scalars = set(events.Tags()["scalars"])
    assert EXPECTED_SCALARS <= scalars, EXPECTED_SCALARS - scalars
    per_terrain = {tag.removeprefix("charts/fall_rate_") for tag in scalars if "fall_rate_" in tag}
    assert per_terrain and per_terrain <= set(TERRAIN_TYPES), per_terrain
    for tag in EXPECTED_SCALARS:
        assert all(math.isfinite(event.value) for event in events.Scalars(tag)), tag
    accuracy = events.Scalars("losses/contrastive_accuracy")[-1].value
    assert 0.0 <= accuracy <= 1.0
    # the gait clock is adaptive here: the frequency must stay inside its configured bounds
    assert all(1.0 <= event.value <= 2.2 for event in events.Scalars("charts/gait_frequency"))

    # a run shorter than train.video_every: a video at its start and one at its end, on other terrains
    videos = [(image.step, tag) for tag in events.Tags()["images"] for image in events.Images(tag)]
    assert sorted(videos) == [(0, "videos/rollout_flat"), (tiny_steps, "videos/rollout_stairs_up")]
    for tag in ("videos/rollout_flat", "videos/rollout_stairs_up"):
        (video,) = events.Images(tag)
        assert video.encoded_image_string[:3] == b"GIF"  # add_video stores an animated GIF
        assert (video.width, video.height) == (320, 240)

    checkpoint = read_agent(tiny_run / CHECKPOINT_NAME)
    assert checkpoint.step == tiny_steps
    assert checkpoint.config["agent"]["latent"] == "contrastive"
    assert set(checkpoint.state) >= {"sb3_zip", "obs_rms", "ret_rms", "terrain_levels", "push_levels"}
    assert checkpoint.state["terrain_levels"].shape == (2, len(TERRAIN_TYPES))  # a level per env and type
    # 0.4 s episodes end by the time limit, not a fall: every finished one raises its env's push level
    assert checkpoint.state["push_levels"].min() >= 1

    # a run shorter than train.eval_every: one evaluation, at its end, and the policy it evaluated
    for metric in ("fall_rate", "lin_tracking_error", "heading_drift", "distance_m"):
        assert [event.step for event in events.Scalars(f"eval/flat/{metric}")] == [tiny_steps], metric
    assert read_agent(tiny_run / "checkpoints" / f"step_{tiny_steps}.pt").step == tiny_steps


def test_video_every_0_and_eval_every_0_log_neither_and_train_bit_identically(
    tiny_run: Path, tiny_overrides: tuple[str, ...], tiny_steps: int, tmp_path: Path
) -> None:
    """The videos and the evaluations run in envs of their own: without them training is the same
    to the bit."""
    argv = ["humanoid", "--steps", str(tiny_steps), "--run-dir", str(tmp_path), *tiny_overrides]
    train_main([*argv, "train.video_every=0", "train.eval_every=0"])
    (events,) = read_events(tmp_path)
    assert "charts/SPS" in events.Tags()["scalars"] and events.Tags()["images"] == []
    assert not [tag for tag in events.Tags()["scalars"] if tag.startswith("eval/")]
    assert sorted(path.name for path in (tmp_path / "checkpoints").iterdir()) == ["last.pt"]
    with_videos, without = read_agent(tiny_run / CHECKPOINT_NAME), read_agent(tmp_path / CHECKPOINT_NAME)
    for (name, first), (_, second) in zip(
        restore_model(with_videos, None).policy.state_dict().items(),
        restore_model(without, None).policy.state_dict().items(),
        strict=True,
    ):
        assert torch.equal(first, second), name
    for key in ("terrain_levels", "push_levels"):
        assert torch.equal(with_videos.state[key], without.state[key]), key
    for group, saved in with_videos.state["obs_rms"].items():
        assert torch.equal(saved["mean"], without.state["obs_rms"][group]["mean"]), group


def test_evaluations_during_training_are_those_of_clrl_evaluate_on_the_kept_policy(
    tiny_overrides: tuple[str, ...], tmp_path: Path
) -> None:
    """Every ``train.eval_every`` steps the run evaluates and keeps the policy; evaluating the kept
    file as ``python -m clrl.evaluate humanoid --seed 7`` does gives the figures the run logged with
    ``train.eval_seed=7``."""
    argv = ["humanoid", "--steps", "128", "--run-dir", str(tmp_path), *tiny_overrides, "train.video_every=0"]
    evaluations = [
        "train.eval_every=64",
        "train.eval_episodes=2",
        "train.eval_scenarios=[flat,slope_up_15deg]",
    ]
    train_main([*argv, *evaluations, "train.eval_seed=7"])
    (events,) = read_events(tmp_path)
    for scenario in ("flat", "slope_up_15deg"):
        assert [event.step for event in events.Scalars(f"eval/{scenario}/distance_m")] == [64, 128]
    kept = read_agent(tmp_path / "checkpoints" / "step_64.pt")
    assert kept.step == 64
    model, normalizer = load_policy(kept)
    settings = load_config("humanoid")["eval"]
    for scenario in parse_scenarios(settings, kept.config["env"]):
        if scenario.name not in ("flat", "slope_up_15deg"):
            continue
        records, control_dt, weight = run_episodes(model, normalizer, scenario, 2, 7, 5)
        result = summarise(scenario.name, records, control_dt, weight, Path(), 64, 0.0)
        for metric in ("fall_rate", "lin_tracking_error", "heading_drift", "distance_m"):
            (logged,) = [e.value for e in events.Scalars(f"eval/{scenario.name}/{metric}") if e.step == 64]
            assert logged == pytest.approx(getattr(result, metric), rel=1e-6, abs=1e-7), (
                scenario.name,
                metric,
            )


def test_a_perceptive_policy_reads_the_scan_trains_mirrored_and_evaluates(
    tiny_overrides: tuple[str, ...], tmp_path: Path
) -> None:
    """``env.scan.policy=true``: the actor reads the noisy scan beside its frame and latent, mirror
    augmentation mirrors it too, and the checkpoint evaluates on stairs with its own scan."""
    argv = ["humanoid", "--steps", "64", "--run-dir", str(tmp_path), *tiny_overrides, "train.video_every=0"]
    train_main([*argv, "env.scan.policy=true", "ppo.mirror_augmentation=true"])
    checkpoint = read_agent(tmp_path / CHECKPOINT_NAME)
    model, normalizer = load_policy(checkpoint)
    extractor = model.policy.features_extractor
    frame, scan = extractor.frame_size, extractor.scan_size
    assert scan == 35 and extractor.actor_dim == frame + extractor.history_encoder.net[-1].out_features + scan
    settings = load_config("humanoid")["eval"]
    (stairs,) = [s for s in parse_scenarios(settings, checkpoint.config["env"]) if s.name == "stairs_up_10cm"]
    records, control_dt, weight = run_episodes(model, normalizer, stairs, 1, 0, 1)
    assert summarise(stairs.name, records, control_dt, weight, Path(), 64, 0.0).episodes == 1


def test_checkpoint_round_trip_restores_weights_and_normalizer(
    tiny_run: Path, tiny_overrides: tuple[str, ...], tiny_steps: int
) -> None:
    checkpoint = read_agent(tiny_run / CHECKPOINT_NAME)
    normalizer = VecNormalize(DummyVecEnv([lambda: make_env(checkpoint.config["env"])]))
    try:
        model = restore_model(checkpoint, normalizer)
        assert isinstance(model, LatentPPO) and model.num_timesteps == tiny_steps
        for key, saved in checkpoint.state["obs_rms"].items():
            torch.testing.assert_close(torch.as_tensor(normalizer.obs_rms[key].mean), saved["mean"])
            torch.testing.assert_close(torch.as_tensor(normalizer.obs_rms[key].var), saved["var"])
        again = restore_model(checkpoint, None)
        for (name, first), (_, second) in zip(
            model.policy.state_dict().items(), again.policy.state_dict().items(), strict=True
        ):
            torch.testing.assert_close(first, second, msg=name)
        observation = normalizer.reset()
        torch.testing.assert_close(
            torch.as_tensor(model.predict(observation, deterministic=True)[0]),
            torch.as_tensor(again.predict(observation, deterministic=True)[0]),
        )
    finally:
        normalizer.close()


def test_saved_levels_keep_a_row_per_env_when_the_env_count_changes() -> None:
    state = {"terrain_levels": torch.tensor([[1, 2, 3], [4, 5, 6]]), "push_levels": torch.tensor([1, 2])}
    np.testing.assert_array_equal(saved_levels(state, "terrain_levels", 3), [[1, 2, 3], [4, 5, 6], [1, 2, 3]])
    np.testing.assert_array_equal(saved_levels(state, "push_levels", 1), [1])
    assert saved_levels(state, "no_such_levels", 3) is None


def test_adaptive_step_size_follows_rsl_rl_rule() -> None:
    """Divide by 1.5 above twice the desired KL, multiply by 1.5 below half of it, within bounds."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    ppo = SimpleNamespace(
        desired_kl=0.01, policy=SimpleNamespace(optimizer=torch.optim.Adam([parameter], lr=1e-3))
    )
    adapt = functools.partial(LatentPPO.adapt_learning_rate, ppo)
    learning_rate = lambda: ppo.policy.optimizer.param_groups[0]["lr"]  # noqa: E731
    adapt(0.03)
    assert learning_rate() == pytest.approx(1e-3 / 1.5)
    adapt(0.015)  # inside [desired / 2, 2 desired]: unchanged
    assert learning_rate() == pytest.approx(1e-3 / 1.5)
    adapt(0.001)
    assert learning_rate() == pytest.approx(1e-3)
    for _ in range(40):
        adapt(1.0)
    assert learning_rate() == pytest.approx(MIN_ADAPTIVE_LR)
    for _ in range(40):
        adapt(0.0)
    assert learning_rate() == pytest.approx(MAX_ADAPTIVE_LR)


def test_adapted_step_size_is_logged_and_saved(tiny_run: Path) -> None:
    """The step size lives in the optimizer state, so the checkpoint (and a resume) carries it.

    Every adapted value is the configured one times a power of 1.5.
    """
    checkpoint = read_agent(tiny_run / CHECKPOINT_NAME)
    configured = float(checkpoint.config["ppo"]["learning_rate"])
    saved = restore_model(checkpoint, None).policy.optimizer.param_groups[0]["lr"]
    (events,) = read_events(tiny_run)
    logged = [event.value for event in events.Scalars("train/learning_rate")]
    for value in [saved, *logged]:
        power = math.log(value / configured, 1.5)
        assert power == pytest.approx(round(power), abs=1e-4), value
    assert saved != pytest.approx(configured)


def test_resume_continues_to_the_new_total(
    tiny_run: Path, tiny_overrides: tuple[str, ...], tiny_steps: int, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    before = read_agent(run_dir / CHECKPOINT_NAME)
    longer_schedule = ("ppo.n_steps=16", "ppo.n_epochs=1", "ppo.clip_range=0.1")  # ppo: may change
    train_main(
        [
            "humanoid",
            *("--steps", str(tiny_steps + 64), "--run-dir", str(run_dir), "--resume"),
            *tiny_overrides,
            *longer_schedule,
        ]
    )
    after = read_agent(run_dir / CHECKPOINT_NAME)
    assert after.step == tiny_steps + 64
    assert after.state["sb3_zip"] != before.state["sb3_zip"]
    resumed_model = restore_model(after, None)
    assert (resumed_model.n_steps, resumed_model.n_epochs) == (16, 1), "the resumed run used its own ppo:"
    assert resumed_model.clip_range(1.0) == 0.1
    _, resumed = read_events(run_dir)
    steps = [event.step for event in resumed.Scalars("charts/SPS")]
    assert steps and min(steps) > tiny_steps  # the step counter continued


def test_resume_without_overrides_is_the_saved_run(
    tiny_run: Path, tiny_steps: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A resume that repeats none of the run's overrides (``ppo.n_epochs=2``, two in-process envs,
    0.4 s episodes ...) trains on under them, not under the YAML defaults; ``--steps`` is
    ``train.steps``, so the checkpoint records the run's new length."""
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    before = read_agent(run_dir / CHECKPOINT_NAME)
    assert before.config["train"]["steps"] == tiny_steps and before.config["ppo"]["n_epochs"] == 2
    argv = ["humanoid", "--steps", str(tiny_steps + 64), "--run-dir", str(run_dir), "--resume"]
    assert run_command(train_main, argv) == 0
    changed = f"train.steps {tiny_steps} -> {tiny_steps + 64}"
    assert f"resuming {run_dir} from step {tiny_steps}; changed: {changed}\n" in capsys.readouterr().out
    after = read_agent(run_dir / CHECKPOINT_NAME)
    assert after.step == tiny_steps + 64
    before.config["train"]["steps"] = tiny_steps + 64
    assert after.config == before.config
    assert restore_model(after, None).n_epochs == 2


@pytest.mark.parametrize(
    ("override", "refused"),
    [
        ("agent.latent_dim=8", "agent.latent_dim=32 (given 8)"),
        ("env.action_clip=1.5", "env.action_clip=2.0 (given 1.5)"),
        ("seed=3", "seed=0 (given 3)"),
    ],
)
def test_resume_refuses_another_env_network_or_seed_before_writing(
    override: str,
    refused: str,
    tiny_run: Path,
    tiny_steps: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the run is may not change on resume: one line names the key (exit code 2, a config
    error), the keys that may change are not named as refused, and the run dir stays as it was."""
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    files = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    argv = ["humanoid", "--steps", str(tiny_steps + 64), "--run-dir", str(run_dir), "--resume"]
    assert run_command(train_main, [*argv, "ppo.n_epochs=1", "train.n_envs=4", override]) == 2
    error = capsys.readouterr().err.strip()
    assert refused in error and "Traceback" not in error and len(error.splitlines()) == 1
    named = error.split("may change only")[0]
    assert "ppo.n_epochs" not in named and "train.n_envs" not in named
    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == files


def test_init_from_gives_a_new_model_the_saved_weights_and_statistics(
    tiny_run: Path, tiny_overrides: tuple[str, ...]
) -> None:
    source = read_agent(tiny_run / CHECKPOINT_NAME)
    config = load_config("humanoid", overrides=[*tiny_overrides, "env.action_clip=1.5"])
    venv = wrap_normalize(make_vec_env(config, 2, 0, "dummy"), config)
    try:
        model = build_model(config, venv, seed=0)
        initialise_from(model, source)
        saved = restore_model(source, None).policy.state_dict()
        loaded = model.policy.state_dict()
        assert saved.keys() == loaded.keys()
        for name, tensor in saved.items():
            torch.testing.assert_close(loaded[name], tensor, rtol=0, atol=0)
        for key, stats in source.state["obs_rms"].items():
            np.testing.assert_array_equal(venv.obs_rms[key].mean, stats["mean"].numpy())
        assert model.action_space.high.max() == 1.5, "the model acts in the new env's action space"
        assert model.num_timesteps == 0
    finally:
        venv.close()


def test_a_blind_file_starts_a_perceptive_policy_that_acts_as_it_did(
    tiny_run: Path, tiny_overrides: tuple[str, ...]
) -> None:
    """``env.scan.policy=true`` from a blind file: the scan's input weights start at zero, so every
    scan gives the blind policy's actions, and the other observations keep their saved statistics."""
    source = read_agent(tiny_run / CHECKPOINT_NAME)
    blind = restore_model(source, None).policy
    config = load_config("humanoid", overrides=[*tiny_overrides, "env.scan.policy=true"])
    venv = wrap_normalize(make_vec_env(config, 2, 0, "dummy"), config)
    try:
        model = build_model(config, venv, seed=0)
        initialise_from(model, source)
        generator = torch.Generator().manual_seed(0)
        observation = {
            key: torch.randn(4, *space.shape, generator=generator)
            for key, space in model.observation_space.spaces.items()
        }
        with torch.no_grad():
            blind_actions = blind._predict({key: observation[key] for key in ("policy", "privileged")}, True)
            for scale in (0.0, 5.0):
                scanned = {**observation, "scan": observation["scan"] * scale}
                torch.testing.assert_close(model.policy._predict(scanned, True), blind_actions)
        for key, stats in source.state["obs_rms"].items():
            np.testing.assert_array_equal(venv.obs_rms[key].mean, stats["mean"].numpy())
        assert np.all(venv.obs_rms["scan"].mean == 0), "the scan's statistics start fresh"
    finally:
        venv.close()


def test_a_longer_history_starts_a_policy_that_acts_and_values_as_it_did(
    tiny_run: Path, tiny_overrides: tuple[str, ...]
) -> None:
    """``env.history=8`` from a 5-frame file: the three older frames' input weights start at zero,
    so whatever they hold the actions and values are the saved policy's on the newest five, and each
    older frame's statistics start as the oldest saved frame's."""
    source = read_agent(tiny_run / CHECKPOINT_NAME)
    saved_history = source.config["env"]["history"]
    short = restore_model(source, None).policy
    config = load_config("humanoid", overrides=[*tiny_overrides, f"env.history={saved_history + 3}"])
    venv = wrap_normalize(make_vec_env(config, 2, 0, "dummy"), config)
    try:
        model = build_model(config, venv, seed=0)
        initialise_from(model, source)
        frame = model.policy.features_extractor.frame_size
        generator = torch.Generator().manual_seed(0)
        observation = {
            key: torch.randn(4, *space.shape, generator=generator)
            for key, space in model.observation_space.spaces.items()
        }
        newest = {**observation, "policy": observation["policy"][:, 3 * frame :]}
        with torch.no_grad():
            for scale in (0.0, 5.0):
                older = observation["policy"].clone()
                older[:, : 3 * frame] *= scale
                longer = {**observation, "policy": older}
                torch.testing.assert_close(model.policy._predict(longer, True), short._predict(newest, True))
                torch.testing.assert_close(model.policy.predict_values(longer), short.predict_values(newest))
        saved_mean = source.state["obs_rms"]["policy"]["mean"].numpy()
        np.testing.assert_array_equal(venv.obs_rms["policy"].mean[3 * frame :], saved_mean)
        np.testing.assert_array_equal(venv.obs_rms["policy"].mean[:frame], saved_mean[:frame])
    finally:
        venv.close()


def test_a_dynamics_only_contrastive_target_fine_tunes_a_file_that_read_every_field(
    tiny_run: Path, tiny_overrides: tuple[str, ...]
) -> None:
    """``agent.contrastive_fields``: ``z*`` reads only the named fields (here friction and the
    delay), so it moves with them and with nothing else; from a file whose target read every field,
    the privileged encoder starts afresh and every other weight is the file's."""
    source = read_agent(tiny_run / CHECKPOINT_NAME)
    fields = "agent.contrastive_fields=[friction,action_delay]"
    config = load_config("humanoid", overrides=[*tiny_overrides, fields])
    venv = wrap_normalize(make_vec_env(config, 2, 0, "dummy"), config)
    try:
        model = build_model(config, venv, seed=0)
        initialise_from(model, source)
        saved = restore_model(source, None).policy.state_dict()
        for name, tensor in model.policy.state_dict().items():
            if "privileged_encoder." not in name:
                torch.testing.assert_close(tensor, saved[name], rtol=0, atol=0)
        assert model.policy.features_extractor.privileged_encoder[0].in_features == 2
        friction = field_slices(venv.get_attr("privileged_fields", indices=[0])[0])["friction"]
        privileged = torch.randn(3, model.observation_space["privileged"].shape[0])
        moved = privileged.clone()
        moved[:, : friction.start] += 1.0  # base velocities, gravity, height: not the target's
        with torch.no_grad():
            target = model.policy.features_extractor.privileged_latent
            torch.testing.assert_close(target({"privileged": moved}), target({"privileged": privileged}))
            moved[:, friction] += 1.0
            assert not torch.allclose(target({"privileged": moved}), target({"privileged": privileged}))
    finally:
        venv.close()


def test_an_unknown_contrastive_field_is_refused_in_one_line(
    tiny_overrides: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["humanoid", "--steps", "64", "--run-dir", str(tmp_path), *tiny_overrides]
    assert run_command(train_main, [*argv, "agent.contrastive_fields=[friction,wind]"]) == 2
    error = capsys.readouterr().err.strip()
    assert "agent.contrastive_fields must name privileged fields" in error and len(error.splitlines()) == 1


def test_a_gru_history_is_not_lengthened(tiny_overrides: tuple[str, ...], tmp_path: Path) -> None:
    """A GRU reads every frame it is given, so older frames would change its latent: refused."""
    gru = (*tiny_overrides, "agent.history_encoder=gru")
    saved_config = load_config("humanoid", overrides=list(gru))
    venv = wrap_normalize(make_vec_env(saved_config, 2, 0, "dummy"), saved_config)
    try:
        save_agent(tmp_path / "gru.pt", build_model(saved_config, venv, seed=0), saved_config)
    finally:
        venv.close()
    config = load_config("humanoid", overrides=[*gru, "env.history=8"])
    venv = wrap_normalize(make_vec_env(config, 2, 0, "dummy"), config)
    try:
        with pytest.raises(CheckpointError, match="can only grow under the mlp history encoder"):
            initialise_from(build_model(config, venv, seed=0), read_agent(tmp_path / "gru.pt"))
    finally:
        venv.close()


@pytest.mark.parametrize(("asked", "first_step"), [(1e-3, 2e-5), (1e-5, 1e-5)])
def test_an_adaptive_fine_tune_starts_no_faster_than_the_saved_run_had_come_to(
    tiny_run: Path, tiny_overrides: tuple[str, ...], tmp_path: Path, asked: float, first_step: float
) -> None:
    slowed = restore_model(read_agent(tiny_run / CHECKPOINT_NAME), None)
    for group in slowed.policy.optimizer.param_groups:
        group["lr"] = 2e-5  # where a long run's adaptive step settles
    config = load_config("humanoid", overrides=[*tiny_overrides, f"ppo.learning_rate={asked}"])
    save_agent(tmp_path / "slowed.pt", slowed, config)
    venv = wrap_normalize(make_vec_env(config, 2, 0, "dummy"), config)
    try:
        model = build_model(config, venv, seed=0)
        initialise_from(model, read_agent(tmp_path / "slowed.pt"))
        assert [group["lr"] for group in model.policy.optimizer.param_groups] == [first_step]
    finally:
        venv.close()


def test_init_from_fine_tunes_under_another_env_section(
    tiny_run: Path, tiny_overrides: tuple[str, ...], tmp_path: Path
) -> None:
    other_env = ("env.action_clip=1.5", "env.rewards.tracking_lin_vel=2.0")
    source = f"train.init_from={tiny_run / CHECKPOINT_NAME}"
    argv = ["humanoid", "--steps", "64", "--run-dir", str(tmp_path), *tiny_overrides, *other_env, source]
    train_main([*argv, "train.video_every=0"])
    tuned = read_agent(tmp_path / CHECKPOINT_NAME)
    assert tuned.step == 64, "a fine-tune counts its own steps from 0"
    assert tuned.config["env"]["action_clip"] == 1.5
    assert tuned.state["sb3_zip"] != read_agent(tiny_run / CHECKPOINT_NAME).state["sb3_zip"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("agent.latent_dim=8", "different 'agent' config (agent.latent_dim"),
        ("env.history=3", "history of 5 frames can only grow"),
        ("agent.history_encoder=gru", "different 'agent' config (agent.history_encoder"),
    ],
)
def test_init_from_refuses_another_network_in_one_line(
    override: str,
    message: str,
    tiny_run: Path,
    tiny_overrides: tuple[str, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = f"train.init_from={tiny_run / CHECKPOINT_NAME}"
    argv = ["humanoid", "--steps", "64", "--run-dir", str(tmp_path), *tiny_overrides, source, override]
    assert run_command(train_main, [*argv, "train.video_every=0"]) != 0
    error = capsys.readouterr().err.strip()
    assert message in error and "Traceback" not in error and len(error.splitlines()) == 1
    assert not (tmp_path / CHECKPOINT_NAME).exists()


def test_init_from_a_perceptive_file_without_the_scan_says_how_in_one_line(
    tiny_overrides: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped policy reads the terrain scan (session 38): fine-tuning it under the default,
    blind env names the override it needs instead of a tensor-shape mismatch."""
    base = ["humanoid", "--steps", "64", *tiny_overrides, "train.video_every=0"]
    train_main([*base, "--run-dir", str(tmp_path / "perceptive"), "env.scan.policy=true"])
    source = f"train.init_from={tmp_path / 'perceptive' / CHECKPOINT_NAME}"
    assert run_command(train_main, [*base, "--run-dir", str(tmp_path / "blind"), source]) != 0
    error = capsys.readouterr().err.strip()
    assert "fine-tune it with env.scan.policy=true" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "blind" / CHECKPOINT_NAME).exists()


def test_checkpoints_from_before_added_keys_read_with_the_values_they_trained_under(
    tiny_run: Path, tiny_overrides: tuple[str, ...], tmp_path: Path
) -> None:
    """Files from before ``env.action_clip`` (the 20.0M policy: clipped to +-1), the
    ``hip_roll_yaw`` reward term (trained without it), ``env.swing_height`` (the robot's own) and the
    heading command (trained on drawn yaw rates, slow commands kept) still evaluate and resume, in
    the command mode they trained under, and with the update in float32 (``train.precision``)."""
    payload = torch.load(tiny_run / CHECKPOINT_NAME, weights_only=True)
    del payload["config"]["train"]["precision"]
    del payload["config"]["env"]["action_clip"]
    del payload["config"]["env"]["rewards"]["hip_roll_yaw"]
    del payload["config"]["env"]["swing_height"]
    for key in ("mode", "heading", "min_lin_vel"):
        del payload["config"]["env"]["command"][key]
    older = tmp_path / "older.pt"
    torch.save(payload, older)
    as_trained = ["env.action_clip=1.0", "env.command.mode=yaw_rate", "env.command.min_lin_vel=0.0"]
    config = load_config("humanoid", overrides=[*tiny_overrides, *as_trained])
    read = read_agent(older, expected_config=config).config  # as a resume and evaluation read it
    env = read["env"]
    assert read["train"]["precision"] == "float32"
    assert (env["action_clip"], env["rewards"]["hip_roll_yaw"], env["swing_height"]) == (1.0, 0.0, None)
    assert (env["command"]["mode"], env["command"]["min_lin_vel"]) == ("yaw_rate", 0.0)
    assert not make_env(env).unwrapped.heading_mode
    with pytest.raises(CheckpointError, match="env.action_clip"):  # the committed clip is wider
        read_agent(older, expected_config=load_config("humanoid", overrides=tiny_overrides))
    with pytest.raises(CheckpointError, match="env.command"):  # the committed mode is heading
        read_agent(older, expected_config=load_config("humanoid", overrides=[*tiny_overrides, as_trained[0]]))


def test_checkpoints_that_stored_the_retired_overlap_rollouts_key_still_resume_and_evaluate(
    tiny_run: Path,
    tiny_steps: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``train.overlap_rollouts`` (overlapped rollouts, built in session 13, removed in session 15)
    is in the config of checkpoints written meanwhile: they resume, under SB3's rollout loop, and
    evaluate. Asking for the key now is an unknown key: one line, exit code 2."""
    payload = torch.load(tiny_run / CHECKPOINT_NAME, weights_only=True)
    payload["config"]["train"]["overlap_rollouts"] = False
    run_dir = tmp_path / "run"
    (run_dir / CHECKPOINT_NAME).parent.mkdir(parents=True)
    torch.save(payload, run_dir / CHECKPOINT_NAME)
    argv = ["humanoid", "--steps", str(tiny_steps + 64), "--run-dir", str(run_dir), "--resume"]
    assert run_command(train_main, [*argv, "train.overlap_rollouts=true"]) == 2
    error = capsys.readouterr().err.strip()
    assert "unknown config key 'train.overlap_rollouts'" in error and len(error.splitlines()) == 1
    assert read_agent(run_dir / CHECKPOINT_NAME).step == tiny_steps, "nothing was written"
    assert run_command(train_main, argv) == 0
    assert f"changed: train.steps {tiny_steps} -> {tiny_steps + 64}\n" in capsys.readouterr().out
    assert read_agent(run_dir / CHECKPOINT_NAME).step == tiny_steps + 64
    config = load_config(
        "humanoid", overrides=["eval.parallel_envs=1", 'eval.common_overrides=["episode_seconds=0.2"]']
    )
    config["eval"]["scenarios"] = {"held_out_flat": config["eval"]["scenarios"]["held_out_flat"]}
    args = build_evaluate_parser().parse_intermixed_args(
        ["humanoid", "--checkpoint", str(tmp_path / "older.pt"), "--json", "--count", "1"]
    )
    torch.save(payload, args.checkpoint)
    evaluate("humanoid", config, args)
    (report,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (report["scenario"], report["episodes"], report["checkpoint_step"]) == (
        "held_out_flat",
        1,
        tiny_steps,
    )


class TrainingStarted(Exception):
    """Raised at the start of training, once the resumed model has been recorded."""


#: The policy shipped from session 9 to session 18 (20.0M steps, then a 9.4M-step fine-tune; yaw-rate
#: commands, one curriculum level per env): a file from before the heading command and the
#: per-terrain levels.
SESSION_9_POLICY = Path(__file__).parent.parent / "data" / "humanoid_g1_session9.pt"


@pytest.mark.parametrize("checkpoint", [SESSION_9_POLICY, default_checkpoint()], ids=["session9", "shipped"])
def test_a_shipped_policy_resumes_as_it_trained(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--resume`` from a shipped file (docs/humanoid.md), with only train: and ppo: made small,
    starts training from its weights, step count and curriculum levels under its own env: and
    agent:, keys added since included (session 9's command mode reads as ``yaw_rate``, from a file
    that predates the key): nothing on the command line asks for another env, so none is refused."""
    shipped = read_agent(checkpoint)
    run_dir = tmp_path / "run"
    (run_dir / CHECKPOINT_NAME).parent.mkdir(parents=True)
    shutil.copyfile(checkpoint, run_dir / CHECKPOINT_NAME)
    started: dict = {}

    def record(self: CurriculumCallback) -> None:
        started.update(model=self.model, terrain_levels=self.terrain_levels.copy())
        started.update(heading_mode=self.model.env.get_attr("heading_mode"))
        raise TrainingStarted

    monkeypatch.setattr(CurriculumCallback, "_on_training_start", record)
    small = [
        "train.n_envs=2",
        "train.vec_env=dummy",
        "train.video_every=0",
        "ppo.n_steps=32",
        "ppo.batch_size=32",
    ]
    with pytest.raises(TrainingStarted):
        train_main(
            ["humanoid", "--steps", str(shipped.step + 64), "--run-dir", str(run_dir), "--resume", *small]
        )
    assert started["model"].num_timesteps == shipped.step
    resuming = capsys.readouterr().out.splitlines()[0]
    changed = [change.split()[0] for change in resuming.split("; changed: ")[1].split(", ")]
    assert "train.n_envs" in changed and all(key.startswith(("train.", "ppo.")) for key in changed), resuming
    heading = shipped.config["env"]["command"]["mode"] == "heading"
    assert started["heading_mode"] == [heading, heading], "it resumes on the commands it trained on"
    levels = shipped.state["terrain_levels"][:2].numpy()
    if levels.ndim == 1:  # one level per env, from before the per-terrain levels: each type starts there
        levels = np.repeat(levels[:, None], len(TERRAIN_TYPES), axis=1)
    np.testing.assert_array_equal(started["terrain_levels"], levels)
    for name, weights in restore_model(shipped, None).policy.state_dict().items():
        torch.testing.assert_close(started["model"].policy.state_dict()[name], weights, rtol=0, atol=0)


def test_resume_keeps_the_adapted_step_size_or_sets_a_new_one(
    tiny_run: Path, tiny_steps: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``ppo.desired_kl`` the step size lives in the optimizer state: a resume carries on with
    the adapted one, and ``ppo.learning_rate=X`` replaces it (and SB3's schedule) with X."""
    saved = restore_model(read_agent(tiny_run / CHECKPOINT_NAME), None)
    adapted = saved.policy.optimizer.param_groups[0]["lr"]
    started: dict = {}

    def record(self: CurriculumCallback) -> None:
        rates = [group["lr"] for group in self.model.policy.optimizer.param_groups]
        started.update(rates=rates, schedule=self.model.lr_schedule(1.0))
        raise TrainingStarted

    monkeypatch.setattr(CurriculumCallback, "_on_training_start", record)
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    argv = ["humanoid", "--steps", str(tiny_steps + 64), "--run-dir", str(run_dir), "--resume"]
    with pytest.raises(TrainingStarted):
        train_main(argv)
    assert started["rates"] == [adapted] and adapted != pytest.approx(started["schedule"])
    with pytest.raises(TrainingStarted):
        train_main([*argv, "ppo.learning_rate=5e-4"])
    assert started == {"rates": [5e-4], "schedule": 5e-4}


def test_ctrl_c_saves_a_checkpoint_first(
    tiny_overrides: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    def interrupted_update(self: LatentPPO) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(LatentPPO, "train", interrupted_update)
    with pytest.raises(KeyboardInterrupt):
        train_main(
            ["humanoid", "--steps", "512", "--run-dir", str(tmp_path), *tiny_overrides, "train.video_every=0"]
        )
    assert read_agent(tmp_path / CHECKPOINT_NAME).step == 64  # saved after the first 2 x 32-step rollout


def test_the_envs_this_process_steps_leave_ctrl_c_to_the_trainer() -> None:
    """Env workers ignore Ctrl-C so that the trainer can save first; the block of envs the trainer
    steps itself (``train.main_process_block``) is built by the same factory and must not make the
    trainer ignore it too."""
    config = load_config("humanoid")
    handler_before = signal.getsignal(signal.SIGINT)
    venv = make_vec_env(config, 2, 0, "batched")
    try:
        assert venv.main_process_block and len(venv.processes) == len(venv.blocks) - 1
        assert signal.getsignal(signal.SIGINT) is handler_before
    finally:
        venv.close()


def test_sigterm_saves_a_checkpoint_first(
    tiny_overrides: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kill PID`` of a background run (which may ignore SIGINT) saves like Ctrl-C."""

    def terminated_update(self: LatentPPO) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(LatentPPO, "train", terminated_update)
    handler_before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        train_main(
            ["humanoid", "--steps", "512", "--run-dir", str(tmp_path), *tiny_overrides, "train.video_every=0"]
        )
    assert read_agent(tmp_path / CHECKPOINT_NAME).step == 64
    assert signal.getsignal(signal.SIGTERM) is handler_before  # the handler is removed again


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.update_threads=-1", "train.update_threads >= 0"),
        ("train.torch_threads=0", "train.torch_threads must be >= 1"),
        ("ppo.desired_kl=0", "ppo.desired_kl must be positive"),
        ("train.push_floor=[0.0, 90.0]", "train.push_floor must rise within env.randomization.push_force"),
        ("train.push_floor=[50.0, 10.0]", "train.push_floor must rise within env.randomization.push_force"),
        ("train.video_terrains=[stairs]", "train.video_terrains must list terrain types"),
        ("train.video_terrains=[]", "train.video_terrains must list terrain types"),
        ("train.eval_scenarios=[flat, uphill]", "train.eval_scenarios must list scenarios of eval.scenarios"),
        ("train.eval_episodes=0", "train.eval_episodes must be at least 1"),
        ("train.eval_seed=-1", "train.eval_seed must be"),
        ("train.precision=half", "train.precision must be one of auto, float32, bfloat16"),
    ],
)
def test_bad_thread_counts_and_desired_kl_are_one_line_errors(
    override: str,
    message: str,
    tiny_overrides: tuple[str, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["humanoid", "--steps", "64", "--run-dir", str(tmp_path), *tiny_overrides, override]
    assert run_command(train_main, argv) != 0
    error = capsys.readouterr().err.strip()
    assert message in error and "Traceback" not in error and len(error.splitlines()) == 1
    assert not (tmp_path / CHECKPOINT_NAME).exists()
