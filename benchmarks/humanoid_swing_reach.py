"""How high the action range lets the humanoid lift a foot: sole lift against ``env.action_clip``.

A leg action sets a joint target ``nominal + action_scale * action`` with the action clipped to
``+-action_clip``, so each joint reaches at most ``action_scale * action_clip`` rad from the nominal
pose. To step onto a stair the swing foot's lowest sole point must rise above the riser. This
holds the base and the other leg at the nominal pose, tries every combination of the swing leg's
hip pitch, knee and ankle pitch targets on a grid within that reach (and within the joint limits),
and prints the highest lift of the lowest sole point above its nominal height, with the foot's centre
at least each ``--forward`` distance ahead of its nominal place (along the keyframe's heading, x): pure
kinematics, no policy and no dynamics (a swinging joint overshoots its target a little; the stance
leg and the pelvis can add a few centimetres more).

    python benchmarks/humanoid_swing_reach.py [--clips 1 2 3 4] [--forward 0 0.1 0.2] [--grid 21]
        [--env KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import itertools

import mujoco
import numpy as np
from markdown_table import MarkdownTable

from clrl.cli import run_command
from clrl.config import load_config
from clrl.envs.humanoid import HumanoidEnv
from clrl.errors import ConfigError, UserError

SWING_JOINTS = ("hip_pitch", "knee", "ankle_pitch")  # the sagittal joints that lift a foot


def left_sole(env: HumanoidEnv, qpos: np.ndarray) -> tuple[float, float]:
    """The left foot at joint positions ``qpos``: its lowest sole sphere's height and its centre's x."""
    data = env.data
    data.qpos[:] = qpos
    mujoco.mj_kinematics(env.model, data)
    return float(data.geom_xpos[env.sole_geoms[0], 2].min()), float(data.geom_xpos[env.foot_geoms[0], 0])


def lift_profile(env: HumanoidEnv, reach: float, grid: int, forwards: list[float]) -> list[float]:
    """Highest lift (m) of the left sole with its foot at least each of ``forwards`` m ahead of nominal,
    every swing joint within ``reach`` rad of its nominal angle (NaN where no pose gets that far)."""
    model, nominal = env.model, env.nominal_qpos
    grids = []
    for name in SWING_JOINTS:
        joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f"left_{name}_joint")
        if joint < 0:
            raise ConfigError(
                f"the robot has no joint left_{name}_joint (this benchmark knows the G1's names)"
            )
        address = model.jnt_qposadr[joint]
        low, high = model.jnt_range[joint]
        angles = nominal[address] + np.linspace(-reach, reach, grid)
        grids.append((address, angles[(angles >= low) & (angles <= high)]))
    resting_z, resting_x = left_sole(env, nominal)
    best = np.full(len(forwards), np.nan)
    qpos = nominal.copy()
    for combination in itertools.product(*(angles for _, angles in grids)):
        for (address, _), angle in zip(grids, combination, strict=True):
            qpos[address] = angle
        z, x = left_sole(env, qpos)
        for i, forward in enumerate(forwards):
            if x - resting_x >= forward and not z - resting_z <= best[i]:  # `not <=` also replaces NaN
                best[i] = z - resting_z
    return best.tolist()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clips", type=float, nargs="+", default=[1.0, 2.0, 3.0, 4.0], help="env.action_clip"
    )
    parser.add_argument(
        "--forward",
        type=float,
        nargs="+",
        default=[0.0, 0.1, 0.2],
        metavar="M",
        help="least distance the foot's centre is ahead of its nominal place",
    )
    parser.add_argument("--grid", type=int, default=21, help="target angles tried per joint")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="env config override")
    args = parser.parse_args(argv)
    if args.grid < 3 or args.grid % 2 == 0:
        raise UserError(
            f"--grid must be odd and at least 3, so that the nominal angle is on it; got {args.grid}"
        )
    if min(args.clips) < 0:
        raise UserError(f"--clips must not be negative, got {min(args.clips):g}")
    env_config = load_config("humanoid", overrides=[f"env.{item}" for item in args.env])["env"]
    env = HumanoidEnv(env_config)
    scale = float(env_config["action_scale"])
    table = MarkdownTable(
        [
            "action_clip",
            "reach per joint (rad)",
            *(f"highest sole lift, foot >= {f:g} m ahead (m)" for f in args.forward),
        ],
        "rr" + "r" * len(args.forward),
    )
    table.print_header()
    for clip in args.clips:
        lifts = lift_profile(env, scale * clip, args.grid, args.forward)
        table.print_row(
            f"{clip:g}", f"{scale * clip:.2f}", *("-" if np.isnan(lift) else f"{lift:.3f}" for lift in lifts)
        )
    env.close()


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))
