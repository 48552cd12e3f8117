"""The rollout charts of :class:`EpisodeStatsCallback`, fed the infos of finished episodes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from clrl.agents.callbacks import EpisodeStatsCallback


def finished(terrain: str, fell: bool) -> dict:
    return {"episode": {"r": 1.0, "l": 10}, "fell": fell, "terrain_type": terrain}


def test_fall_rate_is_charted_overall_and_per_terrain_type():
    recorded: dict[str, float] = {}
    logger = SimpleNamespace(record=lambda key, value, exclude=None: recorded.__setitem__(key, value))
    stats = EpisodeStatsCallback()
    stats.init_callback(SimpleNamespace(logger=logger, num_timesteps=0))
    episodes = [
        finished("stairs_up", fell=True),
        finished("stairs_up", fell=True),
        finished("stairs_up", fell=False),
        finished("flat", fell=False),
    ]
    # two steps of two envs: every env finishes an episode on each step
    for pair in (episodes[:2], episodes[2:]):
        stats.update_locals({"infos": pair, "dones": [True, True]})
        assert stats.on_step()
    stats.on_rollout_end()

    assert recorded["charts/fall_rate"] == pytest.approx(2 / 4)
    assert recorded["charts/fall_rate_stairs_up"] == pytest.approx(2 / 3)
    assert recorded["charts/fall_rate_flat"] == 0.0
    assert "charts/fall_rate_slope_up" not in recorded  # no episode on it this rollout

    recorded.clear()
    stats.on_rollout_end()  # the next rollout starts from empty counts
    assert not any(key.startswith("charts/fall_rate") for key in recorded)
