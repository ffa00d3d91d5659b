"""What an engine is given and gives back: one interface for Lightning and the stacked engine.

The recipe hands an engine a chunk of members, each a `FitMember` (its settings, initialised
model, data, stop rule and loggers; its mask, for retraining a pruned network; the iteration
its branches rewind to, for a dense run that keeps its state there), and a `Chunk` of what
they share; it gets one `FitResult` per member, in order. Each engine owns
the rest: where the fit checkpoints and resumes from, writing the initial weights of a fresh
fit (section 5.1), saving a member's state at its rewind iteration, and the device it trains
on (`Engine.device`, read after `fit`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from propensity.cohort.fit import FitResult
from propensity.config.settings import RunSettings
from propensity.data.base import TensorDataModule
from propensity.engines.epoch_report import EpochReport
from propensity.engines.limits import BatchLimits
from propensity.engines.stopping import StopRule
from propensity.mechanisms.artifacts import save_initial_weights
from propensity.retrain.rewind import CaptureAt

log = logging.getLogger("propensity")
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


@dataclass(frozen=True)
class FitMember:
    """One member to fit: its run's settings, its initialised model and data, its stop rule,
    its loggers and its mask (kept weights by parameter name, True: kept; None: dense),
    whose removed weights are zeroed and stay exactly zero through every step.

    `rewind_at`: the engine saves the model's whole state after exactly this many optimiser
    steps (0: before the first) to ``propensity.retrain.rewind.rewind_state_path(run_dir, k)``,
    once, for iterative magnitude pruning's rewinding (Frankle et al. 2020); None saves none.
    """

    run: RunSettings
    model: nn.Module
    data: TensorDataModule
    rule: StopRule
    loggers: list[Any]
    mask: Mapping[str, torch.Tensor] | None = None
    rewind_at: int | None = None

    def __post_init__(self) -> None:
        if self.rewind_at is not None:
            CaptureAt(self.rewind_at)  # refuses anything but an integer >= 0, in one line


@dataclass(frozen=True)
class Chunk:
    """What the members of one chunk share: the optimiser, the epoch bound, the epoch report,
    a debug run's limits on batches and the validation batch the memory budget allows."""

    optimizer: OptimizerFactory
    max_epochs: int
    report: EpochReport
    limits: BatchLimits
    val_batch: int


class Engine(Protocol):
    """Fits a chunk of members; one result per member, in order."""

    device: torch.device

    def fit(self, members: Sequence[FitMember], chunk: Chunk) -> list[FitResult]: ...


def save_initial(members: Sequence[FitMember]) -> None:
    """Each member's initial weights, when its run keeps them (``artifacts.weights``)."""
    for member in members:
        if member.run.artifacts.weights:
            save_initial_weights(member.model, member.run.run_dir)


def warn_rewind_missed(run_dir: Path, iteration: int, steps: int) -> None:
    """A fit resumed after `steps` optimiser steps, past its rewind iteration, without the
    state saved there: it cannot be captured now (the run trained before it asked for it)."""
    log.warning("%s resumes at iteration %d, past its rewind iteration %d, which it did not save: "
                "its branches cannot rewind there; retrain it (resume=false) to capture it",
                run_dir, steps, iteration)
