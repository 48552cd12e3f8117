"""Singmaster notation, scrambles, and the kociemba cross-check of our move conventions."""

import numpy as np
import pytest

from clrl.envs.cube import (
    MOVE_NAMES,
    SOLVED_STATE,
    InvalidMoveNotation,
    apply_sequence,
    format_facelets,
    format_moves,
    invert_moves,
    is_solved,
    move_id,
    parse_moves,
    random_states,
    scramble,
    simplify_moves,
    to_quarter_turns,
)
from clrl.envs.cube.constants import MOVE_FACE


def test_move_table_order_is_the_documented_one():
    assert MOVE_NAMES[:12] == ("U", "U'", "R", "R'", "F", "F'", "D", "D'", "L", "L'", "B", "B'")
    assert MOVE_NAMES[12:] == ("U2", "R2", "F2", "D2", "L2", "B2")
    assert [move_id(name) for name in MOVE_NAMES] == list(range(18))


def test_parse_and_format_round_trip():
    text = "R U R' U2 F' B2 D L' "
    ids = parse_moves(text)
    assert format_moves(ids) == text.strip()
    assert parse_moves("RUR'U'").tolist() == parse_moves("R U R' U'").tolist()
    assert parse_moves("R2'").tolist() == [move_id("R2")]
    assert parse_moves("  ").tolist() == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("R U X", "cannot read move 'X' at character 5"),
        ("R r", "wide and slice moves are not supported"),
        ("R3", "cannot read move '3'"),
        ("M2", "wide and slice moves"),
    ],
)
def test_bad_notation_is_rejected_with_the_token(text, message):
    with pytest.raises(InvalidMoveNotation, match=message):
        parse_moves(text)


def test_invert_moves_undoes_the_sequence():
    sequence = parse_moves("R U2 F' D L B'")
    assert format_moves(invert_moves(sequence)) == "B L' D' F U2 R'"
    assert is_solved(apply_sequence(apply_sequence(SOLVED_STATE, sequence), invert_moves(sequence)))[0]


def test_simplify_merges_same_face_runs_without_changing_the_effect():
    assert format_moves(simplify_moves(parse_moves("U U"))) == "U2"
    assert format_moves(simplify_moves(parse_moves("R U U' R'"))) == ""
    assert format_moves(simplify_moves(parse_moves("U2 U F F F"))) == "U' F'"
    rng = np.random.default_rng(0)
    states = random_states(1, 4, 10)
    for _ in range(50):
        sequence = rng.integers(0, 18, size=12)
        simplified = simplify_moves(sequence)
        assert np.array_equal(apply_sequence(states, simplified), apply_sequence(states, sequence))
        faces = MOVE_FACE[simplified]
        assert (faces[1:] != faces[:-1]).all()


def test_to_quarter_turns_keeps_the_effect():
    sequence = parse_moves("R2 U F2 L'")
    quarter = to_quarter_turns(sequence)
    assert quarter.max() < 12 and len(quarter) == 6
    assert np.array_equal(apply_sequence(SOLVED_STATE, quarter), apply_sequence(SOLVED_STATE, sequence))


def test_scramble_is_seeded_and_never_turns_a_face_twice_in_a_row():
    first = scramble(42, 25)
    assert np.array_equal(first, scramble(42, 25))
    assert not np.array_equal(first, scramble(43, 25))
    for seed in range(20):
        for metric, limit in (("half", 18), ("quarter", 12)):
            moves = scramble(seed, 30, metric=metric)
            assert len(moves) == 30 and moves.max() < limit
            assert (MOVE_FACE[moves[1:]] != MOVE_FACE[moves[:-1]]).all()
    assert len(scramble(0, 0)) == 0


def test_kociemba_solutions_applied_by_our_kernels_solve_random_cubes():
    """Kociemba uses the same URFDLB facelet order and Singmaster turns: an independent reference."""
    kociemba = pytest.importorskip("kociemba")
    rng = np.random.default_rng(11)
    cubes = [apply_sequence(SOLVED_STATE, scramble(rng, 25))[0] for _ in range(10)]
    cubes += list(random_states(rng, 10, 26))
    for state in cubes:
        solution = parse_moves(kociemba.solve(format_facelets(state)))
        assert is_solved(apply_sequence(state, solution))[0]
