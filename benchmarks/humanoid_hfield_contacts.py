"""How far MuJoCo's height-field contacts stray from the surface normal under a small sole sphere.

The humanoid's feet collide through 1 cm sole spheres (``FOOT_SPHERE_RADIUS``) and its slopes and
stairs are a height field with 10 cm between samples. MuJoCo collides a geom with a height field
prism by prism, so a sphere sunk a few millimetres near a prism's side can get a contact whose normal
is that side's (horizontal) instead of the surface's. This places a sphere at a fixed depth below a
smooth slope at many points along and across it (no dynamics), and prints, per radius and depth,
the contacts per placement and the share whose normal's vertical component is more than 0.1 off
the slope's cos(angle). Slopes are where the surface is known exactly; the G1's soles sink a few
millimetres under its weight, up to about 14 (``MjData.contact.dist`` in training-like episodes).

    python benchmarks/humanoid_hfield_contacts.py [--slope 15] [--radii M ...] [--depths M ...]
"""

from __future__ import annotations

import argparse
import math

import mujoco
import numpy as np
from markdown_table import MarkdownTable

from clrl.cli import run_command
from clrl.errors import ConfigError

SPAN = 2.0  # m, the height field covers [-SPAN, SPAN]^2
RISE = 3.0  # m, its elevation range: slopes up to atan(RISE / (2 SPAN)), 36.9 degrees


def slope_model(radius: float, resolution: float, degrees: float) -> tuple[mujoco.MjModel, mujoco.MjData]:
    """A height-field slope rising along x and a free sphere that collides with it."""
    points = int(round(2 * SPAN / resolution)) + 1
    xml = f"""<mujoco>
      <asset><hfield name="ground" nrow="{points}" ncol="{points}" size="{SPAN} {SPAN} {RISE} 0.5"/></asset>
      <worldbody>
        <geom name="ground" type="hfield" hfield="ground" contype="0" conaffinity="0"/>
        <body><freejoint/><geom name="sole" type="sphere" size="{radius}" contype="0" conaffinity="0"/></body>
      </worldbody>
      <contact><pair geom1="sole" geom2="ground" condim="3"/></contact>
    </mujoco>"""
    model = mujoco.MjModel.from_xml_string(xml)
    xs = np.linspace(-SPAN, SPAN, points)
    heights = math.tan(math.radians(degrees)) * (xs + SPAN) * np.ones((points, 1))  # rows are y, columns x
    model.hfield_data[:] = (heights / RISE).ravel()
    return model, mujoco.MjData(model)


def stray_share(radius: float, depth: float, resolution: float, degrees: float) -> tuple[float, float]:
    """(contacts per placement, share of contacts whose normal's z is > 0.1 off the surface's)."""
    model, data = slope_model(radius, resolution, degrees)
    angle = math.radians(degrees)
    normal = np.array([-math.sin(angle), 0.0, math.cos(angle)])
    placements = contacts = stray = 0
    for x in np.linspace(-0.5, 0.5, 401):
        for y in (0.0, 0.033, 0.071):  # on a sample row, and between rows
            surface = np.array([x, y, math.tan(angle) * (x + SPAN)])
            data.qpos[:3] = surface + (radius - depth) * normal
            data.qpos[3:] = (1.0, 0.0, 0.0, 0.0)
            mujoco.mj_forward(model, data)
            placements += 1
            for contact in data.contact[: data.ncon]:
                contacts += 1
                stray += abs(contact.frame[2] - normal[2]) > 0.1  # frame's first row: the normal
    return contacts / placements, stray / max(contacts, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slope", type=float, default=15.0, help="degrees")
    parser.add_argument("--resolution", type=float, default=0.1, help="m between height samples")
    parser.add_argument("--radii", type=float, nargs="+", default=[0.01, 0.02, 0.03], metavar="M")
    parser.add_argument("--depths", type=float, nargs="+", default=[0.001, 0.003, 0.006], metavar="M")
    args = parser.parse_args(argv)
    steepest = math.degrees(math.atan(RISE / (2 * SPAN)))
    if not 0.0 <= args.slope <= steepest:
        raise ConfigError(f"--slope must lie in 0..{steepest:.1f} degrees, got {args.slope:g}")
    if not 0.0 < args.resolution <= SPAN or min(args.radii) <= 0.0:
        raise ConfigError("--resolution must lie in (0, 2] m and every radius must be positive")
    table = MarkdownTable(
        [
            "sphere radius (m)",
            "depth (m)",
            "contacts per placement",
            "normals off the surface's (z off by > 0.1)",
        ],
        "rrrr",
    )
    table.print_header()
    for radius in args.radii:
        for depth in args.depths:
            per_placement, share = stray_share(radius, depth, args.resolution, args.slope)
            table.print_row(f"{radius:g}", f"{depth:g}", f"{per_placement:.2f}", f"{share:.3f}")


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))
