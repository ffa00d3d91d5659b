"""The Lightning engine: Lightning's Trainer fits one member (a single run, or a cohort's chunk of one).

It only fits. The model (initialised), its data, its optimiser, its stop rule
(`propensity.engines.stopping`), its epoch report and its loggers come from the recipe; the
engine adapts the rule and the report to Lightning callbacks, checkpoints every epoch to the
run's `Checkpoint` (atomically, inside the run folder) and resumes from it, and saves the
model's state at the member's rewind iteration, if it has one. What it returns
is the member's `FitResult`; the trained model (with the best epoch restored under
``stop=val_loss_min``) is the one it was given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.plugins.environments import LightningEnvironment
from torch import nn

from propensity.cohort.fit import FitResult
from propensity.data.base import TensorDataModule
from propensity.data.batches import TensorBatches, WholeEpoch
from propensity.engines.classifier import Classifier, DivergedError
from propensity.engines.epoch_report import EpochReport
from propensity.engines.fitting import Chunk, FitMember, save_initial, warn_rewind_missed
from propensity.engines.stopping import StopRule
from propensity.retrain.rewind import rewind_state_path, save_rewind_state
from propensity.storage.atomic import write_atomic
from propensity.storage.checkpoints import Checkpoint

log = logging.getLogger("propensity")
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class TensorData(L.LightningDataModule):
    """A `TensorDataModule` served to Lightning: the training order of epoch e is that of
    (batch seed, e) and every split moves once to the trainer's device. Attributes not set
    here (``x_val``, ``num_classes``, ...) are the data module's, so callbacks read them."""

    def __init__(self, data: TensorDataModule) -> None:
        super().__init__()
        self.data = data

    def __getattr__(self, name: str) -> Any:
        if name == "data":
            raise AttributeError(name)
        return getattr(self.data, name)

    def prepare_data(self) -> None:
        self.data.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        self.data.setup(stage)

    def _epoch(self) -> int | None:
        return self.trainer.current_epoch if self.trainer is not None else None

    def _device(self) -> torch.device | None:
        return self.trainer.strategy.root_device if self.trainer is not None else None

    def train_dataloader(self) -> TensorBatches | WholeEpoch:
        d = self.data
        batches = TensorBatches(d.x_train, d.y_train, d.batch_size, shuffle=True, seed=d.batch_seed,
                                epoch=self._epoch, device=self._device)
        return WholeEpoch(batches) if d.whole_epoch else batches

    def val_dataloader(self) -> TensorBatches:
        d = self.data
        return TensorBatches(d.x_val, d.y_val, d.eval_batch_size, device=self._device)

    def test_dataloader(self) -> TensorBatches:
        d = self.data
        return TensorBatches(d.x_test, d.y_test, d.eval_batch_size, device=self._device)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer through `propensity.storage.atomic`: the temporary file
    sits beside ``last.ckpt`` (fsspec's would sit in the system temp folder and leak there
    when a job is killed mid-save)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        write_atomic(Path(path), lambda tmp: torch.save(checkpoint, tmp))


class StopRuleCallback(L.Callback):
    """A `StopRule` applied after every epoch: stops the Trainer, keeps the best epoch's
    weights (on the CPU) and restores them when fitting ends."""

    def __init__(self, rule: StopRule, max_epochs: int) -> None:
        self.rule, self.max_epochs = rule, max_epochs
        self.best_state: dict[str, torch.Tensor] | None = None

    @property
    def state_key(self) -> str:  # the key checkpoints written before this adapter used
        return type(self.rule).__name__

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.rule.stopped_early:  # resumed from a checkpoint written after the rule fired
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: Classifier) -> None:
        verdict = self.rule.after_epoch(trainer.current_epoch + 1, pl_module.epoch_metrics(),
                                        self.max_epochs)
        if verdict.best:
            self.best_state = {k: v.detach().to("cpu", copy=True)
                               for k, v in pl_module.state_dict().items()}
        if verdict.stop:
            trainer.should_stop = True

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        restored = self.rule.restores_best and self.best_state is not None
        if restored:
            pl_module.load_state_dict(self.best_state)
        self.rule.fit_ended(restored)

    def state_dict(self) -> dict[str, Any]:
        return {**self.rule.state_dict(), "best_state": self.best_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rule.load_state_dict(state_dict)
        self.best_state = state_dict.get("best_state")


class EpochReportCallback(L.Callback):
    """The one member's epoch report after every epoch; its history rows are checkpointed."""

    def __init__(self, report: EpochReport) -> None:
        self.report = report

    @property
    def state_key(self) -> str:  # the key checkpoints written before this adapter used
        return "EpochHistory"

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.report.start(trainer.current_epoch)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: Classifier) -> None:
        self.report(trainer.current_epoch + 1, {0: pl_module.epoch_metrics()},
                    training=0 if trainer.should_stop else 1)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.report.histories[0]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        self.report.histories[0] = list(state_dict["rows"])


class RewindStateCallback(L.Callback):
    """Saves the model's state after `iteration` optimiser steps (0: before the first) to the
    run's rewind file, once (`propensity.retrain.rewind.save_rewind_state`).

    Steps are counted from ``trainer.global_step`` when training starts (a resumed fit's
    checkpointed count), then by the optimiser's own step hook, registered after the mask's
    (so a masked model is seen with its removed weights at zero): under ``data.whole_epoch``
    one Lightning training step holds a whole epoch of optimiser steps, which no per-batch
    callback sees.
    """

    def __init__(self, iteration: int, run_dir: Path) -> None:
        self.iteration, self.run_dir = iteration, Path(run_dir)
        self.steps = 0
        self.model: nn.Module | None = None
        self.handles: list[Any] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: Classifier) -> None:
        self.steps, self.model = trainer.global_step, pl_module.model
        if self.steps > self.iteration:
            if not rewind_state_path(self.run_dir, self.iteration).exists():
                warn_rewind_missed(self.run_dir, self.iteration, self.steps)
            return
        if self.steps == self.iteration:
            save_rewind_state(self.run_dir, self.iteration, self.model)
            return
        self.handles = [optimizer.register_step_post_hook(self._after_step)
                        for optimizer in trainer.optimizers]

    def _after_step(self, *_: Any) -> None:
        self.steps += 1
        if self.steps == self.iteration and self.model is not None:
            save_rewind_state(self.run_dir, self.iteration, self.model)
            self._remove()

    def _remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._remove()
        self.model = None


class LightningEngine:
    """Lightning's Trainer fits a chunk of one member, checkpointing to the run's own folder
    and resuming from it; the device is the job's (`RunSettings.trainer_device`)."""

    device: torch.device = torch.device("cpu")

    def fit(self, members: Sequence[FitMember], chunk: Chunk) -> list[FitResult]:
        [member] = members
        run = member.run
        checkpoint = Checkpoint.of_run(run.run_dir, run.run_key)
        resume_from = checkpoint.readable() if run.resume else None
        if resume_from is None:
            save_initial([member])
        result, device = fit_one(
            member.model, member.data, chunk.optimizer, member.rule, max_epochs=chunk.max_epochs,
            make_trainer=run.build.trainer, report=chunk.report, loggers=member.loggers,
            checkpoint=checkpoint, resume_from=resume_from, device=run.trainer_device, mask=member.mask,
            extra_callbacks=[] if member.rewind_at is None else [
                RewindStateCallback(member.rewind_at, run.run_dir)],
        )
        self.device = torch.device(device)
        return [result]


def fit_one(
    model: nn.Module,
    data: TensorDataModule,
    optimizer: OptimizerFactory,
    rule: StopRule,
    *,
    max_epochs: int,
    make_trainer: Callable[..., L.Trainer],
    report: EpochReport,
    loggers: list[Any],
    checkpoint: Checkpoint,
    resume_from: Path | None = None,
    device: Mapping[str, Any] | None = None,
    mask: Mapping[str, torch.Tensor] | None = None,
    extra_callbacks: Sequence[L.Callback] = (),
) -> tuple[FitResult, str]:
    """Fit `model` with Lightning; return its `FitResult` and the device it trained on.

    `make_trainer` builds the ``trainer`` group's Trainer (given the callbacks, loggers and
    the job's `device` overrides); `resume_from` is the run's readable checkpoint, if the
    run resumes. Checkpoints are saved after every epoch to `checkpoint`. `extra_callbacks`
    (such as `RewindStateCallback`) join the engine's own.
    """
    module = Classifier(model, optimizer, data.num_classes, mask=mask)
    callbacks: list[L.Callback] = [StopRuleCallback(rule, max_epochs), EpochReportCallback(report),
                                   *extra_callbacks]
    callbacks.append(L.pytorch.callbacks.ModelCheckpoint(
        dirpath=checkpoint.path.parent, filename=checkpoint.path.stem, save_top_k=1, monitor=None,
        save_on_train_epoch_end=True, enable_version_counter=False))
    trainer = make_trainer(
        callbacks=callbacks, logger=loggers or False, max_epochs=max_epochs,
        default_root_dir=checkpoint.path.parent.parent, plugins=_plugins(), **(device or {}),
    )
    if resume_from:
        log.info("resume %s from %s", checkpoint.run_keys[0], resume_from)
    result = FitResult()
    try:
        trainer.fit(module, datamodule=TensorData(data), ckpt_path=resume_from)
    except DivergedError as error:
        result.status, result.error = "diverged", str(error)
    result.history = list(report.histories[0])
    result.epochs_trained = trainer.current_epoch + (result.status == "diverged")
    return result, str(trainer.strategy.root_device)


def _plugins() -> list[Any]:
    """Atomic checkpoints; and, so that the scheduler's launcher alone handles SLURM's signals
    and requeues, Lightning's plain environment instead of its SLURM one."""
    return [AtomicCheckpointIO(), LightningEnvironment()]
