"""The run record: one dataclass is the schema of ``record.json`` and of a row of ``runs.parquet``.

Written atomically (`propensity.storage.atomic`), so a job killed at any moment leaves either
the previous record or the new one on disk, never a truncated file. Read back strictly: a
record whose fields do not have the dataclass's types is refused, so a hand-edited or
foreign ``record.json`` can never pass for a finished run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from propensity.storage.atomic import write_json_atomic

Status = Literal[
    "running", "finished", "max_epochs_reached", "diverged", "untrained", "failed", "interrupted"
]

# Statuses whose model was trained to its stop rule (or its bound) and pruned: they carry an ED.
COMPLETE: tuple[str, ...] = ("finished", "max_epochs_reached")
# Statuses a rerun skips: diverged and untrained runs are deterministic outcomes, not accidents
# to retry. A failed or interrupted run is retried (an interrupted one from its checkpoint).
TERMINAL: tuple[str, ...] = (*COMPLETE, "diverged", "untrained")


class RecordError(ValueError):
    """A ``record.json`` whose content does not match `RunRecord`'s schema."""


@dataclass
class RunRecord:
    """Everything one run reports. Fields left ``None`` were not (yet) measured."""

    run_key: str
    experiment: str
    status: Status = "running"
    error: str | None = None
    traceback: str | None = None
    # identity (section 3.1)
    model: str = ""
    data: str = ""
    num_classes: int | None = None  # of the data set: chance accuracy is 1 / num_classes
    optim: str = ""
    lr: float | None = None
    init: str = ""
    width: float | None = None
    init_seed: int | None = None
    data_seed: int | None = None
    stop: str = ""
    batch_size: int | None = None
    # size (Table 1)
    total_weights: int | None = None
    weights_per_layer: dict[str, int] = field(default_factory=dict)
    # training outcome
    stop_epoch: int | None = None
    epochs_trained: int | None = None
    stop_target_met: bool | None = None
    train_loss: float | None = None
    train_acc: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    test_loss: float | None = None
    test_acc: float | None = None
    # pruning (section 3.2); filled by the pruning sweep
    pruning_method: str | None = None
    schedule: str | None = None
    threshold: float | None = None
    threshold_mode: str | None = None
    base_val_acc: float | None = None
    effective_density: float | None = None
    ed_last_pass: float | None = None
    unpruned_weights: int | None = None
    never_degraded: bool | None = None
    unit_effective_density: float | None = None  # pruning.method=units: hidden units left at the ED
    ed_by_threshold: dict[str, float] = field(default_factory=dict)
    ed_by_method: dict[str, dict[str, Any]] = field(default_factory=dict)
    # retraining regimes (beyond the paper): regime name (none, finetune, imp, imp_reinit,
    # imp_random) -> its ED, matching density and core size (`propensity.retrain.density`)
    ed_by_regime: dict[str, dict[str, Any]] = field(default_factory=dict)
    # learning coefficient (beyond the paper); filled with llc=sgld, never averaged when invalid
    llc_mean: float | None = None
    llc_std: float | None = None
    llc_valid: bool | None = None
    llc_reason: str | None = None
    # provenance; bit-identical numbers need the same thread count (docs/configuration.md)
    cpu_threads: int | None = None
    device: str | None = None
    cohort_size: int = 1  # members trained together as one stacked model (propensity.cohort)
    wall_time_s: float | None = None
    started_at: str | None = None
    finished_at: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Build a record from JSON, ignoring keys this version does not know.

        Raises `RecordError` when a field has the wrong type (``"effective_density": "0.68"``)
        or a required field is missing.
        """
        if not isinstance(data, dict):
            raise RecordError(f"a record is a JSON object, not {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        for name, value in data.items():
            if name in known and not conforms(value, hints[name]):
                raise RecordError(f"field {name}={value!r} is not of type {hints[name]}")
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as error:
            raise RecordError(str(error)) from None

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> RunRecord:
        return cls.from_dict(json.loads(Path(path).read_text()))


def conforms(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field's annotation (an int is a valid float)."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(conforms(value, h) for h in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is float:
        return not isinstance(value, bool) and isinstance(value, (int, float))
    if hint is int:
        return not isinstance(value, bool) and isinstance(value, int)
    if origin is dict:
        value_type = typing.get_args(hint)[1]
        return isinstance(value, dict) and all(conforms(v, value_type) for v in value.values())
    if hint is Any:
        return True
    return isinstance(value, hint)


# The columns of a complete run's tables that every row must fill.
_REQUIRED = {"history.csv": ("epoch", "train_loss", "train_acc", "val_loss", "val_acc"),
             "trajectory.csv": ("level", "density", "val_acc")}


def load_record(path: str | Path) -> tuple[RunRecord | None, str | None]:
    """The record at `path` and, when it cannot be trusted, why (None, None if absent)."""
    path = Path(path)
    if not path.is_file():
        return None, None
    try:
        return RunRecord.load(path), None
    except (OSError, ValueError) as error:  # JSONDecodeError and RecordError are ValueErrors
        return None, f"{path} is unreadable ({type(error).__name__}: {error})"


def incomplete(run_dir: str | Path, record: RunRecord) -> str | None:
    """Why a record that says it is complete is not (a table missing, a NaN), or None."""
    import pandas as pd

    if record.status not in COMPLETE:
        return None
    numbers = (record.effective_density, record.val_acc, record.train_loss, record.test_acc)
    if any(v is None or math.isnan(v) for v in numbers):
        return f"record.json of {record.run_key} lacks a number or holds NaN"
    for name, columns in _REQUIRED.items():
        path = Path(run_dir) / name
        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError) as error:
            return f"{path} is missing or unreadable ({type(error).__name__})"
        present = [c for c in columns if c in frame.columns]
        if frame.empty or len(present) < len(columns) or frame[present].isna().any().any():
            return f"{path} is empty, lacks a column or holds NaN"
    return None


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Delete the ``.<name>.*.tmp`` files interrupted atomic writes left in `folder`'s tree."""
    removed = []
    for tmp in Path(folder).rglob(".*.tmp"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
