"""benchmarks/humanoid_slope_profile.py: which stretch of a pyramid an episode ends on."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark

from clrl.agents.checkpointing import read_agent
from clrl.agents.evaluation import LoadedPolicy, load_policy
from clrl.agents.training import CHECKPOINT_NAME
from clrl.cli import run_command
from clrl.config import load_config

slope_profile = load_benchmark("humanoid_slope_profile")


@pytest.mark.parametrize(
    ("ring_distance", "expected"),
    [(-0.5, -1), (0.0, -1), (0.1, 0), (2.99, 0), (3.0, 1), (5.9, 1), (6.1, 2), (9.5, 3)],
)
def test_stretches_alternate_rising_and_falling_every_ramp_length(ring_distance, expected) -> None:
    assert slope_profile.stretch(ring_distance, 3.0) == expected


@pytest.mark.parametrize(
    ("kind", "value", "label"), [("stairs_up", 0.1, "10 cm steps"), ("slope_up", 15.0, "15 degree slope")]
)
def test_a_short_episode_ends_on_the_platform(tiny_run: Path, kind: str, value: float, label: str) -> None:
    """0.3 s at 0.5 m/s cannot reach the first rise 1 m out: every episode ends upright before the
    first top, or falls there, and the row names the shape."""
    checkpoint = read_agent(tiny_run / CHECKPOINT_NAME)
    model, normalizer = load_policy(checkpoint)
    policy = LoadedPolicy(tiny_run / CHECKPOINT_NAME, checkpoint, model, normalizer)
    settings = load_config("humanoid", overrides=['eval.common_overrides=["episode_seconds=0.3"]'])["eval"]
    try:
        row = slope_profile.profile(policy, settings, kind, value, 2, seed=0)
    finally:
        if normalizer is not None:
            normalizer.close()
    assert row[1] == label and row[2] == "2"
    stalled = int(row[5])
    falls = [int(count) for count in row[6].split(" / ")]
    assert stalled + falls[0] == 2 and falls[1:] == [0, 0]
    assert float(row[3]) < 0.5
    assert row[7] == "0.0%"  # the spawn platform is flat: no tread edges


def test_no_shape_is_one_error_line(capsys) -> None:
    assert run_command(slope_profile.main, ["--slopes"]) != 0
    assert "give at least one shape" in capsys.readouterr().err
