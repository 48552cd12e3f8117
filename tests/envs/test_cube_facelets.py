"""Facelet strings: round trips, validation of reachable cubes, and one specific message per failure."""

import numpy as np
import pytest

from clrl.envs.cube import (
    SOLVED_FACELETS,
    SOLVED_STATE,
    InvalidCubeState,
    apply_sequence,
    cubies,
    format_facelets,
    is_valid_state,
    parse_facelets,
    random_states,
    scramble,
)
from clrl.envs.cube.facelets import cubie_ids
from clrl.errors import UserError


def _edit(changes: dict[int, str], base: str = SOLVED_FACELETS) -> str:
    letters = list(base)
    for index, letter in changes.items():
        letters[index] = letter
    return "".join(letters)


def _swap(i: int, j: int, base: str = SOLVED_FACELETS) -> str:
    return _edit({i: base[j], j: base[i]}, base)


def test_solved_round_trip_and_whitespace_and_case():
    assert np.array_equal(parse_facelets(SOLVED_FACELETS), SOLVED_STATE)
    assert format_facelets(SOLVED_STATE) == SOLVED_FACELETS
    spaced = " ".join(SOLVED_FACELETS[i : i + 9] for i in range(0, 54, 9)).lower()
    assert np.array_equal(parse_facelets(spaced), SOLVED_STATE)


def test_a_thousand_random_scrambles_are_valid_and_round_trip():
    rng = np.random.default_rng(0)
    walks = random_states(rng, 500, 25)
    scrambles = np.stack([apply_sequence(SOLVED_STATE, scramble(rng, 25))[0] for _ in range(500)])
    for state in np.concatenate([walks, scrambles]):
        text = format_facelets(state)
        assert np.array_equal(parse_facelets(text), state)
        assert is_valid_state(state)


def test_cubie_decomposition_of_solved_is_identity():
    pieces = cubies(SOLVED_STATE)
    assert pieces.corner_permutation.tolist() == list(range(8))
    assert pieces.edge_permutation.tolist() == list(range(12))
    assert not pieces.corner_orientation.any() and not pieces.edge_orientation.any()


def test_batched_cubie_ids_are_the_decomposition_of_each_state():
    states = random_states(np.random.default_rng(3), 300, 1000)
    ids = cubie_ids(states)
    for state, row in zip(states, ids, strict=True):
        pieces = cubies(state)
        corners = pieces.corner_permutation * 3 + pieces.corner_orientation
        edges = pieces.edge_permutation * 2 + pieces.edge_orientation
        assert row.tolist() == [*corners, *edges]
    assert cubie_ids(SOLVED_STATE[None]).tolist() == [[*range(0, 24, 3), *range(0, 24, 2)]]
    no_piece = SOLVED_STATE.copy()
    no_piece[8] = 3  # U9 painted D: the corner at URF reads D, R, F, which is no piece
    assert cubie_ids(no_piece[None])[0, 0] == -1


def test_a_cube_held_in_another_orientation_is_relabelled_by_its_centres():
    # Turning the whole cube over about the R-L axis swaps U<->D and F<->B: still the solved cube.
    rotated = SOLVED_FACELETS.translate(str.maketrans("UDFB", "DUBF"))
    assert np.array_equal(parse_facelets(rotated), SOLVED_STATE)
    # Letters only name centres: any consistent renaming reads as the same cube.
    state = random_states(4, 1, 20)[0]
    renamed = format_facelets(state).translate(str.maketrans("URFDLB", "FLUBRD"))
    assert np.array_equal(parse_facelets(renamed), state)


# Facelet indices (0-based): corner URF = (8, 9, 20); edges UR = (5, 10), UF = (7, 19), DR = (32, 16).
INVALID_CUBES = {
    "wrong length": ("UUU", "54 facelet letters, got 3"),
    "unknown letter": (_edit({13: "X"}), "unknown letter 'X' at R5"),
    "wrong counts": (_edit({0: "R"}), "wrong sticker counts: U appears 8 times"),
    "centres not distinct": (_swap(4, 10), "centres are not distinct: U5 and R5 both read 'R'"),
    "not a corner": (_swap(8, 10), "the corner at URF .* has colours RRF, which is not a real corner piece"),
    "not an edge": (_swap(10, 32), "the edge at UR .* has colours UD, which is not a real edge piece"),
    # UFL's colours replaced by URF's and DRB's by DBL's: counts still right, two pieces twice.
    "duplicate corner": (
        _edit({6: "U", 18: "R", 38: "F", 35: "D", 17: "B", 51: "L"}),
        "the corner piece URF appears twice and UFL is missing",
    ),
    "twisted corner": (_edit({8: "R", 9: "F", 20: "U"}), "corner twist is off by one: a corner has been"),
    "twisted the other way": (_edit({8: "F", 9: "U", 20: "R"}), "corner twist is off by one"),
    "flipped edge": (_swap(5, 10), "edge flip is off by one: an edge has been flipped in place"),
    "two edges swapped": (_swap(10, 19), "permutation parity is odd: two pieces are swapped"),
}


@pytest.mark.parametrize("case", sorted(INVALID_CUBES))
def test_each_invalid_cube_is_rejected_with_its_message(case):
    text, message = INVALID_CUBES[case]
    with pytest.raises(InvalidCubeState, match=message) as caught:
        parse_facelets(text)
    assert isinstance(caught.value, UserError) and isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value)


def test_defects_on_a_scrambled_cube_are_caught_too():
    state = random_states(9, 1, 30)[0]
    text = format_facelets(state)
    corner = (8, 9, 20)
    twisted = _edit({corner[k]: text[corner[(k + 1) % 3]] for k in range(3)}, text)
    with pytest.raises(InvalidCubeState, match="corner twist"):
        parse_facelets(twisted)
    with pytest.raises(InvalidCubeState, match="edge flip"):
        parse_facelets(_swap(5, 10, text))


def test_validate_false_still_checks_the_letters():
    assert parse_facelets(_swap(5, 10), validate=False)[5] == 1
    with pytest.raises(InvalidCubeState, match="wrong sticker counts"):
        parse_facelets(_edit({0: "R"}), validate=False)


def test_state_arrays_are_checked_too():
    assert not is_valid_state(np.full(54, 7, dtype=np.uint8))
    flipped = SOLVED_STATE.copy()
    flipped[[5, 10]] = flipped[[10, 5]]
    assert not is_valid_state(flipped)
    assert is_valid_state(SOLVED_STATE)
