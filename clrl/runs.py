"""What every job shares: its run directory, TensorBoard writer, seeding and device."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import torch


def cpu_model() -> str:
    """The processor's name from /proc/cpuinfo, for the machine line of benchmark tables."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def make_run_dir(job: str, run_dir: str | Path | None = None) -> Path:
    """``run_dir`` if given, else ``runs/<job>/<timestamp>``; created if missing."""
    path = (
        Path(run_dir)
        if run_dir is not None
        else Path("runs") / job / datetime.now().strftime("%Y%m%d-%H%M%S")
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_writer(run_dir: Path):
    """A TensorBoard ``SummaryWriter`` writing event files into ``run_dir``."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(run_dir))


def progress_bar(total: int, initial: int, description: str):
    """A tqdm bar; redrawn at most every 30 s when the output is a log file rather than a terminal."""
    from tqdm import tqdm

    interval = 0.1 if sys.stderr.isatty() else 30.0
    return tqdm(
        total=total, initial=initial, desc=description, unit="step", mininterval=interval, dynamic_ncols=True
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run with the same config repeats."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - libraries below us draw from the global generator
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def pick_device(preference: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; ``cpu`` / ``cuda`` / ``cuda:N`` are taken as given."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        from clrl.errors import UserError

        raise UserError(f"device {preference!r} requested but CUDA is not available here")
    return torch.device(preference)


@contextlib.contextmanager
def saved_on_interrupt(save: Callable[[], str]) -> Iterator[None]:
    """Ctrl-C, or SIGTERM (what ``kill``, ``timeout`` and schedulers send), inside the block: call
    ``save`` first and print what it says it saved, then let the interrupt end the command (exit 130).

    The one place every training loop gets this from, so no job loses the steps since its last
    checkpoint to a polite stop.
    """
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        yield
    except KeyboardInterrupt:
        print(f"interrupted: {save()}", file=sys.stderr, flush=True)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
