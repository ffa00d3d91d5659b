"""The stop rules of section 3.1 ('Stopping Criteria') as Lightning callbacks.

Every rule is bounded by ``stop.max_epochs`` (the Trainer's ``max_epochs``). Each callback
reports `stop_epoch` (1-based: the number of epochs trained when the rule fired, or the
restored epoch) and whether its target was met; both go into ``record.json``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch


class StopRule(L.Callback):
    """Base of the stop rules; `stop_epoch` and `target_met` are checkpointed for resumption."""

    def __init__(self) -> None:
        self.stop_epoch: int | None = None
        self.target_met: bool = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.target_met:  # resumed from a checkpoint written after the rule fired
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {"stop_epoch": self.stop_epoch, "target_met": self.target_met}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.stop_epoch = state_dict["stop_epoch"]
        self.target_met = state_dict["target_met"]


class TrainForEpochs(StopRule):
    """``stop=epochs``: train exactly ``max_epochs``."""

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.stop_epoch = trainer.current_epoch + 1
        self.target_met = self.stop_epoch >= (trainer.max_epochs or 0)


class StopAtTrainLoss(StopRule):
    """``stop=train_loss``: stop after the first epoch whose mean training loss <= `target`.

    The paper trains its MLPs on MNIST to a loss of 0.2 (section 3.1).
    """

    def __init__(self, target: float = 0.2) -> None:
        super().__init__()
        self.target = target

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.stop_epoch = trainer.current_epoch + 1
        if pl_module.epoch_metrics(("train",))["train_loss"] <= self.target:
            self.target_met = True
            trainer.should_stop = True


class RestoreBestValLoss(StopRule):
    """``stop=val_loss_min``: train ``max_epochs``, then restore the epoch of lowest val loss.

    The paper determines the minimum retrospectively after a fixed budget (section 3.1); the
    best weights are kept in memory (on the CPU) and loaded back when fitting ends, before
    the pruning sweep and the test evaluation see the model.
    """

    def __init__(self) -> None:
        super().__init__()
        self.best_val_loss = float("inf")
        self.best_state: dict[str, torch.Tensor] | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        val_loss = pl_module.epoch_metrics(("val",))["val_loss"]
        if val_loss < self.best_val_loss:
            self.best_val_loss = val_loss
            self.stop_epoch = trainer.current_epoch + 1
            self.best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in pl_module.state_dict().items()
            }

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.best_state is not None:
            pl_module.load_state_dict(self.best_state)
            self.target_met = True

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "best_val_loss": self.best_val_loss,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.best_val_loss = state_dict["best_val_loss"]
        self.best_state = state_dict["best_state"]
