"""What every job shares: its run directory, TensorBoard writer, seeding and device.

Under ``torchrun`` (:mod:`clrl.distributed`) only rank 0 writes TensorBoard events and draws a
progress bar; the other ranks get a writer that writes nothing and a silent bar, so a trainer calls
them the same way on every rank.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import random
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clrl import distributed
from clrl.errors import ConfigError, UserError

#: The most parameters a configured model may have; far beyond any model these jobs train, and
#: refused before anything is allocated (a typo'd width would otherwise ask for petabytes).
MAX_PARAMETERS = 2_000_000_000


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
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the run dir {path}: {exc.strerror or exc}") from None
    return path


def make_writer(run_dir: Path, resumed_step: int | None = None):
    """A TensorBoard ``SummaryWriter`` writing event files into ``run_dir``.

    ``resumed_step``: the step of the checkpoint a resumed run starts from. Whatever the killed run
    logged after it is purged (TensorBoard's ``purge_step``), so each step appears once.
    On a rank other than 0 of a ``torchrun`` run: a writer that writes nothing.
    """
    if not distributed.is_main():
        return NoWriter()
    from torch.utils.tensorboard import SummaryWriter

    purge_step = None if resumed_step is None else resumed_step + 1
    try:
        return SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)
    except OSError as exc:
        raise UserError(f"cannot write TensorBoard events into {run_dir}: {exc.strerror or exc}") from None


class NoWriter:
    """What a rank other than 0 logs to: every ``SummaryWriter`` method, doing nothing."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def check_model_size(build: Callable[[], torch.nn.Module], sizes: dict) -> None:
    """Refuse a model whose parameters ``build`` would allocate beyond :data:`MAX_PARAMETERS` or this
    machine's memory (:class:`ConfigError`), counting them on the meta device, so nothing is
    allocated. ``build`` may return part of the model (a lower bound); ``sizes``: the config values
    that set its size, named in the message."""
    try:
        with torch.device("meta"):
            count = sum(parameter.numel() for parameter in build().parameters())
    except RuntimeError as exc:  # a tensor whose byte size does not even fit in 64 bits
        if "overflow" not in str(exc):
            raise
        count = math.inf
    # weights, gradients and two Adam moments, in float32
    needed_bytes, memory_bytes = 16 * count, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if count > MAX_PARAMETERS or needed_bytes > memory_bytes:
        size = ", ".join(f"{key}={value}" for key, value in sizes.items())
        parameters = f"at least {count:.3g}" if math.isfinite(count) else "more than 64 bits can count"
        raise ConfigError(
            f"the model ({size}) would have {parameters} parameters, more than {MAX_PARAMETERS:.0e} or "
            f"the {memory_bytes / 2**30:.0f} GiB of this machine can train; make it smaller"
        )


def progress_bar(total: int, initial: int, description: str, disable: bool = False):
    """A tqdm bar; redrawn at most every 30 s when the output is a log file rather than a terminal.
    Silent with ``disable`` (as tqdm's) and on a rank other than 0."""
    from tqdm import tqdm

    interval = 0.1 if sys.stderr.isatty() else 30.0
    return tqdm(
        total=total,
        initial=initial,
        desc=description,
        unit="step",
        mininterval=interval,
        dynamic_ncols=True,
        disable=disable or not distributed.is_main(),
    )


def cosine_decay(step: int, total_steps: int, decay_steps: int) -> float:
    """The learning-rate factor at ``step`` (0-based) when the last ``decay_steps`` of ``total_steps``
    anneal it along a half cosine from 1 to 0 (Loshchilov & Hutter, SGDR, 2017, without restarts);
    1 before them, and throughout when ``decay_steps`` is 0. A pure function of the step, so a
    resumed run (or one given another length) takes the rate of its own step."""
    decay_steps = min(decay_steps, total_steps)
    into = step - (total_steps - decay_steps)
    if decay_steps == 0 or into <= 0:
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * min(into, decay_steps) / decay_steps))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run with the same config repeats."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - libraries below us draw from the global generator
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def pick_device(preference: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; ``cpu`` / ``cuda`` / ``cuda:N`` are taken as given,
    except that each rank of a ``torchrun`` run takes its own GPU for ``auto`` and ``cuda``."""
    if preference == "auto":
        return distributed.local_device(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {preference!r} requested but CUDA is not available here")
    return distributed.local_device(torch.device(preference))


def resuming_line(run_dir: Path, step: int, changed: dict[str, tuple[Any, Any]]) -> str:
    """What a resumed run prints first: ``resuming runs/x from step N; changed: train.log_every 50
    -> 10`` (``changed``: what :func:`clrl.config.resume_config` applied, ``{key: (saved, new)}``)."""
    changes = ", ".join(f"{key} {old} -> {new}" for key, (old, new) in changed.items())
    return f"resuming {run_dir} from step {step}" + (f"; changed: {changes}" if changes else "")


def diverged(what: str, checkpoint: Path, saved_step: int | None, remedy: str) -> UserError:
    """The one-line stop of a run whose loss or weights went non-finite: ``what`` happened, the
    ``remedy``, and the checkpoint left (``saved_step``: the step this run last saved or resumed
    from, None when it has none; every saved checkpoint is finite, so it is a good one)."""
    kept = (
        f"the last good checkpoint is {checkpoint} (step {saved_step})"
        if saved_step is not None
        else "none saved"
    )
    return UserError(f"{what}; stopping, {remedy} ({kept})")


@contextlib.contextmanager
def saved_on_interrupt(save: Callable[[], str]) -> Iterator[Callable[[], None]]:
    """Ctrl-C, or SIGTERM (what ``kill``, ``timeout`` and schedulers send), inside the block: call
    ``save`` first and print what it says it saved, then let the interrupt end the command (exit 130).

    The one place every training loop gets this from, so no job loses the steps since its last
    checkpoint to a polite stop. Alone, the interrupt stops the process at once. Under ``torchrun``
    a rank that gets Ctrl-C or SIGTERM (``torchrun`` passes them on to all ranks) only notes it, and
    the function this yields, called by the training loop at the start of each step, stops every
    rank there together as soon as one of them was interrupted: no rank is left waiting in a
    collective, and rank 0 saves the last whole step. (A second Ctrl-C stops a rank at once.) Rank 0
    also saves when a collective fails because another rank is gone or silent past
    :data:`clrl.distributed.TIMEOUT`; :func:`clrl.distributed.session` then ends the command with one
    line. A training step changes the weights only after its collectives, so that save holds the
    last whole step.
    """
    interrupted: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        if not distributed.is_distributed() or interrupted:
            raise KeyboardInterrupt
        interrupted.append(signum)

    def stop_if_interrupted() -> None:
        if distributed.any_rank(bool(interrupted)):
            raise KeyboardInterrupt

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, on_signal)}
    if distributed.is_distributed():
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, on_signal)
    try:
        yield stop_if_interrupted
    except KeyboardInterrupt:
        print(f"interrupted: {saved_by_main(save)}", file=sys.stderr, flush=True)
        raise
    except RuntimeError as exc:
        if not distributed.lost_peer(exc):
            raise
        print(f"another process of this run stopped: {saved_by_main(save)}", file=sys.stderr, flush=True)
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def saved_by_main(save: Callable[[], str]) -> str:
    """What ``save`` says it saved, on rank 0; the other ranks of a ``torchrun`` run save nothing."""
    return save() if distributed.is_main() else f"rank {distributed.rank()} leaves saving to rank 0"
