"""Gymnasium wrappers over the cube kernels: :class:`CubeEnv` (``clrl/Cube-v0``), :class:`CubeVectorEnv`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from .constants import NUM_FACES, NUM_QUARTER_TURNS, NUM_STICKERS, SOLVED_STATE
from .facelets import format_facelets, parse_facelets, validate_state
from .kernels import apply_moves_kernel, is_solved_kernel
from .trajectories import random_states
from .viewer import render_ansi, render_rgb

DEFAULT_SCRAMBLE_DEPTH = 20
DEFAULT_MAX_EPISODE_STEPS = 100
_RESET_OPTIONS = frozenset({"scramble_depth", "state"})


def _observation_space() -> spaces.Box:
    return spaces.Box(0, NUM_FACES - 1, shape=(NUM_STICKERS,), dtype=np.uint8)


def _check_options(options: dict[str, Any] | None) -> dict[str, Any]:
    options = dict(options or {})
    unknown = set(options) - _RESET_OPTIONS
    if unknown:
        raise ValueError(f"unknown reset options {sorted(unknown)}; known: {sorted(_RESET_OPTIONS)}")
    return options


def _check_render_mode(render_mode: str | None, known: list[str]) -> None:
    if render_mode is not None and render_mode not in known:
        raise ValueError(f"render_mode must be one of {known}, got {render_mode!r}")


def _check_depth(depth: int) -> int:
    if int(depth) != depth or depth < 0:
        raise ValueError(f"scramble_depth must be a non-negative integer, got {depth!r}")
    return int(depth)


def _scrambled(rng: np.random.Generator, n: int, depth: int) -> np.ndarray:
    """``(n, 54)`` random-walk scrambles of ``depth`` quarter turns, redrawn where a walk came back solved."""
    states = random_states(rng, n, depth)
    if depth > 0:
        solved = np.flatnonzero((states == SOLVED_STATE).all(axis=1))
        while len(solved):
            states[solved] = random_states(rng, len(solved), depth)
            solved = solved[(states[solved] == SOLVED_STATE).all(axis=1)]
    return states


class CubeEnv(gym.Env):
    """The Rubik's Cube, one cube per episode.

    Observation: ``(54,) uint8`` sticker colour ids 0..5 in URFDLB facelet order (see DESIGN.md).
    Action: ``Discrete(12)``, the quarter turns ``U U' R R' F F' D D' L L' B B'`` (ids in
    :mod:`clrl.envs.cube.constants`).
    Reward: 1.0 on the step that solves the cube, else 0.0.
    Termination: the cube is solved. Truncation: ``max_episode_steps`` steps taken.
    Reset: a random walk of ``scramble_depth`` quarter turns from solved without immediate undos (never
    the solved cube itself when the depth is positive). ``reset(options=...)`` accepts
    ``{"scramble_depth": int}`` for that episode, or ``{"state": facelet string or (54,) array}`` to
    start from a given cube. ``info`` carries the facelet string as ``"facelets"``.
    Render modes: ``"ansi"`` (coloured unfolded net) and ``"rgb_array"`` (``(144, 192, 3)`` net image).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        render_mode: str | None = None,
        scramble_depth: int = DEFAULT_SCRAMBLE_DEPTH,
        max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS,
    ) -> None:
        _check_render_mode(render_mode, self.metadata["render_modes"])
        if max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        self.render_mode = render_mode
        self.scramble_depth = _check_depth(scramble_depth)
        self.max_episode_steps = int(max_episode_steps)
        self.observation_space = _observation_space()
        self.action_space = spaces.Discrete(NUM_QUARTER_TURNS)
        self._states = SOLVED_STATE[None, :].copy()  # (1, 54): the kernels work on batches
        self._next_states = np.empty_like(self._states)
        self._action = np.zeros(1, dtype=np.int64)
        self._solved = np.zeros(1, dtype=np.bool_)
        self._steps = 0

    @property
    def state(self) -> np.ndarray:
        """The current cube, ``(54,) uint8`` (a copy)."""
        return self._states[0].copy()

    def _info(self) -> dict[str, Any]:
        return {"facelets": format_facelets(self._states[0])}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = _check_options(options)
        if "state" in options:
            given = options["state"]
            if isinstance(given, str):
                self._states[0] = parse_facelets(given)
            else:
                validate_state(given)
                self._states[0] = given
        else:
            depth = _check_depth(options.get("scramble_depth", self.scramble_depth))
            self._states[0] = _scrambled(self.np_random, 1, depth)[0]
        self._steps = 0
        return self._states[0].copy(), self._info()

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in 0..{NUM_QUARTER_TURNS - 1}, got {action!r}")
        self._action[0] = action
        apply_moves_kernel(self._states, self._action, self._next_states)
        self._states, self._next_states = self._next_states, self._states
        self._steps += 1
        is_solved_kernel(self._states, self._solved)
        solved = bool(self._solved[0])
        truncated = not solved and self._steps >= self.max_episode_steps
        return self._states[0].copy(), float(solved), solved, truncated, self._info()

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "ansi":
            return render_ansi(self._states[0])
        if self.render_mode == "rgb_array":
            return render_rgb(self._states[0])
        return None


class CubeVectorEnv(VectorEnv):
    """``num_envs`` cubes stepped together by the batched kernels (``gymnasium.vector`` API).

    Same spaces, rewards and options as :class:`CubeEnv`, batched along the first axis. Autoreset is
    ``NEXT_STEP`` (Gymnasium's default): the step after a cube terminates or truncates resets it and
    ignores its action, returning reward 0.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        render_mode: str | None = None,
        scramble_depth: int = DEFAULT_SCRAMBLE_DEPTH,
        max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        _check_render_mode(render_mode, self.metadata["render_modes"])
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.scramble_depth = _check_depth(scramble_depth)
        self.max_episode_steps = int(max_episode_steps)
        self.single_observation_space = _observation_space()
        self.single_action_space = spaces.Discrete(NUM_QUARTER_TURNS)
        self.observation_space = spaces.Box(0, NUM_FACES - 1, (self.num_envs, NUM_STICKERS), np.uint8)
        self.action_space = spaces.MultiDiscrete(np.full(self.num_envs, NUM_QUARTER_TURNS))
        self._states = np.tile(SOLVED_STATE, (self.num_envs, 1))
        self._next_states = np.empty_like(self._states)
        self._solved = np.zeros(self.num_envs, dtype=np.bool_)
        self._steps = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(self.num_envs, dtype=np.bool_)
        self._depth = self.scramble_depth

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = _check_options(options)
        if "state" in options:
            raise ValueError("CubeVectorEnv.reset takes no 'state' option; use CubeEnv for a given cube")
        self._depth = _check_depth(options.get("scramble_depth", self.scramble_depth))
        self._states[:] = _scrambled(self.np_random, self.num_envs, self._depth)
        self._steps[:] = 0
        self._needs_reset[:] = False
        return self._states.copy(), {}

    def step(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        if actions.min() < 0 or actions.max() >= NUM_QUARTER_TURNS:
            raise ValueError(f"actions must be integers in 0..{NUM_QUARTER_TURNS - 1}")
        apply_moves_kernel(self._states, actions, self._next_states)
        self._steps += 1
        restarting = self._needs_reset
        if restarting.any():
            self._next_states[restarting] = _scrambled(self.np_random, int(restarting.sum()), self._depth)
            self._steps[restarting] = 0
        self._states, self._next_states = self._next_states, self._states
        is_solved_kernel(self._states, self._solved)
        terminated = self._solved & ~restarting
        truncated = ~terminated & ~restarting & (self._steps >= self.max_episode_steps)
        rewards = terminated.astype(np.float64)
        self._needs_reset = terminated | truncated
        return self._states.copy(), rewards, terminated, truncated, {}

    def render(self) -> tuple[Any, ...] | None:
        if self.render_mode == "ansi":
            return tuple(render_ansi(state) for state in self._states)
        if self.render_mode == "rgb_array":
            return tuple(render_rgb(state) for state in self._states)
        return None
