"""Per-epoch training curves (Figures 1 and 2), written to ``history.csv`` after every epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd

from propensity.atomic import write_text_atomic

COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")


class EpochHistory(L.Callback):
    """Appends one row per epoch and rewrites the (small) CSV atomically.

    The rows are part of the checkpoint, so a resumed run continues the same history.
    `epoch` is 1-based: the number of epochs trained.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        row = {"epoch": trainer.current_epoch + 1, **pl_module.epoch_metrics()}
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        write_text_atomic(self.path, self.frame().to_csv(index=False))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(COLUMNS))

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])
