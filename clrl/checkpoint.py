"""Checkpoints: one file holding weights, the full config, the code version and the training step.

Files are written atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted save, or a disk that fills up, never destroys the previous checkpoint. A state holding a
non-finite number (a diverged run) is never written. Each file carries a SHA-256 digest of its
state, so damage that still unpickles (flipped bytes in tensor data) is caught on load. Loading
refuses a corrupt or damaged file, non-finite values, a file of another job, an incompatible code
version, or (when asked) a config whose model differs.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from clrl import __version__
from clrl.config import with_added_keys
from clrl.errors import UserError

#: Bumped whenever the file layout changes; older files are refused rather than misread.
CHECKPOINT_FORMAT = 1


class CheckpointError(UserError):
    """A checkpoint that cannot be used: missing, corrupt, damaged, or made for something else; or
    one that cannot be written (a full disk, a diverged state)."""


@dataclass
class Checkpoint:
    job: str
    step: int
    config: dict[str, Any]
    state: dict[str, Any]
    code_version: str


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def shipped_checkpoint(filename: str) -> Path:
    """A checkpoint shipped in the package (``clrl/pretrained/<filename>``), wherever it is installed."""
    return Path(str(resources.files("clrl") / "pretrained" / filename))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def leaves(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted name, value)`` of every leaf of nested dicts, lists and tuples, in stored order."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, f"{prefix}{key}.")
    elif isinstance(tree, list | tuple):
        for index, value in enumerate(tree):
            yield from leaves(value, f"{prefix}{index}.")
    else:
        yield prefix.rstrip("."), tree


def first_non_finite(tree: Any) -> str | None:
    """The first leaf of ``tree`` (weights, optimizer state, ...) holding a NaN or infinity, as
    ``name (k of n values)``; None when every float in it is finite.

    The one finite check of the project: saving, loading and the training loops all ask it.
    """
    for name, value in leaves(tree):
        if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex()):
            bad = int((~torch.isfinite(value.detach())).sum())
            if bad:
                return f"{name} ({bad:,} of {value.numel():,} values)"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{name} ({value})"
    return None


def content_digest(tree: Any) -> str:
    """SHA-256 of every leaf of ``tree``: its name, and a tensor's dtype, shape and bytes (other
    values by ``repr``), so any changed number, name or shape changes the digest."""
    digest = hashlib.sha256()
    for name, value in leaves(tree):
        digest.update(name.encode() + b"\0")
        if isinstance(value, torch.Tensor):
            flat = value.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{flat.dtype}{tuple(value.shape)}".encode() + b"\0")
            digest.update(flat.view(torch.uint8).numpy())
        elif isinstance(value, bytes | bytearray):
            digest.update(value)
        else:
            digest.update(repr(value).encode())
        digest.update(b"\0")
    return f"sha256:{digest.hexdigest()}"


def save_checkpoint(
    path: str | Path,
    *,
    job: str,
    step: int,
    config: dict[str, Any],
    state: dict[str, Any],
    packed: Any = None,
) -> Path:
    """Atomically save ``state`` (state_dicts, tensors, plain Python values) with its metadata and
    its digest (of the state only: the metadata stays editable, e.g. to add a key to an old config).

    A state with a NaN or infinity anywhere (weights, optimizer moments) is refused, and so is a
    write the disk refuses; either way the file already at ``path`` stays as it was. ``packed``:
    the tensors ``state`` holds only as serialized bytes (the weights inside SB3's zip), checked
    for finite values like the rest.
    """
    path = Path(path)
    non_finite = first_non_finite(state) or first_non_finite(packed)
    if non_finite is not None:
        raise CheckpointError(
            f"not saving step {step} to {path}: {non_finite} are not finite (training diverged)"
        )
    payload = {
        "format": CHECKPOINT_FORMAT,
        "job": job,
        "step": int(step),
        "config": config,
        "code_version": code_version(),
        "state": state,
    }
    payload["digest"] = content_digest(state)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        kept = f"; the previous {path.name} is kept" if path.is_file() else ""
        raise CheckpointError(f"cannot write checkpoint {path}: {exc.strerror or exc}{kept}") from None
    return path


def load_checkpoint(
    path: str | Path,
    *,
    job: str | None = None,
    expected_config: dict[str, Any] | None = None,
    match_sections: tuple[str, ...] = ("model",),
    map_location: str | torch.device = "cpu",
) -> Checkpoint:
    """Load and check a checkpoint written by :func:`save_checkpoint`.

    The state must match the digest stored with it, and every float in it must be finite. A file
    without a digest (written before checkpoints carried one, like the shipped files in
    ``clrl/pretrained/``) is accepted unchecked.

    ``expected_config``: when given, the listed sections (the architecture) must equal the
    checkpoint's, because weights of another architecture cannot be loaded into this one; with
    ``job``, a key missing from either (added to the job's config since the file was written) counts
    at its default (:func:`clrl.config.with_added_keys`), as it does when the file is resumed or
    evaluated.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or not a clrl checkpoint ({reason})") from None
    required = {"format", "job", "step", "config", "code_version", "state"}
    if not isinstance(payload, dict) or not required <= payload.keys():
        raise CheckpointError(f"checkpoint {path} is not a clrl checkpoint (missing metadata)")
    stored_digest = payload.pop("digest", None)
    if stored_digest is not None and content_digest(payload["state"]) != stored_digest:
        raise CheckpointError(
            f"checkpoint {path} is damaged: its state no longer matches the digest saved with it"
        )
    if payload["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"checkpoint {path} has format {payload['format']}, this code reads format {CHECKPOINT_FORMAT}"
        )
    if job is not None and payload["job"] != job:
        raise CheckpointError(f"checkpoint {path} was trained for {payload['job']!r}, not {job!r}")
    saved_release = str(payload["code_version"]).split("+")[0].split(".")[:2]
    if saved_release != __version__.split(".")[:2]:
        raise CheckpointError(
            f"checkpoint {path} was written by clrl {payload['code_version']}, "
            f"incompatible with clrl {__version__}"
        )
    non_finite = first_non_finite(payload["state"])
    if non_finite is not None:
        raise CheckpointError(f"checkpoint {path} holds non-finite values ({non_finite}): a diverged run")
    if expected_config is not None:
        saved, wanted = payload["config"], expected_config
        if job is not None:
            saved, wanted = with_added_keys(job, saved), with_added_keys(job, wanted)
        check_sections(path, saved, wanted, match_sections)
    return Checkpoint(
        job=payload["job"],
        step=payload["step"],
        config=payload["config"],
        state=payload["state"],
        code_version=payload["code_version"],
    )


def check_sections(
    path: str | Path, saved_config: dict[str, Any], expected_config: dict[str, Any], sections: tuple[str, ...]
) -> None:
    """Refuse a checkpoint whose ``sections`` of the config differ from ``expected_config``'s."""
    for section in sections:
        saved, wanted = saved_config.get(section), expected_config.get(section)
        if saved != wanted:
            raise CheckpointError(
                f"checkpoint {path} has a different {section!r} config "
                f"({first_difference(saved, wanted, section)})"
            )


def first_difference(saved: Any, wanted: Any, prefix: str) -> str:
    if isinstance(saved, dict) and isinstance(wanted, dict):
        for key in sorted(set(saved) | set(wanted)):
            if saved.get(key) != wanted.get(key):
                return first_difference(saved.get(key), wanted.get(key), f"{prefix}.{key}")
    return f"{prefix}: checkpoint has {saved!r}, config asks for {wanted!r}"


def export_checkpoint(source: str | Path, destination: str | Path, *, keep: tuple[str, ...]) -> Path:
    """Copy a checkpoint keeping only the ``keep`` entries of its state (e.g. weights, no optimizer).

    Shipped checkpoints need only what inference loads, which makes them a third of the size of a
    resumable training checkpoint; job, step, config and code version are kept as they were.
    """
    saved = load_checkpoint(source)
    missing = [name for name in keep if name not in saved.state]
    if missing:
        raise CheckpointError(f"checkpoint {source} has no {', '.join(missing)} to export")
    state = {name: saved.state[name] for name in keep}
    return save_checkpoint(destination, job=saved.job, step=saved.step, config=saved.config, state=state)
