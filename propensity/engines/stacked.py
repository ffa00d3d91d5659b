"""The stacked engine: K members of one grid cell fitted as one stacked model (`propensity.cohort`).

It only fits, as the Lightning engine does, and shares with it what a fit is made of: each
member's stop rule (`propensity.engines.stopping`, asked after every epoch), the epoch
report (history, loggers, progress line) and the checkpoint contract (one file for the
cohort, `propensity.storage.checkpoints`, saved after every epoch and resumed from). It is a
plain loop rather than a LightningModule over the stack: members leave the stack when their
rule stops them (their weights and optimiser state sliced out), which Lightning's fixed
optimiser and checkpoint layout do not allow, and one Lightning step per epoch would save
nothing over the loop. A member with a rewind iteration has its state sliced out of the stack
after that many optimiser steps and saved to its own run folder, as its single run would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from propensity.cohort.fit import EpochEnd, FitResult, MemberData, StepEnd, fit_stack
from propensity.config.settings import RunSettings
from propensity.engines.epoch_report import EpochReport
from propensity.engines.fitting import Chunk, FitMember, save_initial, warn_rewind_missed
from propensity.engines.stopping import StopRule
from propensity.retrain.rewind import rewind_state_path, save_rewind_state
from propensity.storage.checkpoints import Checkpoint

log = logging.getLogger("propensity")
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class StackedEngine:
    """The stacked engine fits a chunk of K members as one model: one checkpoint for the
    cohort (`Checkpoint.of_cohort`), resumed from bitwise; the device is the job's."""

    def __init__(self) -> None:
        self.device = torch.device("cpu")

    def fit(self, members: Sequence[FitMember], chunk: Chunk) -> list[FitResult]:
        first = members[0].run
        self.device = torch.device(first.device)
        checkpoint = cohort_checkpoint([m.run for m in members])
        state = checkpoint.load() if first.resume else None
        if state is not None and "stops" not in state:
            log.warning("%s was written by an older version of propensity; retraining the cohort",
                        checkpoint.path)
            state = None
        if state is None:
            save_initial(members)
        if chunk.val_batch != first.eval_batch_size:
            log.info("evaluation batches of %d samples a forward keep the cohort's %d members within "
                     "the memory budget", chunk.val_batch, len(members))
        data = members[0].data
        return fit_many(
            [m.model for m in members],
            [MemberData(m.data.x_train, m.data.y_train, m.data.x_val, m.data.y_val, m.run.batch_seed)
             for m in members],
            chunk.optimizer, [m.rule for m in members], max_epochs=chunk.max_epochs,
            batch_size=first.batch_size, eval_batch_size=chunk.val_batch, device=self.device,
            report=chunk.report, checkpoint=None if first.debug else checkpoint, state=state,
            train_batches=chunk.limits.train_batches(len(data.x_train), first.batch_size, data.whole_epoch),
            val_samples=chunk.limits.samples("val", len(data.x_val), first.eval_batch_size),
            deterministic=bool(first.trainer.get("deterministic", True)),
            masks=[m.mask for m in members], on_step=RewindStates.of(members),
        )


class RewindStates:
    """Saves each member's state after its rewind iteration's optimiser steps (0: before the
    first), sliced out of the stack, to its run folder, once
    (`propensity.retrain.rewind.save_rewind_state`); the stacked loop's step hook."""

    def __init__(self, at: dict[int, int], run_dirs: Sequence[Path]) -> None:
        self.members_at: dict[int, list[int]] = {}
        for member, iteration in at.items():
            self.members_at.setdefault(iteration, []).append(member)
        self.at, self.run_dirs = at, run_dirs
        self.started = False

    @classmethod
    def of(cls, members: Sequence[FitMember]) -> RewindStates | None:
        """The hook for `members`, or None when none of them has a rewind iteration."""
        at = {m: member.rewind_at for m, member in enumerate(members) if member.rewind_at is not None}
        return cls(at, [member.run.run_dir for member in members]) if at else None

    def __call__(self, step: StepEnd) -> None:
        if not self.started:  # training starts, or resumes past some members' iterations
            self.started = True
            for m in step.active:
                if m in self.at and self.at[m] < step.steps and not rewind_state_path(
                        self.run_dirs[m], self.at[m]).exists():
                    warn_rewind_missed(self.run_dirs[m], self.at[m], step.steps)
        for m in self.members_at.get(step.steps, ()):
            if m in step.active:
                save_rewind_state(self.run_dirs[m], step.steps, step.member_state(m))


def cohort_checkpoint(runs: Sequence[RunSettings]) -> Checkpoint:
    """The one checkpoint of a chunk of members, in their experiment's folder."""
    return Checkpoint.of_cohort(runs[0].experiment_dir, [r.run_key for r in runs])


def fit_many(
    models: Sequence[nn.Module],
    members: Sequence[MemberData],
    optimizer: OptimizerFactory,
    rules: Sequence[StopRule],
    *,
    max_epochs: int,
    batch_size: int,
    eval_batch_size: int,
    device: torch.device,
    report: EpochReport,
    checkpoint: Checkpoint | None,
    state: dict[str, Any] | None,
    train_batches: int | None = None,
    val_samples: int | None = None,
    deterministic: bool = True,
    masks: Sequence[Mapping[str, torch.Tensor] | None] | None = None,
    on_step: Callable[[StepEnd], None] | None = None,
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

    results = fit_stack(models, members, optimizer, rules, max_epochs, batch_size,
                  eval_batch_size=eval_batch_size, device=device, on_epoch=after_epoch, resume=state,
                  train_batches=train_batches, val_samples=val_samples, masks=masks, on_step=on_step)
    for rule, result in zip(rules, results, strict=True):
        rule.fit_ended(rule.restores_best and rule.stop_epoch is not None and result.status != "diverged")
    return results


def _metrics(row: Mapping[str, Any]) -> dict[str, float]:
    return {k: v for k, v in row.items() if k != "epoch"}
