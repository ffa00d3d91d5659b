"""The measurements step of the recipe: what is measured on each fitted member, written once.

For the K trained (not diverged) models of a chunk, whichever engine fitted them: the
pruning trajectory of every method and baseline (`propensity.measurements.measure_pruning`,
through the registry), the test metrics, the learning coefficient (``llc=sgld``) and the
section-5 artifacts (``artifacts.*``). Each member's files go to its run folder, its fields
to its record, its results to its loggers, as its single run would write them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from propensity.config.settings import RunSettings
from propensity.data.base import TensorDataModule
from propensity.engines.limits import BatchLimits
from propensity.engines.loggers import log_llc, log_test, log_trajectory, say_llc, say_pruned
from propensity.llc import estimate_llc
from propensity.measurements import MemberSplits, measure_pruning, measure_test
from propensity.mechanisms.artifacts import save_final_artifacts
from propensity.pruning.registry import method
from propensity.storage.atomic import write_text_atomic
from propensity.storage.records import RunRecord

log = logging.getLogger("propensity")


class OnDevice:
    """Split tensors moved to the device once each: members of one data seed share them."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.moved = device, {}

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.moved.setdefault(id(x), x.to(self.device)),
                self.moved.setdefault(id(y), y.to(self.device)))


def measure_fitted(
    members: Sequence[RunSettings],
    records: Sequence[RunRecord],
    models: Sequence[nn.Module],
    data: Sequence[TensorDataModule],
    *,
    loggers: Sequence[Sequence[Any]],
    device: torch.device,
    eval_batch: int,
    prune_batch: int,
    levels_at_once: int,
    limits: BatchLimits,
) -> None:
    """Measure the fitted `models` (one per member, none diverged) and fill their records."""
    on_device = OnDevice(device)
    models = [m.to(device) for m in models]
    settings = members[0].pruning
    trains = any(method(name).needs_train_split for name in settings.methods)
    splits = [MemberSplits(on_device(d.x_val, d.y_val),
                           on_device(d.x_test, d.y_test) if settings.eval_test else None,
                           on_device(d.x_train, d.y_train) if trains else None) for d in data]
    for member, record, model, result, member_loggers in zip(
            members, records, models, measure_pruning(models, splits, settings, prune_batch, levels_at_once),
            loggers, strict=True):
        frame = result.frame()
        write_text_atomic(member.run_dir / "trajectory.csv", frame.to_csv(index=False))
        for key, value in result.fields.items():
            setattr(record, key, value)
        say_pruned(type(model).__name__, result.fields)
        log_trajectory(member_loggers, frame, result.fields)
    test = [_limited(on_device(d.x_test, d.y_test), limits, eval_batch) for d in data]
    for record, (loss, accuracy), member_loggers in zip(records, measure_test(models, test, eval_batch),
                                                        loggers, strict=True):
        record.test_loss, record.test_acc = loss, accuracy
        log_test(member_loggers, loss, accuracy, int(record.epochs_trained or 0))
    for member, record, model, d, member_loggers in zip(members, records, models, data, loggers,
                                                        strict=True):
        if member.llc is not None:
            _estimate_llc(member, record, model, on_device(d.x_train, d.y_train), member_loggers)
        if member.artifacts.any:
            save_final_artifacts(model, member.run_dir, member.artifacts, d.x_val, d.y_val, d.num_classes)


def _limited(split: tuple[torch.Tensor, torch.Tensor], limits: BatchLimits, size: int
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """The part of the test split a debug run's ``limit_test_batches`` lets through."""
    n = limits.samples("test", len(split[0]), size)
    return split[0][:n], split[1][:n]


def _estimate_llc(member: RunSettings, record: RunRecord, model: nn.Module,
                  train: tuple[torch.Tensor, torch.Tensor], loggers: Sequence[Any]) -> None:
    """The learning coefficient of the trained, unpruned weights (the sweep restored them)."""
    assert member.llc is not None
    started = time.perf_counter()
    estimate = estimate_llc(model, *train, **vars(member.llc))
    seconds = time.perf_counter() - started
    estimate.save_traces(member.run_dir)
    fields = estimate.record_fields()
    for key, value in fields.items():
        setattr(record, key, value)
    say_llc(estimate.mean, estimate.std, len(estimate.per_chain), estimate.nbeta, seconds,
            "" if estimate.valid else estimate.reason)
    log_llc(loggers, fields, estimate.mean, estimate.std, seconds)
