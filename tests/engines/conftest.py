"""Fitting one model through the Lightning engine's entry point (`fit_one`), as the recipe
does, with a Trainer of the ``trainer`` group's defaults, for the engine's tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch

from propensity.cohort.fit import FitResult
from propensity.data.base import TensorDataModule
from propensity.engines.classifier import Classifier
from propensity.engines.epoch_report import EpochReport
from propensity.engines.lightning import fit_one
from propensity.engines.stopping import StopRule, TrainForEpochs
from propensity.storage.checkpoints import Checkpoint

# conf/trainer/default.yaml, less its process-wide ``deterministic`` flag.
TRAINER = {"devices": 1, "num_sanity_val_steps": 0, "enable_progress_bar": False,
           "enable_model_summary": False}


@dataclass
class Fitted:
    """What `fit_one` gave (the result and the device), and the Trainer and module it fitted with."""

    result: FitResult
    device: str
    trainer: L.Trainer

    @property
    def module(self) -> Classifier:
        module = self.trainer.lightning_module
        assert isinstance(module, Classifier)
        return module


def lightning_fit(
    model: torch.nn.Module, dm: TensorDataModule, epochs: int, folder: Path, rule: StopRule | None = None,
    *extra: L.Callback, optimizer=lambda p: torch.optim.SGD(p, lr=0.05), accelerator: str = "cpu",
) -> Fitted:
    """Fit `model` with `fit_one` for at most `epochs` under `rule` (default: all epochs); the
    `extra` callbacks join the engine's, the history goes to ``folder/history.csv`` and the
    checkpoint to ``folder/checkpoints``."""
    folder.mkdir(parents=True, exist_ok=True)
    made: list[L.Trainer] = []

    def make_trainer(*, callbacks: list[L.Callback], **kwargs: Any) -> L.Trainer:
        arguments = {**TRAINER, "accelerator": accelerator, "max_epochs": epochs, **kwargs}
        made.append(L.Trainer(**arguments, callbacks=[*callbacks, *extra]))
        return made[-1]

    report = EpochReport([folder], [[]], epochs, progress=False)
    result, device = fit_one(model, dm, optimizer, rule or TrainForEpochs(), max_epochs=epochs,
                             make_trainer=make_trainer, report=report, loggers=[],
                             checkpoint=Checkpoint.of_run(folder, folder.name))
    assert len(made) == 1
    return Fitted(result, device, made[0])
