"""Humanoid environment parts that need no MuJoCo model: gait clock, randomisation ranges, terrain."""

import copy
import math

import numpy as np
import pytest

from clrl.config import ConfigError, load_config
from clrl.envs.humanoid import clock
from clrl.envs.humanoid.randomize import (
    DYNAMICS_KEYS,
    check_config,
    intervals,
    overlap_pairs,
    sample_dynamics,
    sample_push,
    sample_terrain,
)
from clrl.envs.humanoid.terrain import PLATFORM_HALF_SIZE, HeightMap, TerrainParams

ENV = load_config("humanoid")["env"]


# -- gait clock ------------------------------------------------------------------------------------


def test_phase_advances_by_two_pi_dt_f_and_wraps():
    dt, f = 0.02, 1.5625
    assert clock.advance(0.0, f, dt) == pytest.approx(2 * np.pi * dt * f)
    phase = 0.0
    for _ in range(32):  # 32 steps of 20 ms at 1.5625 Hz make exactly one 0.64 s cycle
        phase = clock.advance(phase, f, dt)
    assert min(phase, 2 * np.pi - phase) == pytest.approx(0.0, abs=1e-9)
    assert 0.0 <= clock.advance(6.2, 2.0, 0.02) < 2 * np.pi


def test_legs_are_half_a_cycle_apart_and_alternate_stance():
    for phase in np.linspace(0.0, 2 * np.pi, 37, endpoint=False):
        left, right = clock.leg_phases(phase)
        assert np.mod(right - left, 2 * np.pi) == pytest.approx(np.pi)
        if abs(np.sin(phase)) > 1e-9:  # away from the switching instants exactly one foot is down
            assert clock.stance_mask(phase).sum() == 1
    np.testing.assert_array_equal(clock.stance_mask(0.5), [True, False])
    np.testing.assert_array_equal(clock.stance_mask(np.pi + 0.5), [False, True])


def test_swing_arch_peaks_at_mid_swing_and_is_zero_in_stance():
    np.testing.assert_allclose(clock.swing_height_target(np.pi / 2, 0.08), [0.0, 0.08], atol=1e-12)
    np.testing.assert_allclose(clock.swing_height_target(3 * np.pi / 2, 0.08), [0.08, 0.0], atol=1e-12)
    features = clock.clock_features(0.3)
    np.testing.assert_allclose(features, [np.sin(0.3), np.sin(0.3 + np.pi), np.cos(0.3), np.cos(0.3 + np.pi)])


def test_adaptive_frequency_maps_action_onto_bounds():
    assert clock.frequency_from_action(-1.0, 1.0, 2.2) == pytest.approx(1.0)
    assert clock.frequency_from_action(1.0, 1.0, 2.2) == pytest.approx(2.2)
    assert clock.frequency_from_action(0.0, 1.0, 2.2) == pytest.approx(1.6)
    assert clock.frequency_from_action(5.0, 1.0, 2.2) == pytest.approx(2.2)


# -- randomisation ranges --------------------------------------------------------------------------


def inside(value, bounds, key):
    return any(low <= value <= high for low, high in intervals(bounds, key))


def test_training_draws_stay_in_training_ranges():
    rng = np.random.default_rng(0)
    ranges = ENV["randomization"]
    for _ in range(300):
        dynamics = sample_dynamics(rng, ranges)
        for key in DYNAMICS_KEYS:
            for value in np.atleast_1d(getattr(dynamics, key)):
                assert inside(value, ranges[key], key), (key, value)
        force, interval = sample_push(rng, ranges)
        assert inside(np.linalg.norm(force), ranges["push_force"], "push_force") and force[2] == 0.0
        assert inside(interval, ranges["push_interval"], "push_interval")
    delays = {sample_dynamics(rng, ranges).action_delay for _ in range(200)}
    assert delays == {0, 1, 2}


def test_push_floor_raises_the_low_end_and_a_zero_floor_changes_nothing():
    ranges = ENV["randomization"]
    low, high = ranges["push_force"]
    plain, floored = np.random.default_rng(1), np.random.default_rng(1)
    for _ in range(50):  # the floor must not change how many numbers a push draws
        np.testing.assert_array_equal(sample_push(plain, ranges)[0], sample_push(floored, ranges, 0.0)[0])
    rng = np.random.default_rng(2)
    magnitudes = [np.linalg.norm(sample_push(rng, ranges, floor=60.0)[0]) for _ in range(300)]
    assert 60.0 <= min(magnitudes) and max(magnitudes) <= high
    assert max(magnitudes) - min(magnitudes) > 0.8 * (high - 60.0)  # the whole [floor, high] is used
    too_high = [np.linalg.norm(sample_push(rng, ranges, floor=high + 50.0)[0]) for _ in range(5)]
    np.testing.assert_allclose(too_high, high)


def test_held_out_draws_fall_outside_training_ranges():
    rng = np.random.default_rng(1)
    training, held_out = ENV["randomization"], ENV["held_out"]
    for _ in range(300):
        dynamics = sample_dynamics(rng, held_out)
        for key in DYNAMICS_KEYS:
            for value in np.atleast_1d(getattr(dynamics, key)):
                assert inside(value, held_out[key], key)
                assert not inside(value, training[key], key), (key, value)


def test_shipped_held_out_set_is_disjoint_and_overlap_is_rejected():
    assert overlap_pairs(ENV) == []
    check_config(ENV)
    overlapping = copy.deepcopy(ENV)
    overlapping["held_out"]["friction"] = [[0.1, 0.4]]
    with pytest.raises(ConfigError, match="friction"):
        check_config(overlapping)
    overlapping = copy.deepcopy(ENV)
    overlapping["held_out"]["action_delay"] = [1, 1]
    with pytest.raises(ConfigError, match="action_delay"):
        check_config(overlapping)
    overlapping = copy.deepcopy(ENV)
    overlapping["held_out"]["terrain"]["step_height"] = [0.1, 0.2]
    with pytest.raises(ConfigError, match="step_height"):
        check_config(overlapping)


def test_terrain_level_sets_difficulty_and_held_out_terrain_is_harder():
    rng = np.random.default_rng(2)
    terrain = dict(ENV["terrain"], types=["slope_up"], weights=[1.0])
    easy = sample_terrain(rng, terrain, 0)
    hard = sample_terrain(rng, terrain, terrain["levels"] - 1)
    assert easy.slope_degrees == terrain["slope_degrees"][0]
    assert hard.slope_degrees == terrain["slope_degrees"][1]
    held = ENV["held_out"]["terrain"]
    for _ in range(50):
        params = sample_terrain(rng, terrain, 0, held)
        assert held["slope_degrees"][0] <= params.slope_degrees <= held["slope_degrees"][1]
        assert params.step_height > terrain["step_height"][1]


# -- terrain heights -------------------------------------------------------------------------------


def test_stairs_have_configured_step_height_and_flat_spawn_platform():
    height_map = HeightMap(half_size=5.0, resolution=0.05)
    params = TerrainParams(kind="stairs_up", step_height=0.12, step_width=0.3, ramp_length=2.0)
    heights = height_map.generate(params, np.random.default_rng(0))
    levels = np.unique(np.round(heights / 0.12, 6))
    np.testing.assert_allclose(levels, np.round(levels))  # every height is a whole number of steps
    assert heights.max() == pytest.approx(0.12 * np.floor(2.0 / 0.3))
    assert height_map.height_at(0.0, 0.0) == 0.0
    assert np.all(height_map.height_at(np.linspace(-0.9, 0.9, 7), 0.3) == 0.0)
    down = height_map.generate(TerrainParams(kind="stairs_down", step_height=0.12, ramp_length=2.0), None)
    assert down.min() == pytest.approx(-heights.max())


@pytest.mark.parametrize("kind", ["stairs_up", "stairs_down"])
def test_tread_edges_mark_the_upper_sample_of_every_drop_of_a_staircase(kind):
    height_map = HeightMap(half_size=5.0, resolution=0.1)
    heights = height_map.generate(TerrainParams(kind=kind, step_height=0.1, ramp_length=3.0), None)
    assert set(np.unique(height_map.edges)) == {0.0, 1.0}
    row = heights[heights.shape[0] // 2]  # y = 0, x from -5 to 5 m
    edges = height_map.edges[heights.shape[0] // 2].astype(bool)
    drops = np.abs(np.diff(row)) > 0.05
    upper = np.where(row[1:] > row[:-1], np.arange(1, len(row)), np.arange(len(row) - 1))[drops]
    np.testing.assert_array_equal(np.flatnonzero(edges), np.unique(upper))  # the upper side of every drop
    assert len(np.unique(upper)) >= 26  # one per 0.3 m tread along the 8 m of steps


def test_slopes_flat_ground_and_low_steps_have_no_tread_edges():
    height_map = HeightMap(half_size=5.0, resolution=0.1)
    for params in (
        TerrainParams(kind="slope_up", slope_degrees=22.0),
        TerrainParams(kind="slope_down", slope_degrees=22.0),
        TerrainParams(kind="stairs_up", step_height=0.04),
        TerrainParams(kind="flat"),
    ):
        height_map.generate(params, None)
        assert height_map.edges.sum() == 0, params


def test_slope_gradient_matches_angle():
    height_map = HeightMap(half_size=5.0, resolution=0.05)
    height_map.generate(TerrainParams(kind="slope_up", slope_degrees=20.0, ramp_length=3.0), None)
    x = PLATFORM_HALF_SIZE + np.arange(5, 56) * 0.05  # grid points on the first rising stretch
    along = height_map.height_at(x, np.zeros_like(x))
    gradient = np.polyfit(x, along, 1)[0]
    assert gradient == pytest.approx(np.tan(np.radians(20.0)), rel=1e-6)


def test_rough_terrain_stays_within_amplitude():
    height_map = HeightMap(half_size=5.0, resolution=0.05)
    heights = height_map.generate(TerrainParams(kind="rough", rough_amplitude=0.04), np.random.default_rng(3))
    assert np.abs(heights).max() <= 0.04 and heights.std() > 0.01


def test_kernel_ground_height_matches_the_height_map_lookup():
    from clrl.envs.humanoid.kernels import ground_height

    height_map = HeightMap(3.0, 0.1)
    height_map.generate(TerrainParams("rough", rough_amplitude=0.05), np.random.default_rng(0))
    height_map.flat = False  # the NumPy lookup returns zeros on flat ground without reading the grid
    points = np.random.default_rng(1).uniform(-4.0, 4.0, (500, 2))  # some outside the grid: clamped
    points[:3] = [[-3.0, -3.0], [3.0, 3.0], [-3.04, 2.96]]  # corners and a point on a rounding tie
    expected = height_map.heights_at(points)
    got = [ground_height(height_map.heights, 3.0, height_map.resolution, x, y) for x, y in points]
    np.testing.assert_array_equal(got, expected)


# -- reward terms ----------------------------------------------------------------------------------


def reward_inputs(rng: np.random.Generator):
    from clrl.envs.humanoid.rewards import RewardInputs

    return RewardInputs(
        command=rng.uniform(-1, 1, 3), base_lin_vel=rng.uniform(-1, 1, 3), base_ang_vel=rng.uniform(-1, 1, 3),
        projected_gravity=rng.uniform(-1, 1, 3), base_height=0.7, base_height_target=0.78,
        stance=np.array([True, False]), contact=np.array([True, True]), first_contact=np.array([False, True]),
        air_time=np.array([0.1, 0.4]), air_time_target=0.3, foot_clearance=np.array([0.01, 0.05]),
        foot_on_edge=np.array([1.0, 0.0]), swing_height_target=np.array([0.0, 0.07]),
        foot_speed_xy=np.array([0.2, 0.3]),
        action=rng.uniform(-1, 1, 13), previous_action=rng.uniform(-1, 1, 13),
        torques=rng.uniform(-50, 50, 12), joint_acc=rng.uniform(-100, 100, 12), joint_limit_excess=0.1,
        hip_roll_yaw_offset=0.07, fell=True, tracking_sigma=0.25,
    )  # fmt: skip


def test_reward_evaluate_fills_terms_in_the_order_of_TERMS():
    from clrl.envs.humanoid import rewards

    inputs = reward_inputs(np.random.default_rng(0))
    out = np.zeros(len(rewards.TERMS))
    rewards.evaluate(inputs, out)
    for value, term, name in zip(out, rewards.TERM_FUNCTIONS, rewards.TERMS, strict=True):
        assert value == pytest.approx(term.py_func(inputs), rel=1e-12), name
    assert len(set(out)) > 10  # distinct values, so a swapped pair would show
    scales = np.arange(len(rewards.TERMS), dtype=np.float64) - 3.0  # term 3 has scale 0
    scaled = np.zeros_like(out)
    rewards.compute(inputs, scales, 0.02, scaled)
    np.testing.assert_allclose(scaled, 0.02 * scales * out, rtol=1e-12)
    # hand-checked values of a few terms
    assert out[rewards.TERMS.index("feet_phase_contact")] == 0.5
    assert out[rewards.TERMS.index("feet_air_time")] == pytest.approx(0.1)
    assert out[rewards.TERMS.index("feet_clearance")] == pytest.approx(0.02**2)
    assert out[rewards.TERMS.index("feet_slip")] == pytest.approx(0.2**2 + 0.3**2)
    assert out[rewards.TERMS.index("hip_roll_yaw")] == 0.07
    assert out[rewards.TERMS.index("termination")] == 1.0


def hand_built_inputs(**changes):
    """A state whose every reward term is worked out by hand below (each field differs, so a term
    reading the wrong one shows)."""
    from clrl.envs.humanoid.rewards import RewardInputs

    inputs = RewardInputs(
        command=np.array([0.5, 0.2, 0.3]), base_lin_vel=np.array([0.3, -0.1, 0.2]),
        base_ang_vel=np.array([0.1, -0.2, 0.5]), projected_gravity=np.array([0.3, 0.4, -0.866]),
        base_height=0.7, base_height_target=0.78, stance=np.array([True, False]),
        contact=np.array([True, False]), first_contact=np.array([True, False]),
        air_time=np.array([0.45, 0.0]), air_time_target=0.3, foot_clearance=np.array([0.0, 0.05]),
        foot_on_edge=np.array([1.0, 1.0]), swing_height_target=np.array([0.0, 0.08]),
        foot_speed_xy=np.array([0.2, 0.7]), action=np.array([0.5, -0.5, 1.0]),
        previous_action=np.array([0.1, -0.1, 0.5]), torques=np.array([10.0, -20.0, 5.0]),
        joint_acc=np.array([100.0, -50.0]), joint_limit_excess=0.12, hip_roll_yaw_offset=0.03, fell=False,
        tracking_sigma=0.25,
    )  # fmt: skip
    return inputs._replace(**changes)


HAND_WORKED = {
    "tracking_lin_vel": math.exp(-((0.5 - 0.3) ** 2 + (0.2 + 0.1) ** 2) / 0.25),  # exp(-0.13 / 0.25)
    "tracking_ang_vel": math.exp(-((0.3 - 0.5) ** 2) / 0.25),  # exp(-0.04 / 0.25)
    "lin_vel_z": 0.2**2,
    "ang_vel_xy": 0.1**2 + 0.2**2,
    "orientation": 0.3**2 + 0.4**2,
    "base_height": (0.7 - 0.78) ** 2,
    "feet_phase_contact": 1.0,  # left in stance and down, right in swing and up
    "feet_air_time": 0.45 - 0.3,  # the left foot's touchdown
    "feet_clearance": (0.05 - 0.08) ** 2,  # only the swinging right foot
    "feet_slip": 0.2**2,  # only the left foot is on the ground
    "action_rate": 0.4**2 + 0.4**2 + 0.5**2,
    "torques": 10.0**2 + 20.0**2 + 5.0**2,
    "joint_acc": 100.0**2 + 50.0**2,
    "joint_limits": 0.12,
    "hip_roll_yaw": 0.03,
    "alive": 1.0,
    "termination": 0.0,
    "overspeed": 0.0,  # 0.32 m/s against a 0.54 m/s command
    "feet_edge": 1.0,  # both feet over an edge sample, only the left one down
}


@pytest.mark.parametrize("name", list(HAND_WORKED))
def test_every_reward_term_has_its_hand_worked_value(name):
    from clrl.envs.humanoid import rewards

    assert set(HAND_WORKED) == set(rewards.TERMS)
    inputs = hand_built_inputs()
    out = np.zeros(len(rewards.TERMS))
    rewards.evaluate(inputs, out)  # the compiled path the env's kernels take
    assert out[rewards.TERMS.index(name)] == pytest.approx(HAND_WORKED[name], rel=1e-12, abs=1e-15)
    assert getattr(rewards, name)(inputs) == pytest.approx(HAND_WORKED[name], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", list(HAND_WORKED))
def test_every_reward_terms_python_function_has_its_hand_worked_value(name):
    """The module promises each term can be called from Python too, as ``term.py_func(inputs)``."""
    from clrl.envs.humanoid import rewards

    value = getattr(rewards, name).py_func(hand_built_inputs())
    assert value == pytest.approx(HAND_WORKED[name], rel=1e-12, abs=1e-15)


def test_reward_terms_respond_to_what_they_are_named_for():
    from clrl.envs.humanoid import rewards

    sideways = hand_built_inputs(command=np.array([0.0, 0.4, 0.0]), base_lin_vel=np.array([0.0, 0.0, 5.0]))
    assert rewards.tracking_lin_vel(sideways) == pytest.approx(math.exp(-0.16 / 0.25))  # vertical: ignored
    standing = hand_built_inputs(command=np.array([0.03, 0.0, -0.03]))
    assert rewards.feet_air_time(standing) == 0.0  # no air-time reward for stepping in place
    short = hand_built_inputs(air_time=np.array([0.1, 0.0]))
    assert rewards.feet_air_time(short) == pytest.approx(0.1 - 0.3)  # a short step costs
    assert rewards.termination(hand_built_inputs(fell=True)) == 1.0
    mismatched = hand_built_inputs(contact=np.array([False, False]))  # left foot up in its stance
    assert rewards.feet_phase_contact(mismatched) == 0.5
    assert rewards.feet_slip(mismatched) == 0.0
    running = hand_built_inputs(command=np.array([0.3, 0.4, 0.0]), base_lin_vel=np.array([0.0, -1.2, 0.9]))
    assert rewards.overspeed(running) == pytest.approx((1.2 - 0.5) ** 2)  # speeds, not directions; z ignored
