"""Goal-table lookups: keys searched in the order given vs in key order (planners.goal_table.sorted_rows).

The radius-7 cube table holds 9.2M sorted 64-bit keys (74 MB). A beam depth looks up ~24k candidate
keys; searched in the order given, each binary search lands on cold memory. ``sorted_rows`` sorts the
queries first, so consecutive searches share their path through the table. One in ten query keys is
in the table, as in a beam near solved. Each figure is the median of ``--repeats`` timings, the two
orders taking turns, in one run.

    python benchmarks/cube_table_lookup.py [--sizes 2000 24000 288000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time

import numpy as np
from markdown_table import MarkdownTable

from clrl.planners.goal_table import cube_goal_table, sorted_rows
from clrl.runs import cpu_model


def rows_in_given_order(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The lookup before sorting the queries: one binary search per key, in the order given."""
    positions = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return np.where(sorted_keys[positions] == keys, positions, -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 24000, 288000])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    table = cube_goal_table(7)
    rng = np.random.default_rng(0)
    print(f"python benchmarks/cube_table_lookup.py {shlex.join(sys.argv[1:])}")
    machine = f"{cpu_model()}, Python {platform.python_version()}, NumPy {np.__version__}"
    print(f"{machine}, a table of {len(table):,} keys\n")
    out = MarkdownTable(["query keys", "in the order given (ms)", "in key order (ms)", "speed-up"], "rrrr")
    out.print_header()
    for size in args.sizes:
        present = rng.choice(table.keys, size // 10)
        absent = rng.integers(0, np.iinfo(np.int64).max, size - len(present), dtype=np.int64)
        keys = rng.permutation(np.concatenate([present, absent.astype(table.keys.dtype)]))
        assert np.array_equal(rows_in_given_order(table.keys, keys), sorted_rows(table.keys, keys))
        times: dict[str, list[float]] = {"given": [], "sorted": []}
        for _ in range(args.repeats):
            for name, lookup in (("given", rows_in_given_order), ("sorted", sorted_rows)):
                started = time.perf_counter()
                lookup(table.keys, keys)
                times[name].append(time.perf_counter() - started)
        given, in_order = (1000 * float(np.median(times[name])) for name in ("given", "sorted"))
        out.print_row(f"{size:,}", f"{given:.1f}", f"{in_order:.1f}", f"{given / in_order:.1f}x")


if __name__ == "__main__":
    main()
