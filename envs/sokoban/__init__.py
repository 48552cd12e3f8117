"""Sokoban: Boxoban levels, batched Numba rules, deadlocks, generator, A* solver, Gymnasium env.

The public surface is re-exported here; see each module for details. States are ``(H, W)`` uint8
grids of the seven cell types in :mod:`clrl.envs.sokoban.constants`; batches add a leading axis.
"""

from clrl.envs.sokoban.constants import ACTION_LETTERS, NUM_ACTIONS, NUM_CELL_TYPES
from clrl.envs.sokoban.deadlocks import dead_squares, is_freeze_deadlock
from clrl.envs.sokoban.generator import GeneratorError, generate_level, generate_levels
from clrl.envs.sokoban.kernels import (
    IllegalMoveError,
    children,
    hash_states,
    is_solved,
    one_hot,
    replay,
    replay_states,
    step,
)
from clrl.envs.sokoban.levels import (
    Level,
    LevelFormatError,
    format_grid,
    load_levels,
    parse_level,
    parse_levels,
)
from clrl.envs.sokoban.solver import DEFAULT_BUDGET, SolveResult, solve

__all__ = [
    "ACTION_LETTERS",
    "DEFAULT_BUDGET",
    "NUM_ACTIONS",
    "NUM_CELL_TYPES",
    "GeneratorError",
    "IllegalMoveError",
    "Level",
    "LevelFormatError",
    "SolveResult",
    "children",
    "dead_squares",
    "format_grid",
    "generate_level",
    "generate_levels",
    "hash_states",
    "is_freeze_deadlock",
    "is_solved",
    "load_levels",
    "one_hot",
    "parse_level",
    "parse_levels",
    "replay",
    "replay_states",
    "solve",
    "step",
]
