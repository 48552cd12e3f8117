"""``python -m clrl.solve {cube,sokoban} ...``: solve puzzles with a learned distance or a baseline.

Output is human-readable by default; ``--json`` prints one JSON object per puzzle with at least
``solved``, ``solution``, ``length``, ``nodes_expanded`` and ``seconds``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from clrl.cli import OneLineParser, import_job_module, run_command

CUBE_PLANNERS = ("beam", "astar", "bestfs", "greedy", "handcrafted", "kociemba")  # first: learned
SOKOBAN_PLANNERS = ("classical", "bestfs", "beam", "greedy")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m clrl.solve", description="Solve puzzles with clrl planners.")
    puzzles = parser.add_subparsers(
        dest="puzzle", required=True, metavar="{cube,sokoban}", parser_class=OneLineParser
    )

    cube = puzzles.add_parser("cube", help="solve Rubik's Cubes (Singmaster output)")
    source = cube.add_mutually_exclusive_group()
    source.add_argument("--scramble", type=int, metavar="N", help="solve a random N-move scramble")
    source.add_argument("--state", metavar="FACELETS", help="54-character facelet string (URFDLB order)")
    source.add_argument("--states-file", type=Path, metavar="FILE", help="one facelet string per line")
    cube.add_argument("--seed", type=int, default=0, help="seed of the random scramble")
    cube.add_argument("--planner", choices=CUBE_PLANNERS, help="search method (default: measured best)")
    cube.add_argument(
        "--goal-radius",
        type=int,
        metavar="R",
        help="finish from any state within R quarter turns of solved, by table (default 7; 0: off)",
    )
    cube.add_argument(
        "--symmetries",
        type=int,
        metavar="K",
        help="score each state as the mean learned distance over K of its 48 symmetric images "
        "(default: solve.symmetries of the config, 48 for greedy, 1 for the searches)",
    )
    add_search_arguments(cube)

    sokoban = puzzles.add_parser("sokoban", help="solve Sokoban levels (LURD output)")
    sokoban.add_argument("--levels", type=Path, required=True, metavar="FILE", help="Boxoban level file")
    sokoban.add_argument("--index", type=int, metavar="N", help="solve only level N of the file")
    sokoban.add_argument("--planner", choices=SOKOBAN_PLANNERS, help="search method (default: classical)")
    add_search_arguments(sokoban)
    return parser


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", type=int, metavar="NODES", help="node budget of the search")
    parser.add_argument("--beam-width", type=int, metavar="W", help="beam width (beam planner)")
    parser.add_argument(
        "--precision",
        metavar="P",
        help="auto, float32 or bfloat16: number format of the learned distance (default: config, auto)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="learned model: a file, or the name of a shipped one (default: the shipped JOB.pt)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per puzzle")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("budget", "beam_width", "scramble", "goal_radius"):
        value = getattr(args, name, None)
        if value is not None and value < 0:
            parser.error(f"--{name.replace('_', '-')} must not be negative, got {value}")
    if getattr(args, "symmetries", None) is not None and args.symmetries < 1:
        parser.error(f"--symmetries must be at least 1, got {args.symmetries}")
    module = import_job_module("clrl.crtr.solve", f"solving {args.puzzle}")
    return module.solve(args)


def entry_point() -> None:
    raise SystemExit(run_command(main, None))


if __name__ == "__main__":
    entry_point()
