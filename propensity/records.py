"""The run record: one dataclass is the schema of ``record.json`` and of a row of ``runs.parquet``.

Written atomically (temporary file + rename), so a job killed at any moment leaves either
the previous record or the new one on disk, never a truncated file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
        """Build a record from JSON, ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> RunRecord:
        return cls.from_dict(json.loads(Path(path).read_text()))


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide results from collaborators
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
