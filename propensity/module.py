"""One LightningModule for every architecture: cross-entropy, accuracy, epoch-level metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class DivergedError(RuntimeError):
    """The training loss became NaN or infinite; such a run never produces an ED (issue 4)."""


class Classifier(L.LightningModule):
    """Wraps a model of section 3.1 with its optimiser (no weight decay, section 3.1).

    Metrics are accumulated on the device and logged once per epoch: for these small models
    per-step logging costs more than the step itself. `epoch_metrics()` is the one place the
    epoch's numbers come from, for the logger, the history and the stop rules alike.
    """

    def __init__(self, model: nn.Module, optimizer: OptimizerFactory, num_classes: int) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        self.train_acc, self.val_acc, self.test_acc = (
            MulticlassAccuracy(num_classes, average="micro", validate_args=False) for _ in range(3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.model.parameters())

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        getattr(self, f"{stage}_loss").update(loss.detach(), weight=y.numel())
        getattr(self, f"{stage}_acc").update(logits.detach(), y)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def on_train_epoch_start(self) -> None:
        for metric in (self.train_loss, self.train_acc):
            metric.reset()

    def on_validation_epoch_start(self) -> None:
        for metric in (self.val_loss, self.val_acc):
            metric.reset()

    def on_test_epoch_start(self) -> None:
        for metric in (self.test_loss, self.test_acc):
            metric.reset()

    def epoch_metrics(self, stages: tuple[str, ...] = ("train", "val")) -> dict[str, float]:
        """This epoch's mean loss and accuracy per stage, e.g. ``{"train_loss": 0.31, ...}``."""
        return {
            f"{stage}_{name}": float(getattr(self, f"{stage}_{name}").compute())
            for stage in stages
            for name in ("loss", "acc")
            if getattr(self, f"{stage}_{name}").update_count > 0
        }

    def on_train_epoch_end(self) -> None:
        metrics = self.epoch_metrics()
        if not torch.isfinite(torch.tensor(metrics["train_loss"])):
            raise DivergedError(f"training loss is {metrics['train_loss']} at epoch {self.current_epoch}")
        self.log_dict({k.replace("_", "/", 1): v for k, v in metrics.items()})

    def on_test_epoch_end(self) -> None:
        self.log_dict({k.replace("_", "/", 1): v for k, v in self.epoch_metrics(("test",)).items()})
