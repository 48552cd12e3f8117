"""``python -m clrl.evaluate humanoid``: report schema, scenario construction and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mujoco
import numpy as np
import pytest

from clrl.agents.evaluation import (
    EpisodeRecord,
    evaluate,
    held_out_factor_scenarios,
    make_scenario_env,
    markdown_table,
    parse_scenarios,
    summarise,
)
from clrl.agents.training import CHECKPOINT_NAME
from clrl.checkpoint import CheckpointError
from clrl.config import ConfigError, load_config
from clrl.envs.humanoid.randomize import DYNAMICS_KEYS, check_config, intervals, sample_terrain
from clrl.evaluate import build_parser
from clrl.evaluate import main as evaluate_main

REPORT_KEYS = {
    "scenario",
    "episodes",
    "fall_rate",
    "survival_s",
    "lin_tracking_error",
    "yaw_tracking_error",
    "heading_drift",
    "distance_m",
    "cost_of_transport",
    "checkpoint",
    "checkpoint_step",
    "seconds",
}


def test_json_report_has_one_object_per_scenario(
    tiny_run: Path, tiny_steps: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "table.md"
    checkpoint = tiny_run / CHECKPOINT_NAME
    config = load_config(
        "humanoid", overrides=["eval.parallel_envs=1", 'eval.common_overrides=["episode_seconds=0.2"]']
    )
    # two of the scenarios keep the test fast: each builds its own MuJoCo env
    flags = ["--checkpoint", str(checkpoint), "--json", "--count", "1", "--out", str(table)]
    flags += ["--scenarios", "held_out_flat,sim_to_sim"]
    args = build_parser().parse_intermixed_args(["humanoid", *flags])
    evaluate("humanoid", config, args)
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["scenario"] for r in reports] == ["held_out_flat", "sim_to_sim"]
    for report in reports:
        assert set(report) == REPORT_KEYS
        assert report["episodes"] == 1
        assert report["checkpoint"] == str(checkpoint) and report["checkpoint_step"] == tiny_steps
        assert 0.0 <= report["fall_rate"] <= 1.0
        assert 0.0 < report["survival_s"] <= 0.2 + 1e-9  # episodes were cut at 0.2 s
        for key in ("lin_tracking_error", "yaw_tracking_error", "heading_drift", "distance_m"):
            assert math.isfinite(report[key]) and report[key] >= 0.0
        assert report["cost_of_transport"] is None or report["cost_of_transport"] > 0.0
    rows = table.read_text().splitlines()
    assert len(rows) == 2 + len(reports) and rows[2].startswith(f"| {reports[0]['scenario']} | 1 |")


def test_heading_drift_is_the_final_heading_error_per_second_of_each_episode() -> None:
    """Two episodes: 1 rad off after 10 s (0.1 rad/s) and 0.6 rad the other way after 2 s (0.3 rad/s)."""
    records = [
        EpisodeRecord(steps=500, heading_error=1.0, yaw_error_sum=500 * 0.2),
        EpisodeRecord(steps=100, heading_error=-0.6, yaw_error_sum=100 * 0.4, fell=True),
    ]
    result = summarise("flat", records, 0.02, 300.0, Path("x.pt"), 0, 0.0)
    assert result.heading_drift == pytest.approx(0.2)
    assert result.yaw_tracking_error == pytest.approx(0.3)
    header, _, row = markdown_table([result]).splitlines()
    assert "heading drift (rad/s)" in header and "| 0.200 |" in row


def test_the_scenarios_command_no_turn_in_either_command_mode() -> None:
    config = load_config("humanoid")
    for mode in ("heading", "yaw_rate"):
        trained = {**config["env"], "command": {**config["env"]["command"], "mode": mode}}
        for scenario in parse_scenarios(config["eval"], trained):
            command = scenario.env_config["command"]
            assert command["mode"] == mode
            assert command["heading"] == [0.0, 0.0] and command["yaw_rate"] == [0.0, 0.0]
            assert command["lin_vel_x"] == [0.5, 0.5] and command["standing_probability"] == 0.0


def test_video_flag_saves_the_first_episode(tiny_run: Path, tmp_path: Path) -> None:
    import imageio.v3 as iio

    video = tmp_path / "videos" / "flat.mp4"
    short = ["eval.parallel_envs=1", 'eval.common_overrides=["episode_seconds=0.2"]']
    checkpoint = str(tiny_run / CHECKPOINT_NAME)
    evaluate_main(["humanoid", "--checkpoint", checkpoint, "--count", "1", "--video", str(video), *short])
    frames = iio.imread(video)
    # the reset frame, then every other one of the 10 control steps of 0.2 s at 50 Hz (320x240 camera)
    assert frames.shape == (1 + 5, 240, 320, 3)


def test_scenarios_flag_runs_the_named_ones_in_its_order(
    tiny_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def scenarios_run(*flags: str) -> list[str]:
        short = ["eval.parallel_envs=1", 'eval.common_overrides=["episode_seconds=0.2"]']
        checkpoint = str(tiny_run / CHECKPOINT_NAME)
        evaluate_main(["humanoid", "--checkpoint", checkpoint, "--count", "1", "--json", *flags, *short])
        return [json.loads(line)["scenario"] for line in capsys.readouterr().out.splitlines()]

    assert scenarios_run("--scenarios", "sim_to_sim,flat") == ["sim_to_sim", "flat"]
    assert scenarios_run("--held-out-factors", "--scenarios", "all_held_out") == ["all_held_out"]


def test_an_unknown_scenario_name_is_refused_in_one_line(tiny_run: Path) -> None:
    checkpoint = str(tiny_run / CHECKPOINT_NAME)
    with pytest.raises(
        ConfigError, match=r"--scenarios must list scenarios of eval.scenarios \(flat, .*'uphill'"
    ):
        evaluate_main(["humanoid", "--checkpoint", checkpoint, "--scenarios", "flat,uphill"])


@pytest.mark.parametrize("flag", [["--video", "out.mp4"], ["--held-out-factors"], ["--scenarios", "flat"]])
def test_humanoid_flags_are_refused_for_puzzles(flag: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main(["cube", *flag])
    assert exit_info.value.code == 2
    assert f"{flag[0]} is only for humanoid" in capsys.readouterr().err


def test_held_out_factor_scenarios_move_one_factor_into_its_held_out_range() -> None:
    config = load_config("humanoid")
    training, held_out = config["env"]["randomization"], config["env"]["held_out"]
    settings = {**config["eval"], "scenarios": held_out_factor_scenarios(config["env"])}
    scenarios = {s.name: s for s in parse_scenarios(settings, config["env"])}
    two_sided = [key for key in DYNAMICS_KEYS if len(intervals(held_out[key], key)) == 2]
    expected_factors = {f"{key}_{side}" for key in two_sided for side in ("low", "high")}
    expected_factors |= {key for key in DYNAMICS_KEYS if key not in two_sided} | {"pushes"}
    all_but_one = {f"all_held_out_but_{key}" for key in (*DYNAMICS_KEYS, "pushes")}
    assert set(scenarios) == expected_factors | all_but_one | {"training_dynamics", "all_held_out"}
    for scenario in scenarios.values():
        check_config(scenario.env_config)  # the held-out set stays disjoint from the training one
        assert scenario.held_out == scenario.name.startswith("all_held_out")
        assert scenario.env_config["terrain"]["types"] == ["flat"]
    assert scenarios["training_dynamics"].env_config["randomization"] == training
    for name in expected_factors:
        randomization = scenarios[name].env_config["randomization"]
        moved = {key for key in training if randomization[key] != training[key]}
        if name == "pushes":
            assert moved == {"push_force", "push_interval"}
            assert randomization["push_force"] == held_out["push_force"]
            continue
        (key,) = moved
        assert name.startswith(key)
        low, high = randomization[key]
        assert any(a <= low <= high <= b for a, b in intervals(held_out[key], key))


def test_all_but_one_scenarios_draw_that_factor_from_its_training_range_and_the_rest_held_out() -> None:
    config = load_config("humanoid")
    training, held_out = config["env"]["randomization"], config["env"]["held_out"]
    settings = {**config["eval"], "scenarios": held_out_factor_scenarios(config["env"])}
    scenarios = {s.name: s for s in parse_scenarios(settings, config["env"])}
    everything = scenarios["all_held_out"].env_config["held_out"]
    for key in (*DYNAMICS_KEYS, "pushes"):
        drawn = scenarios[f"all_held_out_but_{key}"].env_config["held_out"]  # held-out envs draw from here
        kept = {"push_force", "push_interval"} if key == "pushes" else {key}
        assert {k for k in drawn if drawn[k] != everything[k]} == kept
        assert all(drawn[k] == training[k] for k in kept)
        assert all(drawn[k] == held_out[k] for k in held_out if k not in kept)


def test_held_out_factor_scenarios_name_every_interval_of_a_range() -> None:
    config = load_config("humanoid")
    config["env"]["held_out"]["friction"] = [[0.05, 0.1], [0.1, 0.25], [1.3, 1.6]]
    scenarios = held_out_factor_scenarios(config["env"])
    moved = {name: scenarios[name]["env_overrides"][-2] for name in scenarios if name.startswith("friction")}
    assert moved == {
        "friction_0": "randomization.friction=[0.05, 0.1]",
        "friction_1": "randomization.friction=[0.1, 0.25]",
        "friction_2": "randomization.friction=[1.3, 1.6]",
    }


def test_stairs_and_slope_scenarios_build_the_targets_terrain_at_every_level() -> None:
    config = load_config("humanoid")
    scenarios = {s.name: s for s in parse_scenarios(config["eval"], config["env"])}
    rng = np.random.default_rng(0)
    targets = [
        ("stairs_up_10cm", "stairs_up", "step_height", 0.1),
        ("slope_up_15deg", "slope_up", "slope_degrees", 15.0),
    ]
    for name, kind, field, value in targets:
        env_config = scenarios[name].env_config
        check_config(env_config)
        assert not scenarios[name].held_out
        for level in (0, 5, 9):
            terrain = sample_terrain(rng, env_config["terrain"], level)
            assert terrain.kind == kind and getattr(terrain, field) == pytest.approx(value)


def test_sim_to_sim_scenario_changes_physics_rate_and_solver() -> None:
    config = load_config("humanoid")
    scenarios = {s.name: s for s in parse_scenarios(config["eval"], config["env"])}
    sim_to_sim = scenarios["sim_to_sim"]
    assert not sim_to_sim.held_out and scenarios["held_out_flat"].held_out
    env = make_scenario_env(sim_to_sim)
    try:
        model = env.unwrapped.model
        trained_dt = 1.0 / config["env"]["control_hz"] / config["env"]["physics_substeps"]
        assert model.opt.timestep == pytest.approx(trained_dt / 2)
        assert model.opt.solver == mujoco.mjtSolver.mjSOL_CG
        assert model.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        assert env.unwrapped.config["command"]["lin_vel_x"] == [0.5, 0.5]  # eval.common_overrides
    finally:
        env.close()


def test_unknown_scenario_override_is_a_config_error() -> None:
    config = load_config("humanoid")
    config["eval"]["scenarios"]["flat"]["env_overrides"] = ["terrain.kinds=[flat]"]
    with pytest.raises(ConfigError, match="unknown config key 'env.terrain.kinds'"):
        parse_scenarios(config["eval"], config["env"])


def test_missing_checkpoint_is_a_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        evaluate_main(["humanoid", "--checkpoint", str(tmp_path / "none.pt")])
