"""clrl: contrastive representation learning for agents.

One library of contrastive losses (:mod:`clrl.losses`) feeds three kinds of work: CRTR encoders that
solve the Rubik's Cube and Sokoban, a humanoid PPO agent with a contrastive privileged latent, and
vision benchmarks of the same losses.
"""

import os

# OpenMP threads that spin while waiting make every small torch call (a planner scoring 12 children)
# 5-10x slower whenever another process shares the cores; yielding costs little when they don't.
# Set before torch or numba load their OpenMP runtime; a value the user exported wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
