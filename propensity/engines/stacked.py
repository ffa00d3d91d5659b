"""The stacked engine: K members of one grid cell fitted as one stacked model (`propensity.cohort`).

It only fits, as the Lightning engine does, and shares with it what a fit is made of: each
member's stop rule (`propensity.engines.stopping`, asked after every epoch), the epoch
report (history, loggers, progress line) and the checkpoint contract (one file for the
cohort, `propensity.storage.checkpoints`, saved after every epoch and resumed from). It is a
plain loop rather than a LightningModule over the stack: members leave the stack when their
rule stops them (their weights and optimiser state sliced out), which Lightning's fixed
optimiser and checkpoint layout do not allow, and one Lightning step per epoch would save
nothing over the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from propensity.cohort.fit import EpochEnd, FitResult, Limits, Member, fit
from propensity.engines.epoch_report import EpochReport
from propensity.engines.stopping import StopRule
from propensity.storage.checkpoints import Checkpoint

log = logging.getLogger("propensity")
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


def fit_many(
    models: Sequence[nn.Module],
    members: Sequence[Member],
    optimizer: OptimizerFactory,
    rules: Sequence[StopRule],
    max_epochs: int,
    batch_size: int,
    eval_batch_size: int,
    device: torch.device,
    report: EpochReport,
    checkpoint: Checkpoint | None,
    state: dict[str, Any] | None,
    limits: Limits | None = None,
    deterministic: bool = True,
) -> list[FitResult]:
    """Fit `models` as one cohort; each model ends with its member's final (or restored) weights.

    `checkpoint` (None for a debug run) is saved after every epoch; `state`, a checkpoint of
    these same members (`Checkpoint.load`), is continued from, bitwise (same thread count).
    """
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if state is not None:
        where = f" {checkpoint.path}" if checkpoint is not None else ""
        log.info("resume the cohort from%s (epoch %d)", where, state["epoch"])
        for rule, saved in zip(rules, state["stops"], strict=True):
            rule.load_state_dict(saved)
        for m, rows in enumerate(state["results"]):
            report.histories[m] = list(rows["history"])
    report.start(int(state["epoch"]) if state is not None else 0)

    def after_epoch(end: EpochEnd) -> None:
        trained = {m: _metrics(r.history[-1]) for m, r in enumerate(end.results)
                   if r.history and r.history[-1]["epoch"] == end.epoch}
        if checkpoint is not None:
            checkpoint.save({**end.state(), "stops": [rule.state_dict() for rule in rules]})
        report(end.epoch, trained, len(end.active))

    results = fit(models, members, optimizer, rules, max_epochs, batch_size, eval_batch_size, device,
                  on_epoch=after_epoch, resume=state, limits=limits)
    for rule, result in zip(rules, results, strict=True):
        rule.fit_ended(rule.restores_best and rule.stop_epoch is not None and result.status != "diverged")
    return results


def _metrics(row: Mapping[str, Any]) -> dict[str, float]:
    return {k: v for k, v in row.items() if k != "epoch"}
