"""The run record: one dataclass is the schema of ``record.json`` and of a row of ``runs.parquet``.

Written atomically (`propensity.atomic`), so a job killed at any moment leaves either
the previous record or the new one on disk, never a truncated file.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from propensity.atomic import write_json_atomic

Status = Literal["running", "finished", "max_epochs_reached", "diverged", "failed"]

# Statuses whose model was trained to its stop rule (or its bound) and pruned: they carry an ED.
COMPLETE: tuple[str, ...] = ("finished", "max_epochs_reached")
# Statuses a rerun skips: a diverged run is a deterministic outcome, not an accident to retry.
TERMINAL: tuple[str, ...] = (*COMPLETE, "diverged")


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
    ed_by_threshold: dict[str, float] = field(default_factory=dict)
    ed_by_method: dict[str, dict[str, Any]] = field(default_factory=dict)
    # provenance
    wall_time_s: float | None = None
    started_at: str | None = None
    finished_at: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Build a record from JSON, ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> RunRecord:
        return cls.from_dict(json.loads(Path(path).read_text()))
