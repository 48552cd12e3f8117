"""Gymnasium environment: a MuJoCo humanoid learning to walk on randomised terrain and dynamics."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from clrl.config import AT_LEAST_ONE, POSITIVE, Bound, check_bounds
from clrl.configs import default_section
from clrl.errors import ConfigError

from . import clock, kernels, rewards
from .randomize import (
    NominalModel,
    check_config,
    intervals,
    measured_dynamics,
    randomize,
    sample,
    sample_command,
    sample_push,
    sample_terrain,
)
from .robots import (
    FLOOR,
    FOOT_SPHERE_RADIUS,
    HFIELD,
    PLANE,
    actuated_dofs,
    build_model,
    leg_actuator_ids,
    robot_spec,
)
from .terrain import TERRAIN_TYPES, HeightMap

#: The range of every numeric ``env:`` key the env turns into rates, counts and sizes.
BOUNDS = {
    "control_hz": POSITIVE,
    "physics_substeps": AT_LEAST_ONE,
    "episode_seconds": POSITIVE,
    "history": AT_LEAST_ONE,
    "action_scale": POSITIVE,
    "action_clip": POSITIVE,
    "gait_frequency": POSITIVE,
    "swing_height": POSITIVE,
    "command.resample_seconds": POSITIVE,
    "command.min_lin_vel": Bound(0),
    "terrain.levels": AT_LEAST_ONE,
    "terrain.half_size": POSITIVE,
    "terrain.resolution": POSITIVE,
    "scan.points_x": AT_LEAST_ONE,
    "scan.points_y": AT_LEAST_ONE,
    "noise.scan": Bound(0),
}


def check_env_config(cfg: Mapping[str, Any]) -> None:
    """Refuse an ``env:`` section no env can run with (:class:`ConfigError`). Every env checks its
    own; the trainer checks first, because an error inside a worker process reaches the user only
    as a broken pipe."""
    check_bounds(cfg, BOUNDS, prefix="env.")
    if cfg["clock"] not in ("fixed", "adaptive"):
        raise ConfigError(f"env.clock must be 'fixed' or 'adaptive', got {cfg['clock']!r}")
    command = cfg["command"]
    if command["mode"] not in COMMAND_MODES:
        raise ConfigError(
            f"env.command.mode must be one of {', '.join(COMMAND_MODES)}, got {command['mode']!r}"
        )
    for key in COMMAND_RANGES:
        intervals(command[key], f"env.command.{key}")
    check_config(cfg)


TERRAIN_FLOOR = -2.0  # height (m) of the height field's zero level; terrain spans [-2, 2] m
TERRAIN_RANGE = 4.0
CONTACT_FORCE_THRESHOLD = 1.0  # N of normal force that counts as a foot on the ground
KNEE_CONTACT_HEIGHT = 0.08  # m: a knee or torso this close to the terrain has hit the ground
OFF_TERRAIN_MARGIN = 1.0  # m from the terrain's edge where an episode is truncated
HIDDEN_GROUP = 5  # geom group the renderer skips: the parked ground (drawing a height field is slow)
OUT_OF_REACH = -100.0  # m: height where the unused ground geom (plane or height field) is parked
COMMAND_MODES = ("heading", "yaw_rate")
COMMAND_RANGES = ("lin_vel_x", "lin_vel_y", "yaw_rate", "heading")
HEADING_GAIN = 0.5  # 1/s: yaw-rate command per rad of heading error (legged_gym's)
HEADING_MAX_YAW_RATE = 1.0  # rad/s: the heading mode's yaw-rate command is clipped to +-this (legged_gym's)


def wrap_angle(angle: float) -> float:
    """``angle`` (rad) wrapped to [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def heading_yaw_rate(target: float, heading: float) -> float:
    """legged_gym's heading command: ``clip(0.5 * wrap(target - heading), -1, 1)`` rad/s."""
    rate = HEADING_GAIN * wrap_angle(target - heading)
    return min(max(rate, -HEADING_MAX_YAW_RATE), HEADING_MAX_YAW_RATE)


def field_slices(fields: Sequence[tuple[str, int]]) -> dict[str, slice]:
    """Where each ``(name, size)`` field sits in the vector that lays them out in this order."""
    slices, start = {}, 0
    for name, size in fields:
        slices[name] = slice(start, start + size)
        start += size
    return slices


class HumanoidEnv(gym.Env):
    """A humanoid (Unitree G1 by default) tracking a velocity command with a PD-controlled gait.

    Control: the policy acts at ``control_hz`` (50 Hz). Each action is turned into joint position
    targets ``nominal + action_scale * action`` for the leg joints, tracked by PD control inside
    MuJoCo at the physics rate (``control_hz * physics_substeps``: 250 Hz) with the robot's own
    torque limits (see :func:`robots.set_pd_gains`); the G1's waist and arms are welded at the
    nominal pose (``lock_upper_body``) or held there by PD. The action takes effect after a
    per-episode delay of 0-2 control steps (``randomization.action_delay``).

    Observation (``spaces.Dict``, all float32):

    - ``policy``: ``(K * P,)``, the last K frames (``env.history``, oldest first) of what the real
      robot senses, with uniform sensor noise. One frame of P values is, in order: IMU angular
      velocity (3, base frame, rad/s), projected gravity (3, base frame), leg joint positions
      relative to nominal (n, rad), leg joint velocities (n, rad/s), previous action (A), velocity
      command (3: vx, vy m/s, yaw rate rad/s), gait clock (4: sin left, sin right, cos left, cos
      right). n = 12 leg joints, A = n (+1 with ``clock: adaptive``): P = 49 (50) for the G1. The
      fields and their sizes, in this order, are :attr:`policy_frame_fields`.
    - ``privileged``: ``(Q,)``, what only the simulator knows, in the order of
      :attr:`privileged_fields` (name, size): base linear and angular velocity (base frame), clean
      projected gravity, base height above the terrain, foot friction, added base mass (kg), base
      centre-of-mass offset (m), motor strength, Kp and Kd scales, action delay (steps), current
      push force (N, world frame), foot contact forces (world frame, divided by the robot's
      weight), gait frequency (Hz), and terrain heights relative to the base on a
      ``scan.points_x x scan.points_y`` grid in the base's yaw frame. Q = 64 with the default scan.
    - ``scan`` (only with ``scan.policy: true``): ``(S,)``, the same terrain heights as the policy
      would measure them (legged_gym's measured heights), with uniform noise of ``noise.scan`` m:
      a perceptive policy may read it; a blind one never sees it.

    Action: ``Box(-c, c, (A,), float32)`` with c = ``action_clip``: leg joint target offsets (left
    leg then right leg, hip to ankle) in units of ``action_scale`` rad, clipped to +-c; with
    ``clock: adaptive`` the last entry sets the gait frequency within ``gait_frequency_range``
    (-1 and 1 are its ends).

    Command (``env.command``), drawn at reset and every ``resample_seconds``: forward and sideways
    velocities (base frame) from ``lin_vel_x`` and ``lin_vel_y``, both set to zero when their planar
    speed is below ``min_lin_vel``, and zero altogether with ``standing_probability``. The yaw part
    depends on ``mode``: ``heading`` (legged_gym's heading command) draws a target heading, the
    episode's start heading plus an offset from ``heading``, and every control step sets the yaw-rate
    command to ``clip(0.5 * wrap(target - heading), -1, 1)`` rad/s (a standing command holds the
    current heading); ``yaw_rate`` draws the yaw rate itself from ``yaw_rate``.

    Reward: ``dt * sum(scale * term)`` over the named terms in :mod:`rewards` with the scales of
    ``env.rewards``; each scaled term is in ``info["reward_terms"]``.

    Termination: a fall (base below the robot's minimum height above the terrain, tilt beyond
    ``max_tilt_degrees``, or a knee/torso touching the ground); ``info["fell"]`` is then True.
    Truncation: ``episode_seconds`` elapsed, or the robot reached the terrain's edge.

    Info at every step: ``reward_terms``, ``tracking_error_lin`` (m/s), ``tracking_error_yaw``
    (rad/s; both against the command the step was taken under), ``heading_error`` (rad: heading
    minus the commanded heading, unwrapped, where the commanded heading is the target heading or,
    in ``yaw_rate`` mode, the start heading plus the integral of the yaw-rate commands),
    ``command_speed`` (m/s: mean planar speed of the commands this episode's steps were taken
    under), ``terrain_level``, ``terrain_type``, ``gait_frequency`` (Hz), ``base_height`` (m),
    ``distance`` (m travelled in the plane since reset), ``energy`` (J of positive and negative
    motor work in this step, for the cost of transport), ``fell``, ``feet_down`` and ``feet_on_edge``
    (how many feet touch the ground, and how many of those stand at a tread's outer edge, the
    reward ``feet_edge``'s count), ``push_floor`` (N) and ``seconds_since_push`` (since the last
    push began; ``inf`` before the first).

    Curriculum: :meth:`set_terrain_level` sets the difficulty of every terrain type, or of one, used
    from the next reset (through a VecEnv: ``vec_env.env_method("set_terrain_level", level, kind,
    indices=[i])``); ``terrain_level`` is the level of the current episode's terrain; :meth:`set_push_floor`
    the lowest force of the following pushes, within the training ``push_force`` range.
    Held-out evaluation: ``HumanoidEnv(held_out=True)`` draws dynamics, pushes and terrain shape
    from ``env.held_out`` (disjoint from the training ranges) and ignores both curriculum hooks.

    Rendering: ``render_mode="rgb_array"`` (320x240, tracking camera). Without a render mode the
    model leaves out the robot's visual meshes: the same physics to the bit, ~15 MB of memory per
    env instead of ~110 MB (G1), and a fifth of the construction time.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self, config: Mapping[str, Any] | None = None, render_mode: str | None = None, held_out: bool = False
    ):
        defaults = config if config is not None else default_section("humanoid", "env")
        self.config = copy.deepcopy(dict(defaults))
        cfg = self.config
        check_env_config(cfg)
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.held_out = held_out
        self.robot = robot_spec(cfg["robot"])
        self.control_dt = 1.0 / cfg["control_hz"]
        self.substeps = int(cfg["physics_substeps"])
        self.max_steps = int(round(cfg["episode_seconds"] / self.control_dt))
        self._resample_steps = self._seconds_to_steps(cfg["command"]["resample_seconds"])
        self.heading_mode = cfg["command"]["mode"] == "heading"
        self.adaptive_clock = cfg["clock"] == "adaptive"
        self.ranges = cfg["held_out"] if held_out else cfg["randomization"]
        self.terrain_config = cfg["terrain"]
        self.reward_scales = {name: float(scale) for name, scale in cfg["rewards"].items()}
        unknown = set(self.reward_scales) - set(rewards.TERMS)
        if unknown:
            raise ConfigError(f"unknown reward terms {sorted(unknown)}; known: {', '.join(rewards.TERMS)}")
        # the kernels fill every term (rewards.TERMS order); info reports the configured ones in config order
        self._term_names = list(self.reward_scales)
        self._term_index = np.array([rewards.TERMS.index(name) for name in self._term_names], dtype=np.int64)
        self._term_scales = np.zeros(len(rewards.TERMS))
        self._term_scales[self._term_index] = list(self.reward_scales.values())
        self._terms = np.zeros(len(rewards.TERMS))

        self.height_map = HeightMap(cfg["terrain"]["half_size"], cfg["terrain"]["resolution"])
        self.model = build_model(
            self.robot,
            self.control_dt / self.substeps,
            self.height_map.half_size,
            self.height_map.points,
            TERRAIN_RANGE,
            lock_upper_body=cfg["lock_upper_body"],
            visual=render_mode is not None,  # without rendering the meshes only take memory
        )
        self.data = mujoco.MjData(self.model)
        # The kernels read these fixed-size MjData arrays every step; MuJoCo's Python bindings build a
        # new NumPy view on each attribute access (~0.5 us), so the views are taken once. They stay
        # valid: an MjData never moves its buffers (the contact and constraint arrays, which live in
        # the arena and change size every step, are read afresh).
        data = self.data
        self._qpos, self._qvel, self._qacc = data.qpos, data.qvel, data.qacc
        self._xpos, self._xmat, self._geom_xpos = data.xpos, data.xmat, data.geom_xpos
        self._actuator_force, self._actuator_velocity = data.actuator_force, data.actuator_velocity
        self._index_model()

        self.n_legs = len(self.robot.leg_joints)
        self.action_dim = self.n_legs + (1 if self.adaptive_clock else 0)
        self.policy_frame_fields = (
            ("ang_vel", 3),
            ("projected_gravity", 3),
            ("joint_pos", self.n_legs),
            ("joint_vel", self.n_legs),
            ("previous_action", self.action_dim),
            ("command", 3),
            ("clock", 4),
        )
        self.frame_size = sum(size for _, size in self.policy_frame_fields)
        self.history = int(cfg["history"])
        scan = cfg["scan"]
        grid_x = (np.arange(scan["points_x"]) - (scan["points_x"] - 1) / 2) * scan["spacing"]
        grid_y = (np.arange(scan["points_y"]) - (scan["points_y"] - 1) / 2) * scan["spacing"]
        self._scan_offsets = np.stack(np.meshgrid(grid_x, grid_y), axis=-1).reshape(-1, 2)
        self.scan_offsets = self._scan_offsets  # (S, 2) m: the terrain_scan points, base yaw frame
        self.privileged_fields = (
            ("base_lin_vel", 3),
            ("base_ang_vel", 3),
            ("projected_gravity", 3),
            ("base_height", 1),
            ("friction", 1),
            ("added_mass", 1),
            ("com_offset", 3),
            ("motor_strength", 1),
            ("kp_scale", 1),
            ("kd_scale", 1),
            ("action_delay", 1),
            ("push_force", 3),
            ("foot_forces", 6),
            ("gait_frequency", 1),
            ("terrain_scan", len(self._scan_offsets)),
        )
        self.privileged_size = sum(size for _, size in self.privileged_fields)
        self.policy_scan = bool(scan["policy"])
        self._scan_slice = self.privileged_slice("terrain_scan")
        groups = {
            "policy": spaces.Box(-np.inf, np.inf, (self.history * self.frame_size,), np.float32),
            "privileged": spaces.Box(-np.inf, np.inf, (self.privileged_size,), np.float32),
        }
        if self.policy_scan:
            groups["scan"] = spaces.Box(-np.inf, np.inf, (len(self._scan_offsets),), np.float32)
        self.observation_space = spaces.Dict(groups)
        self.action_clip = float(cfg["action_clip"])
        self.action_space = spaces.Box(-self.action_clip, self.action_clip, (self.action_dim,), np.float32)

        noise = cfg["noise"]
        n = self.n_legs
        self._noise_levels = noise["scale"] * np.concatenate(
            [
                np.full(3, noise["gyro"]),
                np.full(3, noise["gravity"]),
                np.full(n, noise["joint_pos"]),
                np.full(n, noise["joint_vel"]),
                np.zeros(self.action_dim + 3 + 4),
            ]
        )
        self._scan_noise = noise["scale"] * noise["scan"]
        self._measured_scan = np.zeros(len(self._scan_offsets))
        self._frames = np.zeros((self.history, self.frame_size))
        self._privileged = np.zeros(self.privileged_size)
        self._layout = kernels.Layout(
            int(self.root_body),
            self.leg_qpos.astype(np.int64),
            np.array(
                [self.robot.leg_joints.index(name) for name in self.robot.hip_roll_yaw_joints], np.int64
            ),
            self.leg_dofs.astype(np.int64),
            self.leg_actuators.astype(np.int64),
            self.foot_geoms.astype(np.int64),
            self.sole_geoms.astype(np.int64),
            self.knee_bodies.astype(np.int64),
            self.geom_foot.astype(np.int64),
            np.ascontiguousarray(self._scan_offsets, dtype=np.float64),
        )
        self._measured = kernels.Measurements.allocate(len(self.knee_bodies), len(self._scan_offsets))
        self._foot_forces = self._measured.foot_forces  # (2, 3) N, world frame: the latest contact forces
        self._gait = kernels.GaitState(np.zeros(2), np.ones(2, dtype=bool), np.zeros((2, 2)))
        swing_height = self.robot.swing_height if cfg["swing_height"] is None else cfg["swing_height"]
        self._params = kernels.StepParams(
            dt=self.control_dt,
            tracking_sigma=float(cfg["tracking_sigma"]),
            air_time_target=float(cfg["air_time_target"]),
            base_height_target=float(self.robot.base_height_target),
            swing_height=float(swing_height),
            min_base_height=float(self.robot.min_base_height),
            max_tilt_gravity_z=float(-np.cos(np.radians(cfg["max_tilt_degrees"]))),
            knee_contact_height=KNEE_CONTACT_HEIGHT,
            contact_threshold=CONTACT_FORCE_THRESHOLD,
        )
        self._pyramidal = self.model.opt.cone == mujoco.mjtCone.mjCONE_PYRAMIDAL
        self._action_scale = float(cfg["action_scale"])
        self._gait_frequency_range = tuple(float(f) for f in cfg["gait_frequency_range"])
        self.terrain_levels: dict[str, int] = {}  # of each terrain type, for the following resets
        self.set_terrain_level(int(self.terrain_config["initial_level"]))
        self.terrain_level = self.terrain_levels[TERRAIN_TYPES[0]]  # this episode's (all types start equal)
        self.push_floor = 0.0
        self._renderer: mujoco.Renderer | None = None
        self._hfield_stale = True
        self._has_reset = False

    # -- setup -------------------------------------------------------------------------------------

    def _index_model(self) -> None:
        model, spec = self.model, self.robot
        self.nominal = NominalModel.capture(model, spec)
        self.root_body = self.nominal.root_body
        self.leg_actuators = leg_actuator_ids(model, spec)
        leg_joints = model.actuator_trnid[self.leg_actuators, 0]
        self.leg_qpos = model.jnt_qposadr[leg_joints]
        self.leg_dofs = model.jnt_dofadr[leg_joints]
        key = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_KEY, spec.keyframe)
        self.nominal_qpos = model.key_qpos[key].copy()
        self.nominal_ctrl = model.key_ctrl[key].copy()
        self.nominal_leg = self.nominal_qpos[self.leg_qpos].copy()
        low, high = model.jnt_range[leg_joints].T
        middle, half = (low + high) / 2, (high - low) / 2 * self.config["soft_joint_limit"]
        self.soft_low, self.soft_high = middle - half, middle + half
        self.foot_geoms = np.array(
            [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, g) for g in spec.foot_geoms]
        )
        self.sole_geoms = np.array(
            [
                [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, f"{g}_sole{k}") for k in range(4)]
                for g in spec.foot_geoms
            ]
        )
        self.geom_foot = np.full(model.ngeom, -1)  # which foot (0 left, 1 right) a sole sphere belongs to
        self.geom_foot[self.sole_geoms[0]] = 0
        self.geom_foot[self.sole_geoms[1]] = 1
        self.knee_bodies = np.array(
            [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, b) for b in spec.knee_bodies]
        )
        self.floor_geom = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, FLOOR)
        self.plane_geom = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, PLANE)
        self.floor_mocap = model.body_mocapid[model.geom_bodyid[self.floor_geom]]
        self.plane_mocap = model.body_mocapid[model.geom_bodyid[self.plane_geom]]
        self.hfield_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_HFIELD, HFIELD)
        self.robot_weight = float(model.body_subtreemass[self.root_body]) * 9.81

    def set_terrain_level(self, level: int, kind: str | None = None) -> None:
        """Curriculum hook: the difficulty level (0 .. levels-1) of terrain type ``kind`` (``None``:
        of every type) for the following resets."""
        if kind is not None and kind not in TERRAIN_TYPES:
            raise ConfigError(f"unknown terrain type {kind!r}; choose from {', '.join(TERRAIN_TYPES)}")
        top = int(self.terrain_config["levels"]) - 1
        level = int(min(max(int(level), 0), top))
        for each in TERRAIN_TYPES if kind is None else (kind,):
            self.terrain_levels[each] = level

    def set_push_floor(self, newtons: float) -> None:
        """Curriculum hook: the lowest force (N) of the following training pushes (held-out: ignored)."""
        self.push_floor = max(float(newtons), 0.0)

    # -- gymnasium API -----------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        model, data = self.model, self.data
        self.terrain = sample_terrain(
            rng,
            self.terrain_config,
            self.terrain_levels,
            self.config["held_out"]["terrain"] if self.held_out else None,
        )
        self.terrain_level = self.terrain_levels[self.terrain.kind]
        heights = self.height_map.generate(self.terrain, rng)
        if np.abs(heights).max() > TERRAIN_RANGE / 2:
            raise ConfigError(
                f"terrain {self.terrain} exceeds the +-{TERRAIN_RANGE / 2:g} m height field range"
            )
        model.hfield_data[:] = np.clip((heights - TERRAIN_FLOOR) / TERRAIN_RANGE, 0.0, 1.0).ravel()
        self._hfield_stale = True
        self.dynamics = randomize(model, self.robot, self.nominal, self.ranges, rng)
        motor_dofs = actuated_dofs(model)
        self._motor_kd = model.dof_damping[motor_dofs] - self.nominal.passive_damping[motor_dofs]

        mujoco.mj_resetData(model, data)
        flat = self.terrain.kind == "flat"
        data.mocap_pos[self.floor_mocap, 2] = OUT_OF_REACH if flat else TERRAIN_FLOOR
        data.mocap_pos[self.plane_mocap, 2] = 0.0 if flat else OUT_OF_REACH
        model.geom_group[[self.floor_geom, self.plane_geom]] = (
            (HIDDEN_GROUP, 0) if flat else (0, HIDDEN_GROUP)
        )
        data.qpos[:] = self.nominal_qpos
        yaw = rng.uniform(-np.pi, np.pi)
        data.qpos[3:7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        data.ctrl[:] = self.nominal_ctrl
        mujoco.mj_forward(model, data)

        self.steps = 0
        self.phase = 0.0
        self.gait_frequency = float(self.config["gait_frequency"])
        # heading bookkeeping (rad): unwrapped heading, and the heading the commands ask for
        self.heading = self._start_heading = self._heading_reference = float(yaw)
        self._last_yaw = float(yaw)
        self._commanded_distance = 0.0
        self._sample_command(rng)
        self.push_force = np.zeros(3)
        self._push_steps_left = 0
        self._last_push_step: int | None = None
        self._next_push_step = self._seconds_to_steps(
            sample(rng, self.ranges["push_interval"], "push_interval")
        )
        delay = self.dynamics.action_delay
        self._pending = np.zeros((delay + 1, self.n_legs))
        self.previous_action = np.zeros(self.action_dim)
        self._gait.air_time[:] = 0.0
        self._gait.last_contact[:] = True
        self._gait.foot_xy[:] = data.geom_xpos[self.foot_geoms, :2]
        self._start_xy = data.qpos[:2].tolist()
        self._has_reset = True

        measured = measured_dynamics(model, self.robot, self.nominal)
        self._episode_privileged = np.concatenate(
            [
                [measured["friction"], measured["added_mass"]],
                measured["com_offset"],
                [measured["motor_strength"], measured["kp_scale"], measured["kd_scale"], delay],
            ]
        )
        base_height = self._sense()
        self._observe(rng, base_height)
        self._frames[:-1] = self._frames[-1]  # the history starts filled with the first frame
        return self._observation(), self._info(0.0, {}, False, base_height)

    def step(self, action):
        if not self._has_reset:
            raise gym.error.ResetNeeded("call reset() before step()")
        model, data, rng = self.model, self.data, self.np_random
        # minimum(maximum()) is np.clip without its Python-level dispatch (a few microseconds per step)
        action = np.asarray(action, dtype=np.float64).reshape(self.action_dim)
        action = np.minimum(np.maximum(action, -self.action_clip), self.action_clip)
        if self.adaptive_clock:
            self.gait_frequency = clock.frequency_from_action(float(action[-1]), *self._gait_frequency_range)
        # the oldest pending action acts now: a delay of d steps means a queue of d + 1
        self._pending[:-1] = self._pending[1:]
        self._pending[-1] = action[: self.n_legs]
        data.ctrl[self.leg_actuators] = self.nominal_leg + self._action_scale * self._pending[0]
        self._update_push(rng)

        power = 0.0
        for _ in range(self.substeps):
            mujoco.mj_step(model, data)
            power += kernels.motor_power(self._actuator_force, self._actuator_velocity, self._motor_kd)
        energy = power * model.opt.timestep
        self.steps += 1

        base_height = self._sense()
        measured = self._measured
        fell = kernels.step_rewards(
            measured, base_height, self._gait, self._qpos, self._qacc, self._actuator_force,
            self._actuator_velocity, self._motor_kd, self._layout, self.nominal_leg, self.soft_low,
            self.soft_high, self.command, self.phase, action, self.previous_action, self._params,
            self._term_scales, self._terms,
        )  # fmt: skip
        values = self._terms[self._term_index].tolist()
        reward, terms = sum(values), dict(zip(self._term_names, values, strict=True))

        step_command = self._command_list  # the command this step was taken under
        self._commanded_distance += math.hypot(step_command[0], step_command[1]) * self.control_dt
        yaw = self._yaw()
        self.heading += wrap_angle(yaw - self._last_yaw)
        self._last_yaw = yaw
        if not self.heading_mode:
            self._heading_reference += step_command[2] * self.control_dt
        self.phase = clock.advance(self.phase, self.gait_frequency, self.control_dt)
        self.previous_action = action
        if self.steps % self._resample_steps == 0:
            self._sample_command(rng)
        elif self.heading_mode:
            self._steer()
        x, y = measured.position[:2].tolist()
        off_terrain = max(abs(x), abs(y)) > self.height_map.half_size - OFF_TERRAIN_MARGIN
        truncated = bool(self.steps >= self.max_steps or off_terrain) and not fell

        self._observe(rng, base_height)
        info = self._info(energy, terms, fell, base_height, step_command)
        return self._observation(), reward, fell, truncated, info

    def set_state(
        self, qpos: np.ndarray, qvel: np.ndarray, phase: float | None = None
    ) -> dict[str, np.ndarray]:
        """Put the robot in MuJoCo state ``(qpos, qvel)`` (and the gait clock at global ``phase``) and
        return its observation, the history filled with it as after a reset (with sensor noise).

        For tests and tools that build a state by hand (the mirror-symmetry tests); the episode's
        dynamics, terrain, command, previous action and step count stay as they were. A turn of the
        base counts as turning (``heading_error``), and the heading mode's yaw-rate command follows it.
        """
        if not self._has_reset:
            raise gym.error.ResetNeeded("call reset() before set_state()")
        self.data.qpos[:] = qpos
        self.data.qvel[:] = qvel
        mujoco.mj_forward(self.model, self.data)
        if phase is not None:
            self.phase = float(phase)
        yaw = self._yaw()
        self.heading += wrap_angle(yaw - self._last_yaw)
        self._last_yaw = yaw
        if self.heading_mode:
            self._steer()
        self._gait.foot_xy[:] = self.data.geom_xpos[self.foot_geoms, :2]
        base_height = self._sense()
        self._observe(self.np_random, base_height)
        self._frames[:-1] = self._frames[-1]
        return self._observation()

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, height=240, width=320)
            self._scene_option = mujoco.MjvOption()
            self._scene_option.geomgroup[HIDDEN_GROUP] = False
            self._hfield_stale = False  # a new context uploads the current height field
        elif self._hfield_stale:
            # MuJoCo keeps the height field on the GPU; the Renderer exposes no public re-upload
            self._renderer._gl_context.make_current()
            mujoco.mjr_uploadHField(self.model, self._renderer._mjr_context, self.hfield_id)
            self._hfield_stale = False
        self._renderer.update_scene(self.data, camera="track", scene_option=self._scene_option)
        # shadows and reflections triple the cost of software (EGL/OSMesa) rendering
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        return self._renderer.render()

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # -- internals ---------------------------------------------------------------------------------

    def _seconds_to_steps(self, seconds: float) -> int:
        return max(1, int(round(seconds / self.control_dt)))

    def _sample_command(self, rng: np.random.Generator) -> None:
        """Draw a new command (see the class docstring); in heading mode also its target heading."""
        drawn = sample_command(rng, self.config["command"], "heading" if self.heading_mode else "yaw_rate")
        if drawn is None:
            self.command = np.zeros(3)
            if self.heading_mode:
                self._heading_reference = self.heading  # hold the current heading
        else:
            self.command = drawn
            if self.heading_mode:
                # the new target, reached from the previous one the short way round (an unchanged
                # target stays put however far the robot has turned away from it)
                target = self._start_heading + float(self.command[2])
                self._heading_reference += wrap_angle(target - self._heading_reference)
        if self.heading_mode:
            self._steer()
        else:
            self._command_list = self.command.tolist()

    def _steer(self) -> None:
        """Heading mode: the yaw-rate command that turns the robot towards its target heading."""
        self.command[2] = heading_yaw_rate(self._heading_reference, self.heading)
        self._command_list = self.command.tolist()

    def _yaw(self) -> float:
        """The base's heading (rad, in [-pi, pi]): the yaw of its x axis in the world's plane."""
        rot = self._xmat[self.root_body]
        return math.atan2(rot[3], rot[0])

    def _update_push(self, rng: np.random.Generator) -> None:
        if self.steps >= self._next_push_step:
            floor = 0.0 if self.held_out else self.push_floor
            self.push_force, interval = sample_push(rng, self.ranges, floor)
            self._last_push_step = self.steps
            self._push_steps_left = self._seconds_to_steps(self.config["randomization"]["push_seconds"])
            self._next_push_step = self.steps + self._seconds_to_steps(interval)
        if self._push_steps_left > 0:
            self._push_steps_left -= 1
        else:
            self.push_force = np.zeros(3)
        self.data.xfrc_applied[self.root_body, :3] = self.push_force

    def _sense(self) -> float:
        """Measure the base, ground heights and foot contact forces into ``_measured``; base height (m)."""
        data, measured = self.data, self._measured
        base_height = kernels.sense(
            self._qpos, self._qvel, self._xpos, self._xmat, self._geom_xpos, self._layout,
            self.height_map.heights, self.height_map.edges, self.height_map.half_size,
            self.height_map.resolution, FOOT_SPHERE_RADIUS, measured,
        )  # fmt: skip
        measured.foot_forces[:] = 0.0
        if data.ncon:
            contacts = data.contact
            kernels.add_foot_contact_forces(
                measured.foot_forces, self._layout.geom_foot, contacts.geom2, contacts.frame,
                contacts.efc_address, contacts.dim, contacts.friction, data.efc_force, self._pyramidal,
            )  # fmt: skip
        return base_height

    def _observe(self, rng: np.random.Generator, base_height: float) -> None:
        """Shift a new noisy policy frame into ``_frames``, refill ``_privileged`` and, for a
        perceptive policy, measure the scan."""
        noise = rng.uniform(-1.0, 1.0, self.frame_size) * self._noise_levels
        kernels.observe(
            self._frames, self._privileged, self._qpos, self._qvel, self._layout, self.nominal_leg,
            self.previous_action, self.command, self.phase, noise, self._measured,
            base_height, self._episode_privileged, self.push_force, self.robot_weight, self.gait_frequency,
        )  # fmt: skip
        if self.policy_scan:  # drawn only then: a blind policy's episodes stay as they were before
            scan_noise = rng.uniform(-1.0, 1.0, len(self._measured_scan)) * self._scan_noise
            self._measured_scan = self._privileged[self._scan_slice] + scan_noise

    def privileged_slice(self, name: str) -> slice:
        """Where field ``name`` of :attr:`privileged_fields` sits in the privileged vector."""
        slices = field_slices(self.privileged_fields)
        if name not in slices:
            raise KeyError(f"no privileged field {name!r}")
        return slices[name]

    def _observation(self) -> dict[str, np.ndarray]:
        observation = {
            "policy": self._frames.astype(np.float32).ravel(),
            "privileged": self._privileged.astype(np.float32),
        }
        if self.policy_scan:
            observation["scan"] = self._measured_scan.astype(np.float32)
        return observation

    def _info(
        self,
        energy: float,
        terms: dict[str, float],
        fell: bool,
        base_height: float,
        command: list[float] | None = None,
    ) -> dict[str, Any]:
        measured = self._measured
        command = self._command_list if command is None else command
        elapsed = self.steps * self.control_dt
        lin_x, lin_y, _ = measured.lin_vel.tolist()
        x, y, _ = measured.position.tolist()
        return {
            "reward_terms": terms,
            "tracking_error_lin": math.hypot(command[0] - lin_x, command[1] - lin_y),
            "tracking_error_yaw": abs(command[2] - float(measured.ang_vel[2])),
            "heading_error": self.heading - self._heading_reference,
            "command_speed": (
                self._commanded_distance / elapsed if elapsed > 0 else math.hypot(command[0], command[1])
            ),
            "terrain_level": self.terrain_level,
            "terrain_type": self.terrain.kind,
            "gait_frequency": self.gait_frequency,
            "base_height": base_height,
            "distance": math.hypot(x - self._start_xy[0], y - self._start_xy[1]),
            "energy": energy,
            "fell": fell,
            "feet_down": int(self._gait.last_contact.sum()),
            "feet_on_edge": int(self._gait.last_contact @ measured.foot_on_edge),
            "push_floor": self.push_floor,
            "seconds_since_push": (
                math.inf
                if self._last_push_step is None
                else (self.steps - self._last_push_step) * self.control_dt
            ),
        }
