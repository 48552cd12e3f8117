"""Left-right mirror symmetry of the G1 (``clrl.envs.humanoid.symmetry``): the maps are involutions,
the standing pose is its own mirror image, and a physically mirrored robot observes the mirror image
of what the original observes (exactly for a state, within a tolerance along a short rollout)."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest

from clrl.config import load_config
from clrl.envs.humanoid import HumanoidEnv
from clrl.envs.humanoid.symmetry import (
    SignedPermutation,
    build_mirror,
    joint_signs,
    mirror_name,
    scan_permutation,
)

ENV = load_config("humanoid")["env"]


def mirror_config(terrain: str = "flat", **command) -> dict:
    """No noise, pushes or centre-of-mass offset (the two envs of a pair draw the same dynamics, and
    an offset's y would need the mirror's sign); the yaw-rate command mode with the ranges given."""
    config = copy.deepcopy(ENV)
    config["terrain"].update(types=[terrain], weights=[1.0])
    config["randomization"].update(com_offset=[0.0, 0.0], push_force=[0.0, 0.0])
    config["noise"]["scale"] = 0.0
    config["command"].update(mode="yaw_rate", standing_probability=0.0, **command)
    return config


@functools.cache
def g1(lock_upper_body: bool = True) -> HumanoidEnv:
    return HumanoidEnv({**copy.deepcopy(ENV), "lock_upper_body": lock_upper_body})


@pytest.fixture(scope="module")
def mirror():
    return build_mirror(g1())


def test_side_tokens_swap_in_joint_names():
    assert mirror_name("left_hip_roll_joint") == "right_hip_roll_joint"
    assert mirror_name("right_ankle_pitch_joint") == "left_ankle_pitch_joint"
    assert mirror_name("LL_HAA") == "LR_HAA" and mirror_name("LR_KFE") == "LL_KFE"
    assert mirror_name("waist_yaw_joint") == "waist_yaw_joint"


@pytest.mark.parametrize("lock_upper_body", [True, False])
def test_roll_and_yaw_joints_flip_sign_and_pitch_joints_do_not(lock_upper_body: bool):
    """The signs come from the joints' axes; the names say what they must be."""
    env = g1(lock_upper_body)
    signs = joint_signs(env.model, env.robot.keyframe)
    assert len(signs) == (12 if lock_upper_body else 29)
    for name, (partner, sign) in signs.items():
        assert partner == mirror_name(name)
        flips = "roll" in name or "yaw" in name
        assert sign == (-1.0 if flips else 1.0), name


def test_maps_fit_the_env_and_mirroring_twice_is_the_identity(mirror):
    env = g1()
    assert len(mirror.action) == env.action_space.shape[0] == 13
    assert len(mirror.policy) == env.observation_space["policy"].shape[0]
    assert len(mirror.privileged) == env.observation_space["privileged"].shape[0]
    assert (len(mirror.qpos), len(mirror.qvel)) == (env.model.nq, env.model.nv)
    rng = np.random.default_rng(0)
    for permutation in (mirror.action, mirror.policy, mirror.privileged, mirror.qpos, mirror.qvel):
        assert permutation.is_involution()
        x = rng.normal(size=(7, len(permutation))).astype(np.float32)
        mirrored = permutation(x)
        assert mirrored.dtype == np.float32 and not np.array_equal(mirrored, x)
        np.testing.assert_array_equal(permutation(mirrored), x)
    # the gait frequency action is the same on both sides; the legs swap
    np.testing.assert_array_equal(mirror.action.index, [6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 12])


@pytest.mark.parametrize("lock_upper_body", [True, False])
def test_the_mirrored_standing_pose_is_the_standing_pose(lock_upper_body: bool):
    env = g1(lock_upper_body)
    mirror = build_mirror(env)
    standing = env.nominal_qpos.copy()
    standing[3:7] = (1.0, 0.0, 0.0, 0.0)  # upright, heading along x
    np.testing.assert_array_equal(mirror.qpos(standing), standing)
    # the leg joint targets of a zero action, in action order
    np.testing.assert_array_equal(mirror.action(np.append(env.nominal_leg, 0.3))[:12], env.nominal_leg)


def mirrored_pair(config: dict, mirrored_command: dict, seed: int) -> tuple[HumanoidEnv, HumanoidEnv]:
    """Two envs reset alike (same dynamics and terrain draws), the second with the mirror image of
    the first's command."""
    original = HumanoidEnv(config)
    mirrored_config = copy.deepcopy(config)
    mirrored_config["command"].update(mirrored_command)
    image = HumanoidEnv(mirrored_config)
    original.reset(seed=seed)
    image.reset(seed=seed)
    return original, image


def test_a_mirrored_state_observes_the_mirrored_observation(mirror):
    """Off-centre above stairs (the terrain is symmetric about the spawn point's x axis), turned,
    joints and velocities random, a sideways and turning command, mid-gait: exact to float32
    rounding. The feet are in the air: MuJoCo splits each height-field cell into two triangles
    along one diagonal, which the mirror turns into the other, so contacts on stairs are not exact
    mirror images (foot forces on flat ground are, in the rollout test below)."""
    command = {"lin_vel_x": [0.4, 0.4], "lin_vel_y": [0.2, 0.2], "yaw_rate": [0.3, 0.3]}
    mirrored_command = {"lin_vel_y": [-0.2, -0.2], "yaw_rate": [-0.3, -0.3]}
    config = mirror_config("stairs_up", **command)
    config["scan"]["policy"] = True  # the perceptive policy's scan is mirrored too (no noise here)
    original, image = mirrored_pair(config, mirrored_command, seed=7)
    perceptive = build_mirror(original)
    assert perceptive.scan is not None and perceptive.scan.is_involution()
    for key in ("policy", "privileged"):  # a scan of its own changes no other group's mirror
        np.testing.assert_array_equal(perceptive.groups[key].index, mirror.groups[key].index)
        np.testing.assert_array_equal(perceptive.groups[key].sign, mirror.groups[key].sign)
    mirror = perceptive
    original.set_terrain_level(6)
    image.set_terrain_level(6)
    original.reset(seed=7)
    image.reset(seed=7)
    rng = np.random.default_rng(1)
    for _ in range(3):
        qpos, qvel = original.nominal_qpos.copy(), rng.normal(scale=0.5, size=original.model.nv)
        yaw, tilt = rng.uniform(-np.pi, np.pi), rng.normal(scale=0.1, size=2)
        x, y = rng.uniform(0.5, 3.0), rng.uniform(-3.0, 3.0)
        qpos[:3] = (x, y, float(original.height_map.height_at(x, y)) + 1.3)
        quaternion = np.array([np.cos(yaw / 2), tilt[0], tilt[1], np.sin(yaw / 2)])
        qpos[3:7] = quaternion / np.linalg.norm(quaternion)
        qpos[original.leg_qpos] += rng.uniform(-0.3, 0.3, 12)
        phase = rng.uniform(0, 2 * np.pi)
        observed = original.set_state(qpos, qvel, phase)
        expected = mirror.observation(observed)
        got = image.set_state(mirror.qpos(qpos), mirror.qvel(qvel), np.mod(phase + np.pi, 2 * np.pi))
        assert np.ptp(observed["privileged"][original.privileged_slice("terrain_scan")]) > 0.05
        assert not observed["privileged"][original.privileged_slice("foot_forces")].any()
        assert set(got) == {"policy", "privileged", "scan"}
        np.testing.assert_array_equal(
            observed["scan"], observed["privileged"][original.privileged_slice("terrain_scan")]
        )
        for key in got:
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-5, err_msg=key)


def test_a_mirrored_rollout_stays_the_mirror_image(mirror):
    """From mirrored starts near the standing pose, the mirrored actions keep the two robots mirror
    images of each other for 0.3 s (the model is symmetric to about 1e-5 of an inertia; contact
    events break the tie later). A wrong sign on any leg joint's action breaks it at once."""
    command = {"lin_vel_x": [0.5, 0.5], "lin_vel_y": [0.0, 0.0], "yaw_rate": [0.0, 0.0]}
    original, image = mirrored_pair(mirror_config(**command), {}, seed=2)
    rng = np.random.default_rng(2)
    qpos, qvel = original.nominal_qpos.copy(), rng.normal(scale=0.05, size=original.model.nv)
    qpos[original.leg_qpos] += rng.uniform(-0.02, 0.02, 12)
    actions = rng.uniform(-0.3, 0.3, (15, 13)).astype(np.float32)

    def worst_error(action_mirror: SignedPermutation) -> float:
        for env in (original, image):
            env.reset(seed=2)
        original.set_state(qpos, qvel, phase=0.0)
        image.set_state(mirror.qpos(qpos), mirror.qvel(qvel), phase=np.pi)
        worst = 0.0
        for action in actions:
            observed, *_ = original.step(action)
            got, *_ = image.step(action_mirror(action))
            assert observed["privileged"][original.privileged_slice("foot_forces")].any()  # feet down
            for key, permutation in (("policy", mirror.policy), ("privileged", mirror.privileged)):
                worst = max(worst, float(np.abs(got[key] - permutation(observed[key])).max()))
        return worst

    assert worst_error(mirror.action) < 0.01  # 0.0017 measured
    for joint in range(12):
        sign = mirror.action.sign.copy()
        sign[joint] *= -1
        assert worst_error(SignedPermutation(mirror.action.index, sign)) > 0.5, joint  # 1.1-3.7 measured


def test_scan_grid_points_go_to_their_mirror_images():
    offsets = np.array([[0.0, -0.15], [0.0, 0.0], [0.0, 0.15], [0.3, -0.15], [0.3, 0.0], [0.3, 0.15]])
    np.testing.assert_array_equal(scan_permutation(offsets).index, [2, 1, 0, 5, 4, 3])
    with pytest.raises(ValueError, match="not symmetric"):
        scan_permutation(offsets + [0.0, 0.05])


def test_an_observation_field_without_a_mirror_rule_is_refused():
    env = copy.copy(g1())
    env.privileged_fields = (*env.privileged_fields, ("battery_charge", 1))
    with pytest.raises(ValueError, match="battery_charge"):
        build_mirror(env)
