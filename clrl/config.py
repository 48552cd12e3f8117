"""Job configs: YAML files in ``configs/`` (installed as ``clrl.configs``) with ``key.sub=value``
overrides from the command line.

Every key a job accepts is in its YAML file, so the file is the one visible place for its
hyperparameters. Overrides may only replace existing keys, and must keep the type of the value they
replace (an int may stand for a float; a ``null`` default accepts anything); anything else is a
:class:`ConfigError`, never silently ignored.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clrl.configs import default_config_text
from clrl.errors import ConfigError

__all__ = [
    "ADAM_LEARNING_RATE",
    "AT_LEAST_ONE",
    "POSITIVE",
    "JOB_RESUMABLE_KEYS",
    "RESUMABLE_KEYS",
    "Bound",
    "ConfigError",
    "check_bounds",
    "default_config",
    "load_config",
    "given_keys",
    "read_yaml",
    "resumable_keys",
    "resume_config",
    "with_added_keys",
]


def default_config(job: str) -> dict[str, Any]:
    """``configs/<job>.yaml`` as shipped with the package."""
    try:
        text = default_config_text(job)
    except (FileNotFoundError, ModuleNotFoundError):
        raise ConfigError(f"no config for job {job!r}") from None
    return parse_yaml(text, f"configs/{job}.yaml")


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {path} is not a UTF-8 text file") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"config {path} is not valid YAML{line}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping of keys to values")
    return data


def load_config(job: str, path: str | Path | None = None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Load ``configs/<job>.yaml`` (or ``path``) and apply ``key.sub=value`` overrides.

    A file given with ``path`` may set a subset of the job's keys; they are checked against the
    job's default file exactly like command-line overrides.
    """
    config = default_config(job)
    if path is not None:
        merge_checked(config, read_yaml(path), source=str(path))
    for item in overrides:
        key, value = parse_override(item)
        set_checked(config, key, value, source="command line")
    return config


def with_added_keys(job: str, saved: dict[str, Any]) -> dict[str, Any]:
    """A saved run's config, completed with the keys added to ``configs/<job>.yaml`` since it was
    written, at their defaults (which leave an older run's behaviour as it was)."""
    completed = copy.deepcopy(saved)
    fill_missing(completed, default_config(job))
    return completed


def fill_missing(config: dict[str, Any], defaults: Mapping[str, Any]) -> None:
    for key, value in defaults.items():
        if key not in config:
            config[key] = copy.deepcopy(value)
        elif isinstance(value, Mapping) and isinstance(config[key], dict):
            fill_missing(config[key], value)


#: What a resumed run may change (``--resume`` with ``key=value``, ``--steps`` or ``--config F``): how
#: far it trains, how often it logs, evaluates, saves and records video, its learning rate (set on
#: the loaded optimizer) and the number format its encoder computes in. Each job has some of these
#: keys, and :data:`JOB_RESUMABLE_KEYS` adds a job's own; every other key is what the run is (its
#: model, data, loss, seed ...), and :func:`resume_config` refuses a change to it.
RESUMABLE_KEYS = (
    "train.steps",
    "train.epochs",
    "train.lr",
    "train.precision",
    "train.log_every",
    "train.eval_every",
    "train.checkpoint_every",
    "train.video_every",
)
#: What a job's resumed run may change besides :data:`RESUMABLE_KEYS` (``section.*``: every key of
#: the section). The humanoid's PPO settings (a longer rollout, another clip or step size), how many
#: envs it steps, in which processes and threads and on which device, and its videos: what the run
#: is (its env, network, seed and curriculum) stays fixed. ``eval:`` is read by ``clrl.evaluate``
#: from its own command line, never from a checkpoint, so a resume may carry another.
JOB_RESUMABLE_KEYS = {
    "cube": ("train.lr_anneal_steps",),
    "sokoban": ("train.lr_anneal_steps",),
    "humanoid": (
        "ppo.*",
        "train.n_envs",
        "train.vec_env",
        "train.main_process_block",
        "train.device",
        "train.torch_threads",
        "train.update_threads",
        "train.video_seconds",
        "train.video_frame_skip",
        "train.video_terrains",
        "train.eval_scenarios",
        "train.eval_episodes",
        "train.eval_seed",
        "train.eval_keep_checkpoints",
        "eval.*",
    ),
}


def resumable_keys(job: str) -> tuple[str, ...]:
    """The keys (and ``section.*`` patterns) a resumed run of ``job`` may change."""
    return RESUMABLE_KEYS + JOB_RESUMABLE_KEYS.get(job, ())


def matches(key: str, pattern: str) -> bool:
    """Whether dotted ``key`` is ``pattern`` or, for ``section.*``, a key of that section."""
    return key == pattern or (pattern.endswith(".*") and key.startswith(pattern[:-1]))


def given_keys(path: str | Path | None, overrides: Iterable[str]) -> set[str]:
    """The dotted keys a config file and ``key=value`` overrides set: what a user asked for, as
    opposed to the defaults that :func:`load_config` fills around them."""
    keys = set(flatten(read_yaml(path))) if path is not None else set()
    keys.update(parse_override(item)[0] for item in overrides)
    return keys


def resume_config(
    job: str,
    saved: dict[str, Any],
    config: dict[str, Any],
    given: Iterable[str] | None = None,
    *,
    source: str,
    complete: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]]]:
    """The config a resumed run trains under, and what changed: ``{key: (saved, new)}``.

    ``saved``: the checkpoint's config, completed by :func:`with_added_keys` (a key added since is
    at its default, never a change; a job's own completion of older files, like the humanoid's
    :data:`~clrl.agents.checkpointing.KEYS_ADDED`, comes first). ``config``: the config asked
    for; ``given``: the dotted keys of it that the user set (None: all of them, as when a caller
    passes a whole config). Those keys are laid over the saved config; ``complete``, the job's own
    completion of a config (the vision job sizes its ``auto`` model), is applied to the result
    before it is compared, as it was to the saved one. A key of :func:`resumable_keys` may change;
    a change to any other is refused with one line naming each (:class:`ConfigError`, exit code 2),
    before the job builds or writes anything. ``source``: the checkpoint, named in that line.
    """
    resumed = with_added_keys(job, saved)
    asked = flatten(config)
    laid = asked if given is None else {key: asked[key] for key in given if key in asked}
    wanted = copy.deepcopy(resumed)
    for key, value in laid.items():
        set_dotted(wanted, key, value)
    if complete is not None:
        wanted = complete(wanted)
    before, after = flatten(resumed), flatten(wanted)
    changed = {key: (before.get(key), value) for key, value in after.items() if value != before.get(key)}
    patterns = resumable_keys(job)
    refused = [key for key in changed if not any(matches(key, pattern) for pattern in patterns)]
    if refused:
        kept = ", ".join(f"{key}={changed[key][0]!r} (given {changed[key][1]!r})" for key in refused)
        allowed = ", ".join(p for p in patterns if any(matches(key, p) for key in before))
        raise ConfigError(
            f"--resume: {source} was trained with {kept}; a resumed run may change only {allowed}; "
            "train a new run (another --run-dir) to change the rest"
        )
    return wanted, changed


def set_dotted(tree: dict[str, Any], dotted_key: str, value: Any) -> None:
    """``tree["a"]["b"] = value`` for ``"a.b"``, making the sections on the way if missing."""
    *sections, leaf = dotted_key.split(".")
    for section in sections:
        if not isinstance(tree.get(section), dict):
            tree[section] = {}
        tree = tree[section]
    tree[leaf] = copy.deepcopy(value)


def parse_override(item: str) -> tuple[str, Any]:
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {item!r} must look like key=value (e.g. train.lr=3e-4)")
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        value = text
    if isinstance(value, str):
        value = number_or_text(value)
    return key.strip(), value


def number_or_text(text: str) -> Any:
    """YAML 1.1 reads ``3e-4`` as text; a user typing it means the number."""
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text


def merge_checked(config: dict[str, Any], updates: Mapping[str, Any], source: str) -> None:
    for key, value in flatten(updates).items():
        set_checked(config, key, value, source)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def set_checked(config: dict[str, Any], dotted_key: str, value: Any, source: str) -> None:
    """Replace the value at ``dotted_key`` (relative to ``config``) after checking key and type."""
    node = config
    parts = dotted_key.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "none"
            where = ".".join(parts[:depth]) or "top level"
            raise ConfigError(f"unknown config key {dotted_key!r} ({source}); keys at {where}: {known}")
        if depth < len(parts) - 1:
            node = node[part]
    leaf = parts[-1]
    node[leaf] = coerce(dotted_key, node[leaf], value, source)


def coerce(key: str, current: Any, value: Any, source: str) -> Any:
    if current is None or value is None:
        return copy.deepcopy(value)
    if isinstance(current, dict):
        raise ConfigError(f"config key {key!r} is a section; set one of its keys ({', '.join(current)})")
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(current, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(current, str):
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    elif isinstance(current, list):
        if isinstance(value, list):
            return value
    else:
        return value
    expected = type(current).__name__
    raise ConfigError(f"config key {key!r} expects {expected}, got {value!r} ({source})")


@dataclass(frozen=True)
class Bound:
    """The range a numeric config value must lie in: at least ``low`` (above it when ``low_open``)
    and at most ``high``, and finite. A job declares one per key in a table beside its
    ``check_config``; :func:`check_bounds` checks the whole table in one pass."""

    low: float
    low_open: bool = False
    high: float = math.inf

    def admits(self, value: float) -> bool:
        above_low = value > self.low if self.low_open else value >= self.low
        return above_low and value <= self.high

    def describe(self) -> str:
        if self.low == 0 and self.low_open:
            low = "positive"
        else:
            low = f"{'above' if self.low_open else 'at least'} {self.low:g}"
        return low + (f" and at most {self.high:g}" if math.isfinite(self.high) else "")


AT_LEAST_ONE = Bound(1)  # counts, sizes and intervals
POSITIVE = Bound(0, low_open=True)  # rates and durations
#: Adam's first step is 10 x its learning rate (the bias correction) and must fit float32 weights.
ADAM_LEARNING_RATE = Bound(0, low_open=True, high=3.4028234663852886e38 / 10)


def check_bounds(config: Mapping[str, Any], bounds: Mapping[str, Bound], prefix: str = "") -> None:
    """Raise :class:`ConfigError` for the first dotted key of ``bounds`` whose value is not a finite
    number within its :class:`Bound` (``null`` is left to the job, which gives it its meaning).

    ``prefix``: where ``config`` sits in the job's file (``"env."``), so the message names the key
    as the user writes it.
    """
    flat = flatten(config)
    for key, bound in bounds.items():
        value = flat[key]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{prefix}{key} must be a finite number, {bound.describe()}, got {value!r}")
        if not bound.admits(value):
            raise ConfigError(f"{prefix}{key} must be {bound.describe()}, got {value!r}")
