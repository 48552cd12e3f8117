"""The cube's 48 symmetries: a group of distance-preserving maps that commute with the moves."""

import numpy as np
import pytest

from clrl.envs.cube.constants import MOVE_PERMUTATIONS, NUM_QUARTER_TURNS, SOLVED_STATE
from clrl.envs.cube.symmetry import (
    NUM_ROTATIONS,
    NUM_SYMMETRIES,
    SYMMETRY_MATRICES,
    SYMMETRY_MOVES,
    apply_symmetries,
    apply_symmetry,
    canonical_images,
    move_values_of_images,
    symmetric_images,
)
from clrl.envs.cube.trajectories import random_states
from clrl.planners import CubeDomain, GoalTable

STATES = random_states(np.random.default_rng(7), 6, 1000)


def test_the_tables_hold_the_whole_octahedral_group_identity_first():
    assert SYMMETRY_MATRICES.shape == (NUM_SYMMETRIES, 3, 3)
    assert len({m.tobytes() for m in SYMMETRY_MATRICES}) == NUM_SYMMETRIES
    assert np.array_equal(SYMMETRY_MATRICES[0], np.eye(3))
    determinants = np.round(np.linalg.det(SYMMETRY_MATRICES)).astype(int)
    assert (determinants[:NUM_ROTATIONS] == 1).all() and (determinants[NUM_ROTATIONS:] == -1).all()
    assert np.array_equal(apply_symmetry(STATES, 0), STATES)


def test_every_symmetry_keeps_the_solved_cube_and_commutes_with_the_moves():
    for k in range(NUM_SYMMETRIES):
        assert np.array_equal(apply_symmetry(SOLVED_STATE[None], k)[0], SOLVED_STATE)
        # g(m(s)) = g(m)(g(s)), with g(m) a quarter turn: g maps solutions onto solutions
        assert sorted(SYMMETRY_MOVES[k]) == list(range(NUM_QUARTER_TURNS))
        for move in range(NUM_QUARTER_TURNS):
            moved_then_mapped = apply_symmetry(STATES[:, MOVE_PERMUTATIONS[move]], k)
            mapped_then_moved = apply_symmetry(STATES, k)[:, MOVE_PERMUTATIONS[SYMMETRY_MOVES[k, move]]]
            assert np.array_equal(moved_then_mapped, mapped_then_moved), (k, move)


def test_each_state_its_own_symmetry_and_its_move_labels_follow_it():
    symmetries = np.array([0, 5, 23, 24, 40, 47])
    images = apply_symmetries(STATES, symmetries)
    for i, k in enumerate(symmetries):
        assert np.array_equal(images[i], apply_symmetry(STATES[i : i + 1], k)[0])
    # a label of each move of s (here: the child it leads to) is the same label of the image's move
    children = CubeDomain().children(STATES)[0]  # (N, 12, 54)
    labels = np.arange(NUM_QUARTER_TURNS)[None].repeat(len(STATES), axis=0)
    moved = move_values_of_images(labels, symmetries)
    image_children = CubeDomain().children(images)[0]
    for i, k in enumerate(symmetries):
        for move in range(NUM_QUARTER_TURNS):
            original = moved[i, move]
            assert np.array_equal(image_children[i, move], apply_symmetry(children[i, original][None], k)[0])


def test_mirrors_turn_clockwise_into_anticlockwise_and_rotations_do_not():
    clockwise = np.arange(0, NUM_QUARTER_TURNS, 2)
    assert (SYMMETRY_MOVES[:NUM_ROTATIONS, clockwise] % 2 == 0).all()
    assert (SYMMETRY_MOVES[NUM_ROTATIONS:, clockwise] % 2 == 1).all()


def test_composing_two_symmetries_gives_a_third():
    images = {apply_symmetry(STATES, k).tobytes(): k for k in range(NUM_SYMMETRIES)}
    assert len(images) == NUM_SYMMETRIES, "the 48 images of a random cube are distinct"
    for a in range(0, NUM_SYMMETRIES, 5):
        for b in range(0, NUM_SYMMETRIES, 7):
            assert apply_symmetry(apply_symmetry(STATES, a), b).tobytes() in images


def test_exact_distances_are_the_same_at_every_image():
    domain = CubeDomain()
    table = GoalTable.build(domain, SOLVED_STATE, 4, domain.inverse_action)
    near = random_states(np.random.default_rng(3), 40, 4)

    def exact_distances(states):
        rows = table.lookup(domain.hash(states))
        assert (rows >= 0).all()
        return table.distances[rows]

    distances = exact_distances(near)
    assert set(distances.tolist()) == {2, 4}  # quarter turns keep the parity
    for k in range(NUM_SYMMETRIES):
        assert np.array_equal(exact_distances(apply_symmetry(near, k)), distances)


@pytest.mark.parametrize("symmetries", [[0], [3, 30, 47], list(range(NUM_SYMMETRIES))])
def test_images_come_one_block_per_symmetry(symmetries):
    images = symmetric_images(STATES, symmetries)
    assert images.dtype == STATES.dtype and images.shape == (len(symmetries) * len(STATES), 54)
    for block, k in enumerate(symmetries):
        assert np.array_equal(
            images[block * len(STATES) : (block + 1) * len(STATES)], apply_symmetry(STATES, k)
        )


def test_the_canonical_image_is_the_least_image_and_the_same_for_every_image():
    states = random_states(np.random.default_rng(8), 100, 1000)
    canonical = canonical_images(states)
    images = symmetric_images(states, np.arange(NUM_SYMMETRIES)).reshape(NUM_SYMMETRIES, len(states), -1)
    slow = np.array([min(map(tuple, images[:, n])) for n in range(len(states))], dtype=np.uint8)
    np.testing.assert_array_equal(canonical, slow)
    for k in range(NUM_SYMMETRIES):
        np.testing.assert_array_equal(canonical_images(apply_symmetry(states, k)), canonical)
    np.testing.assert_array_equal(canonical_images(SOLVED_STATE[None])[0], SOLVED_STATE)
    np.testing.assert_array_equal(canonical_images(canonical), canonical)
