"""All domain randomisation of the humanoid environment, in one place.

Per episode: ground friction, added base mass, base centre-of-mass offset, motor strength, PD gain
scales, action delay and the terrain; during the episode: pushes at random intervals. Training
ranges come from ``env.randomization`` / ``env.terrain`` in ``configs/humanoid.yaml``; held-out
evaluation uses ``env.held_out``, whose ranges must not overlap the training ones.

A range is ``[low, high]``; a held-out range may also be a list of such intervals
(``[[0.1, 0.2], [1.3, 1.6]]``, drawn with probability proportional to their lengths), which is how
a held-out set lies on both sides of a training range. Integer quantities (action delay) are drawn
uniformly from the integers in the range, ends included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np

from clrl.errors import ConfigError

from .robots import RobotSpec, actuated_dofs, leg_actuator_ids, nominal_gains, set_pd_gains
from .terrain import TERRAIN_TYPES, TerrainParams, interpolate

DYNAMICS_KEYS = (
    "friction",
    "added_mass",
    "com_offset",
    "motor_strength",
    "kp_scale",
    "kd_scale",
    "action_delay",
)
PUSH_KEYS = ("push_interval", "push_force")
TERRAIN_KEYS = ("slope_degrees", "step_height", "rough_amplitude")


@dataclass
class Dynamics:
    """One episode's physical parameters (what the ``privileged`` observation reports)."""

    friction: float  # sliding friction coefficient of the foot-ground contacts
    added_mass: float  # kg added to the floating base
    com_offset: np.ndarray  # (3,) m, shift of the base's centre of mass (base frame)
    motor_strength: float  # scales PD torque and torque limits of every motor
    kp_scale: float
    kd_scale: float
    action_delay: int  # control steps between the policy's action and its effect


@dataclass(frozen=True)
class NominalModel:
    """The unrandomised values that randomisation scales or offsets."""

    root_body: int
    base_mass: float
    base_com: np.ndarray
    torque_limits: np.ndarray  # (njnt, 2)
    passive_damping: np.ndarray  # (nv,) joint damping of the robot itself, without the motors' kd

    @classmethod
    def capture(cls, model: mujoco.MjModel, spec: RobotSpec) -> NominalModel:
        """Read the nominal values from a freshly built model (PD gains at scale 1)."""
        root = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, spec.root_body)
        passive = model.dof_damping.copy()
        passive[actuated_dofs(model)] -= nominal_gains(model, spec)[1]
        return cls(
            root,
            float(model.body_mass[root]),
            model.body_ipos[root].copy(),
            model.jnt_actfrcrange.copy(),
            passive,
        )


def intervals(bounds: Sequence[Any], key: str) -> np.ndarray:
    """``[lo, hi]`` or ``[[lo, hi], ...]`` as an ``(n, 2)`` array, checked."""
    array = np.asarray(bounds, dtype=np.float64)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != 2 or np.any(array[:, 0] > array[:, 1]):
        raise ConfigError(
            f"range {key!r} must be [low, high] or a list of [low, high] with low <= high, got {bounds}"
        )
    return array


def sample(rng: np.random.Generator, bounds: Sequence[Any], key: str, size: int | None = None) -> Any:
    """A uniform draw from the union of the intervals in ``bounds``."""
    spans = intervals(bounds, key)
    lengths = spans[:, 1] - spans[:, 0]
    weights = lengths / lengths.sum() if lengths.sum() > 0 else np.full(len(spans), 1.0 / len(spans))
    which = rng.choice(len(spans), size=size, p=weights)
    return rng.uniform(spans[which, 0], spans[which, 1])


def sample_int(rng: np.random.Generator, bounds: Sequence[Any], key: str) -> int:
    spans = intervals(bounds, key).astype(np.int64)
    values = np.concatenate([np.arange(low, high + 1) for low, high in spans])
    return int(rng.choice(values))


def sample_dynamics(rng: np.random.Generator, ranges: Mapping[str, Any]) -> Dynamics:
    return Dynamics(
        friction=float(sample(rng, ranges["friction"], "friction")),
        added_mass=float(sample(rng, ranges["added_mass"], "added_mass")),
        com_offset=np.asarray(sample(rng, ranges["com_offset"], "com_offset", size=3)),
        motor_strength=float(sample(rng, ranges["motor_strength"], "motor_strength")),
        kp_scale=float(sample(rng, ranges["kp_scale"], "kp_scale")),
        kd_scale=float(sample(rng, ranges["kd_scale"], "kd_scale")),
        action_delay=sample_int(rng, ranges["action_delay"], "action_delay"),
    )


def apply_dynamics(model: mujoco.MjModel, spec: RobotSpec, nominal: NominalModel, dynamics: Dynamics) -> None:
    """Write ``dynamics`` into ``model`` (absolute values, so episodes never accumulate changes)."""
    model.pair_friction[:, 0] = dynamics.friction
    model.pair_friction[:, 1] = dynamics.friction
    model.body_mass[nominal.root_body] = nominal.base_mass + dynamics.added_mass
    model.body_ipos[nominal.root_body] = nominal.base_com + dynamics.com_offset
    model.jnt_actfrcrange[:] = nominal.torque_limits * dynamics.motor_strength
    set_pd_gains(
        model, spec, nominal.passive_damping, dynamics.kp_scale, dynamics.kd_scale, dynamics.motor_strength
    )


def measured_dynamics(model: mujoco.MjModel, spec: RobotSpec, nominal: NominalModel) -> dict[str, Any]:
    """Read the randomised parameters back from ``model`` (what the simulator really uses)."""
    legs = leg_actuator_ids(model, spec)
    first_leg_joint = int(model.actuator_trnid[legs[0], 0])
    strength = float(model.jnt_actfrcrange[first_leg_joint, 1] / nominal.torque_limits[first_leg_joint, 1])
    first_leg_dof = model.jnt_dofadr[first_leg_joint]
    motor_damping = model.dof_damping[first_leg_dof] - nominal.passive_damping[first_leg_dof]
    return {
        "friction": float(model.pair_friction[0, 0]),
        "added_mass": float(model.body_mass[nominal.root_body] - nominal.base_mass),
        "com_offset": model.body_ipos[nominal.root_body] - nominal.base_com,
        "motor_strength": strength,
        "kp_scale": float(model.actuator_gainprm[legs[0], 0] / (spec.leg_kp[0] * strength)),
        "kd_scale": float(motor_damping / (spec.leg_kd[0] * strength)),
    }


def randomize(
    model: mujoco.MjModel,
    spec: RobotSpec,
    nominal: NominalModel,
    ranges: Mapping[str, Any],
    rng: np.random.Generator,
) -> Dynamics:
    """Draw one episode's dynamics from ``ranges`` and write them into ``model``."""
    dynamics = sample_dynamics(rng, ranges)
    apply_dynamics(model, spec, nominal, dynamics)
    return dynamics


def sample_push(
    rng: np.random.Generator, ranges: Mapping[str, Any], floor: float = 0.0
) -> tuple[np.ndarray, float]:
    """A horizontal push force (N, world frame) and the seconds until the next push.

    ``floor`` (N, the push curriculum's) raises the low end of a single-interval force range; it
    cannot go past the high end.
    """
    bounds = ranges["push_force"]
    if floor > 0.0:
        ((low, high),) = intervals(bounds, "push_force")
        bounds = [min(max(low, floor), high), high]
    magnitude = float(sample(rng, bounds, "push_force"))
    angle = rng.uniform(0.0, 2.0 * np.pi)
    force = np.array([magnitude * np.cos(angle), magnitude * np.sin(angle), 0.0])
    return force, float(sample(rng, ranges["push_interval"], "push_interval"))


def sample_command(rng: np.random.Generator, command: Mapping[str, Any], yaw_key: str) -> np.ndarray | None:
    """One draw of the ``env.command`` section: ``None`` for a standing command (chance
    ``standing_probability``), else forward speed, sideways speed and the ``yaw_key`` entry
    (``heading`` offset or ``yaw_rate``) from their ranges, the planar speed zeroed when it is under
    ``min_lin_vel`` (legged_gym)."""
    if rng.uniform() < command["standing_probability"]:
        return None
    drawn = np.array([sample(rng, command[key], key) for key in ("lin_vel_x", "lin_vel_y", yaw_key)])
    min_lin_vel = float(command["min_lin_vel"])
    if min_lin_vel > 0.0 and math.hypot(drawn[0], drawn[1]) < min_lin_vel:
        drawn[:2] = 0.0
    return drawn


def sample_terrain(
    rng: np.random.Generator,
    terrain_config: Mapping[str, Any],
    level: int | Mapping[str, int],
    held_out_terrain: Mapping[str, Any] | None = None,
) -> TerrainParams:
    """The terrain of one episode: a type drawn with the configured weights, shaped by ``level``
    (one level for every type, or each type's own).

    For held-out evaluation the shape parameters are drawn from ``held_out_terrain`` instead.
    """
    types = list(terrain_config["types"])
    weights = np.asarray(terrain_config["weights"], dtype=np.float64)
    kind = types[rng.choice(len(types), p=weights / weights.sum())]
    if isinstance(level, Mapping):
        level = level[kind]
    common = {
        "kind": kind,
        "step_width": terrain_config["step_width"],
        "ramp_length": terrain_config["ramp_length"],
    }
    if held_out_terrain is not None:
        shape = {key: float(sample(rng, held_out_terrain[key], key)) for key in TERRAIN_KEYS}
    else:
        difficulty = level / max(terrain_config["levels"] - 1, 1)
        shape = {key: interpolate(terrain_config[key], difficulty) for key in TERRAIN_KEYS}
    return TerrainParams(**common, **shape)


def check_config(config: Mapping[str, Any]) -> None:
    """Reject unusable ranges and held-out ranges that overlap training ones (ConfigError)."""
    training, held_out, terrain = config["randomization"], config["held_out"], config["terrain"]
    for key in DYNAMICS_KEYS + PUSH_KEYS:
        intervals(training[key], key)
        intervals(held_out[key], f"held_out.{key}")
    for kind in terrain["types"]:
        if kind not in TERRAIN_TYPES:
            raise ConfigError(f"unknown terrain type {kind!r}; choose from {', '.join(TERRAIN_TYPES)}")
    if (
        len(terrain["weights"]) != len(terrain["types"])
        or min(terrain["weights"]) < 0
        or sum(terrain["weights"]) <= 0
    ):
        raise ConfigError("env.terrain.weights must give one non-negative weight per terrain type")
    for key, train_range in overlap_pairs(config):
        raise ConfigError(
            f"env.held_out.{key} overlaps the training range {train_range}; held-out ranges must be disjoint"
        )


def overlap_pairs(config: Mapping[str, Any]) -> list[tuple[str, list[float]]]:
    """Held-out keys with an interval that shares more than an end point with the training range.

    Touching ends are allowed for continuous ranges (a set of measure zero); a single-value
    interval (e.g. an integer action delay) overlaps when it lies anywhere in the training range.
    """
    training, held_out, terrain = config["randomization"], config["held_out"], config["terrain"]
    pairs = [(key, training[key], held_out[key]) for key in (*DYNAMICS_KEYS, "push_force")]
    pairs += [(f"terrain.{key}", terrain[key], held_out["terrain"][key]) for key in TERRAIN_KEYS]
    overlapping = []
    for key, train_range, held_range in pairs:
        ((low, high),) = intervals(train_range, key)
        for held_low, held_high in intervals(held_range, key):
            start, end = max(low, held_low), min(high, held_high)
            single_value = low == high or held_low == held_high
            if start < end or (start == end and single_value):
                overlapping.append((key, list(train_range)))
    return overlapping
