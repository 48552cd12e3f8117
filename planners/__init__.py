"""Planners that solve puzzles with a heuristic: greedy descent, best-first / weighted A*, beam search,
and a goal table that finishes any of them exactly from near the goal."""

from clrl.planners.domain import CubeDomain, Domain
from clrl.planners.goal_table import GoalTable
from clrl.planners.heuristics import LatentDistance, SymmetricMean, misplaced_stickers
from clrl.planners.search import SearchResult, beam, best_first, breadth_first_distance, greedy

__all__ = [
    "CubeDomain",
    "Domain",
    "GoalTable",
    "LatentDistance",
    "SearchResult",
    "SymmetricMean",
    "beam",
    "best_first",
    "breadth_first_distance",
    "greedy",
    "misplaced_stickers",
]
