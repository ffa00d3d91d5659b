"""What an engine is given and gives back: one interface for Lightning and the stacked engine.

The recipe hands an engine a chunk of members, each a `FitMember` (its settings, initialised
model, data, stop rule, loggers and, for retraining a pruned network, its mask), and a
`Chunk` of what they share; it gets one `FitResult` per member, in order. Each engine owns
the rest: where the fit checkpoints and resumes from, writing the initial weights of a fresh
fit (section 5.1), and the device it trains on (`Engine.device`, read after `fit`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


@dataclass(frozen=True)
class FitMember:
    """One member to fit: its run's settings, its initialised model and data, its stop rule,
    its loggers and its mask (kept weights by parameter name, True: kept; None: dense),
    whose removed weights are zeroed and stay exactly zero through every step."""

    run: RunSettings
    model: nn.Module
    data: TensorDataModule
    rule: StopRule
    loggers: list[Any]
    mask: Mapping[str, torch.Tensor] | None = None


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
