"""Boxoban level parsing: round trips, the shipped files, and one precise error per malformed case."""

from __future__ import annotations

from pathlib import Path

import pytest

from clrl.envs.sokoban.levels import (
    LevelFormatError,
    format_levels,
    load_levels,
    pad_grid,
    parse_level,
    parse_levels,
)
from clrl.errors import UserError

BOXOBAN = Path(__file__).resolve().parents[3] / "shared" / "data" / "boxoban"  # shared/ beside the repo
needs_boxoban = pytest.mark.skipif(not BOXOBAN.exists(), reason="Boxoban levels not present")

GOOD = """; 7
#####
#+$ #
#*  #
#####
"""


def test_parse_and_format_round_trip():
    (level,) = parse_levels(GOOD)
    assert level.name == "7" and level.shape == (4, 5) and level.num_boxes == 2
    assert level.player == (1, 1)
    assert parse_levels(format_levels([level]))[0].grid.tolist() == level.grid.tolist()
    assert str(level) == GOOD.split("\n", 1)[1].rstrip("\n")


def test_single_level_text_without_header():
    level = parse_level("#####\n#@$.#\n#####\n")
    assert level.num_boxes == 1 and level.player == (1, 1)


@needs_boxoban
def test_shipped_boxoban_files_parse():
    levels = load_levels(BOXOBAN / "medium_valid" / "000.txt")
    assert len(levels) == 1000 and [lv.name for lv in levels[:3]] == ["0", "1", "2"]
    assert all(lv.shape == (10, 10) and lv.num_boxes == 4 for lv in levels)


def test_pad_grid_adds_walls():
    level = parse_level("#####\n#@$.#\n#####")
    padded = pad_grid(level.grid, (5, 6))
    assert padded.shape == (5, 6) and (padded[3:] == 0).all() and (padded[:, 5] == 0).all()
    with pytest.raises(LevelFormatError, match="does not fit"):
        pad_grid(level.grid, (2, 5))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("; 3\n#####\n# $.#\n#####\n", r"level 3, lines 8-10: no player"),
        ("; 3\n#####\n#@$.#\n#@  #\n#####\n", r"level 3, lines 9, 10: 2 players"),
        ("; 3\n#####\n#@$.#\n#$  #\n#####\n", r"level 3, lines 8-11: 2 boxes but 1 goals"),
        ("; 3\n#####\n#@$.#\n####\n", r"level 3, line 10: row has 4 characters, expected 5"),
        ("; 3\n#####\n#@$.#\n#  x#\n#####\n", r"level 3, line 10, column 4: unknown character 'x'"),
        ("; 3\n#####\n#@$. \n#####\n", r"level 3, line 9, column 5: map is not closed"),
        ("; 3\n#####\n#@  #\n#####\n", r"level 3, lines 8-10: no boxes"),
    ],
    ids=["no-player", "two-players", "count-mismatch", "ragged", "unknown-char", "unclosed", "no-boxes"],
)
def test_malformed_levels_raise_naming_file_level_and_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(GOOD + "\n" + text)  # GOOD and a blank line fill lines 1-6
    with pytest.raises(LevelFormatError, match=message) as caught:
        load_levels(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, UserError)


def test_line_numbers_count_from_the_file_start(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(GOOD + "\n; 8\n#####\n#@$.#\n#@  #\n#####\n")
    # GOOD has 5 lines plus a blank one; the second level's rows start at line 8.
    with pytest.raises(LevelFormatError, match=r"level 8, lines 9, 10: 2 players"):
        load_levels(path)


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(LevelFormatError, match="cannot read level file"):
        load_levels(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(LevelFormatError, match="no levels found"):
        load_levels(tmp_path / "empty.txt")
