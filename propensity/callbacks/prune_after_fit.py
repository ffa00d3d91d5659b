"""Runs the pruning trajectory once training has ended (section 3.2); thin glue.

The science lives in `propensity.pruning` (pure functions over a model and tensors); this
callback only feeds each registered method (`propensity.pruning.registry`) its tensors,
writes ``trajectory.csv``, and reports the effective density to the console and to the experiment loggers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from propensity.atomic import write_text_atomic
from propensity.pruning import total_weights
from propensity.pruning.effective_density import summarize
from propensity.pruning.registry import Splits, method
from propensity.pruning.trajectory import Trajectory

log = logging.getLogger("propensity")


class PruneAfterFit(L.Callback):
    """After `fit` (and after any best-epoch restore), prune, evaluate and summarise.

    Place it after the stop-rule callback: Lightning calls callbacks in list order, and a
    ``stop=val_loss_min`` run must have its best weights back before it is pruned.
    """

    def __init__(self, out_dir: str | Path, **pruning: Any) -> None:
        self.out_dir = Path(out_dir)
        self.pruning = pruning
        self.summary: dict[str, Any] = {}
        self.trajectories: list[Trajectory] = []

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        device = pl_module.device
        x_val, y_val = dm.x_val.to(device), dm.y_val.to(device)
        test = (dm.x_test.to(device), dm.y_test.to(device)) if self.pruning["eval_test"] else None
        model, p = pl_module.model, self.pruning
        n_weights = total_weights(model)
        self.trajectories, by_method = [], {}
        for name in [p["method"], *p["baselines"]]:
            trajectory = self._trajectory(name, model, dm, (x_val, y_val), test)
            self.trajectories.append(trajectory)
            by_method[name] = summarize(
                trajectory, n_weights, p["threshold"], p["threshold_mode"], tuple(p["thresholds"])
            )
        frame = pd.concat([t.to_frame() for t in self.trajectories], ignore_index=True)
        write_text_atomic(self.out_dir / "trajectory.csv", frame.to_csv(index=False))
        self.summary = {
            **by_method[p["method"]],
            "pruning_method": p["method"],
            "schedule": p["schedule"],
            "ed_by_method": by_method,
        }
        self._report(trainer, pl_module, frame)

    def _trajectory(
        self,
        name: str,
        model: torch.nn.Module,
        dm: L.LightningDataModule,
        val: tuple[torch.Tensor, torch.Tensor],
        test: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> Trajectory:
        pruning = method(name)
        device = val[0].device
        train = (None, None)
        if pruning.needs_train_split:  # copied to the device only for a method that trains
            train = (dm.x_train.to(device), dm.y_train.to(device))
        splits = Splits(*val, *(test or (None, None)), *train)
        return pruning.trajectory(model, splits, {**self.pruning, "progress": True})

    def _report(self, trainer: L.Trainer, pl_module: L.LightningModule, frame: pd.DataFrame) -> None:
        s = self.summary
        log.info(
            "pruned %s: effective density %.3f, %d of %d weights unpruned, base val acc %.4f%s",
            type(pl_module.model).__name__,
            s["effective_density"],
            s["unpruned_weights"],
            s["total_weights"],
            s["base_val_acc"],
            " (never degraded)" if s["never_degraded"] else "",
        )
        log_trajectory(trainer.loggers, frame, s)


def log_trajectory(loggers: Sequence[Any], frame: pd.DataFrame, summary: dict[str, Any]) -> None:
    """Report a pruned run's trajectory and effective density to its experiment loggers:
    W&B gets a table with a chart, the CSV logger one row per level of the main method."""
    keys = ("effective_density", "unpruned_weights", "total_weights", "base_val_acc")
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            _log_wandb(logger, frame, {k: summary[k] for k in keys})
        elif isinstance(logger, CSVLogger):
            main = frame[frame["method"] == summary["pruning_method"]]
            for row in main.itertuples():
                logger.log_metrics(
                    {"pruning/density": row.density, "pruning/val_acc": row.val_acc,
                     "pruning/val_loss": row.val_loss},
                    step=int(row.level),
                )
            logger.log_metrics({f"pruning/{k}": float(summary[k]) for k in keys})
            logger.save()


def _log_wandb(logger: WandbLogger, frame: pd.DataFrame, summary: dict[str, Any]) -> None:
    """Summary metrics and the trajectory as a table with an accuracy-vs-density line plot,
    one line per pruning method (the table's ``method`` column)."""
    import wandb

    run = logger.experiment
    table = wandb.Table(dataframe=frame)
    run.log(
        {
            "pruning/trajectory": table,
            "pruning/accuracy_vs_density": wandb.plot.line(
                table, "density", "val_acc", stroke="method", title="Validation accuracy vs density"
            ),
        }
    )
    run.summary.update(summary)
