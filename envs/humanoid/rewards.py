"""Reward terms of the humanoid environment: one short named function each.

Every term returns an unscaled number; ``env.rewards`` in ``configs/humanoid.yaml`` gives each term
its scale (costs get negative scales, MuJoCo Playground style). The step reward is
``dt * sum(scale * term)`` and every scaled term ``dt * scale * term`` is reported separately in
``info["reward_terms"]``. A term with scale 0 is not computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass
class RewardInputs:
    """What the reward terms read after one control step (body frame unless noted).

    Small vectors are plain Python lists of floats or bools: the terms run every control step and
    scalar arithmetic on them costs a fraction of NumPy's per-call overhead.
    """

    command: list[float]  # vx, vy (m/s), yaw rate (rad/s)
    base_lin_vel: list[float]  # (3,) m/s
    base_ang_vel: list[float]  # (3,) rad/s
    projected_gravity: list[float]  # (3,) unit vector
    base_height: float  # m above the terrain under the base
    base_height_target: float
    stance: list[bool]  # (left, right): the clock wants the foot on the ground
    contact: list[bool]  # the foot touches the ground
    first_contact: list[bool]  # touchdown in this step
    air_time: list[float]  # s in the air before this touchdown
    air_time_target: float
    foot_clearance: list[float]  # m above the terrain
    swing_height_target: list[float]  # m, from the gait clock
    foot_speed_xy: list[float]  # m/s, world frame
    action: np.ndarray  # (A,) this step's action
    previous_action: np.ndarray  # (A,)
    torques: np.ndarray  # (n_legs,) N m
    joint_acc: np.ndarray  # (n_legs,) rad/s^2
    joint_limit_excess: float  # rad beyond the soft joint limits, summed over leg joints
    fell: bool
    tracking_sigma: float


def tracking_lin_vel(s: RewardInputs) -> float:
    error = (s.command[0] - s.base_lin_vel[0]) ** 2 + (s.command[1] - s.base_lin_vel[1]) ** 2
    return math.exp(-error / s.tracking_sigma)


def tracking_ang_vel(s: RewardInputs) -> float:
    return math.exp(-((s.command[2] - s.base_ang_vel[2]) ** 2) / s.tracking_sigma)


def lin_vel_z(s: RewardInputs) -> float:
    return s.base_lin_vel[2] ** 2


def ang_vel_xy(s: RewardInputs) -> float:
    return s.base_ang_vel[0] ** 2 + s.base_ang_vel[1] ** 2


def orientation(s: RewardInputs) -> float:
    """Tilt: the horizontal part of gravity seen from the base (0 when upright)."""
    return s.projected_gravity[0] ** 2 + s.projected_gravity[1] ** 2


def base_height(s: RewardInputs) -> float:
    return (s.base_height - s.base_height_target) ** 2


def feet_phase_contact(s: RewardInputs) -> float:
    """Fraction of feet whose contact matches the clock's stance/swing."""
    return sum(c == st for c, st in zip(s.contact, s.stance, strict=True)) / 2.0


def feet_air_time(s: RewardInputs) -> float:
    """At touchdown, air time beyond the target; only while asked to move."""
    if abs(s.command[0]) + abs(s.command[1]) + abs(s.command[2]) < 0.1:
        return 0.0
    return sum(t - s.air_time_target for t, first in zip(s.air_time, s.first_contact, strict=True) if first)


def feet_clearance(s: RewardInputs) -> float:
    """Squared miss of the clock's swing-height arch, for feet in swing."""
    pairs = zip(s.foot_clearance, s.swing_height_target, s.stance, strict=True)
    return sum((h - target) ** 2 for h, target, stance in pairs if not stance)


def feet_slip(s: RewardInputs) -> float:
    return sum(v * v for v, touching in zip(s.foot_speed_xy, s.contact, strict=True) if touching)


def action_rate(s: RewardInputs) -> float:
    change = s.action - s.previous_action
    return float(change @ change)


def torques(s: RewardInputs) -> float:
    return float(s.torques @ s.torques)


def joint_acc(s: RewardInputs) -> float:
    return float(s.joint_acc @ s.joint_acc)


def joint_limits(s: RewardInputs) -> float:
    return s.joint_limit_excess


def alive(s: RewardInputs) -> float:
    return 1.0


def termination(s: RewardInputs) -> float:
    return float(s.fell)


TERMS: dict[str, Callable[[RewardInputs], float]] = {
    term.__name__: term
    for term in (
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
        alive,
        termination,
    )
}


def compute(inputs: RewardInputs, scales: Mapping[str, float], dt: float) -> tuple[float, dict[str, float]]:
    """Total reward and the scaled value of every configured term."""
    terms = {name: dt * scale * TERMS[name](inputs) if scale else 0.0 for name, scale in scales.items()}
    return sum(terms.values()), terms
