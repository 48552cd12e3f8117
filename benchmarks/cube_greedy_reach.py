"""How far from the goal does the learned cube distance still point the way? Why greedy fails.

Greedy latent descent (``--planner greedy``) solves only if, from every state on its path, the
child it picks (the one with the lowest latent distance) is one move nearer the goal often enough.
Two measurements, both with the encoder alone (no goal table, no search):

* step accuracy by exact distance ``d``: for states exactly ``d`` quarter turns from solved (found
  by random walks, their distance read from the radius-7 goal table), the fraction whose
  best-scoring child is at ``d - 1``; ``d = 8`` is a walk of 8 outside the table with a child in it;
* the greedy path from random cubes (1000-move scrambles, the evaluation's seed-0 puzzles), as
  Kociemba two-phase solution lengths in quarter turns (an upper bound on the true distance) every
  ``--every`` moves, and how the state the encoder scores lowest on the path looks: stickers out of
  place (a random cube has ~40 of 54; one quarter turn moves 20) and its Kociemba length.

    python benchmarks/cube_greedy_reach.py [--checkpoint F] [--states 300] [--cubes 3] [--moves 3000]
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
from pathlib import Path

import numpy as np

from clrl.envs.cube.constants import SOLVED_STATE
from clrl.envs.cube.kernels import apply_moves, apply_sequences
from clrl.planners.domain import CubeDomain
from clrl.planners.goal_table import GoalTable, cube_goal_table
from clrl.planners.search import greedy
from clrl.puzzle_evaluation import suite_puzzles
from clrl.puzzle_solving import LearnedModel, kociemba_solve
from clrl.runs import cpu_model

TABLE_RADIUS = 7


def table_distance(table: GoalTable, domain: CubeDomain, states: np.ndarray) -> np.ndarray:
    """Exact distance of each state within the table's radius, -1 beyond it."""
    rows = table.lookup(domain.hash(states))
    return np.where(rows >= 0, table.distances[np.maximum(rows, 0)].astype(int), -1)


def states_at_distance(
    table: GoalTable, domain: CubeDomain, distance: int, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``count`` states exactly ``distance`` quarter turns from solved (``distance <= radius + 1``)."""
    found: list[np.ndarray] = []
    while sum(len(f) for f in found) < count:
        walks = rng.integers(0, domain.num_actions, size=(4 * count, distance))
        states = apply_sequences(np.repeat(SOLVED_STATE[None], len(walks), axis=0), walks)
        exact = table_distance(table, domain, states)
        if distance <= table.radius:
            keep = exact == distance
        else:  # outside the table, one move from its rim
            children = domain.children(states)[0].reshape(-1, SOLVED_STATE.size)
            child_exact = table_distance(table, domain, children).reshape(len(states), -1)
            keep = (exact < 0) & (child_exact == table.radius).any(axis=1)
        found.append(states[keep])
    return np.concatenate(found)[:count]


def step_accuracy(
    model: LearnedModel, table: GoalTable, domain: CubeDomain, states: np.ndarray, distance: int
) -> tuple[float, float]:
    """Fraction of ``states`` whose best-scoring child is one move nearer, and their mean score."""
    heuristic = model.heuristic(SOLVED_STATE)
    children = domain.children(states)[0]
    scores = heuristic(children.reshape(-1, SOLVED_STATE.size)).reshape(len(states), -1)
    picked = children[np.arange(len(states)), scores.argmin(axis=1)]
    nearer = table_distance(table, domain, picked) == distance - 1
    return float(nearer.mean()), float(heuristic(states).mean())


def kociemba_length(state: np.ndarray) -> int:
    return kociemba_solve(state).length


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="cube checkpoint (default: shipped)")
    parser.add_argument("--states", type=int, default=300, help="states per exact distance")
    parser.add_argument("--cubes", type=int, default=3, help="random cubes to follow greedily")
    parser.add_argument("--moves", type=int, default=3000, help="greedy moves per cube")
    parser.add_argument("--every", type=int, default=250, help="moves between Kociemba readings")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"`python {shlex.join(sys.argv)}` on {cpu_model()} ({platform.machine()})\n")
    model = LearnedModel.load("cube", args.checkpoint)
    domain = CubeDomain()
    table = cube_goal_table(TABLE_RADIUS)
    rng = np.random.default_rng(args.seed)

    print("| exact distance | best-scoring child one move nearer | mean latent distance |")
    print("|---:|---:|---:|")
    for distance in range(1, TABLE_RADIUS + 2):
        states = states_at_distance(table, domain, distance, args.states, rng)
        accuracy, latent = step_accuracy(model, table, domain, states, distance)
        print(f"| {distance} | {accuracy:.1%} | {latent:.3f} |", flush=True)

    every = args.every
    print(
        f"\n| random cube | Kociemba length (quarter turns) every {every} moves | latent: start, lowest "
        "| lowest-scoring state: stickers out of place, Kociemba length |"
    )
    print("|---:|---|---|---|")
    for index, start in enumerate(suite_puzzles("cube", "random", args.cubes, args.seed, {})):
        heuristic = model.heuristic(start)
        result = greedy(domain, heuristic, start, max_moves=args.moves)
        path = [start]
        for action in result.actions:
            path.append(apply_moves(path[-1][None], action)[0])
        lengths = ", ".join(str(kociemba_length(state)) for state in path[::every])
        latent = heuristic(np.stack(path))
        lowest = path[int(latent.argmin())]
        misplaced = int((lowest != SOLVED_STATE).sum())
        solved = " (solved)" if result.solved else ""
        print(
            f"| {index} | {lengths}{solved} | {latent[0]:.3f}, {latent.min():.3f} "
            f"| {misplaced}, {kociemba_length(lowest)} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
