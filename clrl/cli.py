"""What the three command lines (train, solve, evaluate) share: parsing, job lookup, error handling,
JSON output.

Bad arguments exit with code 2 and one line; a :class:`~clrl.errors.UserError` raised anywhere below
exits with its own code and one line, and so does a file the system will not write (a full disk, a
read-only run dir: exit 1); Ctrl-C or SIGTERM exits with 130 after the job has saved what it had.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

from clrl.errors import UserError

JOBS = ("cube", "sokoban", "humanoid", "vision")


class NotBuiltError(UserError):
    """A job or subcommand whose implementation is not in this version yet."""


class OneLineParser(argparse.ArgumentParser):
    """``argparse`` that reports a bad argument in one line (plus a pointer to ``--help``)."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse's hook
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def import_job_module(module_name: str, what: str) -> ModuleType:
    """Import the module implementing ``what``; a missing module means the job is not built yet."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise NotBuiltError(f"{what} is not built yet in this version of clrl") from None
        raise


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, ``timeout``, schedulers) raises KeyboardInterrupt, as Ctrl-C does, for the
    whole command: a run stopped while it still loads or builds its tables ends with 130 too, not
    killed by the signal. A training loop installs its own handler that saves first
    (:func:`clrl.runs.saved_on_interrupt`)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_command(entry: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None) -> int:
    """Run ``entry(argv)`` and turn user errors, Ctrl-C and SIGTERM into one line and an exit code."""
    try:
        with sigterm_as_interrupt():
            return int(entry(argv) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # e.g. TensorBoard's writer thread meeting a full disk mid-run
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


def json_line(record: dict) -> str:
    """``record`` as one line of JSON. NaN and infinity are not JSON, so a non-finite number (a
    correlation of constant distances, say) is written as ``null``."""
    return json.dumps(finite_or_null(record), allow_nan=False)


def finite_or_null(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_null(item) for item in value]
    return value


def job_parser(prog: str, action: str, jobs: dict[str, tuple[str, str]]) -> OneLineParser:
    """A parser whose first argument is one of ``jobs`` (name -> (module, one-line description)),
    with the ``--config`` option and ``key=value`` overrides every job command shares."""
    listing = "\n".join(f"  {name:<9} {about}" for name, (_, about) in jobs.items())
    parser = OneLineParser(
        prog=prog,
        description=f"{action} a clrl model. Jobs:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("job", choices=list(jobs), help=f"what to {action.lower()}")
    parser.add_argument("--config", type=Path, help="YAML file overriding configs/JOB.yaml")
    add_override_argument(parser)
    return parser


def add_override_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="override a config value, nested keys with dots (e.g. train.lr=1e-3)",
    )
