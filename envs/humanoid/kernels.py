"""Numba kernels for the per-step arithmetic of :class:`~clrl.envs.humanoid.env.HumanoidEnv`.

A control step is five MuJoCo physics steps (~0.25 ms of CPU) followed by a few hundred small
calculations: base state, ground heights under the robot, foot contact forces, 19 reward terms,
the policy frame and the privileged vector. Done with NumPy and Python those cost more than the
physics (each small NumPy call costs about a microsecond whatever its size); here they are a few
compiled calls per step:

- :func:`motor_power` after every physics step (the motors' work, for ``info["energy"]``);
- :func:`sense` and :func:`add_foot_contact_forces` after the physics: base state, ground heights
  and foot contact forces into a :class:`Measurements`;
- :func:`step_rewards`: the fall check (:func:`fell`), foot touchdowns and air time
  (:func:`gait_events`), and every reward term (:func:`~clrl.envs.humanoid.rewards.compute`);
- :func:`observe`: the newest policy frame and the privileged vector.

The kernels read MuJoCo's arrays (``MjData.qpos`` ...) directly and write into buffers the env
allocates once. Model indices come in a :class:`Layout`, measured quantities go out in a
:class:`Measurements`; both are NamedTuples of arrays, which Numba passes without copying.
Each kernel compiles once (``tests/envs/test_humanoid_env.py`` checks it); the results equal the
earlier NumPy implementation to rounding (``tests/envs/test_humanoid_regression.py``).

Numba's on-disk cache (``cache=True``) checks only the file of the cached function: after editing
:mod:`.clock` or :mod:`.rewards`, whose functions these kernels compile in, delete the cache files
(``envs/humanoid/__pycache__/kernels.*.nb*``) or touch this file.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from . import clock, rewards


class Layout(NamedTuple):
    """Model indices the kernels read (fixed for a model)."""

    root_body: int  # the floating base
    leg_qpos: np.ndarray  # (n,) int64, qpos address of each leg joint (action order)
    hip_roll_yaw: np.ndarray  # (h,) int64, indices among the leg joints of the hips' roll and yaw joints
    leg_dofs: np.ndarray  # (n,) int64, dof address of each leg joint
    leg_actuators: np.ndarray  # (n,) int64
    foot_geoms: np.ndarray  # (2,) int64, left and right foot collision boxes
    sole_geoms: np.ndarray  # (2, 4) int64, the sole spheres of each foot
    knee_bodies: np.ndarray  # (k,) int64, bodies whose ground contact is a fall
    geom_foot: np.ndarray  # (ngeom,) int64: 0 left sole sphere, 1 right, -1 anything else
    scan_offsets: np.ndarray  # (S, 2) float64, terrain scan points in the base's yaw frame (m)


class Measurements(NamedTuple):
    """What :func:`sense` measures after a physics step (filled in place; SI units)."""

    position: np.ndarray  # (3,) base position, world frame
    lin_vel: np.ndarray  # (3,) base linear velocity, base frame
    ang_vel: np.ndarray  # (3,) base angular velocity, base frame
    gravity: np.ndarray  # (3,) unit gravity vector seen from the base
    ground: np.ndarray  # (3 + k + S,) terrain height under the base, the 2 feet, k knees, S scan points
    knee_z: np.ndarray  # (k,) height of each knee body (world)
    foot_xy: np.ndarray  # (2, 2) foot positions in the plane (world)
    sole_z: np.ndarray  # (2,) lowest sole point of each foot (world)
    foot_on_edge: np.ndarray  # (2,) 1.0 where the sample under the foot is a tread edge, else 0.0
    foot_forces: np.ndarray  # (2, 3) ground contact force on each foot (world frame, N)

    @classmethod
    def allocate(cls, n_knees: int, n_scan: int) -> Measurements:
        return cls(
            np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3 + n_knees + n_scan),
            np.zeros(n_knees), np.zeros((2, 2)), np.zeros(2), np.zeros(2), np.zeros((2, 3)),
        )  # fmt: skip


class GaitState(NamedTuple):
    """Per-foot bookkeeping between control steps (updated in place by :func:`gait_events`)."""

    air_time: np.ndarray  # (2,) s since the foot last touched the ground
    last_contact: np.ndarray  # (2,) bool, contact at the previous control step
    foot_xy: np.ndarray  # (2, 2) foot positions at the previous control step


class StepParams(NamedTuple):
    """Constants of the reward and fall checks (see ``configs/humanoid.yaml`` and the robot spec)."""

    dt: float  # control step (s)
    tracking_sigma: float
    air_time_target: float  # s
    base_height_target: float  # m
    swing_height: float  # m, foot clearance at mid-swing
    min_base_height: float  # m above the terrain; lower is a fall
    max_tilt_gravity_z: float  # gravity's base-frame z above this is a fall (too much tilt)
    knee_contact_height: float  # m: a knee (or torso) this close to the terrain is a fall
    contact_threshold: float  # N of normal force that counts as a foot on the ground


@njit(cache=True)
def motor_torque(actuator_force: float, velocity: float, motor_kd: float) -> float:
    """A motor's torque (N m): its actuator force (the PD stiffness term) plus its share of the joint
    damping, where this env keeps the PD damping (see ``robots.set_pd_gains``)."""
    return actuator_force - motor_kd * velocity


@njit(cache=True)
def motor_power(actuator_force: np.ndarray, actuator_velocity: np.ndarray, motor_kd: np.ndarray) -> float:
    """Sum over motors of ``|torque * joint velocity|`` (W), with :func:`motor_torque`."""
    power = 0.0
    for i in range(actuator_force.shape[0]):
        velocity = actuator_velocity[i]
        power += abs(motor_torque(actuator_force[i], velocity, motor_kd[i]) * velocity)
    return power


@njit(cache=True)
def ground_height(heights: np.ndarray, half_size: float, resolution: float, x: float, y: float) -> float:
    """Height of the nearest grid sample to ``(x, y)``; points outside the grid clamp to its edge.

    The same rounding as :meth:`~clrl.envs.humanoid.terrain.HeightMap.heights_at`.
    """
    last = heights.shape[0] - 1
    inverse = 1.0 / resolution
    col = (x + half_size) * inverse + 0.5
    row = (y + half_size) * inverse + 0.5
    # `not (v > 0)` also catches NaN; int() truncates like NumPy's astype(intp)
    col_index = 0 if not (col > 0.0) else (last if col >= last else int(col))
    row_index = 0 if not (row > 0.0) else (last if row >= last else int(row))
    return heights[row_index, col_index]


# An explicit signature with any-layout arrays: MuJoCo's per-contact fields are strided views into its
# contact structs, except with exactly one contact, where NumPy calls them contiguous; without the
# signature each case would compile its own copy of the kernel.
@njit(
    "void(float64[:, :], int64[:], int32[:], float64[:, :], int32[:], int32[:], float64[:, :], float64[:],"
    " boolean)",
    cache=True,
)
def add_foot_contact_forces(
    foot_forces: np.ndarray,
    geom_foot: np.ndarray,
    contact_geom2: np.ndarray,
    contact_frame: np.ndarray,
    contact_efc_address: np.ndarray,
    contact_dim: np.ndarray,
    contact_friction: np.ndarray,
    efc_force: np.ndarray,
    pyramidal: bool,
) -> None:
    """Add the world-frame force of each sole-sphere contact to its foot's row of ``foot_forces``.

    The contact-frame force (normal, tangent 1, tangent 2) is decoded from the constraint forces as
    ``mujoco.mj_contactForce`` does: with a pyramidal cone the normal force is the sum of the
    ``2 (dim - 1)`` pyramid edge forces and tangent i is ``(f[2i] - f[2i+1]) * friction[i]``;
    with an elliptic cone the forces are stored directly. A sole sphere is always ``geom2`` of
    its contact (MuJoCo orders a pair by geom type: plane, height field, sphere); the rows of
    ``frame`` are the contact axes in world coordinates and the force acts on ``geom2``. Contacts
    of other geoms (the robot's own hand-thigh and foot-foot pairs) are skipped.
    """
    for i in range(contact_geom2.shape[0]):
        foot = geom_foot[contact_geom2[i]]
        address = contact_efc_address[i]
        if foot < 0 or address < 0:  # not a sole sphere, or an inactive contact (zero force)
            continue
        dim = contact_dim[i]
        tangent1 = tangent2 = 0.0
        if dim == 1:
            normal = efc_force[address]
        elif pyramidal:
            normal = 0.0
            for edge in range(2 * (dim - 1)):
                normal += efc_force[address + edge]
            tangent1 = (efc_force[address] - efc_force[address + 1]) * contact_friction[i, 0]
            tangent2 = (efc_force[address + 2] - efc_force[address + 3]) * contact_friction[i, 1]
        else:
            normal, tangent1, tangent2 = efc_force[address], efc_force[address + 1], efc_force[address + 2]
        for j in range(3):
            frame = contact_frame[i]
            foot_forces[foot, j] += frame[j] * normal + frame[3 + j] * tangent1 + frame[6 + j] * tangent2


@njit(cache=True)
def sense(
    qpos: np.ndarray,
    qvel: np.ndarray,
    xpos: np.ndarray,
    xmat: np.ndarray,
    geom_xpos: np.ndarray,
    layout: Layout,
    heights: np.ndarray,
    edges: np.ndarray,
    half_size: float,
    resolution: float,
    sole_radius: float,
    out: Measurements,
) -> float:
    """Fill ``out`` from MuJoCo's state (contact forces apart: see :func:`add_foot_contact_forces`).

    Returns the base height above the terrain under it (m).
    """
    root = layout.root_body
    # rotation base frame -> world: R[i, j] = xmat[root, 3 i + j]
    rot = xmat[root]
    for j in range(3):
        out.position[j] = qpos[j]
        out.lin_vel[j] = rot[j] * qvel[0] + rot[3 + j] * qvel[1] + rot[6 + j] * qvel[2]  # R^T v
        out.ang_vel[j] = qvel[3 + j]  # a free joint's angular velocity is already in the base frame
        out.gravity[j] = -rot[6 + j]  # R^T (0, 0, -1)
    x, y = qpos[0], qpos[1]
    ground = out.ground
    ground[0] = ground_height(heights, half_size, resolution, x, y)
    for foot in range(2):
        geom = layout.foot_geoms[foot]
        foot_x, foot_y = geom_xpos[geom, 0], geom_xpos[geom, 1]
        out.foot_xy[foot, 0], out.foot_xy[foot, 1] = foot_x, foot_y
        ground[1 + foot] = ground_height(heights, half_size, resolution, foot_x, foot_y)
        out.foot_on_edge[foot] = ground_height(edges, half_size, resolution, foot_x, foot_y)
        lowest = np.inf
        for sphere in layout.sole_geoms[foot]:
            lowest = min(lowest, geom_xpos[sphere, 2])
        out.sole_z[foot] = lowest - sole_radius
    n_knees = layout.knee_bodies.shape[0]
    for k in range(n_knees):
        body = layout.knee_bodies[k]
        out.knee_z[k] = xpos[body, 2]
        ground[3 + k] = ground_height(heights, half_size, resolution, xpos[body, 0], xpos[body, 1])
    yaw = math.atan2(rot[3], rot[0])
    cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
    offsets = layout.scan_offsets
    for s in range(offsets.shape[0]):
        scan_x = x + cos_yaw * offsets[s, 0] - sin_yaw * offsets[s, 1]
        scan_y = y + sin_yaw * offsets[s, 0] + cos_yaw * offsets[s, 1]
        ground[3 + n_knees + s] = ground_height(heights, half_size, resolution, scan_x, scan_y)
    return qpos[2] - ground[0]


@njit(cache=True)
def gait_events(
    foot_forces: np.ndarray, foot_xy: np.ndarray, state: GaitState, contact_threshold: float, dt: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per foot: (contact, first contact, air time before this step's touchdown, planar speed).

    A foot touches the ground when its normal force exceeds ``contact_threshold`` (N). Updates
    ``state`` for the next step: air time restarts at contact, and the feet's positions are kept.
    """
    contact = np.empty(2, dtype=np.bool_)
    first_contact = np.empty(2, dtype=np.bool_)
    air_time = np.empty(2)
    speed = np.empty(2)
    for foot in range(2):
        contact[foot] = abs(foot_forces[foot, 2]) > contact_threshold
        first_contact[foot] = contact[foot] and not state.last_contact[foot]
        state.air_time[foot] += dt
        air_time[foot] = state.air_time[foot]
        if contact[foot]:
            state.air_time[foot] = 0.0
        state.last_contact[foot] = contact[foot]
        dx = foot_xy[foot, 0] - state.foot_xy[foot, 0]
        dy = foot_xy[foot, 1] - state.foot_xy[foot, 1]
        speed[foot] = math.sqrt(dx * dx + dy * dy) / dt
        state.foot_xy[foot, 0] = foot_xy[foot, 0]
        state.foot_xy[foot, 1] = foot_xy[foot, 1]
    return contact, first_contact, air_time, speed


@njit(cache=True)
def observe(
    frames: np.ndarray,
    privileged: np.ndarray,
    qpos: np.ndarray,
    qvel: np.ndarray,
    layout: Layout,
    nominal_leg: np.ndarray,
    previous_action: np.ndarray,
    command: np.ndarray,
    phase: float,
    noise: np.ndarray,
    measured: Measurements,
    base_height: float,
    episode_privileged: np.ndarray,
    push_force: np.ndarray,
    robot_weight: float,
    gait_frequency: float,
) -> None:
    """Shift the newest policy frame (with ``noise`` added) into ``frames``; fill ``privileged``.

    ``phase`` is the gait clock's global phase for the clock features of the frame.

    The layouts of the frame and the privileged vector are documented in
    :class:`~clrl.envs.humanoid.env.HumanoidEnv` (the order below is that order).
    """
    history, size = frames.shape
    for k in range(history - 1):
        frames[k] = frames[k + 1]
    frame = frames[history - 1]
    i = 0
    for value in measured.ang_vel:  # the IMU gyro
        frame[i] = value
        i += 1
    for value in measured.gravity:
        frame[i] = value
        i += 1
    for j in range(layout.leg_qpos.shape[0]):
        frame[i] = qpos[layout.leg_qpos[j]] - nominal_leg[j]
        i += 1
    for dof in layout.leg_dofs:
        frame[i] = qvel[dof]
        i += 1
    for values in (previous_action, command, clock.clock_features(phase)):
        for value in values:
            frame[i] = value
            i += 1
    for i in range(size):
        frame[i] += noise[i]

    i = 0
    for values in (measured.lin_vel, measured.ang_vel, measured.gravity):
        for value in values:
            privileged[i] = value
            i += 1
    privileged[i] = base_height
    i += 1
    for values in (episode_privileged, push_force):
        for value in values:
            privileged[i] = value
            i += 1
    for foot in range(2):
        for j in range(3):
            privileged[i] = measured.foot_forces[foot, j] / robot_weight
            i += 1
    privileged[i] = gait_frequency
    i += 1
    ground, scan_start = measured.ground, 3 + measured.knee_z.shape[0]
    for s in range(scan_start, ground.shape[0]):
        privileged[i] = ground[s] - measured.position[2]
        i += 1


@njit(cache=True)
def fell(measured: Measurements, base_height: float, params: StepParams) -> bool:
    """A fall: base too low or tilted too far, or a knee/torso at the ground."""
    if base_height < params.min_base_height or measured.gravity[2] > params.max_tilt_gravity_z:
        return True
    n_knees = measured.knee_z.shape[0]
    for k in range(n_knees):
        if measured.knee_z[k] - measured.ground[3 + k] < params.knee_contact_height:
            return True
    return False


@njit(cache=True)
def step_rewards(
    measured: Measurements,
    base_height: float,
    state: GaitState,
    qpos: np.ndarray,
    qacc: np.ndarray,
    actuator_force: np.ndarray,
    actuator_velocity: np.ndarray,
    motor_kd: np.ndarray,
    layout: Layout,
    nominal_leg: np.ndarray,
    soft_low: np.ndarray,
    soft_high: np.ndarray,
    command: np.ndarray,
    phase: float,
    action: np.ndarray,
    previous_action: np.ndarray,
    params: StepParams,
    scales: np.ndarray,
    out: np.ndarray,
) -> bool:
    """Write the scaled reward terms to ``out``; returns whether the robot fell (see :func:`fell`).

    ``phase`` and ``command`` are those the step was taken under (before the clock advances and a
    new command is drawn); ``state`` is advanced by :func:`gait_events`.
    """
    fallen = fell(measured, base_height, params)
    contact, first_contact, air_time, foot_speed = gait_events(
        measured.foot_forces, measured.foot_xy, state, params.contact_threshold, params.dt
    )
    legs = layout.leg_actuators
    torques = np.empty(legs.shape[0])
    joint_acc = np.empty(legs.shape[0])
    above = below = 0.0
    for j in range(legs.shape[0]):
        motor = legs[j]
        torques[j] = motor_torque(actuator_force[motor], actuator_velocity[motor], motor_kd[motor])
        joint_acc[j] = qacc[layout.leg_dofs[j]]
        q = qpos[layout.leg_qpos[j]]
        above += max(q - soft_high[j], 0.0)
        below += max(soft_low[j] - q, 0.0)
    hip_offset = 0.0
    for j in layout.hip_roll_yaw:
        hip_offset += (qpos[layout.leg_qpos[j]] - nominal_leg[j]) ** 2
    inputs = rewards.RewardInputs(
        command,
        measured.lin_vel,
        measured.ang_vel,
        measured.gravity,
        base_height,
        params.base_height_target,
        clock.stance_mask(phase),
        contact,
        first_contact,
        air_time,
        params.air_time_target,
        measured.sole_z - measured.ground[1:3],
        measured.foot_on_edge,
        clock.swing_height_target(phase, params.swing_height),
        foot_speed,
        action,
        previous_action,
        torques,
        joint_acc,
        above + below,
        hip_offset,
        fallen,
        params.tracking_sigma,
    )
    rewards.compute(inputs, scales, params.dt, out)
    return fallen
