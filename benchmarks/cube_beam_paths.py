"""What a round of cube expert iteration costs before it trains: the learned beam's paths, per cube.

Solves the first ``--cubes`` random cubes of a ``data.trajectories=beam`` run (seed ``--seed``,
``--scramble``-move scrambles) with the beam that run would use, and prints how many it solved, their
mean length in quarter turns, and the wall and CPU seconds per cube (the goal table loaded first,
outside the timing).

    python benchmarks/cube_beam_paths.py [--checkpoint cube] [--cubes 3] [--width 2048]
        [--budget 81920] [--goal-radius 7] [--scramble 1000] [--precision auto] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from clrl.crtr.expert_iteration import beam_cubes, beam_paths
from clrl.crtr.model import LearnedModel
from clrl.planners.goal_table import cube_goal_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="cube", help="file, or a shipped name (cube, cube_crtr)")
    parser.add_argument("--cubes", type=int, default=3)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--budget", type=int, default=81920)
    parser.add_argument("--goal-radius", type=int, default=7)
    parser.add_argument("--scramble", type=int, default=1000)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    model = LearnedModel.load("cube", Path(args.checkpoint), args.precision)
    cube_goal_table(args.goal_radius)  # built or loaded once, outside the timing
    cubes = beam_cubes(args.seed, args.cubes, args.scramble)
    wall, cpu = time.perf_counter(), time.process_time()
    states, offsets, unsolved = beam_paths(
        model, cubes, args.width, args.budget, args.goal_radius, progress=False
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    solved = len(offsets) - 1
    mean = float(np.mean(np.diff(offsets) - 1)) if solved else float("nan")
    print(
        f"{args.checkpoint}, width {args.width}, {args.budget} nodes, goal radius {args.goal_radius}, "
        f"{args.scramble}-move scrambles: solved {solved}/{args.cubes} ({unsolved} unsolved), "
        f"{mean:.1f} quarter turns, {wall / args.cubes:.2f} s wall and {cpu / args.cubes:.2f} s CPU per cube"
    )


if __name__ == "__main__":
    main()
