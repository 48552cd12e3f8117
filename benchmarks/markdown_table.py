"""The benchmarks' Markdown tables: a header, then one row at a time as each is measured.

    table = MarkdownTable(["policy (env steps)", "episodes", "fall rate"], "lrr")
    table.print_header()
    table.print_row(policy.label, 10, f"{0.1:.2f}")  # | policy ... | 10 | 0.10 |

A benchmark run as ``python benchmarks/NAME.py`` imports it as ``from markdown_table import ...``
(Python puts the script's folder on the path).
"""

from __future__ import annotations

from collections.abc import Sequence

#: The Markdown delimiter of each alignment: ``l`` for text, ``r`` for numbers.
RULES = {"l": "---", "r": "---:"}


class MarkdownTable:
    """A Markdown table's columns and their alignment.

    Args:
        columns: the column names, left to right.
        align: one letter a column, ``l`` (left: text) or ``r`` (right: numbers).
    """

    def __init__(self, columns: Sequence[str], align: str) -> None:
        if len(align) != len(columns) or set(align) - set(RULES):
            raise ValueError(
                f"align needs one of {', '.join(RULES)} for each of the {len(columns)} columns, got {align!r}"
            )
        self.columns = list(columns)
        self.align = align

    def header(self) -> list[str]:
        """The column names' line and the delimiter line (``|---|---:|``)."""
        return [self.row(*self.columns), "|" + "|".join(RULES[letter] for letter in self.align) + "|"]

    def row(self, *cells: object) -> str:
        """One line of the table, the cells as ``str`` gives them."""
        if len(cells) != len(self.columns):
            raise ValueError(f"a row of this table has {len(self.columns)} cells, got {len(cells)}")
        return "| " + " | ".join(str(cell) for cell in cells) + " |"

    def print_header(self) -> None:
        print("\n".join(self.header()))

    def print_row(self, *cells: object) -> None:
        """Print one row now (``flush``: a long benchmark shows each row as it is measured)."""
        print(self.row(*cells), flush=True)
