"""clrl: contrastive representation learning for agents.

One library of contrastive losses (:mod:`clrl.losses`) feeds three kinds of work: CRTR encoders that
solve the Rubik's Cube and Sokoban, a humanoid PPO agent with a contrastive privileged latent, and
vision benchmarks of the same losses.
"""

__version__ = "0.1.0"
