"""HumanoidEnv on the real MuJoCo models: standing under PD, falls, privileged truth, delay, API."""

import copy
import os
import subprocess
import sys

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import clrl.envs  # noqa: F401  (registers clrl/Humanoid-v0)
from clrl.config import ConfigError, load_config
from clrl.envs.humanoid import HumanoidEnv

ENV = load_config("humanoid")["env"]
NOMINAL = {
    "friction": 1.0, "added_mass": 0.0, "com_offset": 0.0, "motor_strength": 1.0, "kp_scale": 1.0,
    "kd_scale": 1.0, "action_delay": 0, "push_force": 0.0,
}  # fmt: skip


def nominal_config(robot: str = "g1", **changes) -> dict:
    """Flat ground, no randomisation, no pushes, no sensor noise, a fixed gait clock."""
    config = copy.deepcopy(ENV)
    config["robot"] = robot
    config["clock"] = "fixed"
    config["terrain"].update(types=["flat"], weights=[1.0])
    for key, value in NOMINAL.items():
        config["randomization"][key] = [value, value]
    config["noise"]["scale"] = 0.0
    config.update(changes)
    return config


@pytest.fixture(scope="module")
def env():
    return HumanoidEnv()


@pytest.fixture(scope="module")
def nominal_g1():
    return HumanoidEnv(nominal_config("g1"))


def test_spaces_shapes_and_dtypes(env):
    n, history = 12, ENV["history"]
    actions = n + 1  # the default clock is adaptive: one more action sets the gait frequency
    frame = 3 + 3 + n + n + actions + 3 + 4
    assert env.action_space.shape == (actions,) and env.action_space.dtype == np.float32
    assert env.observation_space["policy"].shape == (history * frame,)
    assert env.observation_space["privileged"].shape == (sum(size for _, size in env.privileged_fields),)
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    for key in ("policy", "privileged"):
        assert obs[key].dtype == np.float32 and obs[key] in env.observation_space[key]
    assert set(info["reward_terms"]) == set(ENV["rewards"])
    assert reward == pytest.approx(sum(info["reward_terms"].values()))
    for key in ("tracking_error_lin", "tracking_error_yaw", "terrain_level", "gait_frequency", "base_height",
                "distance", "energy", "fell"):  # fmt: skip
        assert key in info
    assert info["energy"] > 0.0


def test_a_perceptive_env_adds_the_noisy_scan_and_a_blind_one_has_none():
    """``scan.policy: true``: observation ``scan`` is the privileged terrain scan plus uniform noise
    of at most ``noise.scan``; the blind env (the default) has no such key (and draws no scan noise:
    its episodes are pinned by tests/envs/test_humanoid_regression.py)."""
    config = copy.deepcopy(ENV)
    config["terrain"].update(types=["stairs_up"], weights=[1.0])
    config["scan"]["policy"] = True
    env = HumanoidEnv(config)
    assert "scan" not in HumanoidEnv().observation_space.spaces
    assert env.observation_space["scan"].shape == (len(env.scan_offsets),)
    observation = env.reset(seed=3)[0]
    bound = config["noise"]["scan"] * config["noise"]["scale"]
    for _ in range(5):
        error = observation["scan"] - observation["privileged"][env.privileged_slice("terrain_scan")]
        assert observation["scan"] in env.observation_space["scan"]
        assert 0 < np.abs(error).max() <= bound + 1e-6
        observation = env.step(np.full(env.action_space.shape, 0.1, np.float32))[0]


def test_adaptive_clock_adds_one_action_that_sets_the_frequency():
    config = nominal_config(clock="adaptive")
    env = HumanoidEnv(config)
    assert env.action_space.shape == (13,)
    assert env.observation_space["policy"].shape == (ENV["history"] * (3 + 3 + 12 + 12 + 13 + 3 + 4),)
    env.reset(seed=0)
    action = np.zeros(13, dtype=np.float32)
    action[-1] = 1.0
    _, _, _, _, info = env.step(action)
    assert info["gait_frequency"] == pytest.approx(config["gait_frequency_range"][1])
    phase = env.phase
    env.step(action)
    assert env.phase == pytest.approx(np.mod(phase + 2 * np.pi * 0.02 * 2.2, 2 * np.pi))


def test_gymnasium_env_checker(env):
    check_env(env, skip_render_check=True)


@pytest.mark.parametrize("robot", ["g1", "g1 arms on PD", "berkeley_humanoid"])
def test_nominal_pose_stands_two_seconds_under_zero_action(robot, nominal_g1):
    if robot == "g1":
        env = nominal_g1
    elif robot == "g1 arms on PD":
        env = HumanoidEnv(nominal_config("g1", lock_upper_body=False))
        assert env.model.nu == 29  # waist and arms are actuated and held at the nominal pose
    else:
        env = HumanoidEnv(nominal_config(robot))
    env.reset(seed=0)
    start_height = env.data.qpos[2]
    zero = np.zeros(env.action_space.shape, dtype=np.float32)
    for _ in range(100):  # 2 s at 50 Hz
        _, _, terminated, truncated, info = env.step(zero)
        assert not terminated and not truncated
    assert info["base_height"] == pytest.approx(start_height, abs=0.03)
    assert info["distance"] < 0.05
    # the feet carry the whole weight (contact forces measured by the env)
    weight_share = env._foot_forces[:, 2].sum() / env.robot_weight
    assert weight_share == pytest.approx(1.0, abs=0.1)


def test_forced_fall_terminates(nominal_g1):
    env = nominal_g1
    env.reset(seed=1)
    env.data.qpos[3:7] = (np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0)  # pitched 90 degrees
    env.data.qpos[2] = 0.3
    mujoco.mj_forward(env.model, env.data)
    _, reward, terminated, truncated, info = env.step(np.zeros(12, dtype=np.float32))
    assert terminated and not truncated and info["fell"]
    assert info["reward_terms"]["termination"] == pytest.approx(ENV["rewards"]["termination"] * 0.02)


def test_privileged_values_are_the_models_parameters(env):
    env.reset(seed=5)
    obs, *_ = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    privileged, model, dynamics = obs["privileged"], env.model, env.dynamics
    root = env.root_body
    assert privileged[env.privileged_slice("friction")][0] == pytest.approx(dynamics.friction, rel=1e-6)
    np.testing.assert_allclose(model.pair_friction[:, :2], dynamics.friction)
    assert np.all(model.pair_geom2 != model.pair_geom1)
    base_mass = privileged[env.privileged_slice("added_mass")][0] + env.nominal.base_mass
    assert base_mass == pytest.approx(model.body_mass[root], rel=1e-6)
    com = privileged[env.privileged_slice("com_offset")] + env.nominal.base_com
    np.testing.assert_allclose(com, model.body_ipos[root], atol=1e-6)
    strength = privileged[env.privileged_slice("motor_strength")][0]
    knee = model.actuator_trnid[env.leg_actuators[3], 0]
    assert model.jnt_actfrcrange[knee, 1] == pytest.approx(
        strength * env.nominal.torque_limits[knee, 1], rel=1e-6
    )
    kp = privileged[env.privileged_slice("kp_scale")][0] * strength * np.array(env.robot.leg_kp)
    np.testing.assert_allclose(model.actuator_gainprm[env.leg_actuators, 0], kp, rtol=1e-6)
    kd = privileged[env.privileged_slice("kd_scale")][0] * strength * np.array(env.robot.leg_kd)
    leg_dofs = model.jnt_dofadr[model.actuator_trnid[env.leg_actuators, 0]]
    motor_damping = model.dof_damping[leg_dofs] - env.nominal.passive_damping[leg_dofs]
    np.testing.assert_allclose(motor_damping, kd, rtol=1e-6)
    assert np.all(env.nominal.passive_damping[leg_dofs] > 0)  # the robot's own joint damping stays
    assert privileged[env.privileged_slice("action_delay")][0] == dynamics.action_delay
    assert privileged[env.privileged_slice("gait_frequency")][0] == pytest.approx(env.gait_frequency)
    # and they differ between episodes
    env.reset(seed=6)
    assert env.dynamics.friction != dynamics.friction


def test_action_takes_effect_after_the_delay():
    env = HumanoidEnv(
        nominal_config(randomization=dict(nominal_config()["randomization"], action_delay=[2, 2]))
    )
    env.reset(seed=0)
    legs = env.leg_actuators
    action = np.full(12, 0.4, dtype=np.float32)
    zero = np.zeros(12, dtype=np.float32)
    env.step(action)
    np.testing.assert_allclose(env.data.ctrl[legs], env.nominal_leg, atol=1e-6)
    env.step(zero)
    np.testing.assert_allclose(env.data.ctrl[legs], env.nominal_leg, atol=1e-6)
    env.step(zero)
    np.testing.assert_allclose(env.data.ctrl[legs], env.nominal_leg + ENV["action_scale"] * 0.4, atol=1e-6)
    env.step(zero)
    np.testing.assert_allclose(env.data.ctrl[legs], env.nominal_leg, atol=1e-6)


@pytest.mark.parametrize("action_clip", [1.0, 2.0])
def test_leg_actions_are_clipped_to_action_clip(action_clip):
    env = HumanoidEnv(nominal_config(action_clip=action_clip))
    assert (env.action_space.low.min(), env.action_space.high.max()) == (-action_clip, action_clip)
    env.reset(seed=0)
    legs = env.leg_actuators
    action = np.tile(np.array([1.5, -3.0, 0.5], dtype=np.float32), 4)
    env.step(action)
    clipped = np.clip(action, -action_clip, action_clip)
    expected = env.nominal_leg + ENV["action_scale"] * clipped
    np.testing.assert_allclose(env.data.ctrl[legs], expected, atol=1e-6)


def test_swing_height_sets_the_clearance_the_reward_asks_for_and_null_is_the_robots():
    def clearance_costs(swing_height):
        env = HumanoidEnv(nominal_config(swing_height=swing_height))
        env.reset(seed=0)
        zero = np.zeros(env.action_space.shape, dtype=np.float32)
        return np.array([env.step(zero)[4]["reward_terms"]["feet_clearance"] for _ in range(30)])

    robots_own, explicit, twice = (clearance_costs(height) for height in (None, 0.08, 0.16))
    np.testing.assert_array_equal(robots_own, explicit)  # null: the G1's own 0.08 m
    # Standing still, the foot the clock swings stays down and misses the arch by the arch itself:
    # twice the arch costs four times as much.
    assert robots_own.sum() < 0
    np.testing.assert_allclose(twice.sum() / robots_own.sum(), 4.0, rtol=0.05)


@pytest.mark.parametrize("robot", ["g1", "berkeley_humanoid"])
def test_hip_roll_yaw_costs_the_squared_hip_roll_and_yaw_offsets(robot):
    config = nominal_config(robot)
    config["rewards"]["hip_roll_yaw"] = -1.0
    env = HumanoidEnv(config)
    env.reset(seed=0)
    names = env.robot.leg_joints
    twist = np.array([name in env.robot.hip_roll_yaw_joints for name in names], dtype=np.float32)
    assert twist.sum() == 4
    for _ in range(5):
        _, _, _, _, info = env.step(0.8 * twist)
    offsets = env.data.qpos[env.leg_qpos] - env.nominal_leg
    expected = -1.0 * env.control_dt * float(np.sum(offsets[twist > 0] ** 2))
    assert info["reward_terms"]["hip_roll_yaw"] == pytest.approx(expected, rel=1e-9)
    assert expected < -1e-4  # the hips did turn


def test_feet_edge_costs_each_foot_standing_on_a_tread_edge_sample():
    config = nominal_config()
    config["rewards"]["feet_edge"] = -1.0
    env = HumanoidEnv(config)
    env.reset(seed=0)
    zero = np.zeros(env.action_space.shape, dtype=np.float32)
    assert env.step(zero)[4]["reward_terms"]["feet_edge"] == 0.0  # flat ground has no edges
    left_foot = env.data.geom_xpos[env._layout.foot_geoms[0], :2]
    column, row = np.rint((left_foot + env.height_map.half_size) / env.height_map.resolution).astype(int)
    env.height_map.edges[row, column] = 1.0  # the sample under the left foot only
    for _ in range(3):
        info = env.step(zero)[4]
    assert (info["feet_down"], info["feet_on_edge"]) == (2, 1)  # standing: both feet are down
    assert info["reward_terms"]["feet_edge"] == pytest.approx(-1.0 * env.control_dt)
    env.height_map.edges[:] = 1.0
    assert env.step(zero)[4]["reward_terms"]["feet_edge"] == pytest.approx(-2.0 * env.control_dt)


def test_terrain_level_hook_and_held_out_terrain(nominal_g1):
    config = nominal_config()
    config["terrain"].update(types=["stairs_up"], weights=[1.0])
    env = HumanoidEnv(config)
    env.set_terrain_level(99)
    assert set(env.terrain_levels.values()) == {ENV["terrain"]["levels"] - 1}
    env.set_terrain_level(2, "slope_up")  # one type's level leaves the others alone
    assert env.terrain_levels["slope_up"] == 2 and env.terrain_levels["stairs_up"] == 9
    with pytest.raises(ConfigError, match="unknown terrain type 'ramp'"):
        env.set_terrain_level(1, "ramp")
    _, info = env.reset(seed=0)
    assert info["terrain_level"] == env.terrain_level == 9 and info["terrain_type"] == "stairs_up"
    assert env.terrain.step_height == pytest.approx(ENV["terrain"]["step_height"][1])
    # the height field the physics uses holds the generated stairs
    assert np.ptp(env.model.hfield_data) * 4.0 == pytest.approx(np.ptp(env.height_map.heights), rel=1e-5)
    scan = env.privileged_slice("terrain_scan")
    config["held_out"]["push_interval"] = [0.5, 0.5]  # push soon (held-out pushes are stronger)
    held = HumanoidEnv(config, held_out=True)
    obs, _ = held.reset(seed=0)
    assert held.terrain.step_height >= ENV["held_out"]["terrain"]["step_height"][0]
    assert obs["privileged"][scan].shape == (ENV["scan"]["points_x"] * ENV["scan"]["points_y"],)
    pushed = 0.0
    for _ in range(30):
        obs, _, terminated, truncated, _ = held.step(np.zeros(held.action_space.shape, dtype=np.float32))
        pushed = max(pushed, float(np.linalg.norm(obs["privileged"][held.privileged_slice("push_force")])))
        if terminated or truncated:
            held.reset()
    assert pushed >= ENV["held_out"]["push_force"][0]


def test_registered_and_runs_in_subproc_vec_env():
    from stable_baselines3.common.vec_env import SubprocVecEnv

    assert gym.spec("clrl/Humanoid-v0").entry_point == "clrl.envs.humanoid.env:HumanoidEnv"
    vec = SubprocVecEnv([lambda: gym.make("clrl/Humanoid-v0") for _ in range(2)], start_method="fork")
    try:
        vec.seed(0)
        obs = vec.reset()
        assert obs["policy"].shape == (2, *vec.observation_space["policy"].shape)
        for _ in range(3):
            obs, rewards, dones, infos = vec.step(np.zeros((2, *vec.action_space.shape), dtype=np.float32))
        assert rewards.shape == (2,) and "reward_terms" in infos[0]
        vec.env_method("set_terrain_level", 4, "stairs_up", indices=[1])
        assert [levels["stairs_up"] for levels in vec.get_attr("terrain_levels")] == [0, 4]
    finally:
        vec.close()


def test_rgb_array_render_headless():
    script = (
        "from clrl.envs.humanoid import HumanoidEnv\n"
        "env = HumanoidEnv(render_mode='rgb_array'); env.reset(seed=0)\n"
        "first = env.render(); env.reset(seed=1); second = env.render()\n"
        "assert first.shape == (240, 320, 3) and first.dtype.name == 'uint8', first.shape\n"
        "assert first.std() > 5 and second.std() > 5\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, "MUJOCO_GL": "egl"},
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("robot", ["g1", "berkeley_humanoid"])
def test_an_env_without_render_mode_leaves_out_the_meshes_and_steps_the_same(robot):
    """Unrendered envs (training workers) build the model without visual meshes, for memory and
    build time; the masses, the physics and everything the env returns stay the same to the bit."""
    config = copy.deepcopy(ENV)
    config["robot"] = robot
    plain, drawn = HumanoidEnv(config), HumanoidEnv(config, render_mode="rgb_array")
    assert plain.model.nmesh == 0 < drawn.model.nmesh
    for name in ("body_mass", "body_inertia", "body_ipos", "body_iquat", "dof_armature", "dof_damping"):
        np.testing.assert_array_equal(getattr(plain.model, name), getattr(drawn.model, name), err_msg=name)
    actions = np.random.default_rng(7).uniform(-0.5, 0.5, (80, *plain.action_space.shape)).astype(np.float32)
    got, expected = plain.reset(seed=7), drawn.reset(seed=7)
    for action in actions:
        for key in got[0]:
            np.testing.assert_array_equal(got[0][key], expected[0][key], err_msg=key)
        got, expected = plain.step(action), drawn.step(action)
        assert got[1:4] == expected[1:4]  # reward, terminated, truncated
        assert (
            got[4]["reward_terms"] == expected[4]["reward_terms"]
            and got[4]["energy"] == expected[4]["energy"]
        )
        if got[2] or got[3]:
            got, expected = plain.reset(), drawn.reset()
    np.testing.assert_array_equal(plain.data.qpos, drawn.data.qpos)


def test_pushes_follow_the_configured_interval_force_and_duration():
    config = nominal_config()
    config["randomization"].update(push_interval=[0.5, 0.5], push_force=[60.0, 60.0], push_seconds=0.2)
    env = HumanoidEnv(config)
    env.reset(seed=0)
    push = env.privileged_slice("push_force")
    zero = np.zeros(12, dtype=np.float32)
    forces = []
    for _ in range(40):
        obs, *_ = env.step(zero)
        forces.append(obs["privileged"][push].copy())
        np.testing.assert_allclose(env.data.xfrc_applied[env.root_body, :3], forces[-1], rtol=1e-6)
    magnitudes = np.linalg.norm(forces, axis=1)
    np.testing.assert_allclose(magnitudes[:25], 0.0)  # the first push comes after 0.5 s (25 steps)
    np.testing.assert_allclose(magnitudes[25:35], 60.0, rtol=1e-6)  # and lasts 0.2 s (10 steps)
    np.testing.assert_allclose(magnitudes[35:], 0.0)
    assert np.all(np.array(forces)[:, 2] == 0.0)


def test_push_floor_hook_sets_training_pushes_and_the_held_out_env_ignores_it():
    config = nominal_config()
    config["randomization"].update(push_interval=[0.5, 0.5], push_force=[0.0, 80.0])
    config["held_out"].update(push_interval=[0.5, 0.5])
    zero = np.zeros(12, dtype=np.float32)
    for held_out, (low, high) in ((False, (80.0, 80.0)), (True, config["held_out"]["push_force"])):
        env = HumanoidEnv(config, held_out=held_out)
        env.set_push_floor(150.0)  # above the training range: every training push is its top, 80 N
        push = env.privileged_slice("push_force")
        magnitudes, since_push = [], []
        for seed in range(4):
            _, info = env.reset(seed=seed)
            assert info["seconds_since_push"] == np.inf
            for _ in range(26):  # the first push starts at step 25 (0.5 s)
                obs, _, _, _, info = env.step(zero)
            magnitudes.append(float(np.linalg.norm(obs["privileged"][push])))
            since_push.append(info["seconds_since_push"])
        assert all(low - 1e-3 <= m <= high + 1e-3 for m in magnitudes), (held_out, magnitudes)
        np.testing.assert_allclose(since_push, 0.02)  # one 20 ms control step after the push began
        assert info["push_floor"] == 150.0


def test_random_actions_keep_the_physics_stable(env):
    """Stiff PD at 4 ms must not blow up (MuJoCo flags huge accelerations and resets the state)."""
    rng = np.random.default_rng(0)
    for seed in range(4):
        env.reset(seed=seed)
        env.data.warning.number[:] = 0
        for _ in range(40):
            action = rng.uniform(-0.5, 0.5, env.action_space.shape).astype(np.float32)
            _, _, terminated, truncated, _ = env.step(action)
            assert env.data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number == 0, env.terrain
            if terminated or truncated:
                break


def test_foot_contact_forces_match_mujocos_contact_force(env):
    """The compiled decoding of the constraint forces equals mj_contactForce, contact by contact."""
    env.reset(seed=3)
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(30):
        env.step(rng.uniform(-0.3, 0.3, env.action_space.shape).astype(np.float32))
        expected = np.zeros((2, 3))
        wrench = np.zeros(6)
        for i in range(env.data.ncon):
            contact = env.data.contact[i]
            foot = env.geom_foot[contact.geom2]
            if foot >= 0:
                mujoco.mj_contactForce(env.model, env.data, i, wrench)
                expected[foot] += contact.frame.reshape(3, 3).T @ wrench[:3]
                checked += 1
        np.testing.assert_allclose(env._foot_forces, expected, rtol=1e-9, atol=1e-9)
    assert checked > 20


def test_kernels_compile_once_per_signature(env, nominal_g1):
    """Every terrain, clock and config gives the kernels the same argument types (no recompiles)."""
    from clrl.envs.humanoid import kernels

    config = nominal_config()
    config["terrain"].update(types=["rough", "stairs_up"], weights=[1.0, 1.0])
    rough = HumanoidEnv(config)
    rough.set_terrain_level(9)
    for instance in (env, nominal_g1, rough):
        for seed in range(2):
            instance.reset(seed=seed)
            for _ in range(3):
                instance.step(instance.action_space.sample())
    # the kernels the env calls from Python (kernels called only from compiled code may show none)
    for kernel in (kernels.motor_power, kernels.sense, kernels.add_foot_contact_forces, kernels.step_rewards,
                   kernels.observe):  # fmt: skip
        assert len(kernel.signatures) == 1, (kernel.py_func.__name__, kernel.signatures)
