"""The default config of every job, one YAML file each, installed with the package as ``clrl.configs``.

Read through :func:`default_config_text` (``importlib.resources``), so the same files are found in a
source checkout, an editable install and a wheel.
"""

from importlib import resources
from typing import Any

import yaml

JOBS = ("cube", "sokoban", "humanoid", "vision")


def default_config_text(job: str) -> str:
    """The text of ``<job>.yaml``; ``FileNotFoundError`` for a job with no config file."""
    return resources.files(__name__).joinpath(f"{job}.yaml").read_text(encoding="utf-8")


def default_section(job: str, section: str) -> dict[str, Any]:
    """One section of ``<job>.yaml`` as shipped (e.g. the humanoid env's defaults, for the env itself)."""
    return yaml.safe_load(default_config_text(job))[section]
