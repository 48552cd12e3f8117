"""BatchedSubprocVecEnv: the same transitions as SB3's DummyVecEnv, and SB3's VecEnv API."""

import copy
import functools
import threading

import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.vec_env import DummyVecEnv

from clrl.config import load_config
from clrl.envs.humanoid import HumanoidEnv
from clrl.envs.humanoid.vec_env import BatchedSubprocVecEnv, MainProcessBlock

N_ENVS = 5


def short_episodes_config() -> dict:
    config = copy.deepcopy(load_config("humanoid")["env"])
    config["episode_seconds"] = 0.4  # 20 control steps: truncations within the test
    return config


@pytest.fixture(scope="module", params=[False, True], ids=["workers", "main_process_block"])
def batched(request):
    """Both ways: every block in a worker, and the first block stepped by this process."""
    make = functools.partial(HumanoidEnv, short_episodes_config())
    vec = BatchedSubprocVecEnv(
        [make] * N_ENVS, n_workers=2, start_method="fork", main_process_block=request.param
    )
    yield vec
    vec.close()


def test_blocks_cover_the_envs_in_order(batched):
    assert batched.num_envs == N_ENVS and batched.blocks == [[0, 1, 2], [3, 4]]
    # with a main-process block, the first block's envs live here and one worker steps the rest
    assert len(batched.processes) == (1 if batched.main_process_block else 2)
    assert isinstance(batched.remotes[0], MainProcessBlock) == batched.main_process_block


def test_transitions_match_dummy_vec_env(batched):
    dummy = DummyVecEnv([functools.partial(HumanoidEnv, short_episodes_config())] * N_ENVS)
    actions = np.random.default_rng(0).uniform(-0.5, 0.5, (30, N_ENVS, dummy.action_space.shape[0]))
    for vec in (batched, dummy):
        vec.seed(7)
    obs_b, obs_d = batched.reset(), dummy.reset()
    for key in ("policy", "privileged"):
        np.testing.assert_array_equal(obs_b[key], obs_d[key])
    ended = 0
    for action in actions.astype(np.float32):
        obs_b, rewards_b, dones_b, infos_b = batched.step(action)
        obs_d, rewards_d, dones_d, infos_d = dummy.step(action)
        for key in ("policy", "privileged"):
            assert obs_b[key].shape == (N_ENVS, *batched.observation_space[key].shape)
            np.testing.assert_array_equal(obs_b[key], obs_d[key])
        np.testing.assert_array_equal(rewards_b, rewards_d)
        np.testing.assert_array_equal(dones_b, dones_d)
        for info_b, info_d, done in zip(infos_b, infos_d, dones_b, strict=True):
            assert info_b["reward_terms"] == info_d["reward_terms"]
            assert info_b["TimeLimit.truncated"] == info_d["TimeLimit.truncated"]
            if done:
                ended += 1
                np.testing.assert_array_equal(
                    info_b["terminal_observation"]["policy"], info_d["terminal_observation"]["policy"]
                )
    assert ended >= N_ENVS  # every env reached its 20-step limit at least once
    assert [info["base_height"] for info in batched.reset_infos] == [
        info["base_height"] for info in dummy.reset_infos
    ]
    dummy.close()


def test_env_method_get_attr_set_attr_with_indices(batched):
    batched.env_method("set_push_floor", 40.0, indices=[1, 3])
    assert batched.get_attr("push_floor") == [0.0, 40.0, 0.0, 40.0, 0.0]
    assert batched.get_attr("push_floor", indices=[3, 1]) == [40.0, 40.0]
    batched.set_attr("push_floor", 20.0, indices=4)
    assert batched.get_attr("push_floor", indices=4) == [20.0]
    assert batched.has_attr("push_floor") and not batched.has_attr("no_such_attribute")
    assert batched.env_is_wrapped(TimeLimit) == [False] * N_ENVS


def test_runs_under_vec_monitor_and_vec_normalize(batched):
    """The wrappers the training code puts around its VecEnv (episode stats from the auto-resets)."""
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    venv = VecNormalize(VecMonitor(batched), norm_obs_keys=["policy", "privileged"])
    venv.seed(0)
    obs = venv.reset()
    episodes = []
    for _ in range(25):  # episodes are 20 steps long
        obs, rewards, dones, infos = venv.step(np.zeros((N_ENVS, *venv.action_space.shape), dtype=np.float32))
        episodes += [info["episode"] for info in infos if "episode" in info]
    assert obs["policy"].shape == (N_ENVS, *venv.observation_space["policy"].shape)
    assert len(episodes) == N_ENVS and all(episode["l"] == 20 for episode in episodes)


def test_close_after_an_interrupted_step_does_not_hang():
    """Ctrl-C can strike between sending a step and receiving every worker's answer; close() drains
    exactly the unanswered messages, so it neither waits forever nor leaves the workers running."""
    make = functools.partial(HumanoidEnv, short_episodes_config())
    vec = BatchedSubprocVecEnv([make] * 3, n_workers=2, start_method="fork")
    vec.reset()
    vec.step_async(np.zeros((3, *vec.action_space.shape), dtype=np.float32))
    vec._receive(0)  # the interrupt came after the first worker's answer
    assert vec.unanswered == [0, 1]
    closing = threading.Thread(target=vec.close, daemon=True)
    closing.start()
    closing.join(timeout=60)
    assert not closing.is_alive(), "close() hung on an answer it had already received"
    assert all(not process.is_alive() for process in vec.processes)


def test_close_after_its_workers_were_killed_mid_step_raises_nothing():
    """``pkill -f`` on a training run stops its env workers too, maybe while a step is unanswered;
    the run saves its checkpoint and then closes the envs, which must end quietly, not in an
    EOFError from a dead worker's pipe."""
    make = functools.partial(HumanoidEnv, short_episodes_config())
    vec = BatchedSubprocVecEnv([make] * 2, n_workers=2, start_method="fork")
    vec.reset()
    for process in vec.processes:
        process.kill()
        process.join(timeout=30)
    vec.unanswered = [1, 1]  # a step was sent to both and neither answered
    vec.close()
    assert vec.closed


def test_close_after_an_interrupted_step_skips_the_main_process_blocks_step():
    """A Ctrl-C between sending a step and reading the answers leaves the main process's block with a
    command it has not run; close() neither runs it nor waits for it."""
    make = functools.partial(HumanoidEnv, short_episodes_config())
    vec = BatchedSubprocVecEnv([make] * 3, n_workers=2, start_method="fork", main_process_block=True)
    vec.reset()
    block = vec.remotes[0]
    envs = list(block.envs)
    vec.step_async(np.zeros((3, *vec.action_space.shape), dtype=np.float32))
    assert vec.unanswered == [1, 1]
    vec.close()
    assert vec.closed and not block.envs and not block.commands
    assert all(not process.is_alive() for process in vec.processes)
    assert [env.unwrapped.steps for env in envs] == [0, 0]  # the step it was sent never ran


def test_one_block_in_the_main_process_needs_no_worker():
    make = functools.partial(HumanoidEnv, short_episodes_config())
    vec = BatchedSubprocVecEnv([make] * 2, n_workers=1, main_process_block=True)
    assert vec.processes == [] and vec.blocks == [[0, 1]]
    vec.seed(3)
    observations = vec.reset()
    observations, rewards, _, _ = vec.step(np.zeros((2, *vec.action_space.shape), dtype=np.float32))
    assert observations["policy"].shape == (2, *vec.observation_space["policy"].shape)
    assert rewards.shape == (2,)
    vec.close()
