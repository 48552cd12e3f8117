"""The Rubik's Cube: Numba kernels over batches of 54-sticker states, notation, validation, trajectories.

Public API (state batches are ``(N, 54) uint8`` in URFDLB facelet order; move ids as in
:mod:`.constants`: 0..11 the quarter turns ``U U' R R' F F' D D' L L' B B'``, 12..17 ``U2 .. B2``)::

    apply_moves, apply_sequence, apply_sequences, children, is_solved, hash_states, pack_states
    parse_facelets, format_facelets, validate_state, InvalidCubeState, cubies
    parse_moves, format_moves, invert_moves, simplify_moves, to_quarter_turns, scramble
    random_walk_trajectories, random_states
    CubeEnv, CubeVectorEnv (registered as ``clrl/Cube-v0`` by ``import clrl.envs``)
"""

from .constants import (
    FACE_NAMES,
    INVERSE_MOVE,
    MOVE_IDS,
    MOVE_NAMES,
    MOVE_PERMUTATIONS,
    NUM_HALF_TURN_METRIC_MOVES,
    NUM_QUARTER_TURNS,
    NUM_STICKERS,
    QUARTER_TURN_NAMES,
    SOLVED_FACELETS,
    SOLVED_STATE,
)
from .env import CubeEnv, CubeVectorEnv
from .facelets import (
    Cubies,
    InvalidCubeState,
    cubies,
    format_facelets,
    is_valid_state,
    parse_facelets,
    validate_state,
)
from .kernels import (
    apply_moves,
    apply_moves_kernel,
    apply_sequence,
    apply_sequences,
    children,
    children_kernel,
    hash_states,
    hash_states_kernel,
    is_solved,
    is_solved_kernel,
    pack_states,
)
from .notation import (
    InvalidMoveNotation,
    format_moves,
    invert_moves,
    move_id,
    parse_moves,
    scramble,
    simplify_moves,
    to_quarter_turns,
)
from .trajectories import Trajectories, random_states, random_walk_trajectories
from .viewer import render_ansi, render_rgb

__all__ = [
    "FACE_NAMES",
    "INVERSE_MOVE",
    "MOVE_IDS",
    "MOVE_NAMES",
    "MOVE_PERMUTATIONS",
    "NUM_HALF_TURN_METRIC_MOVES",
    "NUM_QUARTER_TURNS",
    "NUM_STICKERS",
    "QUARTER_TURN_NAMES",
    "SOLVED_FACELETS",
    "SOLVED_STATE",
    "CubeEnv",
    "CubeVectorEnv",
    "Cubies",
    "InvalidCubeState",
    "cubies",
    "format_facelets",
    "is_valid_state",
    "parse_facelets",
    "validate_state",
    "apply_moves",
    "apply_moves_kernel",
    "apply_sequence",
    "apply_sequences",
    "children",
    "children_kernel",
    "hash_states",
    "hash_states_kernel",
    "is_solved",
    "is_solved_kernel",
    "pack_states",
    "InvalidMoveNotation",
    "format_moves",
    "invert_moves",
    "move_id",
    "parse_moves",
    "scramble",
    "simplify_moves",
    "to_quarter_turns",
    "Trajectories",
    "random_states",
    "random_walk_trajectories",
    "render_ansi",
    "render_rgb",
]
