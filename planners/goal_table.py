"""Every state within a few moves of the goal, with the way home: the last moves of a search, exact.

A :class:`GoalTable` is built once by breadth-first search outward from the goal. It needs a puzzle
whose moves can be undone (the cube: the inverse of a quarter turn is a quarter turn), so a state
found ``d`` moves out from the goal is exactly ``d`` moves from it, and the inverse of the move that
reached it leads one step back. For each such state the table keeps its hash, its distance and
that move, in sorted arrays (a million states take ~10 MB; lookups are ``np.searchsorted``).

A search that carries the table stops as soon as one of its states is in it and finishes along the
table, so it only has to come within ``radius`` moves of the goal: a bidirectional search whose
backward half is this precomputed ball (the classic endgame database of puzzle solvers). The
quarter-turn cube has 1, 12, 114, 1,068, 10,011, 93,840 and 878,880 states at distances 0 to 6.
"""

from __future__ import annotations

import functools
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import platformdirs

from clrl.checkpoint import atomic_write_bytes
from clrl.envs.cube.constants import SOLVED_STATE
from clrl.planners.domain import CubeDomain, Domain

NO_ACTION = 255  # the goal's own entry: nothing left to do
MAX_GOAL_RADIUS = 7  # cube: 9.2M states, ~5 s and 1.1 GB to build; radius 8 would hold 76M
BUILD_CHUNK = 65_536  # parents whose children are made at once while building (cube: 42 MB of children)


class GoalTable:
    """States within ``radius`` moves of ``goal``: sorted ``keys``, ``distances``, ``actions`` home.

    Build with :meth:`build`; :meth:`finish` turns a batch of search states into a completed path.
    """

    def __init__(
        self, goal: np.ndarray, keys: np.ndarray, distances: np.ndarray, actions: np.ndarray, radius: int
    ) -> None:
        order = np.argsort(keys, kind="stable")
        self.goal = goal
        self.keys = keys[order]
        self.distances = distances[order]
        self.actions = actions[order]
        self.radius = radius

    @classmethod
    def build(
        cls,
        domain: Domain,
        goal: np.ndarray,
        radius: int,
        inverse_action: np.ndarray,
        chunk_size: int = BUILD_CHUNK,
    ) -> GoalTable:
        """Breadth-first search from ``goal`` to depth ``radius``; ``inverse_action[a]`` undoes ``a``.

        Children are made and hashed ``chunk_size`` parents at a time, and only the keys of a layer
        are kept whole: its states are made again from their parents when the next layer needs
        them, and never for the last layer, the largest (radius 7: 8.2M of the 9.2M states).
        """
        if radius < 0:
            raise ValueError(f"goal table radius must be >= 0, got {radius}")
        inverse_action = np.asarray(inverse_action)
        frontier = goal[None]
        keys = [domain.hash(frontier)]
        distances = [np.zeros(1, np.uint8)]
        actions = [np.full(1, NO_ACTION, np.uint8)]
        seen = np.sort(keys[0])
        for depth in range(1, radius + 1):
            child_keys, valid, num_actions = children_keys(domain, frontier, chunk_size)
            candidates = np.flatnonzero(valid)
            _, first = np.unique(child_keys[candidates], return_index=True)
            candidates = candidates[first]
            candidates = candidates[sorted_rows(seen, child_keys[candidates]) < 0]
            keys.append(child_keys[candidates])
            distances.append(np.full(len(candidates), depth, np.uint8))
            actions.append(inverse_action[candidates % num_actions].astype(np.uint8))
            seen = np.sort(np.concatenate([seen, keys[-1]]))
            if depth < radius:
                frontier = children_at(domain, frontier, candidates, num_actions, chunk_size)
        return cls(goal, np.concatenate(keys), np.concatenate(distances), np.concatenate(actions), radius)

    def __len__(self) -> int:
        return len(self.keys)

    def save(self, path: str | Path) -> None:
        """Write the table as ``.npz``, atomically: a reader sees the old file or the whole new one."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            goal=self.goal,
            keys=self.keys,
            distances=self.distances,
            actions=self.actions,
            radius=self.radius,
        )
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> GoalTable:
        """A table written by :meth:`save`; check it with :meth:`matches` before trusting it."""
        with np.load(path, allow_pickle=False) as data:
            return cls(data["goal"], data["keys"], data["distances"], data["actions"], int(data["radius"]))

    def matches(self, domain: Domain, goal: np.ndarray, radius: int) -> bool:
        """Whether this table holds ``goal``'s ball of ``radius`` under ``domain``'s hash.

        A saved table outlives the code that wrote it: if the hash function has changed since, the
        goal and its children are no longer found at distances 0 and 1.
        """
        if self.radius != radius or not np.array_equal(self.goal, goal) or radius < 1:
            return False
        children, valid = domain.children(goal[None])
        rows = self.lookup(domain.hash(np.concatenate([goal[None], children[0][valid[0]]])))
        if (rows < 0).any():
            return False
        return bool(self.distances[rows[0]] == 0 and (self.distances[rows[1:]] == 1).all())

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key in the table, or -1 where a key is absent."""
        return sorted_rows(self.keys, keys)

    def path_home(self, domain: Domain, state: np.ndarray) -> list[int] | None:
        """The table's moves from ``state`` to the goal, or None if ``state`` is not (truly) in it."""
        actions: list[int] = []
        for _ in range(self.radius + 1):
            row = int(self.lookup(domain.hash(state[None]))[0])
            if row < 0:
                return None
            if self.distances[row] == 0:
                # a 64-bit hash can collide; only the goal itself ends the path
                return actions if np.array_equal(state, self.goal) else None
            action = int(self.actions[row])
            state = domain.children(state[None])[0][0, action]
            actions.append(action)
        return None

    def finish(self, domain: Domain, states: np.ndarray, keys: np.ndarray) -> tuple[int, list[int]] | None:
        """``(i, moves)`` for the state of the batch nearest the goal by the table, or None if none
        is in it; ``moves`` lead from ``states[i]`` to the goal."""
        rows = self.lookup(keys)
        hits = np.flatnonzero(rows >= 0)
        for index in hits[np.argsort(self.distances[rows[hits]], kind="stable")]:
            path = self.path_home(domain, states[index])
            if path is not None:
                return int(index), path
        return None


def sorted_rows(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of each of ``keys`` in the sorted, non-empty array ``sorted_keys``, or -1 if absent."""
    # Searching in key order walks the 9.2M-key table forward instead of at random: 2.7x faster for
    # a beam depth's 24k keys, 6x for 288k (benchmarks/cube_table_lookup.py).
    order = np.argsort(keys)
    positions = np.empty(len(keys), dtype=np.intp)
    positions[order] = np.searchsorted(sorted_keys, keys[order])
    positions = np.minimum(positions, len(sorted_keys) - 1)
    return np.where(sorted_keys[positions] == keys, positions, -1)


def children_keys(domain: Domain, parents: np.ndarray, chunk_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Hash and validity of every child of ``parents``, flat (child ``a`` of parent ``i`` at
    ``i * num_actions + a``), and ``num_actions``; children are made ``chunk_size`` parents at a time."""
    keys, valid, num_actions = [], [], 0
    for start in range(0, max(len(parents), 1), chunk_size):  # once even for no parents: empty arrays
        children, chunk_valid = domain.children(parents[start : start + chunk_size])
        num_actions = children.shape[1]
        keys.append(domain.hash(children.reshape(-1, *children.shape[2:])))
        valid.append(chunk_valid.reshape(-1))
    return np.concatenate(keys), np.concatenate(valid), num_actions


def children_at(
    domain: Domain, parents: np.ndarray, flat_indices: np.ndarray, num_actions: int, chunk_size: int
) -> np.ndarray:
    """The children at ``flat_indices`` (as numbered by :func:`children_keys`), made again in chunks."""
    made = []
    for start in range(0, len(flat_indices), chunk_size):
        rows, moves = np.divmod(flat_indices[start : start + chunk_size], num_actions)
        made.append(domain.children(parents[rows])[0][np.arange(len(rows)), moves])
    return np.concatenate(made) if made else parents[:0]


def cache_dir() -> Path:
    """Where built tables are kept between runs: ``$CLRL_CACHE_DIR``, else the user cache folder."""
    return Path(os.environ.get("CLRL_CACHE_DIR") or platformdirs.user_cache_dir("clrl"))


@functools.cache
def cube_goal_table(radius: int) -> GoalTable | None:
    """Every cube state within ``radius`` quarter turns of solved; 0: none.

    Built once per process, and saved to :func:`cache_dir` so that later runs only load it (radius
    7 takes ~5 s to build, well under a second to load). A cached file that is unreadable or was
    written for another radius or hash function is built again.
    """
    if not 0 <= radius <= MAX_GOAL_RADIUS:
        raise ValueError(f"the goal radius must be between 0 and {MAX_GOAL_RADIUS}, got {radius}")
    if radius == 0:
        return None
    domain = CubeDomain()
    path = cache_dir() / f"cube_goal_table_r{radius}.npz"
    try:
        table = GoalTable.load(path)
        if table.matches(domain, SOLVED_STATE, radius):
            return table
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        pass
    print(f"building the cube goal table (radius {radius}); it is saved to {path}", file=sys.stderr)
    table = GoalTable.build(domain, SOLVED_STATE, radius, domain.inverse_action)
    try:
        table.save(path)
    except OSError:
        pass  # an unwritable cache only costs the next run the build
    return table
