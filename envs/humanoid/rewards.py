"""Reward terms of the humanoid environment: one short named function each.

Every term returns an unscaled number; ``env.rewards`` in ``configs/humanoid.yaml`` gives each term
its scale (costs get negative scales, MuJoCo Playground style). The step reward is
``dt * sum(scale * term)`` and every scaled term ``dt * scale * term`` is reported separately in
``info["reward_terms"]``. A term with scale 0 is not counted.

The terms are Numba-compiled (they run every control step, and the env assembles their inputs in
compiled code, see :mod:`.kernels`); each is still a plain function of :class:`RewardInputs`, which
can be called from Python too: ``tracking_lin_vel.py_func(inputs)`` or simply
``tracking_lin_vel(inputs)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit


class RewardInputs(NamedTuple):
    """What the reward terms read after one control step (body frame unless noted; SI units)."""

    command: np.ndarray  # (3,) vx, vy (m/s), yaw rate (rad/s)
    base_lin_vel: np.ndarray  # (3,) m/s
    base_ang_vel: np.ndarray  # (3,) rad/s
    projected_gravity: np.ndarray  # (3,) unit vector
    base_height: float  # m above the terrain under the base
    base_height_target: float
    stance: np.ndarray  # (2,) bool, left and right: the clock wants the foot on the ground
    contact: np.ndarray  # (2,) bool: the foot touches the ground
    first_contact: np.ndarray  # (2,) bool: touchdown in this step
    air_time: np.ndarray  # (2,) s in the air before this touchdown
    air_time_target: float
    foot_clearance: np.ndarray  # (2,) m above the terrain
    foot_on_edge: np.ndarray  # (2,) 1.0 where the terrain under the foot is a tread edge, else 0.0
    swing_height_target: np.ndarray  # (2,) m, from the gait clock
    foot_speed_xy: np.ndarray  # (2,) m/s, world frame
    action: np.ndarray  # (A,) this step's action
    previous_action: np.ndarray  # (A,)
    torques: np.ndarray  # (n_legs,) N m
    joint_acc: np.ndarray  # (n_legs,) rad/s^2
    joint_limit_excess: float  # rad beyond the soft joint limits, summed over leg joints
    hip_roll_yaw_offset: float  # rad^2: squared offsets of the hips' roll and yaw joints from nominal, summed
    fell: bool
    tracking_sigma: float


@njit(cache=True)
def tracking_lin_vel(s: RewardInputs) -> float:
    error = (s.command[0] - s.base_lin_vel[0]) ** 2 + (s.command[1] - s.base_lin_vel[1]) ** 2
    return math.exp(-error / s.tracking_sigma)


@njit(cache=True)
def tracking_ang_vel(s: RewardInputs) -> float:
    return math.exp(-((s.command[2] - s.base_ang_vel[2]) ** 2) / s.tracking_sigma)


@njit(cache=True)
def overspeed(s: RewardInputs) -> float:
    """Squared planar speed beyond the commanded planar speed (0 at or below it).

    The tracking kernel flattens out away from the command (at 1.07 m/s against 0.5 it pays 27% of its
    best, at 1.5 m/s 2%), so running faster still costs the policy little there; this keeps growing."""
    commanded = math.sqrt(s.command[0] ** 2 + s.command[1] ** 2)
    speed = math.sqrt(s.base_lin_vel[0] ** 2 + s.base_lin_vel[1] ** 2)
    return max(speed - commanded, 0.0) ** 2


@njit(cache=True)
def lin_vel_z(s: RewardInputs) -> float:
    return s.base_lin_vel[2] ** 2


@njit(cache=True)
def ang_vel_xy(s: RewardInputs) -> float:
    return s.base_ang_vel[0] ** 2 + s.base_ang_vel[1] ** 2


@njit(cache=True)
def orientation(s: RewardInputs) -> float:
    """Tilt: the horizontal part of gravity seen from the base (0 when upright)."""
    return s.projected_gravity[0] ** 2 + s.projected_gravity[1] ** 2


@njit(cache=True)
def base_height(s: RewardInputs) -> float:
    return (s.base_height - s.base_height_target) ** 2


@njit(cache=True)
def feet_phase_contact(s: RewardInputs) -> float:
    """Fraction of feet whose contact matches the clock's stance/swing."""
    # int() first: two NumPy bools add as a logical or in Python (py_func), as integers in Numba
    return (int(s.contact[0] == s.stance[0]) + int(s.contact[1] == s.stance[1])) / 2.0


@njit(cache=True)
def feet_air_time(s: RewardInputs) -> float:
    """At touchdown, air time beyond the target; only while asked to move."""
    if abs(s.command[0]) + abs(s.command[1]) + abs(s.command[2]) < 0.1:
        return 0.0
    total = 0.0
    for foot in range(2):
        if s.first_contact[foot]:
            total += s.air_time[foot] - s.air_time_target
    return total


@njit(cache=True)
def feet_clearance(s: RewardInputs) -> float:
    """Squared miss of the clock's swing-height arch, for feet in swing."""
    total = 0.0
    for foot in range(2):
        if not s.stance[foot]:
            total += (s.foot_clearance[foot] - s.swing_height_target[foot]) ** 2
    return total


@njit(cache=True)
def feet_slip(s: RewardInputs) -> float:
    total = 0.0
    for foot in range(2):
        if s.contact[foot]:
            total += s.foot_speed_xy[foot] ** 2
    return total


@njit(cache=True)
def feet_edge(s: RewardInputs) -> float:
    """Feet on the ground at the outer edge of a tread, half overhanging the drop (Extreme Parkour,
    Cheng et al. 2023), where it can slide off the drop as the weight comes onto it."""
    return float(int(s.contact[0]) * s.foot_on_edge[0] + int(s.contact[1]) * s.foot_on_edge[1])


@njit(cache=True)
def action_rate(s: RewardInputs) -> float:
    change = s.action - s.previous_action
    return float(np.sum(change * change))


@njit(cache=True)
def torques(s: RewardInputs) -> float:
    return float(np.sum(s.torques * s.torques))


@njit(cache=True)
def joint_acc(s: RewardInputs) -> float:
    return float(np.sum(s.joint_acc * s.joint_acc))


@njit(cache=True)
def joint_limits(s: RewardInputs) -> float:
    return s.joint_limit_excess


@njit(cache=True)
def hip_roll_yaw(s: RewardInputs) -> float:
    """Legs splayed or twisted away from the nominal pose (legged_gym's ``hip_pos`` for the G1):
    a walk should come from hip pitch and knee, not from swinging the hips' yaw."""
    return s.hip_roll_yaw_offset


@njit(cache=True)
def alive(s: RewardInputs) -> float:
    return 1.0


@njit(cache=True)
def termination(s: RewardInputs) -> float:
    return 1.0 if s.fell else 0.0


TERM_FUNCTIONS = (
    tracking_lin_vel,
    tracking_ang_vel,
    lin_vel_z,
    ang_vel_xy,
    orientation,
    base_height,
    feet_phase_contact,
    feet_air_time,
    feet_clearance,
    feet_slip,
    action_rate,
    torques,
    joint_acc,
    joint_limits,
    hip_roll_yaw,
    alive,
    termination,
    overspeed,
    feet_edge,
)
TERMS: tuple[str, ...] = tuple(term.py_func.__name__ for term in TERM_FUNCTIONS)  # the order of `evaluate`


@njit(cache=True)
def evaluate(s: RewardInputs, out: np.ndarray) -> None:
    """Every unscaled term into ``out``, in the order of :data:`TERMS` (checked by a test)."""
    out[0] = tracking_lin_vel(s)
    out[1] = tracking_ang_vel(s)
    out[2] = lin_vel_z(s)
    out[3] = ang_vel_xy(s)
    out[4] = orientation(s)
    out[5] = base_height(s)
    out[6] = feet_phase_contact(s)
    out[7] = feet_air_time(s)
    out[8] = feet_clearance(s)
    out[9] = feet_slip(s)
    out[10] = action_rate(s)
    out[11] = torques(s)
    out[12] = joint_acc(s)
    out[13] = joint_limits(s)
    out[14] = hip_roll_yaw(s)
    out[15] = alive(s)
    out[16] = termination(s)
    out[17] = overspeed(s)
    out[18] = feet_edge(s)


@njit(cache=True)
def compute(s: RewardInputs, scales: np.ndarray, dt: float, out: np.ndarray) -> None:
    """The scaled terms ``dt * scale * term`` into ``out`` (:data:`TERMS` order; scale 0 gives 0)."""
    evaluate(s, out)
    for i in range(out.shape[0]):
        out[i] = dt * scales[i] * out[i] if scales[i] != 0.0 else 0.0
