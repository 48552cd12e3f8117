"""Environments (installed as ``clrl.envs``); importing this package registers them with Gymnasium.

Entry points are strings, so registering imports nothing heavy; one ``gymnasium.register`` call per env.
"""

import gymnasium

gymnasium.register(
    id="clrl/Cube-v0",
    entry_point="clrl.envs.cube.env:CubeEnv",
    vector_entry_point="clrl.envs.cube.env:CubeVectorEnv",
)

gymnasium.register(
    id="clrl/Sokoban-v0",
    entry_point="clrl.envs.sokoban.env:SokobanEnv",
)

gymnasium.register(
    id="clrl/Humanoid-v0",
    entry_point="clrl.envs.humanoid.env:HumanoidEnv",
)
