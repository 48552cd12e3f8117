"""Data-parallel training over several processes: ``torchrun --nproc_per_node N -m clrl.train JOB``.

The one place the puzzle and vision trainers learn whether they run alone or as one rank of a
``torchrun`` launch (``--nnodes`` for several machines). Launched plainly (``python -m clrl.train``),
or by ``torchrun`` with a world of one, every function here is the identity or a constant and the
trainers run exactly as they always did.

Under ``torchrun`` with ``WORLD_SIZE > 1``, :func:`session` joins the process group (NCCL when the
job's device is CUDA, else gloo) and each rank then:

* trains the same model wrapped in :func:`wrap` (``DistributedDataParallel``), on its own share of
  the global batch (:func:`local_batch_size`) drawn from its own random stream (:func:`seed_rank`);
* encodes its share and :func:`gather` s the latents of all ranks, with their gradients, so the
  loss sees the whole batch: the same negatives as one process given the whole batch. Every rank
  computes that same global loss; ``all_gather``'s backward sums the gradients of the ``W`` ranks'
  identical losses into each rank's rows (``W`` times one loss's gradient), and DDP averages the
  parameter gradients over the ``W`` ranks: the two factors cancel, so the gradients equal those of
  one process (tests/test_distributed.py checks it);
* leaves TensorBoard, checkpoints, evaluation and progress bars to rank 0 (:func:`is_main`).

Every rank computes the same loss from the same gathered latents and applies the same averaged
gradients, so all of them see a non-finite loss or weight at the same step and stop together. A
rank whose peers are gone (killed, crashed) or silent for longer than :data:`TIMEOUT` stops with an
error instead of waiting for ever (``torchrun`` also ends the others when one rank fails).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from clrl.errors import ConfigError, UserError

#: How long a rank waits for the others at a collective (rank 0 evaluating or saving included)
#: before it gives up with an error; ``CLRL_DIST_TIMEOUT_S`` overrides it (seconds).
TIMEOUT = timedelta(seconds=float(os.environ.get("CLRL_DIST_TIMEOUT_S", 1800)))

T = TypeVar("T")


def launched_world_size() -> int:
    """The number of processes ``torchrun`` started for this run (1 without ``torchrun``)."""
    return int(os.environ.get("WORLD_SIZE", 1))


def is_distributed() -> bool:
    """Whether this process is one rank of several, in a joined process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    """Rank 0, or a process on its own: the one that logs, evaluates and saves."""
    return rank() == 0


@contextlib.contextmanager
def session(device: str = "auto") -> Iterator[None]:
    """Join the process group when ``torchrun`` launched several processes, and leave it at the end.

    ``device``: the job's ``device`` config value; CUDA (``auto`` with CUDA present, ``cuda``) means
    NCCL, one GPU per local rank; anything else gloo on the CPU. Without ``torchrun`` (or with one
    process) nothing happens. A collective that fails because another rank is gone or silent past
    :data:`TIMEOUT` ends the command with one line (:class:`~clrl.errors.UserError`).
    """
    if launched_world_size() <= 1:
        yield
        return
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    try:
        yield
        # Leave together: gloo aborts a rank (SIGABRT) whose peer tears its connections down while
        # it is still finishing its own last step.
        dist.barrier()
    except RuntimeError as error:
        if not lost_peer(error):
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"rank {rank()} lost the other processes of this run: {reason}") from None
    finally:
        dist.destroy_process_group()


def print_main(*values: object) -> None:
    """``print`` on rank 0 only (one line per run, not one per rank)."""
    if is_main():
        print(*values, flush=True)


def local_device(device: torch.device) -> torch.device:
    """``device`` with a CUDA device narrowed to this rank's own GPU (``cuda:LOCAL_RANK``)."""
    if is_distributed() and device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def local_batch_size(batch_size: int, key: str, group: int = 1, group_key: str | None = None) -> int:
    """This rank's share of a global batch of ``batch_size`` rows (all of it when alone).

    The batch must split over the ranks into whole groups of ``group`` rows (CRTR: the ``R`` rows of
    one trajectory), else :class:`ConfigError` (exit code 2), raised alike on every rank.
    """
    ranks = world_size()
    if batch_size % (ranks * group) != 0:
        groups = f" into whole groups of {group_key} ({group})" if group_key else ""
        raise ConfigError(
            f"{key} ({batch_size}) does not split evenly over {ranks} processes{groups}; "
            f"use a multiple of {ranks * group}"
        )
    return batch_size // ranks


def seed_rank(seed: int, step: int) -> np.random.Generator:
    """This rank's own random streams: torch's global generator is reseeded and a NumPy generator
    returned, both from the run ``seed``, the rank and the ``step`` the run (re)starts at, so no two
    ranks draw the same batches or augmentations and a resumed run draws fresh ones."""
    sequence = np.random.SeedSequence([seed, rank(), step])
    torch.manual_seed(int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1)))
    return np.random.default_rng(sequence)


def wrap(model: nn.Module) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` when distributed (its gradients are averaged over the
    ranks in ``backward``), else ``model`` itself. Train through what this returns; save, evaluate
    and copy ``model``."""
    if not is_distributed():
        return model
    device = next(model.parameters()).device
    device_ids = [device] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def sync_batch_norm(model: nn.Module) -> nn.Module:
    """``model`` with its batch norms computing their statistics over the global batch (CUDA only:
    PyTorch's ``SyncBatchNorm`` has no CPU kernel, so on gloo each rank normalises its own share)."""
    if is_distributed() and dist.get_backend() == dist.Backend.NCCL:
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """The rows of every rank's ``tensor`` concatenated in rank order, gradients flowing back to each
    rank's own rows (``(B/W, ...) -> (B, ...)``; ``tensor`` itself when alone). See the module
    docstring for why the loss of the gathered batch then gives one process's gradients."""
    if not is_distributed():
        return tensor
    import torch.distributed.nn.functional as collectives

    with warnings.catch_warnings():
        # Deprecated in favour of a private module (torch.distributed._functional_collectives); this
        # public autograd all_gather works across the torch versions this package allows.
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(collectives.all_gather(tensor.contiguous()))


def from_main(value: T) -> T:
    """Rank 0's ``value`` on every rank (a run dir named after the time, say); ``value`` when alone."""
    if not is_distributed():
        return value
    box: list[Any] = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (building a cache, say), the others after it has finished."""
    if is_distributed() and not is_main():
        dist.barrier()
    yield
    if is_distributed() and is_main():
        dist.barrier()


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` is true on any rank (every rank must call this at the same point); ``flag``
    when alone."""
    if not is_distributed():
        return flag
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    votes = torch.tensor([int(flag)], device=device)
    dist.all_reduce(votes, op=dist.ReduceOp.MAX)
    return bool(votes.item())


def lost_peer(error: BaseException) -> bool:
    """Whether ``error`` is a collective failing because another rank is gone or silent past
    :data:`TIMEOUT` (NCCL raises ``DistError``; gloo a ``RuntimeError`` that names its transport)."""
    if not is_distributed():
        return False
    if isinstance(error, getattr(dist, "DistError", ())):
        return True
    return isinstance(error, RuntimeError) and "gloo" in str(error)
