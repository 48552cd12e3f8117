"""Gait clock: one global phase for the whole gait, the two legs half a cycle apart.

The global phase φ advances by ``2π · dt · f`` each control step (MuJoCo Playground's convention);
the left leg's phase is φ and the right leg's φ + π. A leg is in stance while ``sin(phase) >= 0``
(the first half of its cycle) and in swing otherwise, so with the offset exactly one leg is meant to
be on the ground at a time. With ``clock: adaptive`` one extra action dimension sets f within
``[f_min, f_max]`` each step.

The functions are Numba-compiled so that the env's compiled step kernels can call them; from
Python they are called as usual.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LEG_OFFSETS = np.array([0.0, np.pi])  # left, right
TWO_PI = 2.0 * np.pi


@njit(cache=True)
def advance(phase: float, frequency: float, dt: float) -> float:
    """Global phase after one control step of length ``dt`` at ``frequency`` Hz, wrapped to [0, 2π)."""
    return float(np.mod(phase + TWO_PI * dt * frequency, TWO_PI))


@njit(cache=True)
def leg_phases(phase: float) -> np.ndarray:
    """(left, right) phases in [0, 2π)."""
    return np.mod(phase + LEG_OFFSETS, TWO_PI)


@njit(cache=True)
def stance_mask(phase: float) -> np.ndarray:
    """(left, right) booleans: True where the leg should be on the ground."""
    return np.sin(leg_phases(phase)) >= 0.0


@njit(cache=True)
def swing_height_target(phase: float, swing_height: float) -> np.ndarray:
    """Desired (left, right) foot clearance: a sine arch peaking at mid-swing, zero in stance."""
    return swing_height * np.maximum(-np.sin(leg_phases(phase)), 0.0)


@njit(cache=True)
def clock_features(phase: float) -> np.ndarray:
    """Policy input: (sin left, sin right, cos left, cos right)."""
    legs = leg_phases(phase)
    return np.concatenate((np.sin(legs), np.cos(legs)))


@njit(cache=True)
def frequency_from_action(action: float, f_min: float, f_max: float) -> float:
    """Map an action in [-1, 1] linearly onto [f_min, f_max] (0 gives the midpoint)."""
    return float(f_min + (min(max(action, -1.0), 1.0) + 1.0) * 0.5 * (f_max - f_min))
