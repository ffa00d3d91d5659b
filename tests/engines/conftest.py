"""Fitting one model with Lightning through the engine's adapters, for the engine's tests."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from propensity.data.base import TensorDataModule
from propensity.engines.classifier import Classifier
from propensity.engines.epoch_report import EpochReport
from propensity.engines.lightning import EpochReportCallback, StopRuleCallback, TensorData
from propensity.engines.stopping import StopRule, TrainForEpochs


def lightning_fit(
    model: torch.nn.Module, dm: TensorDataModule, epochs: int, folder: Path, rule: StopRule | None = None,
    *extra: L.Callback, optimizer=lambda p: torch.optim.SGD(p, lr=0.05),
) -> tuple[L.Trainer, Classifier, EpochReport]:
    """Fit `model` for at most `epochs` with `rule` (default: all epochs); the report holds
    the history rows and writes ``folder/history.csv``."""
    rule = rule or TrainForEpochs()
    report = EpochReport([folder], [[]], epochs, progress=False)
    module = Classifier(model, optimizer, dm.num_classes)
    trainer = L.Trainer(
        max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        callbacks=[StopRuleCallback(rule, epochs), EpochReportCallback(report), *extra],
    )
    trainer.fit(module, datamodule=TensorData(dm))
    return trainer, module, report
