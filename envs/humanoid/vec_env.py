"""A Stable-Baselines3 VecEnv whose worker processes each step several environments.

SB3's ``SubprocVecEnv`` runs one environment per process, so every control step of every env pays
one pipe round trip (pickling, two system calls, waking a process). With the humanoid's step at
~0.35 ms of CPU that round trip costs as much as the step itself. :class:`BatchedSubprocVecEnv`
gives each of ``n_workers`` processes a contiguous block of the envs: one message per worker and
step carries the block's actions in and its stacked observations, rewards and dones out.

With ``main_process_block=True`` the main process steps the first block itself, between sending
the workers their actions and reading their answers: a step then wakes one process fewer, and the
main process works through the physics phase instead of sleeping. On the 2-core development machine
two workers woken together after the trainer's ~1.3 ms policy pass were often queued on one core,
and a 32-env step waited ~2 ms longer on average than the physics took; one worker beside the main
process's own block steps at the speed the workers' CPU allows (``docs/humanoid.md``, item 4).

It behaves like ``SubprocVecEnv`` (SB3's VecEnv API: automatic reset with
``info["terminal_observation"]``, ``info["TimeLimit.truncated"]``, ``reset_infos``, per-env seeds
from :meth:`seed`, ``env_method`` / ``get_attr`` / ``set_attr`` with ``indices``), so SB3's PPO and
the VecEnv wrappers (``VecMonitor``, ``VecNormalize``) use it unchanged::

    venv = BatchedSubprocVecEnv([make_env] * 8, n_workers=2)
"""

from __future__ import annotations

import multiprocessing as mp
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.env_util import is_wrapped
from stable_baselines3.common.vec_env.base_vec_env import (
    CloudpickleWrapper,
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from clrl.errors import UserError

CLOSE_TIMEOUT_SECONDS = 60.0


class WorkerFailure(NamedTuple):
    """What a worker sends instead of an answer when its envs raise: the error, as one line."""

    message: str


class EnvWorkerError(UserError):
    """An env in a worker process raised; the message names the worker and the env's own error."""


def stack_observations(observations: Sequence[Any], space: spaces.Space) -> VecEnvObs:
    """One array per key (Dict space) or one array, with the env index as the first axis."""
    if isinstance(space, spaces.Dict):
        return {key: np.stack([obs[key] for obs in observations]) for key in space.spaces}
    return np.stack(observations)


def concatenate_observations(blocks: Sequence[VecEnvObs], space: spaces.Space) -> VecEnvObs:
    """Join the workers' stacked observations along the env axis."""
    if isinstance(space, spaces.Dict):
        return {key: np.concatenate([block[key] for block in blocks]) for key in space.spaces}
    return np.concatenate(blocks)


def _worker(remote: Any, parent_remote: Any, env_fns: CloudpickleWrapper) -> None:
    """Serve one block of envs; an env's exception goes to the main process as a
    :class:`WorkerFailure` (the real error, not a broken pipe), and the worker stops."""
    parent_remote.close()
    try:
        _serve(remote, env_fns)
    except Exception as exc:  # any env error: reported to the main process, which raises it
        try:
            remote.send(_failure(exc))
        except (BrokenPipeError, EOFError, OSError):
            pass  # the main process is gone already
        remote.close()


def _failure(exc: Exception) -> WorkerFailure:
    return WorkerFailure(f"{type(exc).__name__}: {exc}".splitlines()[0])


def _serve(remote: Any, env_fns: CloudpickleWrapper) -> None:
    """Answer each command (:func:`_answer`) until ``close``."""
    envs = [env_fn() for env_fn in env_fns.var]
    while True:
        try:
            cmd, data = remote.recv()
        except (EOFError, KeyboardInterrupt):
            break
        if cmd == "close":
            for env in envs:
                env.close()
            remote.close()
            break
        remote.send(_answer(envs, cmd, data))


def _answer(envs: list[gym.Env], cmd: str, data: Any) -> Any:
    """A block's answer to one command, which applies to all of its envs or to the listed local
    indices: what a worker sends back, and what the main process's own block returns."""
    space = envs[0].observation_space
    if cmd == "step":
        observations, rewards, dones, infos, new_reset_infos = [], [], [], [], {}
        for i, (env, action) in enumerate(zip(envs, data, strict=True)):
            observation, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            info["TimeLimit.truncated"] = truncated and not terminated
            if done:  # keep the final observation, then start the next episode (SB3's convention)
                info["terminal_observation"] = observation
                observation, new_reset_infos[i] = env.reset()
            observations.append(observation)
            rewards.append(reward)
            dones.append(done)
            infos.append(info)
        # only the reset infos that changed travel back (SubprocVecEnv sends all of them every step)
        return stack_observations(observations, space), rewards, dones, infos, new_reset_infos
    if cmd == "reset":
        seeds, options = data
        observations, reset_infos = [], []
        for env, seed, option in zip(envs, seeds, options, strict=True):
            observation, reset_info = env.reset(seed=seed, **({"options": option} if option else {}))
            observations.append(observation)
            reset_infos.append(reset_info)
        return stack_observations(observations, space), reset_infos
    if cmd == "render":
        return [env.render() for env in envs]
    if cmd == "get_spaces":
        return envs[0].observation_space, envs[0].action_space
    if cmd == "env_method":
        name, indices, args, kwargs = data
        return [envs[i].get_wrapper_attr(name)(*args, **kwargs) for i in indices]
    if cmd == "get_attr":
        name, indices = data
        return [envs[i].get_wrapper_attr(name) for i in indices]
    if cmd == "has_attr":
        return all(_has_attr(env, data) for env in envs)
    if cmd == "set_attr":
        name, value, indices = data
        for i in indices:
            setattr(envs[i], name, value)
        return None
    if cmd == "is_wrapped":
        wrapper, indices = data
        return [is_wrapped(envs[i], wrapper) for i in indices]
    raise NotImplementedError(f"unknown command {cmd!r}")


class MainProcessBlock:
    """A block of envs the main process steps itself, behind a worker's side of the pipe: ``send``
    keeps a command, ``recv`` carries it out. The VecEnv sends a step to every block before it reads
    any answer, so this block steps while the worker processes step theirs. An env's error (also one
    raised while the block is built) is answered as a worker's would be, a :class:`WorkerFailure`."""

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]) -> None:
        self.commands: deque[tuple[str, Any]] = deque()
        self.envs: list[gym.Env] = []
        self.failure: WorkerFailure | None = None
        try:
            self.envs = [env_fn() for env_fn in env_fns]
        except Exception as exc:  # reported at the first answer, as a worker reports it
            self.failure = _failure(exc)

    def send(self, message: tuple[str, Any]) -> None:
        self.commands.append(message)

    def recv(self) -> Any:
        cmd, data = self.commands.popleft()
        if self.failure is not None:
            return self.failure
        try:
            return _answer(self.envs, cmd, data)
        except Exception as exc:  # as a worker: the error goes to the caller as one line
            self.failure = _failure(exc)
            return self.failure

    def poll(self, timeout: float | None = None) -> bool:
        """Never an answer waiting: a command runs only when its answer is read (so closing after an
        interrupted step does not run the step)."""
        return False

    def close(self) -> None:
        self.commands.clear()
        for env in self.envs:
            env.close()
        self.envs = []


def _has_attr(env: gym.Env, name: str) -> bool:
    try:
        env.get_wrapper_attr(name)
    except AttributeError:
        return False
    return True


class BatchedSubprocVecEnv(VecEnv):
    """``len(env_fns)`` envs stepped in ``n_workers`` blocks (contiguous, sizes differing by at most
    one), each in a worker process or, with ``main_process_block``, the first in this one; env ``i``
    of the VecEnv is ``env_fns[i]()``, as in ``SubprocVecEnv``.

    :param env_fns: one function per env that builds it (called where its block is stepped).
    :param n_workers: blocks; default: as many as there are CPU cores, at most one per env.
    :param start_method: multiprocessing start method; default ``"forkserver"`` where available,
        else ``"spawn"`` (SB3's default; ``"fork"`` starts fastest but is not thread safe).
    :param main_process_block: this process steps the first block (:class:`MainProcessBlock`), the
        worker processes the others.
    """

    def __init__(
        self,
        env_fns: list[Callable[[], gym.Env]],
        n_workers: int | None = None,
        start_method: str | None = None,
        main_process_block: bool = False,
    ):
        n_envs = len(env_fns)
        if n_envs == 0:
            raise ValueError("BatchedSubprocVecEnv needs at least one env")
        n_workers = min(n_workers or mp.cpu_count(), n_envs)
        if n_workers < 1:
            raise ValueError(f"n_workers must be positive, got {n_workers}")
        if start_method is None:
            start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        context = mp.get_context(start_method)
        self.closed = False
        # block w holds envs blocks[w]; env i is local index local[i] of block owner[i]
        self.blocks = [block.tolist() for block in np.array_split(np.arange(n_envs), n_workers)]
        self.owner = [w for w, block in enumerate(self.blocks) for _ in block]
        self.local = [i for block in self.blocks for i in range(len(block))]
        self.main_process_block = main_process_block
        worker_blocks = self.blocks[1:] if main_process_block else self.blocks
        pipes = [context.Pipe() for _ in worker_blocks]
        self.processes = []
        for (remote, work_remote), block in zip(pipes, worker_blocks, strict=True):
            fns = CloudpickleWrapper([env_fns[i] for i in block])
            # daemon: a crashed main process must not leave workers behind
            process = context.Process(target=_worker, args=(work_remote, remote, fns), daemon=True)
            process.start()
            self.processes.append(process)
            work_remote.close()
        # built after the workers started, so they build their envs meanwhile
        self.remotes: list[Any] = [remote for remote, _ in pipes]
        if main_process_block:
            self.remotes.insert(0, MainProcessBlock([env_fns[i] for i in self.blocks[0]]))
        # messages each block has not answered yet: close() must drain them, even after a Ctrl-C
        # that struck between a send and its recv, before the workers can hear "close"
        self.unanswered = [0] * n_workers
        self.failed: set[int] = set()  # blocks that reported an error (a worker's has stopped)
        for worker in range(n_workers):  # every block answers once built: an env that fails shows now
            self._send(worker, ("get_spaces", None))
        try:
            observation_space, action_space = self._receive_all()[0]
        except EnvWorkerError:
            self.close()  # the other workers are waiting for commands: stop them
            raise
        super().__init__(n_envs, observation_space, action_space)

    def _send(self, worker: int, message: tuple[str, Any]) -> None:
        self.unanswered[worker] += 1
        self.remotes[worker].send(message)

    def _receive(self, worker: int) -> Any:
        try:
            answer = self.remotes[worker].recv()
        except EOFError:
            process = self.processes[worker - 1 if self.main_process_block else worker]
            process.join(timeout=5)
            code = process.exitcode
            raise EnvWorkerError(f"{self.describe(worker)} exited unexpectedly (exit code {code})") from None
        self.unanswered[worker] -= 1
        if isinstance(answer, WorkerFailure):
            self.unanswered[worker] = 0  # a failed worker answers nothing more
            self.failed.add(worker)
            raise EnvWorkerError(f"{self.describe(worker)} failed: {answer.message}")
        return answer

    def describe(self, worker: int) -> str:
        """How errors name block ``worker``: ``env worker N`` (N counts the worker processes from 0)."""
        if self.main_process_block:
            return "the main process's env block" if worker == 0 else f"env worker {worker - 1}"
        return f"env worker {worker}"

    def _receive_all(self) -> list[Any]:
        return [self._receive(worker) for worker in range(len(self.remotes))]

    # -- stepping ----------------------------------------------------------------------------------

    def step_async(self, actions: np.ndarray) -> None:
        for worker, block in enumerate(self.blocks):
            self._send(worker, ("step", actions[block[0] : block[-1] + 1]))

    def step_wait(self) -> VecEnvStepReturn:
        results = self._receive_all()
        observations, rewards, dones, infos, new_reset_infos = zip(*results, strict=True)
        for block, changed in zip(self.blocks, new_reset_infos, strict=True):
            for local, reset_info in changed.items():
                self.reset_infos[block[local]] = reset_info
        return (
            concatenate_observations(observations, self.observation_space),
            np.array([reward for block in rewards for reward in block], dtype=np.float32),
            np.array([done for block in dones for done in block], dtype=bool),
            [info for block in infos for info in block],
        )

    def reset(self) -> VecEnvObs:
        for worker, block in enumerate(self.blocks):
            seeds, options = [self._seeds[i] for i in block], [self._options[i] for i in block]
            self._send(worker, ("reset", (seeds, options)))
        results = self._receive_all()
        observations, reset_infos = zip(*results, strict=True)
        self.reset_infos = [info for block in reset_infos for info in block]
        # seeds and options are used once (SB3's convention)
        self._reset_seeds()
        self._reset_options()
        return concatenate_observations(observations, self.observation_space)

    def close(self) -> None:
        if self.closed:
            return
        for remote, unanswered in zip(self.remotes, self.unanswered, strict=True):
            # the timeout covers an answer received but not yet counted (Ctrl-C between the two);
            # a worker in a long reset still answers within it
            try:
                for _ in range(unanswered):
                    if not remote.poll(CLOSE_TIMEOUT_SECONDS):
                        break
                    remote.recv()
            except (EOFError, OSError):
                pass  # that worker is gone (killed with the main process, e.g. by `pkill -f`)
        for worker, remote in enumerate(self.remotes):
            if worker not in self.failed:
                try:
                    remote.send(("close", None))
                except (BrokenPipeError, OSError):
                    pass  # that worker is gone
        for process in self.processes:
            process.join(timeout=CLOSE_TIMEOUT_SECONDS)
        for remote in self.remotes:
            remote.close()
        self.closed = True

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            warnings.warn(f"render mode is {self.render_mode}; get_images() needs 'rgb_array'", stacklevel=2)
            return [None] * self.num_envs
        for worker in range(len(self.remotes)):
            self._send(worker, ("render", None))
        return [image for block in self._receive_all() for image in block]

    # -- access to the envs ------------------------------------------------------------------------

    def _ask(self, cmd: str, make_data: Callable[[list[int]], Any], indices: VecEnvIndices) -> list[Any]:
        """Send ``cmd`` to the workers holding ``indices``; the answers in the order of ``indices``."""
        indices = list(self._get_indices(indices))
        by_worker: dict[int, list[int]] = {}
        for i in indices:
            by_worker.setdefault(self.owner[i], []).append(i)
        for worker, envs in by_worker.items():
            self._send(worker, (cmd, make_data([self.local[i] for i in envs])))
        answers = {}
        for worker, envs in by_worker.items():
            answers.update(zip(envs, self._receive(worker), strict=True))
        return [answers[i] for i in indices]

    def env_method(
        self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs
    ) -> list[Any]:
        message = lambda local: (method_name, local, method_args, method_kwargs)  # noqa: E731
        return self._ask("env_method", message, indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._ask("get_attr", lambda local: (attr_name, local), indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        indices = list(self._get_indices(indices))
        workers = sorted({self.owner[i] for i in indices})
        for worker in workers:
            local = [self.local[i] for i in indices if self.owner[i] == worker]
            self._send(worker, ("set_attr", (attr_name, value, local)))
        for worker in workers:
            self._receive(worker)

    def has_attr(self, attr_name: str) -> bool:
        for worker in range(len(self.remotes)):
            self._send(worker, ("has_attr", attr_name))
        return all(self._receive_all())

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return self._ask("is_wrapped", lambda local: (wrapper_class, local), indices)
