"""Checks shared by the tests of CRTR on cached cube solution paths (Kociemba's, the learned beam's).

The test modules import it as ``from cube_paths import ...``: pytest puts ``tests/`` on ``sys.path``
when it loads ``tests/conftest.py`` (its default ``prepend`` import mode; ``tests/`` is no package).
"""

import numpy as np

from clrl.planners import CubeDomain


def assert_batches_come_from(task, states: np.ndarray) -> None:
    """A training batch of the prepared ``task`` holds only states of the cached paths' ``(T, 54)``
    ``states``, and no anchor is the solved cube (a path's last state has no future)."""
    anchors, futures = task.sample_batch(np.random.default_rng(0), 16, 2, 0.9)
    on_paths = {state.tobytes() for state in states}
    assert all(a.tobytes() in on_paths for a in anchors) and all(f.tobytes() in on_paths for f in futures)
    assert not CubeDomain().is_solved(anchors).any()
