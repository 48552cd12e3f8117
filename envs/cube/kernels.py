"""Batched Numba kernels of the cube: states in, states out.

Every kernel takes a C-contiguous ``(N, 54) uint8`` state batch (see :mod:`.constants` for the layout and
move ids). A move copies the state and rewrites the 20 stickers it moves, driven by one table for all 18
moves. The public functions coerce their arguments to one dtype per argument, so each kernel compiles
exactly once per signature; the ``*_kernel`` functions are the raw ``@njit`` kernels for callers that are
themselves Numba-compiled (planners).

Large batches run in parallel over states (``prange``); below :data:`PARALLEL_MIN_BATCH` states the
thread start-up costs more than the work, so a serial twin of the kernel runs instead.
"""

from __future__ import annotations

import types

import numpy as np
from numba import njit, prange

from .constants import (
    MOVED_DESTINATIONS,
    MOVED_SOURCES,
    NUM_HALF_TURN_METRIC_MOVES,
    NUM_MOVED_STICKERS,
    NUM_QUARTER_TURNS,
    NUM_STICKERS,
)

PARALLEL_MIN_BATCH = 2048

_MOVED_DESTINATIONS = np.ascontiguousarray(MOVED_DESTINATIONS)
_MOVED_SOURCES = np.ascontiguousarray(MOVED_SOURCES)


@njit(cache=True, inline="always")
def move_into(source, move, destination):
    """Write ``source`` turned by ``move`` into ``destination`` (distinct (54,) arrays).

    The building block of every kernel that turns cubes (inlined into them), here and in trajectories.py.
    """
    for sticker in range(NUM_STICKERS):  # an explicit loop: the slice copy ran at half the speed
        destination[sticker] = source[sticker]
    for k in range(NUM_MOVED_STICKERS):
        destination[_MOVED_DESTINATIONS[move, k]] = source[_MOVED_SOURCES[move, k]]


def _apply_moves_body(states, moves, out):
    for i in prange(states.shape[0]):
        move_into(states[i], moves[i], out[i])


def _apply_sequences_body(states, sequences, scratch, out):
    """Row ``i`` of ``sequences`` turns state ``i``; a single row is shared by all states."""
    shared = sequences.shape[0] == 1
    for i in prange(states.shape[0]):
        sequence = sequences[0] if shared else sequences[i]
        current, other = out[i], scratch[i]
        for sticker in range(NUM_STICKERS):
            current[sticker] = states[i, sticker]
        in_scratch = False  # ping-pong between out[i] and scratch[i], no allocation per state
        for move in sequence:
            if move < 0:  # padding, lets ragged sequences share one (N, L) array
                continue
            if in_scratch:
                move_into(other, move, current)
            else:
                move_into(current, move, other)
            in_scratch = not in_scratch
        if in_scratch:
            for sticker in range(NUM_STICKERS):
                current[sticker] = other[sticker]


def _children_body(states, num_moves, out):
    for i in prange(states.shape[0]):
        for move in range(num_moves):
            move_into(states[i], move, out[i, move])


def _is_solved_body(states, out):
    for i in prange(states.shape[0]):
        solved = True
        for sticker in range(NUM_STICKERS):
            if states[i, sticker] != sticker // 9:
                solved = False
                break
        out[i] = solved


# 54 stickers of 3 bits pack exactly into three 63-bit words of 21 stickers each.
_STICKERS_PER_WORD = 21
_PACKED_WORDS = 3


@njit(cache=True, inline="always")
def _packed_word(state, word):
    """Stickers ``21 * word ..`` of one state, 3 bits each, the first in the most significant place."""
    value = np.uint64(0)
    for k in range(word * _STICKERS_PER_WORD, min((word + 1) * _STICKERS_PER_WORD, NUM_STICKERS)):
        value = (value << np.uint64(3)) | np.uint64(state[k])
    return value


def _pack_states_body(states, out):
    for i in prange(states.shape[0]):
        for word in range(_PACKED_WORDS):
            out[i, word] = _packed_word(states[i], word)


@njit(cache=True, inline="always")
def _mix64(value):
    """SplitMix64 finaliser: a bijection on uint64 whose every output bit depends on every input bit."""
    value = (value ^ (value >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    value = (value ^ (value >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return value ^ (value >> np.uint64(31))


def _hash_states_body(states, out):
    for i in prange(states.shape[0]):
        digest = np.uint64(0x9E3779B97F4A7C15)
        for word in range(_PACKED_WORDS):
            digest = _mix64(digest ^ _packed_word(states[i], word))
        out[i] = digest


def compile_serial_and_parallel(body):
    """A serial and a parallel kernel compiled from one Python body (``prange`` is ``range`` when serial).

    Numba's on-disk cache keys a function by its qualified name, signature and bytecode but not by its
    flags, so the parallel twin is compiled from a renamed copy; otherwise both would load whichever
    version was cached last.
    """
    parallel_body = types.FunctionType(
        body.__code__, body.__globals__, body.__name__ + "_parallel", body.__defaults__, body.__closure__
    )
    parallel_body.__qualname__ = body.__qualname__ + "_parallel"
    parallel_body.__doc__ = body.__doc__
    return njit(cache=True)(body), njit(cache=True, parallel=True)(parallel_body)


apply_moves_kernel, _apply_moves_parallel = compile_serial_and_parallel(_apply_moves_body)
apply_sequences_kernel, _apply_sequences_parallel = compile_serial_and_parallel(_apply_sequences_body)
children_kernel, _children_parallel = compile_serial_and_parallel(_children_body)
is_solved_kernel, _is_solved_parallel = compile_serial_and_parallel(_is_solved_body)
pack_states_kernel, _pack_states_parallel = compile_serial_and_parallel(_pack_states_body)
hash_states_kernel, _hash_states_parallel = compile_serial_and_parallel(_hash_states_body)


def pick_kernel(serial, parallel, batch_size: int):
    """The parallel kernel for batches of at least :data:`PARALLEL_MIN_BATCH` states, else the serial one."""
    return parallel if batch_size >= PARALLEL_MIN_BATCH else serial


def _writeable(array: np.ndarray) -> np.ndarray:
    """Numba types read-only arrays apart from writeable ones; a copy keeps one signature per kernel."""
    return array if array.flags.writeable else array.copy()


def as_state_batch(states: np.ndarray) -> np.ndarray:
    """View ``states`` as a C-contiguous ``(N, 54) uint8`` batch (a single ``(54,)`` state becomes N=1)."""
    batch = _writeable(np.ascontiguousarray(states, dtype=np.uint8))
    if batch.ndim == 1:
        batch = batch[None, :]
    if batch.ndim != 2 or batch.shape[1] != NUM_STICKERS:
        raise ValueError(f"expected states of shape (N, {NUM_STICKERS}), got {np.shape(states)}")
    return batch


def _as_move_ids(moves, *, allow_padding: bool = False) -> np.ndarray:
    ids = _writeable(np.ascontiguousarray(moves, dtype=np.int64))
    lowest = -1 if allow_padding else 0
    if ids.size and (ids.min() < lowest or ids.max() >= NUM_HALF_TURN_METRIC_MOVES):
        raise ValueError(f"move ids must lie in {lowest}..{NUM_HALF_TURN_METRIC_MOVES - 1}")
    return ids


def _output(out: np.ndarray | None, shape: tuple[int, ...], dtype) -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype=dtype)
    if out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {np.dtype(dtype)} array of shape {shape}")
    return out


def apply_moves(states: np.ndarray, moves, out: np.ndarray | None = None) -> np.ndarray:
    """Turn state ``i`` by move ``moves[i]`` (a scalar applies one move to all); ``(N, 54) -> (N, 54)``.

    ``out`` may be ``states`` itself for an in-place update.
    """
    batch = as_state_batch(states)
    move_ids = _as_move_ids(np.broadcast_to(moves, (batch.shape[0],)))
    result = _output(out, batch.shape, np.uint8)
    if np.may_share_memory(result, batch):
        batch = batch.copy()  # move_into reads its source after writing the destination
    pick_kernel(apply_moves_kernel, _apply_moves_parallel, batch.shape[0])(batch, move_ids, result)
    return result


def apply_sequence(states: np.ndarray, sequence, out: np.ndarray | None = None) -> np.ndarray:
    """Apply the same move sequence (ids, ``-1`` entries skipped) to every state; ``(N, 54) -> (N, 54)``."""
    shared_sequence = _as_move_ids(np.atleast_1d(sequence), allow_padding=True).reshape(1, -1)
    return _apply_sequences(as_state_batch(states), shared_sequence, out)


def apply_sequences(states: np.ndarray, sequences, out: np.ndarray | None = None) -> np.ndarray:
    """Apply sequence ``sequences[i]`` to state ``i``; ``sequences`` is ``(N, L)``, ``-1`` pads short ones."""
    batch = as_state_batch(states)
    sequence_ids = _as_move_ids(sequences, allow_padding=True)
    if sequence_ids.ndim != 2 or sequence_ids.shape[0] != batch.shape[0]:
        raise ValueError(f"sequences must have shape ({batch.shape[0]}, L), got {sequence_ids.shape}")
    return _apply_sequences(batch, sequence_ids, out)


def _apply_sequences(batch: np.ndarray, sequence_ids: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    result = _output(out, batch.shape, np.uint8)
    if np.may_share_memory(result, batch):
        batch = batch.copy()
    scratch = np.empty_like(batch)
    kernel = pick_kernel(apply_sequences_kernel, _apply_sequences_parallel, batch.shape[0])
    kernel(batch, sequence_ids, scratch, result)
    return result


def children(states: np.ndarray, metric: str = "quarter", out: np.ndarray | None = None) -> np.ndarray:
    """All successors of every state: ``(N, 54) -> (N, 12, 54)`` (``metric="quarter"``, moves 0..11) or
    ``(N, 18, 54)`` (``metric="half"``, moves 0..17); ``out[i, m]`` is state ``i`` turned by move ``m``."""
    if metric not in ("quarter", "half"):
        raise ValueError(f"metric must be 'quarter' or 'half', got {metric!r}")
    num_moves = NUM_QUARTER_TURNS if metric == "quarter" else NUM_HALF_TURN_METRIC_MOVES
    batch = as_state_batch(states)
    result = _output(out, (batch.shape[0], num_moves, NUM_STICKERS), np.uint8)
    pick_kernel(children_kernel, _children_parallel, batch.shape[0])(batch, num_moves, result)
    return result


def is_solved(states: np.ndarray) -> np.ndarray:
    """``(N, 54) -> (N,) bool``: whether every sticker sits on its own face."""
    batch = as_state_batch(states)
    result = np.empty(batch.shape[0], dtype=np.bool_)
    pick_kernel(is_solved_kernel, _is_solved_parallel, batch.shape[0])(batch, result)
    return result


def pack_states(states: np.ndarray) -> np.ndarray:
    """``(N, 54) -> (N, 3) uint64``: an exact, collision-free key (3 bits a sticker) for deduplication."""
    batch = as_state_batch(states)
    result = np.empty((batch.shape[0], _PACKED_WORDS), dtype=np.uint64)
    pick_kernel(pack_states_kernel, _pack_states_parallel, batch.shape[0])(batch, result)
    return result


def hash_states(states: np.ndarray) -> np.ndarray:
    """``(N, 54) -> (N,) uint64`` hash of the packed state.

    The cube has ~4.3e19 states, more than 2**64, so no 64-bit key is exact; the mixed hash makes a
    collision among a billion states a ~3% event (birthday bound). Use :func:`pack_states` where a
    collision must be impossible.
    """
    batch = as_state_batch(states)
    result = np.empty(batch.shape[0], dtype=np.uint64)
    pick_kernel(hash_states_kernel, _hash_states_parallel, batch.shape[0])(batch, result)
    return result


ALL_KERNELS = (
    apply_moves_kernel,
    _apply_moves_parallel,
    apply_sequences_kernel,
    _apply_sequences_parallel,
    children_kernel,
    _children_parallel,
    is_solved_kernel,
    _is_solved_parallel,
    pack_states_kernel,
    _pack_states_parallel,
    hash_states_kernel,
    _hash_states_parallel,
)
