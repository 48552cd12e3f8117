"""Loading a benchmark script (``benchmarks/NAME.py``, not part of the package) for its tests.

The test modules import it as ``from benchmark_scripts import load_benchmark``: pytest puts ``tests/``
on ``sys.path`` when it loads ``tests/conftest.py``, as for ``cube_paths``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """The module of ``benchmarks/<name>.py``, with ``benchmarks/`` on ``sys.path`` so its own imports
    of the other scripts (``markdown_table``, ...) resolve as when it runs as a script."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
