"""One LightningModule for every architecture: cross-entropy, accuracy, epoch-level metrics.

The module of the Lightning engine (`propensity.engines.lightning`), which fits one model;
a cohort's members are fitted by the stacked engine with the same loss and metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from propensity.data import TensorBatches
from propensity.pruning.masked_training import keep_pruned_at_zero

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class DivergedError(RuntimeError):
    """The training loss became NaN or infinite; such a run has no trained model to prune."""


class Classifier(L.LightningModule):
    """Wraps a model of section 3.1 with its optimiser (no weight decay, section 3.1).

    The training step is the hot path, kept short and visible: it takes either one
    minibatch or a whole epoch's `TensorBatches` (``data.whole_epoch=true``, the default in
    ``propensity/conf/data``) and loops over it with manual optimisation, so Lightning's per-step
    machinery runs once per epoch instead of once per minibatch (``benchmarks/train_epoch.py``
    measures the difference). Training loss and accuracy are running sums on the device;
    validation and test use torchmetrics over large batches. Everything is logged once per
    epoch, and `epoch_metrics()` is the one place the epoch's numbers come from, for the
    epoch report (history, loggers, progress) and the stop rule alike.
    """

    def __init__(self, model: nn.Module, optimizer: OptimizerFactory, num_classes: int, *,
                 mask: Mapping[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.mask = mask  # kept weights by parameter name (True: kept); None: dense
        self.automatic_optimization = False
        self.model = model
        self.optimizer_factory = optimizer
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        self.val_acc, self.test_acc = (
            MulticlassAccuracy(num_classes, average="micro", validate_args=False) for _ in range(2)
        )
        self.register_buffer("train_sums", torch.zeros(2), persistent=False)  # loss x n, correct
        self.train_count = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        optimizer = self.optimizer_factory(self.model.parameters())
        if self.mask is not None:  # removed weights zeroed now and kept zero through every step
            weights = dict(self.model.named_parameters())
            keep_pruned_at_zero(optimizer, [(weights[name], kept) for name, kept in self.mask.items()])
        return optimizer

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        getattr(self, f"{stage}_loss").update(loss.detach(), weight=y.numel())
        getattr(self, f"{stage}_acc").update(logits.detach(), y)
        return loss

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor] | TensorBatches, batch_idx: int
    ) -> None:
        optimizer = self.optimizers()
        for x, y in batch if isinstance(batch, TensorBatches) else [batch]:
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()
            with torch.no_grad():
                self.train_sums[0] += loss * len(y)
                self.train_sums[1] += (logits.argmax(1) == y).sum()
            self.train_count += len(y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def on_train_epoch_start(self) -> None:
        self.train_sums.zero_()
        self.train_count = 0

    def on_validation_epoch_start(self) -> None:
        for metric in (self.val_loss, self.val_acc):
            metric.reset()

    def on_test_epoch_start(self) -> None:
        for metric in (self.test_loss, self.test_acc):
            metric.reset()

    def epoch_metrics(self, stages: tuple[str, ...] = ("train", "val")) -> dict[str, float]:
        """This epoch's mean loss and accuracy per stage, e.g. ``{"train_loss": 0.31, ...}``."""
        metrics = {}
        if "train" in stages and self.train_count:
            loss_sum, correct = self.train_sums.tolist()
            metrics |= {"train_loss": loss_sum / self.train_count,
                        "train_acc": correct / self.train_count}
        for stage in (s for s in stages if s != "train"):
            for name in ("loss", "acc"):
                metric = getattr(self, f"{stage}_{name}")
                if metric.update_count > 0:
                    metrics[f"{stage}_{name}"] = float(metric.compute())
        return metrics

    def on_train_epoch_end(self) -> None:
        loss = self.epoch_metrics(("train",))["train_loss"]
        if not math.isfinite(loss):
            raise DivergedError(f"training loss is {loss} at epoch {self.current_epoch}")
