"""Reward terms of the humanoid environment: one short named function each.

Every term returns an unscaled number; ``env.rewards`` in ``configs/humanoid.yaml`` gives each term
its scale (costs get negative scales, MuJoCo Playground style). The step reward is
``dt * sum(scale * term)`` and every scaled term ``dt * scale * term`` is reported separately in
``info["reward_terms"]``. A term with scale 0 is not computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass
class RewardInputs:
    """What the reward terms read after one control step (all body-frame unless noted)."""

    command: np.ndarray  # (3,) vx, vy (m/s), yaw rate (rad/s)
    base_lin_vel: np.ndarray  # (3,) m/s
    base_ang_vel: np.ndarray  # (3,) rad/s
    projected_gravity: np.ndarray  # (3,) unit vector
    base_height: float  # m above the terrain under the base
    base_height_target: float
    stance: np.ndarray  # (2,) bool: the clock wants the foot on the ground
    contact: np.ndarray  # (2,) bool: the foot touches the ground
    first_contact: np.ndarray  # (2,) bool: touchdown in this step
    air_time: np.ndarray  # (2,) s in the air before this touchdown
    air_time_target: float
    foot_clearance: np.ndarray  # (2,) m above the terrain
    swing_height_target: np.ndarray  # (2,) m, from the gait clock
    foot_speed_xy: np.ndarray  # (2,) m/s, world frame
    action: np.ndarray  # (A,) this step's action
    previous_action: np.ndarray  # (A,)
    torques: np.ndarray  # (n_legs,) N m
    joint_acc: np.ndarray  # (n_legs,) rad/s^2
    joint_limit_excess: np.ndarray  # (n_legs,) rad beyond the soft limits (>= 0)
    fell: bool
    tracking_sigma: float


def tracking_lin_vel(s: RewardInputs) -> float:
    error = np.sum(np.square(s.command[:2] - s.base_lin_vel[:2]))
    return float(np.exp(-error / s.tracking_sigma))


def tracking_ang_vel(s: RewardInputs) -> float:
    error = (s.command[2] - s.base_ang_vel[2]) ** 2
    return float(np.exp(-error / s.tracking_sigma))


def lin_vel_z(s: RewardInputs) -> float:
    return float(s.base_lin_vel[2] ** 2)


def ang_vel_xy(s: RewardInputs) -> float:
    return float(np.sum(np.square(s.base_ang_vel[:2])))


def orientation(s: RewardInputs) -> float:
    """Tilt: the horizontal part of gravity seen from the base (0 when upright)."""
    return float(np.sum(np.square(s.projected_gravity[:2])))


def base_height(s: RewardInputs) -> float:
    return float((s.base_height - s.base_height_target) ** 2)


def feet_phase_contact(s: RewardInputs) -> float:
    """Fraction of feet whose contact matches the clock's stance/swing."""
    return float(np.mean(s.contact == s.stance))


def feet_air_time(s: RewardInputs) -> float:
    """At touchdown, air time beyond the target; only while asked to move."""
    if np.linalg.norm(s.command) < 0.1:
        return 0.0
    return float(np.sum((s.air_time - s.air_time_target) * s.first_contact))


def feet_clearance(s: RewardInputs) -> float:
    """Squared miss of the clock's swing-height arch, for feet in swing."""
    return float(np.sum(np.square(s.foot_clearance - s.swing_height_target) * ~s.stance))


def feet_slip(s: RewardInputs) -> float:
    return float(np.sum(np.square(s.foot_speed_xy) * s.contact))


def action_rate(s: RewardInputs) -> float:
    return float(np.sum(np.square(s.action - s.previous_action)))


def torques(s: RewardInputs) -> float:
    return float(np.sum(np.square(s.torques)))


def joint_acc(s: RewardInputs) -> float:
    return float(np.sum(np.square(s.joint_acc)))


def joint_limits(s: RewardInputs) -> float:
    return float(np.sum(s.joint_limit_excess))


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
    return float(sum(terms.values())), terms
