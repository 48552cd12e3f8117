"""``benchmarks/humanoid_latent_probe.py``: linear probes from the latent to the privileged fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from benchmark_scripts import load_benchmark

from clrl.agents.evaluation import loaded_policies
from clrl.agents.training import CHECKPOINT_NAME
from clrl.config import load_config

latent_probe = load_benchmark("humanoid_latent_probe")


def test_probe_r2_finds_a_linear_field_and_not_an_unrelated_one() -> None:
    rng = np.random.default_rng(0)
    episodes = np.repeat(np.arange(40), 25)
    split = np.searchsorted([20, 30], episodes, side="right")  # the benchmark's half / quarter / quarter
    features = rng.normal(size=(len(episodes), 8))
    linear = features @ rng.normal(size=(8, 2)) + 0.05 * rng.normal(size=(len(episodes), 2))
    unrelated = rng.normal(size=(len(episodes), 1))
    constant = np.ones((len(episodes), 3))
    assert latent_probe.probe_r2(features, linear, split) > 0.99
    assert abs(latent_probe.probe_r2(features, unrelated, split)) < 0.05
    assert latent_probe.probe_r2(features, constant, split) is None  # nothing varies to explain
    # an output that is constant over the test episodes is left out, the varying one is scored
    mixed = np.column_stack([linear[:, 0], constant[:, 0]])
    assert latent_probe.probe_r2(features, mixed, split) > 0.99


def test_record_keeps_every_nth_step_of_each_short_episode(tiny_run: Path) -> None:
    (policy,) = loaded_policies([str(tiny_run / CHECKPOINT_NAME)])
    settings = load_config("humanoid")["eval"]
    data, fields = latent_probe.record(policy, settings, [], episodes=2, seed=0, every=5, max_steps=10)
    latent_dim = policy.checkpoint.config["agent"]["latent_dim"]
    assert data.latent.shape == (4, latent_dim)  # steps 0 and 5 of two 10-step episodes
    assert data.episode.tolist() == [0, 0, 1, 1]
    assert sum(size for _, size in fields) == data.privileged.shape[1]
    assert data.history.shape[0] == 4
