"""Left-right mirror symmetry of the humanoid: the signed permutations that mirror its actions, its
policy and privileged observations, and its MuJoCo state.

The mirror is the reflection of the whole world across its x-z plane (``y -> -y``). A robot that
stands symmetric about its sagittal plane maps onto itself with its left and right sides swapped;
a robot heading ``psi`` maps to one heading ``-psi``; the terrain is mirrored with it. Under it

* a vector (a velocity, a force, gravity, a centre-of-mass offset) keeps x and z and flips y, in
  the world frame and in the base frame alike (the base frame is mirrored with the body);
* an axial vector (an angular velocity, a rotation axis) flips x and z and keeps y;
* a joint angle moves to the joint's mirror partner (``left_*`` <-> ``right_*``), with its sign
  flipped when the partner's axis is the reflection of the joint's axis reversed: for the G1 the
  hip roll and yaw and the ankle roll (and the waist roll and yaw) flip, pitch joints and knees do not;
* the gait clock's two feet swap (the left foot's phase is the global phase, the right foot's half
  a cycle later, so the mirrored robot is the same gait half a cycle on);
* terrain heights sampled at ``(x, y)`` in the base yaw frame move to ``(x, -y)``.

:func:`build_mirror` writes these once from a :class:`~clrl.envs.humanoid.env.HumanoidEnv`: the
joint pairs from the MuJoCo model's joint names, each joint's sign from its world-frame axis at the
robot's standing keyframe (checked: the pairs' anchors must mirror onto each other and their axes
must be parallel), the observation layout from the env's ``policy_frame_fields`` and
``privileged_fields`` (a field without a mirror rule is an error, so a new observation field cannot
be mirrored wrongly by default). Every map is a :class:`SignedPermutation`, its own inverse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mujoco
import numpy as np

if TYPE_CHECKING:
    from .env import HumanoidEnv

#: Name tokens of the two sides, each with its counterpart (G1: ``left_hip_roll_joint``; Berkeley
#: Humanoid: ``LL_HR``, ``LR_HR``).
SIDE_TOKENS = {"left": "right", "right": "left", "LL": "LR", "LR": "LL"}
_SIDE_PATTERN = re.compile("|".join(sorted(SIDE_TOKENS, key=len, reverse=True)))
# joint types as the ints of ``MjModel.jnt_type``
FREE, BALL = int(mujoco.mjtJoint.mjJNT_FREE), int(mujoco.mjtJoint.mjJNT_BALL)
SLIDE, HINGE = int(mujoco.mjtJoint.mjJNT_SLIDE), int(mujoco.mjtJoint.mjJNT_HINGE)
#: How far (m) a joint's anchor may sit from the mirror image of its partner's, and how far from 1
#: the absolute cosine between the two axes may be, for the model to count as symmetric.
ANCHOR_TOLERANCE = 1e-3
AXIS_TOLERANCE = 1e-3


@dataclass(frozen=True)
class SignedPermutation:
    """``y[..., i] = sign[i] * x[..., index[i]]``: a permutation of the last axis with sign flips.

    Mirror maps are involutions (applying one twice is the identity); :meth:`is_involution` checks it.
    """

    index: np.ndarray  # (n,) int64
    sign: np.ndarray  # (n,) float64, each +1 or -1

    def __post_init__(self) -> None:
        index = np.asarray(self.index, dtype=np.int64)
        sign = np.asarray(self.sign, dtype=np.float64)
        if index.shape != sign.shape or index.ndim != 1:
            raise ValueError(f"index and sign must be 1-d of one length, got {index.shape}, {sign.shape}")
        if sorted(index.tolist()) != list(range(len(index))):
            raise ValueError(f"index is not a permutation of 0..{len(index) - 1}: {index.tolist()}")
        if not np.all(np.abs(sign) == 1.0):
            raise ValueError(f"signs must be +1 or -1, got {sign.tolist()}")
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "sign", sign)

    def __len__(self) -> int:
        return len(self.index)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return (x[..., self.index] * self.sign).astype(x.dtype, copy=False)

    def is_involution(self) -> bool:
        return bool(
            np.array_equal(self.index[self.index], np.arange(len(self)))
            and np.array_equal(self.sign * self.sign[self.index], np.ones(len(self)))
        )

    @classmethod
    def identity(cls, n: int) -> SignedPermutation:
        return cls(np.arange(n), np.ones(n))

    @classmethod
    def signs(cls, sign: Sequence[float]) -> SignedPermutation:
        """No permutation, only the given sign flips."""
        return cls(np.arange(len(sign)), np.asarray(sign, dtype=np.float64))

    @classmethod
    def concatenate(cls, parts: Sequence[SignedPermutation]) -> SignedPermutation:
        """Each part acting on its own consecutive block of the axis."""
        offsets = np.cumsum([0, *(len(part) for part in parts)])
        return cls(
            np.concatenate([part.index + offset for part, offset in zip(parts, offsets, strict=False)]),
            np.concatenate([part.sign for part in parts]),
        )

    def repeat(self, times: int) -> SignedPermutation:
        """The same map on each of ``times`` consecutive blocks (a stacked history of frames)."""
        return SignedPermutation.concatenate([self] * times)


#: A vector keeps x and z and flips y; an axial vector flips x and z and keeps y.
VECTOR = SignedPermutation.signs([1.0, -1.0, 1.0])
AXIAL = SignedPermutation.signs([-1.0, 1.0, -1.0])
#: (vx, vy, yaw rate): the sideways velocity and the turn flip.
COMMAND = SignedPermutation.signs([1.0, -1.0, -1.0])
#: (sin left, sin right, cos left, cos right): the feet swap.
CLOCK = SignedPermutation([1, 0, 3, 2], np.ones(4))
#: Two feet of 3-vectors (left then right): the feet swap, each vector mirrored.
FOOT_VECTORS = SignedPermutation([3, 4, 5, 0, 1, 2], [1.0, -1.0, 1.0] * 2)


def mirror_name(name: str) -> str:
    """The name of ``name``'s mirror partner: every side token swapped (``left_knee_joint`` ->
    ``right_knee_joint``); a name without one (``waist_yaw_joint``) is its own partner."""
    return _SIDE_PATTERN.sub(lambda match: SIDE_TOKENS[match.group(0)], name)


def joint_signs(model: mujoco.MjModel, keyframe: str) -> dict[str, tuple[str, float]]:
    """Each hinge or slide joint's mirror partner and sign, from the joint names and the joints'
    world-frame axes at ``keyframe`` with the base upright and heading along x.

    The sign is +1 when the partner's axis is the joint's axis reflected as an axial vector (for a
    hinge; as a vector for a slide joint), -1 when it is that reversed. Raises ``ValueError`` when
    a joint has no partner or the partners do not mirror onto each other.
    """
    data = mujoco.MjData(model)
    key = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_KEY, keyframe)
    if key < 0:
        raise ValueError(f"the model has no keyframe {keyframe!r}")
    data.qpos[:] = model.key_qpos[key]
    for joint in range(model.njnt):  # upright, heading along x, at the origin
        if model.jnt_type[joint] == FREE:
            address = model.jnt_qposadr[joint]
            data.qpos[address : address + 7] = [0.0, 0.0, data.qpos[address + 2], 1.0, 0.0, 0.0, 0.0]
    mujoco.mj_kinematics(model, data)  # joint anchors and axes in the world frame
    names = {model.joint(j).name: j for j in range(model.njnt)}
    result: dict[str, tuple[str, float]] = {}
    for name, joint in names.items():
        kind = int(model.jnt_type[joint])
        if kind not in (HINGE, SLIDE):
            continue
        partner_name = mirror_name(name)
        if partner_name not in names:
            raise ValueError(f"joint {name!r} has no mirror partner (no joint {partner_name!r})")
        partner = names[partner_name]
        anchor = data.xanchor[joint] * VECTOR.sign
        if np.max(np.abs(anchor - data.xanchor[partner])) > ANCHOR_TOLERANCE:
            anchors = [np.round(data.xanchor[j], 4).tolist() for j in (joint, partner)]
            raise ValueError(
                f"joints {name!r} and {partner_name!r} do not sit mirror to each other: anchors {anchors}"
            )
        reflect = AXIAL if kind == HINGE else VECTOR
        cosine = float(np.dot(reflect(data.xaxis[joint]), data.xaxis[partner]))
        if abs(abs(cosine) - 1.0) > AXIS_TOLERANCE:
            raise ValueError(
                f"joints {name!r} and {partner_name!r} have axes that do not mirror ({cosine:.4f})"
            )
        result[name] = (partner_name, float(np.sign(cosine)))
    return result


def joint_permutation(joint_names: Sequence[str], signs: dict[str, tuple[str, float]]) -> SignedPermutation:
    """The mirror of a vector with one value per joint of ``joint_names`` (in that order)."""
    position = {name: i for i, name in enumerate(joint_names)}
    try:
        index = [position[signs[name][0]] for name in joint_names]
    except KeyError as missing:
        raise ValueError(f"joint {missing} or its mirror partner is not among {list(joint_names)}") from None
    return SignedPermutation(index, [signs[name][1] for name in joint_names])


def scan_permutation(offsets: np.ndarray) -> SignedPermutation:
    """The terrain scan points ``(x, y)`` (base yaw frame) go to ``(x, -y)``; heights keep their sign."""
    offsets = np.asarray(offsets, dtype=np.float64)
    mirrored = offsets * [1.0, -1.0]
    distance = np.abs(mirrored[:, None, :] - offsets[None, :, :]).max(axis=-1)
    index = distance.argmin(axis=1)
    if np.any(distance[np.arange(len(offsets)), index] > 1e-9):
        raise ValueError("the terrain scan grid is not symmetric about the base's x axis")
    return SignedPermutation(index, np.ones(len(offsets)))


def _from_fields(
    fields: Sequence[tuple[str, int]], rules: dict[str, Callable[[int], SignedPermutation]], what: str
) -> SignedPermutation:
    parts = []
    for name, size in fields:
        if name not in rules:
            raise ValueError(
                f"no mirror rule for the {what} field {name!r}; add one to clrl.envs.humanoid.symmetry"
            )
        part = rules[name](size)
        if len(part) != size:
            raise ValueError(
                f"the mirror of the {what} field {name!r} has size {len(part)}, the field {size}"
            )
        parts.append(part)
    return SignedPermutation.concatenate(parts)


@dataclass(frozen=True)
class HumanoidMirror:
    """The mirror maps of one env configuration (see the module docstring)."""

    action: SignedPermutation  # (A,): leg joint targets, then the gait frequency (kept)
    policy: SignedPermutation  # (K * P,): each stacked frame mirrored alike
    privileged: SignedPermutation  # (Q,)
    qpos: SignedPermutation  # (nq,): MuJoCo's generalised positions, free joint included
    qvel: SignedPermutation  # (nv,): MuJoCo's generalised velocities
    joint_signs: dict[str, tuple[str, float]]  # joint name -> (mirror partner, sign)
    scan: SignedPermutation | None = None  # (S,): the policy's own scan (``scan.policy: true``)

    @property
    def groups(self) -> dict[str, SignedPermutation]:
        """The mirror of each observation group the env has."""
        groups = {"policy": self.policy, "privileged": self.privileged}
        if self.scan is not None:
            groups["scan"] = self.scan
        return groups

    def observation(self, observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every observation group mirrored."""
        return {key: mirror(observation[key]) for key, mirror in self.groups.items()}


def build_mirror(env: HumanoidEnv) -> HumanoidMirror:
    """The mirror maps of ``env``'s robot and observation layout (computed once; the env is unchanged)."""
    model = env.model
    signs = joint_signs(model, env.robot.keyframe)
    legs = joint_permutation(env.robot.leg_joints, signs)
    extra = env.action_dim - len(legs)  # the adaptive clock's frequency: kept
    action = SignedPermutation.concatenate([legs, SignedPermutation.identity(extra)])

    def same(size: int) -> SignedPermutation:
        return SignedPermutation.identity(size)

    frame_rules: dict[str, Callable[[int], SignedPermutation]] = {
        "ang_vel": lambda _: AXIAL,
        "projected_gravity": lambda _: VECTOR,
        "joint_pos": lambda _: legs,
        "joint_vel": lambda _: legs,
        "previous_action": lambda _: action,
        "command": lambda _: COMMAND,
        "clock": lambda _: CLOCK,
    }
    privileged_rules: dict[str, Callable[[int], SignedPermutation]] = {
        "base_lin_vel": lambda _: VECTOR,
        "base_ang_vel": lambda _: AXIAL,
        "projected_gravity": lambda _: VECTOR,
        "base_height": same,
        "friction": same,
        "added_mass": same,
        "com_offset": lambda _: VECTOR,
        "motor_strength": same,
        "kp_scale": same,
        "kd_scale": same,
        "action_delay": same,
        "push_force": lambda _: VECTOR,  # world frame: the world is mirrored too
        "foot_forces": lambda _: FOOT_VECTORS,
        "gait_frequency": same,
        "terrain_scan": lambda _: scan_permutation(env.scan_offsets),
    }
    frame = _from_fields(env.policy_frame_fields, frame_rules, "policy frame")
    privileged = _from_fields(env.privileged_fields, privileged_rules, "privileged")
    qpos, qvel = state_permutations(model, signs)
    scan = scan_permutation(env.scan_offsets) if env.policy_scan else None
    return HumanoidMirror(action, frame.repeat(env.history), privileged, qpos, qvel, signs, scan)


def state_permutations(
    model: mujoco.MjModel, signs: dict[str, tuple[str, float]]
) -> tuple[SignedPermutation, SignedPermutation]:
    """Mirrors of ``qpos`` and ``qvel``: a free joint's position is a vector, its quaternion
    ``(w, x, y, z)`` becomes ``(w, -x, y, -z)``, its linear velocity (world frame) a vector and its
    angular velocity (body frame) an axial vector; hinge and slide joints go to their partners."""
    qpos_index, qpos_sign = np.arange(model.nq), np.ones(model.nq)
    qvel_index, qvel_sign = np.arange(model.nv), np.ones(model.nv)
    for joint in range(model.njnt):
        q, v = model.jnt_qposadr[joint], model.jnt_dofadr[joint]
        if model.jnt_type[joint] == FREE:
            qpos_sign[q : q + 7] = [*VECTOR.sign, 1.0, -1.0, 1.0, -1.0]
            qvel_sign[v : v + 6] = [*VECTOR.sign, *AXIAL.sign]
        elif model.jnt_type[joint] == BALL:
            raise ValueError(f"ball joint {model.joint(joint).name!r}: no mirror written for ball joints")
        else:
            partner_name, sign = signs[model.joint(joint).name]
            partner = model.joint(partner_name).id
            qpos_index[q], qpos_sign[q] = model.jnt_qposadr[partner], sign
            qvel_index[v], qvel_sign[v] = model.jnt_dofadr[partner], sign
    return SignedPermutation(qpos_index, qpos_sign), SignedPermutation(qvel_index, qvel_sign)
