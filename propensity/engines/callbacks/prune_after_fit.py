"""Prune after `fit`, for a researcher's own Trainer: thin glue over `propensity.measurements`.

The recipe measures its runs with the same function (`measure_pruning`), so this callback
writes the ``trajectory.csv`` and reports the effective density a run of this project would.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L

from propensity.engines.loggers import log_trajectory, say_pruned
from propensity.measurements import MemberSplits, measure_pruning
from propensity.pruning.registry import method
from propensity.pruning.settings import PruningSettings
from propensity.storage.atomic import write_text_atomic

log = logging.getLogger("propensity")


class PruneAfterFit(L.Callback):
    """After `fit` (and after any best-epoch restore), prune, evaluate and summarise.

    `pruning` are the ``pruning`` settings (`PruningSettings`). The trained network is the
    module's ``model`` attribute if it has one; its data are ``trainer.datamodule``'s
    ``x_val, y_val`` (and ``x_test, y_test``, ``x_train, y_train`` where a setting or a method
    needs them). Place it after a callback that restores best weights at ``on_fit_end``.
    """

    def __init__(self, out_dir: str | Path, **pruning: Any) -> None:
        self.out_dir = Path(out_dir)
        self.settings = PruningSettings.from_mapping(pruning)
        self.summary: dict[str, Any] = {}

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm, device = trainer.datamodule, pl_module.device
        model = getattr(pl_module, "model", pl_module)
        trains = any(method(name).needs_train_split for name in self.settings.methods)
        splits = MemberSplits(
            (dm.x_val.to(device), dm.y_val.to(device)),
            (dm.x_test.to(device), dm.y_test.to(device)) if self.settings.eval_test else None,
            (dm.x_train.to(device), dm.y_train.to(device)) if trains else None,
        )
        result = measure_pruning([model], [splits], self.settings,
                                 levels_at_once=max(1, self.settings.levels_at_once))[0]
        frame = result.frame()
        write_text_atomic(self.out_dir / "trajectory.csv", frame.to_csv(index=False))
        self.summary = result.fields
        say_pruned(type(model).__name__, self.summary)
        log_trajectory(trainer.loggers, frame, self.summary)
