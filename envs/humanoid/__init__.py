"""Humanoid locomotion environment for sim-to-real: MuJoCo robot, terrain, domain randomisation,
privileged state and a gait clock. ``gymnasium.make("clrl/Humanoid-v0")`` or :class:`HumanoidEnv`."""

from .env import HumanoidEnv
from .robots import ROBOTS, RobotSpec

__all__ = ["ROBOTS", "HumanoidEnv", "RobotSpec"]
