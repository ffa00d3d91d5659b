"""The pruning trajectory: accuracy and loss at every pruning level (section 3.2)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from propensity.storage.atomic import write_text_atomic


@dataclass
class Trajectory:
    """One row per pruning level; level 0 is the unpruned model at density 1.

    `density` is the fraction of prunable weights remaining and `remaining_weights` their
    count. Test metrics are present only when the test set was evaluated too.
    """

    level: list[int]
    density: list[float]
    remaining_weights: list[int]
    val_acc: list[float]
    val_loss: list[float]
    test_acc: list[float] | None = None
    test_loss: list[float] | None = None
    method: str = "magnitude"
    extra: dict[str, list[float]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.level)

    def to_frame(self) -> pd.DataFrame:
        """The trajectory as the ``trajectory.csv`` table (a `method` column included)."""
        columns = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("method", "extra") and getattr(self, f.name) is not None
        }
        frame = pd.DataFrame({**columns, **self.extra})
        frame.insert(0, "method", self.method)
        return frame

    def to_csv(self, path: str | Path) -> None:
        write_text_atomic(path, self.to_frame().to_csv(index=False))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Trajectory:
        known = {f.name for f in fields(cls)} - {"method", "extra"}
        kwargs = {c: frame[c].tolist() for c in frame.columns if c in known}
        extra = {c: frame[c].tolist() for c in frame.columns if c not in known | {"method"}}
        method = str(frame["method"].iloc[0]) if "method" in frame.columns else "magnitude"
        return cls(**kwargs, method=method, extra=extra)
