"""Terrain height maps: flat, rough, slopes and stairs up or down, with a difficulty per episode.

Heights are in metres on a square grid centred on the spawn point, which sits on a flat platform.
Slopes and stairs are square pyramids around that platform: going outwards in any direction the
ground rises (``*_up``) or falls (``*_down``) for ``ramp_length`` metres, then turns back, and so
on, so a robot heading anywhere meets the feature. The difficulty d in [0, 1] sets the slope angle,
step height and roughness amplitude by linear interpolation within their configured ranges;
held-out evaluation draws those parameters from separate, disjoint ranges instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clrl.errors import UserError

TERRAIN_TYPES = ("flat", "rough", "slope_up", "slope_down", "stairs_up", "stairs_down")
PLATFORM_HALF_SIZE = 1.0  # flat square around the spawn point (m)
ROUGH_CELL = 0.1  # side of one random-height cell of rough terrain (m)
#: A sample more than this much higher than a neighbour is the outer edge of a tread (m): above the steepest
#: training slope's rise between samples (22 degrees: 4 cm per 10 cm), below the steps the issue asks for.
EDGE_HEIGHT = 0.05


class TerrainError(UserError):
    """A terrain configuration that cannot be used."""


@dataclass(frozen=True)
class TerrainParams:
    """The shape of one episode's terrain."""

    kind: str
    slope_degrees: float = 0.0
    step_height: float = 0.0
    step_width: float = 0.3
    rough_amplitude: float = 0.0
    ramp_length: float = 3.0


class HeightMap:
    """A square height grid of ``points x points`` samples spanning ``[-half_size, half_size]^2``.

    ``heights[row, col]`` is the ground height at ``x = xs[col]``, ``y = xs[row]`` (MuJoCo's
    height-field layout: rows run along y).
    """

    def __init__(self, half_size: float, resolution: float):
        if half_size <= PLATFORM_HALF_SIZE or resolution <= 0:
            raise TerrainError("terrain half_size must exceed 1 m and resolution must be positive")
        self.half_size = half_size
        self.points = int(round(2 * half_size / resolution)) + 1
        self.resolution = 2 * half_size / (self.points - 1)
        self.xs = np.linspace(-half_size, half_size, self.points)
        grid_x, grid_y = np.meshgrid(self.xs, self.xs)
        # Chebyshev distance from the spawn point, outside the platform
        self._ring = np.maximum(np.maximum(np.abs(grid_x), np.abs(grid_y)) - PLATFORM_HALF_SIZE, 0.0)
        self.heights = np.zeros((self.points, self.points))
        self.edges = np.zeros((self.points, self.points))  # 1.0 at the samples of :func:`tread_edges`
        self.flat = True

    def generate(self, params: TerrainParams, rng: np.random.Generator) -> np.ndarray:
        """Fill :attr:`heights` for ``params`` and return it."""
        self.heights = terrain_heights(params, self._ring, self.resolution, rng)
        self.edges = tread_edges(self.heights).astype(np.float64)
        self.flat = params.kind == "flat"
        return self.heights

    def height_at(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        """Ground height at world points (nearest grid sample; points outside clamp to the edge)."""
        return self.heights_at(np.stack(np.broadcast_arrays(x, y), axis=-1).reshape(-1, 2)).reshape(
            np.shape(x)
        )

    def heights_at(self, points: np.ndarray) -> np.ndarray:
        """Ground height under each ``(x, y)`` row of ``points``, shape ``(n,)``."""
        if self.flat:
            return np.zeros(len(points))
        index = ((points + self.half_size) * (1.0 / self.resolution) + 0.5).astype(np.intp)
        np.clip(index, 0, self.points - 1, out=index)
        return self.heights[index[:, 1], index[:, 0]]


def terrain_heights(
    params: TerrainParams, ring: np.ndarray, resolution: float, rng: np.random.Generator
) -> np.ndarray:
    """Height map (m) for ``params``; ``ring`` is each point's distance outside the platform."""
    kind = params.kind
    if kind == "flat":
        return np.zeros_like(ring)
    if kind == "rough":
        cell = max(1, int(round(ROUGH_CELL / resolution)))
        coarse_n = -(-ring.shape[0] // cell)
        coarse = rng.uniform(-params.rough_amplitude, params.rough_amplitude, (coarse_n, coarse_n))
        heights = np.kron(coarse, np.ones((cell, cell)))[: ring.shape[0], : ring.shape[1]]
        return np.where(ring > 0, heights, 0.0)
    # distance travelled along the current up-or-down stretch, as a triangle wave in the ring distance
    period = 2 * params.ramp_length
    along = params.ramp_length - np.abs(np.mod(ring, period) - params.ramp_length)
    if kind in ("slope_up", "slope_down"):
        heights = np.tan(np.radians(params.slope_degrees)) * along
    elif kind in ("stairs_up", "stairs_down"):
        heights = params.step_height * np.floor(
            along / params.step_width + 1e-9
        )  # grid points on an edge go up
    else:
        raise TerrainError(f"unknown terrain type {kind!r}; choose from {', '.join(TERRAIN_TYPES)}")
    return heights if kind.endswith("_up") else -heights


def tread_edges(heights: np.ndarray, min_drop: float = EDGE_HEIGHT) -> np.ndarray:
    """Samples more than ``min_drop`` above one of their four neighbours: the outer edge of each tread
    of a staircase (one sample wide, on the upper side of the drop), where a foot half overhangs.

    Extreme Parkour's ``feet_edge`` cost reads such a mask (Cheng et al. 2023)."""
    edges = np.zeros(heights.shape, dtype=bool)
    edges[:-1, :] |= heights[:-1, :] - heights[1:, :] > min_drop  # above the next row
    edges[1:, :] |= heights[1:, :] - heights[:-1, :] > min_drop  # above the previous row
    edges[:, :-1] |= heights[:, :-1] - heights[:, 1:] > min_drop  # above the next column
    edges[:, 1:] |= heights[:, 1:] - heights[:, :-1] > min_drop  # above the previous column
    return edges


def interpolate(bounds: list[float], difficulty: float) -> float:
    """``bounds[0]`` at difficulty 0, ``bounds[1]`` at difficulty 1."""
    low, high = bounds
    return float(low + difficulty * (high - low))
