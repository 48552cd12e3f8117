"""Fixtures shared by the puzzle command tests."""

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

import pytest


def numba_cache_dir() -> Path:
    """A Numba cache folder named after the source of every kernel module (``clrl.envs``).

    Numba's ``cache=True`` checks only the file of the cached function, so a kernel that calls into
    an edited module (``rewards.compute`` inside ``kernels.step_rewards``) would run its stale
    compiled code; here any edit under ``clrl.envs`` gives the session a fresh cache.
    """
    envs = Path(importlib.util.find_spec("clrl.envs").submodule_search_locations[0])
    digest = hashlib.sha256()
    for path in sorted(envs.rglob("*.py")):
        digest.update(path.relative_to(envs).as_posix().encode() + b"\0" + path.read_bytes())
    base = os.environ.get("NUMBA_CACHE_DIR") or Path(tempfile.gettempdir()) / "clrl-numba-cache"
    return Path(base) / digest.hexdigest()[:16]


os.environ["NUMBA_CACHE_DIR"] = str(numba_cache_dir())  # before anything imports Numba (env workers too)

from clrl.config import load_config  # noqa: E402
from clrl.crtr.model import CHECKPOINT_NAME  # noqa: E402
from clrl.crtr.train import train  # noqa: E402


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


@pytest.fixture(scope="session")
def cube_tables():
    """Goal tables of radius 2 and 5: the small one for the code under test, the large one for the
    exact distances it must find (every state within 5 moves)."""
    from clrl.envs.cube.constants import SOLVED_STATE
    from clrl.planners import CubeDomain, GoalTable

    domain = CubeDomain()
    small = GoalTable.build(domain, SOLVED_STATE, 2, domain.inverse_action)
    large = GoalTable.build(domain, SOLVED_STATE, 5, domain.inverse_action)
    return small, large
