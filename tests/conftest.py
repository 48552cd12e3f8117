"""Fixtures shared by the puzzle command tests."""

import pytest

from clrl.config import load_config
from clrl.crtr.model import CHECKPOINT_NAME
from clrl.crtr.train import train


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Tests build their own goal tables rather than read or fill the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLRL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    config = load_config("cube")
    config["device"] = "cpu"
    config["data"].update(batch_size=32, trajectory_length=6)
    config["model"].update(width=32, blocks=1, latent_dim=8)
    config["train"].update(log_every=10, eval_every=20, checkpoint_every=20)
    config["eval"].update(trajectories=4, greedy_puzzles=2, greedy_scramble=2, greedy_max_moves=4)
    run_dir = tmp_path_factory.mktemp("tiny_cube")
    train("cube", config, run_dir=run_dir, steps=20, resume=False)
    return run_dir / CHECKPOINT_NAME
