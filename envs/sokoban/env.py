"""Gymnasium wrapper over the Sokoban kernels: :class:`SokobanEnv` (``clrl/Sokoban-v0``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from clrl.envs.sokoban.constants import (
    NUM_ACTIONS,
    NUM_CELL_TYPES,
    REWARD_BOX_OFF_GOAL,
    REWARD_BOX_ON_GOAL,
    REWARD_SOLVED,
    REWARD_STEP,
)
from clrl.envs.sokoban.generator import generate_level
from clrl.envs.sokoban.kernels import boxes_on_goals, is_solved, one_hot, step_into
from clrl.envs.sokoban.levels import Level, load_levels, pad_grid, parse_level
from clrl.envs.sokoban.viewer import render_ansi, render_rgb

DEFAULT_MAX_EPISODE_STEPS = 120  # as in Boxoban
_RESET_OPTIONS = frozenset({"level_index", "level"})


class SokobanEnv(gym.Env):
    """Sokoban, one level per episode.

    Observation: ``(7, H, W) uint8`` one-hot planes of the cell types wall, floor, goal, box,
    box on goal, player, player on goal (see :mod:`clrl.envs.sokoban.constants`).
    Action: ``Discrete(4)``: 0 up, 1 down, 2 left, 3 right; walking into a box pushes it.
    Reward (Boxoban): -0.1 per step, +1 for a box pushed onto a goal, -1 for one pushed off, +10 when
    solved. Terminates when every box is on a goal; truncates after ``max_episode_steps`` steps.
    Levels: from ``levels`` (a Boxoban file or a list of :class:`Level`), one fixed ``level_index`` or a
    random one per reset; without ``levels`` each reset generates a fresh level from the env's seed.
    Smaller levels are padded with walls to ``dim_room``. ``info`` holds ``level`` (its name),
    ``moved``, ``pushed`` and ``boxes_on_goal``.

    Reset options: ``level_index`` (int, with ``levels``) or ``level`` (a :class:`Level` or its text).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 8}

    def __init__(
        self,
        render_mode: str | None = None,
        levels: str | Path | list[Level] | None = None,
        level_index: int | None = None,
        dim_room: tuple[int, int] = (10, 10),
        num_boxes: int = 4,
        max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            known = self.metadata["render_modes"]
            raise ValueError(f"render_mode must be one of {known}, got {render_mode!r}")
        self.render_mode = render_mode
        self.levels = load_levels(levels) if isinstance(levels, str | Path) else levels
        if level_index is not None and (self.levels is None or not 0 <= level_index < len(self.levels)):
            count = 0 if self.levels is None else len(self.levels)
            raise ValueError(f"level_index {level_index} out of range for {count} levels")
        self.level_index = level_index
        self.dim_room = tuple(dim_room)
        self.num_boxes = num_boxes
        self.max_episode_steps = max_episode_steps
        self.observation_space = spaces.Box(0, 1, shape=(NUM_CELL_TYPES, *self.dim_room), dtype=np.uint8)
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        self.level: Level | None = None
        self.state = np.zeros(self.dim_room, dtype=np.uint8)
        self._steps = 0

    def _choose_level(self, options: dict[str, Any]) -> Level:
        if "level" in options:
            level = options["level"]
            return level if isinstance(level, Level) else parse_level(str(level))
        if self.levels is not None:
            index = options.get("level_index", self.level_index)
            if index is None:
                index = int(self.np_random.integers(len(self.levels)))
            if not 0 <= index < len(self.levels):
                raise ValueError(f"level_index {index} out of range for {len(self.levels)} levels")
            return self.levels[index]
        return generate_level(int(self.np_random.integers(2**31)), self.dim_room, self.num_boxes)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - _RESET_OPTIONS
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; known: {sorted(_RESET_OPTIONS)}")
        self.level = self._choose_level(options)
        self.state = pad_grid(self.level.grid, self.dim_room)
        self._steps = 0
        return one_hot(self.state), self._info(moved=False, pushed=False)

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in 0..{NUM_ACTIONS - 1}, got {action!r}")
        before = int(boxes_on_goals(self.state[None])[0])
        moved, pushed = step_into(self.state, int(action), self.state)
        after = int(boxes_on_goals(self.state[None])[0])
        self._steps += 1
        terminated = bool(is_solved(self.state[None])[0])
        reward = REWARD_STEP
        reward += REWARD_BOX_ON_GOAL * max(after - before, 0) + REWARD_BOX_OFF_GOAL * max(before - after, 0)
        reward += REWARD_SOLVED if terminated else 0.0
        truncated = not terminated and self._steps >= self.max_episode_steps
        return one_hot(self.state), float(reward), terminated, truncated, self._info(moved, pushed)

    def _info(self, moved: bool, pushed: bool) -> dict[str, Any]:
        return {
            "level": self.level.name if self.level is not None else "",
            "moved": bool(moved),
            "pushed": bool(pushed),
            "boxes_on_goal": int(boxes_on_goals(self.state[None])[0]),
        }

    def render(self):
        if self.render_mode == "ansi":
            return render_ansi(self.state)
        if self.render_mode == "rgb_array":
            return render_rgb(self.state)
        return None
