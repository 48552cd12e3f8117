"""Sokoban levels: parse and format the Boxoban text format.

Format (the project's DESIGN contract): ``#`` wall, ``@`` player, ``$`` box, ``.`` goal, ``*`` box on goal,
``+`` player on goal, space floor. A file holds several levels, each introduced by a ``; N`` line;
a text without ``;`` lines is a single level. Malformed input raises :class:`LevelFormatError`
naming the file, the level and the line.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clrl.envs.sokoban.constants import (
    BOX,
    BOX_ON_GOAL,
    CELL_CHARS,
    CHAR_TO_CELL,
    GOAL,
    IS_BOX,
    IS_GOAL,
    IS_PLAYER,
    PLAYER_ON_GOAL,
    WALL,
)
from clrl.errors import UserError


class LevelFormatError(UserError):
    """A Sokoban level text is malformed; the message names file, level and line."""


@dataclass(frozen=True, eq=False)
class Level:
    """One Sokoban level: its initial state grid and where it came from.

    Attributes:
        grid: ``(H, W)`` uint8 cell types (see :mod:`clrl.envs.sokoban.constants`).
        name: the label from the ``; N`` line (or the level's position when there is none).
        source: file name or other origin (``"generator(seed=3)"``, ``"<text>"``).
    """

    grid: np.ndarray
    name: str = "0"
    source: str = "<text>"

    @property
    def shape(self) -> tuple[int, int]:
        return self.grid.shape  # type: ignore[return-value]

    @property
    def walls(self) -> np.ndarray:
        return self.grid == WALL

    @property
    def goals(self) -> np.ndarray:
        return IS_GOAL[self.grid]

    @property
    def boxes(self) -> np.ndarray:
        return IS_BOX[self.grid]

    @property
    def player(self) -> tuple[int, int]:
        row, col = np.argwhere(IS_PLAYER[self.grid])[0]
        return int(row), int(col)

    @property
    def num_boxes(self) -> int:
        return int(self.boxes.sum())

    def __str__(self) -> str:
        return format_grid(self.grid)


def format_grid(grid: np.ndarray) -> str:
    """Boxoban text of one ``(H, W)`` state grid (rows joined by newlines, no header)."""
    table = np.array(list(CELL_CHARS))
    return "\n".join("".join(row) for row in table[np.asarray(grid)])


def format_levels(levels: list[Level]) -> str:
    """Boxoban file text for several levels, each under a ``; name`` header."""
    return "".join(f"; {level.name}\n{format_grid(level.grid)}\n\n" for level in levels)


def pad_grid(grid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pad a grid with walls on the bottom and right to ``shape`` (walls change no dynamics)."""
    height, width = grid.shape
    if height > shape[0] or width > shape[1]:
        raise LevelFormatError(f"level of size {height}x{width} does not fit into {shape[0]}x{shape[1]}")
    padded = np.full(shape, WALL, dtype=np.uint8)
    padded[:height, :width] = grid
    return padded


def parse_level(text: str, *, name: str = "0", source: str = "<text>", first_line: int = 1) -> Level:
    """Parse one level from its rows (a ``; N`` header line, if present, is skipped).

    ``first_line`` is the file line number of the first row, for error messages.
    """
    rows = text.splitlines()
    if rows and rows[0].startswith(";"):
        rows, first_line = rows[1:], first_line + 1
    while rows and not rows[-1].strip():
        rows.pop()
    return _parse_rows(rows, name=name, source=source, first_line=first_line)


def parse_levels(text: str, *, source: str = "<text>") -> list[Level]:
    """Parse every level of a Boxoban file text (levels separated by ``; N`` lines); the first
    malformed level raises its :class:`LevelFormatError`."""
    levels = [
        _parse_rows(rows, name=name, source=source, first_line=first_line)
        for name, first_line, rows in _level_rows(text)
    ]
    if not levels:
        raise LevelFormatError(f"{source}: no levels found")
    return levels


def parse_each_level(text: str, *, source: str = "<text>") -> list[Level | LevelFormatError]:
    """Every level of a Boxoban file text, each parsed on its own: a malformed level is its
    :class:`LevelFormatError`, in its place, so a batch can go on past it (a text without any level
    still raises)."""
    entries: list[Level | LevelFormatError] = []
    for name, first_line, rows in _level_rows(text):
        try:
            entries.append(_parse_rows(rows, name=name, source=source, first_line=first_line))
        except LevelFormatError as error:
            entries.append(error)
    if not entries:
        raise LevelFormatError(f"{source}: no levels found")
    return entries


def _level_rows(text: str) -> Iterator[tuple[str, int, list[str]]]:
    """``(name, first line, rows)`` of each level of a Boxoban file text, in file order; a level
    without a ``; N`` line is named by its position."""
    count = 0
    rows: list[str] = []
    name, first_line = None, 1
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.rstrip("\r\n")
        if line.startswith(";"):
            if rows:
                yield (name if name is not None else str(count)), first_line, rows
                count += 1
            rows, name, first_line = [], line[1:].strip() or str(count), line_number + 1
        elif not line.strip():
            if rows:  # a blank line ends the rows of the current level
                yield (name if name is not None else str(count)), first_line, rows
                count += 1
                rows, name = [], None
            first_line = line_number + 1
        else:
            if not rows:
                first_line = line_number
            rows.append(line)
    if rows:
        yield (name if name is not None else str(count)), first_line, rows


def load_levels(path: str | Path) -> list[Level]:
    """Read all levels of a Boxoban file."""
    return parse_levels(read_level_file(path), source=str(path))


def load_each_level(path: str | Path) -> list[Level | LevelFormatError]:
    """Read all levels of a Boxoban file, a malformed one as its error (:func:`parse_each_level`)."""
    return parse_each_level(read_level_file(path), source=str(path))


def read_level_file(path: str | Path) -> str:
    """The text of a level file; one that cannot be read raises :class:`LevelFormatError`."""
    path = Path(path)
    try:
        # utf-8-sig: a byte-order mark, as some Windows editors write, is not part of the first row
        return path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise LevelFormatError(f"{path}: cannot read level file ({error.strerror})") from error
    except UnicodeDecodeError as error:
        raise LevelFormatError(f"{path}: not a text file") from error


def _parse_rows(rows: list[str], *, name: str, source: str, first_line: int) -> Level:
    where = f"{source}: level {name}"
    if not rows:
        raise LevelFormatError(f"{where}: empty level")
    width = len(rows[0])
    for offset, row in enumerate(rows):
        if len(row) != width:
            raise LevelFormatError(
                f"{where}, line {first_line + offset}: row has {len(row)} characters, expected {width} "
                "(the map must be rectangular)"
            )
        for col, char in enumerate(row):
            if char not in CHAR_TO_CELL:
                raise LevelFormatError(
                    f"{where}, line {first_line + offset}, column {col + 1}: unknown character {char!r} "
                    f"(expected one of {CELL_CHARS!r})"
                )
    grid = np.array([[CHAR_TO_CELL[char] for char in row] for row in rows], dtype=np.uint8)

    players = np.argwhere(IS_PLAYER[grid])
    all_lines = f"lines {first_line}-{first_line + len(rows) - 1}"
    if len(players) == 0:
        raise LevelFormatError(f"{where}, {all_lines}: no player ('@' or '+')")
    if len(players) > 1:
        lines = ", ".join(str(first_line + int(row)) for row, _ in players)
        raise LevelFormatError(f"{where}, lines {lines}: {len(players)} players, expected one")
    num_boxes = int(((grid == BOX) | (grid == BOX_ON_GOAL)).sum())
    num_goals = int(((grid == GOAL) | (grid == BOX_ON_GOAL) | (grid == PLAYER_ON_GOAL)).sum())
    if num_boxes != num_goals:
        raise LevelFormatError(f"{where}, {all_lines}: {num_boxes} boxes but {num_goals} goals")
    if num_boxes == 0:
        raise LevelFormatError(f"{where}, {all_lines}: no boxes")
    leak = _reachable_border_cell(grid, tuple(players[0]))
    if leak is not None:
        raise LevelFormatError(
            f"{where}, line {first_line + leak[0]}, column {leak[1] + 1}: map is not closed "
            "(the player can walk off the edge)"
        )
    return Level(grid=grid, name=name, source=source)


def _reachable_border_cell(grid: np.ndarray, start: tuple[int, int]) -> tuple[int, int] | None:
    """First border cell the player can reach walking over non-wall cells, or None if enclosed."""
    height, width = grid.shape
    seen = np.zeros(grid.shape, dtype=bool)
    queue = deque([start])
    seen[start] = True
    while queue:
        row, col = queue.popleft()
        if row in (0, height - 1) or col in (0, width - 1):
            return row, col
        for d_row, d_col in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            nxt = (row + d_row, col + d_col)
            if not seen[nxt] and grid[nxt] != WALL:
                seen[nxt] = True
                queue.append(nxt)
    return None
