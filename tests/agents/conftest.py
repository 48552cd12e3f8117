"""Shared fixtures of the humanoid agent tests: one tiny training run through the real command."""

from __future__ import annotations

import os

# Headless rendering for the rollout videos; MuJoCo reads this when it is first imported.
os.environ.setdefault("MUJOCO_GL", "egl")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from clrl.train import main as train_main  # noqa: E402

#: A run of a few hundred env steps: 2 in-process envs, 32-step rollouts, 0.4 s episodes (so some
#: finish), a checkpoint every 64 steps, two-frame videos (software rendering is slow) at the start
#: and at the end only (the run is shorter than train.video_every), one evaluation episode on flat
#: ground at the end (shorter than train.eval_every too) and the push curriculum on (off by default).
TINY_RUN = (
    "train.vec_env=dummy",
    "train.n_envs=2",
    "ppo.n_steps=32",
    "ppo.batch_size=32",
    "ppo.n_epochs=2",
    "train.checkpoint_every=64",
    "train.video_every=100000",
    "train.video_seconds=0.04",
    "train.eval_scenarios=[flat]",
    "train.eval_episodes=1",
    "env.episode_seconds=0.4",
    "env.clock=adaptive",
    "train.push_curriculum=true",
)
TINY_STEPS = 128


@pytest.fixture(autouse=True)
def single_torch_thread():
    """Small networks run faster on one torch thread than on two on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_overrides() -> tuple[str, ...]:
    return TINY_RUN


@pytest.fixture(scope="session")
def tiny_steps() -> int:
    return TINY_STEPS


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m clrl.train humanoid --steps 128`` with the :data:`TINY_RUN` overrides."""
    run_dir = tmp_path_factory.mktemp("humanoid_run")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_main(["humanoid", "--steps", str(TINY_STEPS), "--run-dir", str(run_dir), *TINY_RUN])
    finally:
        torch.set_num_threads(threads)
    return run_dir
