"""A worker's env error reaches the main process as itself, in one line, and nothing hangs."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from clrl.envs.humanoid.vec_env import BatchedSubprocVecEnv, EnvWorkerError
from clrl.errors import UserError


class FailingEnv(gym.Env):
    """Steps fine ``good_steps`` times, then divides by zero; or fails when built."""

    observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, good_steps: int = 2, fail_on_build: bool = False):
        if fail_on_build:
            raise ValueError("no such robot file: g2.xml")
        self.good_steps = good_steps
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.steps += 1
        if self.steps > self.good_steps:
            return 1 / 0
        return np.zeros(2, np.float32), 0.0, False, False, {}


def test_an_env_error_in_a_worker_is_raised_with_its_own_message():
    venv = BatchedSubprocVecEnv([FailingEnv, FailingEnv, lambda: FailingEnv(good_steps=100)], n_workers=2)
    venv.reset()
    for _ in range(2):
        venv.step(np.zeros((3, 1), np.float32))
    with pytest.raises(EnvWorkerError, match=r"env worker 0 failed: ZeroDivisionError: division by zero"):
        venv.step(np.zeros((3, 1), np.float32))
    assert issubclass(EnvWorkerError, UserError)  # one "error:" line and exit 1 on the command line
    venv.close()  # does not hang on the failed worker or the one still waiting
    assert all(not process.is_alive() for process in venv.processes)


def test_an_env_that_cannot_be_built_is_reported_and_the_workers_stop():
    with pytest.raises(EnvWorkerError, match="ValueError: no such robot file: g2.xml"):
        BatchedSubprocVecEnv([lambda: FailingEnv(fail_on_build=True)] * 2, n_workers=2)


def test_an_env_error_in_the_main_process_block_is_raised_as_a_workers_would_be():
    venv = BatchedSubprocVecEnv(
        [FailingEnv, FailingEnv, lambda: FailingEnv(good_steps=100)], n_workers=2, main_process_block=True
    )
    venv.reset()
    for _ in range(2):
        venv.step(np.zeros((3, 1), np.float32))
    with pytest.raises(
        EnvWorkerError, match=r"the main process's env block failed: ZeroDivisionError: division by zero"
    ):
        venv.step(np.zeros((3, 1), np.float32))
    venv.close()  # does not hang on the worker still waiting for its answer to be read
    assert all(not process.is_alive() for process in venv.processes)


@pytest.mark.parametrize("main_process_block", [False, True])
def test_an_env_that_cannot_be_built_in_any_block_is_reported_when_the_vec_env_is_made(main_process_block):
    builds = [FailingEnv, lambda: FailingEnv(fail_on_build=True)]  # the second block's env fails
    with pytest.raises(EnvWorkerError, match=r"env worker [01] failed: ValueError: no such robot file"):
        BatchedSubprocVecEnv(builds, n_workers=2, main_process_block=main_process_block)
    with pytest.raises(EnvWorkerError, match="the main process's env block failed: ValueError: no such"):
        BatchedSubprocVecEnv(builds[::-1], n_workers=2, main_process_block=True)
