"""The top-level settings of a run (``propensity/conf/train.yaml``), each written once.

A field here is the whole of a top-level setting but its default and its user-facing comment,
which are its line in ``train.yaml``: its type, its check, and whether it is logistics. From
these fields follow the list of known top-level keys (`propensity.config.overrides`), their
checks (`propensity.config.validation`), the top-level logistics the run key leaves out
(`propensity.identity.LOGISTICS`) and the typed values every job reads
(`propensity.config.settings.RunSettings` derives from `TopLevelSettings`). A new top-level
setting is one field here and one line in ``train.yaml`` (docs/adding-a-setting.md).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from propensity.mechanisms.settings import ArtifactSettings
from propensity.specs import MAX_COUNT, MAX_SEED, Flag, Labels, Number, Optional, Spec, refuse, setting

# Larger than any setting of the paper by orders of magnitude, small enough to fail in a
# second instead of trying to allocate terabytes (width 1e9 would ask for 77 TB).
MAX_WIDTH = 100.0
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def folder_name(key: str, value: Any) -> None:
    """A plain folder name: ``name`` heads the results' path, so no ``/`` and no ``..``."""
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise refuse(key, value, "must be a plain folder name (letters, digits, . _ -)",
                     "e.g. name=my_sweep; results go to <results_dir>/<name>/")


def writable_folder(key: str, value: Any) -> None:
    """A folder that is, or can become, writable: found before a sweep, not after its training."""
    path = Path(str(value)).expanduser()
    if value is None or not str(value).strip():
        raise refuse(key, value, "is empty", f"e.g. {key}=results")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise refuse(key, value, f"{existing} is a file, not a folder", f"point {key} at a folder")
    try:
        tempfile.TemporaryDirectory(dir=existing, prefix=".propensity-write-test-").cleanup()
    except OSError as error:
        raise refuse(key, value, f"cannot write in {existing} ({error.strerror})",
                     f"point {key} at a folder you can write") from None
    if not os.access(existing, os.W_OK):
        raise refuse(key, value, f"cannot write in {existing}", f"point {key} at a folder you can write")


def _seed(key: str) -> Number:
    return Number(0, MAX_SEED, f"use a non-negative integer, e.g. {key}=0", integer=True)


@dataclass(frozen=True)
class TopLevelSettings(Spec):
    """A run's top-level settings (section 3's knobs, and where and how the run happens).

    No defaults: ``train.yaml`` gives each one, so the default is written once, there."""

    name: str = setting(check=folder_name, logistics=True)  # the folder above the run key
    results_dir: Path = setting(check=writable_folder, logistics=True)
    width: float = setting(check=Number(0, MAX_WIDTH, "the paper uses 0.1, 0.5, 1, 2, 5; e.g. width=0.5",
                                        low_open=True))  # section 3.1, 'Network Size'
    init_seed: int = setting(check=_seed("init_seed"))  # alone decides the initial weights
    data_seed: int = setting(check=_seed("data_seed"))  # alone decides the train/validation split
    # Seeds of one grid cell trained as one stacked model; recorded as cohort_size.
    cohort: int = setting(check=Number(1, MAX_COUNT, "seeds trained together, e.g. cohort=10 (1: single "
                                       "runs)", integer=True), logistics=True)
    # How many members train at once, not what each computes.
    cohort_memory_gb: float | None = setting(check=Optional(Number(
        0, MAX_COUNT, "use GiB per device, e.g. cohort_memory_gb=70, or null for a fraction of the free "
        "memory", low_open=True)), logistics=True)
    resume: bool = setting(check=Flag(), logistics=True)
    tags: tuple[str, ...] = setting(check=Labels("e.g. tags=[pilot,v2]"), logistics=True)  # W&B labels
    progress: bool = setting(check=Flag(), logistics=True)  # per-epoch console lines
    # launcher=gpus: which GPU, not what is computed on it.
    device_from_job: bool = setting(check=Flag(), logistics=True)
    artifacts: ArtifactSettings = setting()  # section 5's inputs
