"""How far from the goal does the learned cube distance still point the way? Why greedy fails.

Greedy latent descent (``--planner greedy``) solves only if, from every state on its path, the
child it picks (the one with the lowest latent distance) is one move nearer the goal often enough.
Two measurements, both with the encoder alone (no goal table, no search):

* the nearer-child rate by exact distance ``d``: for states exactly ``d`` quarter turns from solved
  (found by random walks; their distance read from the radius-7 goal table, or beyond it found by a
  breadth-first search into the table, :mod:`clrl.planners.exact_distance`), the fraction whose
  best-scoring child is at ``d - 1``;
* the greedy path from random cubes (1000-move scrambles, the evaluation's seed-0 puzzles), as
  Kociemba two-phase solution lengths in quarter turns (an upper bound on the true distance) every
  ``--every`` moves, and how the state the encoder scores lowest on the path looks: stickers out of
  place (a random cube has ~40 of 54; one quarter turn moves 20) and its Kociemba length.

    python benchmarks/cube_greedy_reach.py [--checkpoint F [F ...]] [--states 300] [--min-distance 1]
        [--max-distance 12] [--cubes 3] [--moves 3000] [--symmetries 1 48] [--ensemble] [--move-head]

Several checkpoints are compared on the same states (one column each; the greedy paths follow the
first); ``--symmetries K ...`` adds a column per checkpoint for each K, scored by the mean over K
symmetric images of each state (``solve --symmetries``). With two or more checkpoints a second table
pairs each column with the first checkpoint's column on as many images, on the same states (states
only one of them gets right, and McNemar's exact test of that split). ``--move-head`` adds a column
per checkpoint that has a move head (``move_ranking.weight > 0``) and K: the state's best quarter
turn as the head ranks them, its scores the mean over K images (paired against the first
checkpoint's distance on as many images). ``--ensemble`` adds a column
per K for the checkpoints together: the sum of their distances, each divided by its own slope (mean
distance per move, from states 4 and 7 moves out), so that every encoder weighs the same per move.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from clrl.checkpoint import load_checkpoint
from clrl.cli import run_command
from clrl.crtr.evaluate import suite_puzzles
from clrl.crtr.model import LearnedModel, resolve_checkpoint
from clrl.crtr.move_ranking import MoveScores, saved_move_scorer
from clrl.envs.cube.constants import SOLVED_STATE
from clrl.envs.cube.kernels import apply_moves
from clrl.envs.cube.trajectories import random_states
from clrl.errors import UserError
from clrl.planners.domain import CubeDomain
from clrl.planners.exact_distance import nearer_child_picks, nearer_move_picks, states_at_distance
from clrl.planners.goal_table import cube_goal_table
from clrl.planners.running import kociemba_solve
from clrl.planners.search import greedy
from clrl.runs import cpu_model

TABLE_RADIUS = 7
#: Exact distances of the states that set each encoder's rise per move for ``--ensemble``, and how
#: many states at each.
CALIBRATION_DISTANCES = (4, 7)
CALIBRATION_STATES = 100


class SlopeNormalisedSum:
    """The sum of several distances, each divided by its mean rise per move between two sets of states."""

    def __init__(
        self,
        members: Sequence[Callable[[np.ndarray], np.ndarray]],
        near: np.ndarray,
        far: np.ndarray,
        moves_apart: int,
    ) -> None:
        self.members = members
        self.slopes = [float(h(far).mean() - h(near).mean()) / moves_apart for h in members]

    def __call__(self, states: np.ndarray) -> np.ndarray:
        return sum(h(states) / slope for h, slope in zip(self.members, self.slopes, strict=True))


def print_paired(
    names: Sequence[str], baselines: Sequence[int], picks_by_distance: dict[int, list[np.ndarray]]
) -> None:
    """Each column against its baseline column (``baselines[i]``: the first checkpoint's column with
    the same images) on the same states: how many states only it gets right, how many only the
    baseline does, and the two-sided sign test's p-value (McNemar's exact test) of that split.
    Paired, it tells a real difference from the states' draw more sharply than two rates' errors."""
    pairs = [(column, baseline) for column, baseline in enumerate(baselines) if column != baseline]
    if not pairs:
        return
    print("\npaired against the first checkpoint read on as many images: states right only here / right only")
    print("there (sign-test p)\n")
    print("| exact distance | " + " | ".join(names[column] for column, _ in pairs) + " |")
    print("|---:|" + "---:|" * len(pairs))
    for distance, picks in picks_by_distance.items():
        cells = []
        for column, baseline in pairs:
            here, there = picks[column], picks[baseline]
            gained, lost = int((here & ~there).sum()), int((there & ~here).sum())
            p_value = binomtest(gained, gained + lost).pvalue if gained + lost else 1.0
            cells.append(f"+{gained} / -{lost} (p={p_value:.2g})")
        print(f"| {distance} | " + " | ".join(cells) + " |")


def kociemba_length(state: np.ndarray) -> int:
    return kociemba_solve(state).length


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--checkpoint",
        type=Path,
        nargs="+",
        default=[None],
        help="cube checkpoints, files or shipped names (default: the shipped cube.pt)",
    )
    parser.add_argument("--states", type=int, default=300, help="states per exact distance")
    parser.add_argument("--min-distance", type=int, default=1, help="smallest exact distance")
    parser.add_argument(
        "--max-distance", type=int, default=12, help="largest exact distance (beyond 7: breadth-first search)"
    )
    parser.add_argument("--cubes", type=int, default=3, help="random cubes to follow greedily")
    parser.add_argument("--moves", type=int, default=3000, help="greedy moves per cube")
    parser.add_argument("--every", type=int, default=250, help="moves between Kociemba readings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--symmetries",
        type=int,
        nargs="+",
        default=[1],
        help="mean over K symmetric images (one column each K)",
    )
    parser.add_argument(
        "--ensemble",
        action="store_true",
        help="add a column per K for all the checkpoints together (slope-normalised sum)",
    )
    parser.add_argument(
        "--move-head",
        action="store_true",
        help="add a column per checkpoint and K for its move head's best move (move_ranking runs)",
    )
    args = parser.parse_args(argv)
    if args.ensemble and len(args.checkpoint) < 2:
        parser.error("--ensemble needs two or more checkpoints")

    print(f"`python {shlex.join(sys.argv)}` on {cpu_model()} ({platform.machine()})\n")
    runs = [(checkpoint, k) for checkpoint in args.checkpoint for k in args.symmetries]
    loaded = {checkpoint: LearnedModel.load("cube", checkpoint) for checkpoint in args.checkpoint}
    domain = CubeDomain()
    table = cube_goal_table(TABLE_RADIUS)
    rng = np.random.default_rng(args.seed)

    heuristics = [loaded[checkpoint].heuristic(SOLVED_STATE, k) for checkpoint, k in runs]
    names = [
        str(checkpoint or "shipped cube.pt") + (f", {k} symmetries" if k > 1 else "")
        for checkpoint, k in runs
    ]
    if args.ensemble:
        near, far = CALIBRATION_DISTANCES
        # each from its own generator, apart from the measured states' stream
        near_states, far_states = (
            states_at_distance(
                table, domain, random_states, d, CALIBRATION_STATES, np.random.default_rng(args.seed + 1)
            )
            for d in (near, far)
        )
        single = list(zip(runs, heuristics, strict=True))
        for k in args.symmetries:
            members = [h for (_, symmetries), h in single if symmetries == k]
            heuristics.append(SlopeNormalisedSum(members, near_states, far_states, far - near))
            names.append("all together" + (f", {k} symmetries" if k > 1 else ""))
    move_heads, move_head_images = [], []  # the move heads' columns: the best of the state's 12 turns
    if args.move_head:
        for checkpoint in args.checkpoint:
            path = resolve_checkpoint("cube", checkpoint)
            saved = load_checkpoint(path, job="cube")
            if "move_head" not in saved.state:
                continue  # a distance only: its columns above stand for it
            scorer, featurize = saved_move_scorer(saved, str(path))
            for k in args.symmetries:
                move_heads.append(MoveScores(scorer, featurize, k))
                move_head_images.append(k)
                name = str(checkpoint or "shipped cube.pt") + ", move head"
                names.append(name + (f", {k} symmetries" if k > 1 else ""))
        if not move_heads:
            raise UserError("--move-head: none of the checkpoints has a move head (move_ranking.weight 0)")
    print("best-scoring child one move nearer (mean latent distance), by exact distance\n")
    print("| exact distance | " + " | ".join(names) + " |")
    print("|---:|" + "---:|" * len(names))
    picks_by_distance = {}
    for distance in range(1, args.max_distance + 1):
        states = states_at_distance(table, domain, random_states, distance, args.states, rng)
        if distance < args.min_distance:  # drawn all the same, so each distance's states stay the same
            continue
        picks = [nearer_child_picks(table, domain, heuristic, states, distance) for heuristic in heuristics]
        cells = [f"{p.mean():.1%} ({h(states).mean():.3f})" for p, h in zip(picks, heuristics, strict=True)]
        picks += [nearer_move_picks(table, domain, scores, states, distance) for scores in move_heads]
        cells += [f"{p.mean():.1%}" for p in picks[len(heuristics) :]]
        print(f"| {distance} | " + " | ".join(cells) + " |", flush=True)
        picks_by_distance[distance] = picks
    # the first checkpoint's column read on as many images, for every column (ensembles' too)
    images = [k for _, k in runs] + (list(args.symmetries) if args.ensemble else [])
    images += move_head_images
    baselines = [runs.index((args.checkpoint[0], k)) for k in images]
    print_paired(names, baselines, picks_by_distance)

    if args.cubes == 0:
        return 0
    every = args.every
    print(
        f"\n| random cube | Kociemba length (quarter turns) every {every} moves | latent: start, lowest "
        "| lowest-scoring state: stickers out of place, Kociemba length |"
    )
    print("|---:|---|---|---|")
    checkpoint, symmetries = runs[0]
    for index, start in enumerate(suite_puzzles("cube", "random", args.cubes, args.seed, {})):
        heuristic = loaded[checkpoint].heuristic(start, symmetries)
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
    raise SystemExit(run_command(main, None))  # a missing checkpoint or move head: one error line
