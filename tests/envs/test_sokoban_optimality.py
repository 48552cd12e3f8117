"""The classical Sokoban solver is push-optimal: its push counts equal a brute-force breadth-first
search over push states, on Boxoban levels where an inadmissible (inflated) heuristic finds longer
solutions, so a heuristic that overestimates fails here.

Levels 2, 8, 9 and 14 of Boxoban ``medium/valid/000.txt`` (DeepMind, Apache-2.0; see
shared/data/boxoban/LICENSE), copied in so the test runs without the data folder.
"""

from collections import deque

import numpy as np
import pytest

from clrl.envs.sokoban.constants import BOX, BOX_ON_GOAL, GOAL, PLAYER, PLAYER_ON_GOAL, WALL
from clrl.envs.sokoban.levels import parse_levels
from clrl.envs.sokoban.solver import solve

LEVELS = """; 2
##########
###@$ .  #
##### $ .#
##### $  #
######..$#
#######  #
##########
##########
##########
##########
; 8
##########
# $     .#
#   .  $ #
######## #
########.#
#####@#  #
#####$ # #
#### . $ #
####     #
##########
; 9
##########
###     @#
### $$.$ #
#### #####
####  ####
### .### #
###  ### #
###    $ #
### .  . #
##########
; 14
##########
##   @ . #
##$ # $$ #
#  #### ##
#    $  ##
##.#  .  #
#######. #
#######  #
##########
##########
"""
STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def fewest_pushes(grid: np.ndarray) -> int:
    """Breadth-first search over (box cells, player region): the least number of pushes that solves."""
    walls = grid == WALL
    goals = frozenset(zip(*np.nonzero(np.isin(grid, (GOAL, BOX_ON_GOAL, PLAYER_ON_GOAL))), strict=True))
    boxes = frozenset(zip(*np.nonzero(np.isin(grid, (BOX, BOX_ON_GOAL))), strict=True))
    player = tuple(np.argwhere(np.isin(grid, (PLAYER, PLAYER_ON_GOAL)))[0])

    def region(start, boxes):
        seen, todo = {start}, [start]
        while todo:
            row, col = todo.pop()
            for dr, dc in STEPS:
                cell = (row + dr, col + dc)
                if not walls[cell] and cell not in boxes and cell not in seen:
                    seen.add(cell)
                    todo.append(cell)
        return seen

    reach = region(player, boxes)
    frontier, seen = deque([(boxes, reach, 0)]), {(boxes, min(reach))}
    while frontier:
        boxes, reach, pushes = frontier.popleft()
        if boxes == goals:
            return pushes
        for row, col in boxes:
            for dr, dc in STEPS:
                behind, ahead = (row - dr, col - dc), (row + dr, col + dc)
                if behind in reach and not walls[ahead] and ahead not in boxes:
                    moved = (boxes - {(row, col)}) | {ahead}
                    moved_reach = region((row, col), moved)
                    if (moved, min(moved_reach)) not in seen:
                        seen.add((moved, min(moved_reach)))
                        frontier.append((moved, moved_reach, pushes + 1))
    raise AssertionError("level has no solution")


@pytest.fixture(scope="module")
def levels():
    return parse_levels(LEVELS)


@pytest.fixture(scope="module")
def optimal(levels):
    return [fewest_pushes(level.grid) for level in levels]


def test_the_solver_finds_the_fewest_pushes(levels, optimal):
    assert [solve(level.grid).pushes for level in levels] == optimal


def test_these_levels_catch_an_inflated_heuristic(levels, optimal):
    """Weighted A* (heuristic x3) pushes more on three of the four: the levels can tell."""
    inflated = [solve(level.grid, weight=3.0).pushes for level in levels]
    assert sum(i > o for i, o in zip(inflated, optimal, strict=True)) >= 3
