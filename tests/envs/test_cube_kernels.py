"""Cube kernels: known facelet strings, group identities, batching, hashing, compile-once."""

import numpy as np
import pytest

from clrl.envs.cube import (
    INVERSE_MOVE,
    MOVE_IDS,
    SOLVED_STATE,
    apply_moves,
    apply_sequence,
    apply_sequences,
    children,
    format_facelets,
    hash_states,
    is_solved,
    pack_states,
    parse_moves,
    random_states,
    random_walk_trajectories,
)
from clrl.envs.cube import kernels as cube_kernels
from clrl.envs.cube import trajectories as cube_trajectories

# Derived by hand from the DESIGN.md layout (R is the contract's own example).
AFTER_SINGLE_MOVE = {
    "R": "UUFUUFUUFRRRRRRRRRFFDFFDFFDDDBDDBDDBLLLLLLLLLUBBUBBUBB",
    # U clockwise from above: the top rows cycle F -> L -> B -> R -> F.
    "U": "UUUUUUUUUBBBRRRRRRRRRFFFFFFDDDDDDDDDFFFLLLLLLLLLBBBBBB",
    # F clockwise: U's bottom row takes L's right column, R's left column takes U, D's top row takes R.
    "F": "UUUUUULLLURRURRURRFFFFFFFFFRRRDDDDDDLLDLLDLLDBBBBBBBBB",
    "R'": "UUBUUBUUBRRRRRRRRRFFUFFUFFUDDFDDFDDFLLLLLLLLLDBBDBBDBB",
}


def _scrambled(n: int, seed: int = 0) -> np.ndarray:
    return random_states(seed, n, 30)


@pytest.mark.parametrize("move", sorted(AFTER_SINGLE_MOVE))
def test_single_move_from_solved_gives_the_known_facelets(move):
    state = apply_moves(SOLVED_STATE, MOVE_IDS[move])[0]
    assert format_facelets(state) == AFTER_SINGLE_MOVE[move]


def test_every_quarter_turn_has_order_four_and_half_turns_order_two():
    states = _scrambled(16)
    for move in range(18):
        order = 2 if move >= 12 else 4
        current = states
        for k in range(1, order + 1):
            current = apply_moves(current, move)
            assert np.array_equal(current, states) == (k == order), (move, k)


def test_two_quarter_turns_equal_the_half_turn_and_inverse_undoes():
    states = _scrambled(8)
    for face in range(6):
        twice = apply_sequence(states, [2 * face, 2 * face])
        assert np.array_equal(twice, apply_moves(states, 12 + face))
    for move in range(18):
        assert np.array_equal(apply_moves(apply_moves(states, move), INVERSE_MOVE[move]), states)


def test_sequence_then_inverse_is_identity():
    rng = np.random.default_rng(3)
    states = _scrambled(32, seed=1)
    sequence = rng.integers(0, 18, size=40)
    inverse = INVERSE_MOVE[sequence[::-1]]
    there = apply_sequence(states, sequence)
    assert not np.array_equal(there, states)
    assert np.array_equal(apply_sequence(there, inverse), states)


def test_sexy_move_has_order_six():
    sexy = parse_moves("R U R' U'")
    state = SOLVED_STATE[None, :].copy()
    for k in range(1, 7):
        state = apply_sequence(state, sexy)
        assert bool(is_solved(state)[0]) == (k == 6), k


def test_opposite_faces_commute_and_adjacent_faces_do_not():
    states = _scrambled(8, seed=2)

    def commute(a: str, b: str) -> bool:
        return np.array_equal(
            apply_sequence(states, parse_moves(f"{a} {b}")), apply_sequence(states, parse_moves(f"{b} {a}"))
        )

    for a, b in [("U", "D"), ("R", "L'"), ("F2", "B"), ("U'", "D2")]:
        assert commute(a, b)
    for a, b in [("U", "R"), ("R", "F"), ("F", "D"), ("L", "B")]:
        assert not commute(a, b)


def test_children_match_apply_moves_in_both_metrics():
    states = _scrambled(5)
    for metric, count in (("quarter", 12), ("half", 18)):
        successors = children(states, metric=metric)
        assert successors.shape == (5, count, 54)
        for move in range(count):
            assert np.array_equal(successors[:, move], apply_moves(states, move))


def test_batched_kernels_agree_with_a_per_state_permutation_reference():
    """A large batch takes the parallel path; compare it with plain NumPy gathers, state by state."""
    from clrl.envs.cube import MOVE_PERMUTATIONS

    n = cube_kernels.PARALLEL_MIN_BATCH + 7
    states = _scrambled(n, seed=4)
    moves = np.random.default_rng(5).integers(0, 18, size=n)
    expected = np.stack([state[MOVE_PERMUTATIONS[m]] for state, m in zip(states, moves, strict=True)])
    assert np.array_equal(apply_moves(states, moves), expected)
    in_place = states.copy()
    apply_moves(in_place, moves, out=in_place)
    assert np.array_equal(in_place, expected)


def test_apply_sequence_on_a_large_batch_equals_one_move_at_a_time():
    states = _scrambled(cube_kernels.PARALLEL_MIN_BATCH + 1, seed=9)
    sequence = [0, 13, 5, 5, 17, 8, 3]  # odd length: the result ends in the kernel's scratch buffer
    expected = states
    for move in sequence:
        expected = apply_moves(expected, move)
    assert np.array_equal(apply_sequence(states, sequence), expected)
    in_place = states.copy()
    apply_sequence(in_place, sequence, out=in_place)
    assert np.array_equal(in_place, expected)


def test_apply_sequences_skips_padding():
    states = _scrambled(3, seed=6)
    sequences = np.array([[0, 2, -1, -1], [-1, -1, -1, -1], [5, 5, 5, 5]])
    out = apply_sequences(states, sequences)
    assert np.array_equal(out[0], apply_sequence(states[:1], [0, 2])[0])
    assert np.array_equal(out[1], states[1])
    assert np.array_equal(out[2], states[2])  # F' four times


def test_is_solved():
    states = np.concatenate([SOLVED_STATE[None], children(SOLVED_STATE, "half")[0]])
    assert is_solved(states).tolist() == [True] + [False] * 18


def test_hash_and_pack_separate_distinct_states_and_agree_on_equal_ones():
    states = children(_scrambled(200, seed=7), "half").reshape(-1, 54)
    states = np.concatenate([states, states[:50]])  # known duplicates
    unique_rows = len(np.unique(states, axis=0))
    assert len(np.unique(pack_states(states), axis=0)) == unique_rows
    hashes = hash_states(states)
    assert hashes.dtype == np.uint64
    assert len(np.unique(hashes)) == unique_rows
    assert np.array_equal(hashes[-50:], hashes[:50])


def test_pack_states_is_exact():
    """The packing is 3 bits a sticker, most significant first: decode it and get the state back."""
    states = _scrambled(10, seed=8)
    packed = pack_states(states)
    decoded = np.empty_like(states)
    for word in range(3):
        stickers = range(21 * word, min(21 * word + 21, 54))
        for offset, sticker in enumerate(reversed(stickers)):
            decoded[:, sticker] = (packed[:, word] >> np.uint64(3 * offset)) & np.uint64(7)
    assert np.array_equal(decoded, states)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="shape"):
        apply_moves(np.zeros((2, 53), np.uint8), 0)
    with pytest.raises(ValueError, match="move ids"):
        apply_moves(SOLVED_STATE, 18)
    with pytest.raises(ValueError, match="metric"):
        children(SOLVED_STATE, metric="slice")


def test_each_kernel_compiles_once_per_signature():
    """Arguments of any integer dtype, list or batch size reach the kernels with one signature each."""
    for n in (1, 3, cube_kernels.PARALLEL_MIN_BATCH):
        states = np.tile(SOLVED_STATE, (n, 1))
        apply_moves(states, np.zeros(n, dtype=np.int32))
        apply_moves(states.astype(np.int64), [1] * n)
        apply_moves(states, 2)
        apply_sequence(states, [0, 1])
        apply_sequence(states, np.array([3], dtype=np.int8))
        apply_sequences(states, np.zeros((n, 2), dtype=np.int16))
        children(states)
        children(states, metric="half")
        is_solved(states)
        hash_states(states)
        pack_states(states)
        random_walk_trajectories(np.random.default_rng(n), n, 3)
    for kernel in cube_kernels.ALL_KERNELS + cube_trajectories.ALL_KERNELS:
        assert len(kernel.signatures) == 1, (kernel.py_func.__name__, kernel.signatures)
