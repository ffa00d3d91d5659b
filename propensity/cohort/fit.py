"""Training a cohort: K runs of one grid cell as one stacked model (section 3.1).

Each member keeps what makes it its own run: its initial weights (the single model's,
stacked bitwise), its training and validation split, its batch order
(`propensity.data.batches.epoch_permutation` of its batch seed and the epoch, as the single
run draws it) and its stop rule (an object of `propensity.engines.stopping`, the one
definition both engines apply; here it is only asked after every epoch). One optimiser steps
all members at once on the sum of their mean losses: the gradient of a sum is each member's
own gradient, and SGD, Adam and Adagrad without weight decay (section 3.1) update every
element from its own gradient and state, so each member takes its single run's step. A
member leaves the stack when its rule stops it (``train_loss``) or its loss diverges; its
parameters and optimiser state are sliced out, so the others train on unchanged and no
compute is spent on it.

After each epoch an optional hook sees the cohort (`EpochEnd`): loggers and progress read
each member's new history row, and `EpochEnd.state` is everything needed to go on from
there, which `fit(..., resume=state)` does as if it had never stopped (as a single run
resumes from its Lightning checkpoint). Another hook sees it after every optimiser step
(`StepEnd`), where an engine slices out a member's state at its rewind iteration.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import torch
from torch import nn

from propensity.cohort.pool import Pool
from propensity.cohort.stacked import StackedModel
from propensity.cohort.stacking import stack
from propensity.data.batches import epoch_permutation
from propensity.pruning.evaluation import evaluate, member_losses
from propensity.pruning.masked_training import keep_pruned_at_zero

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class Verdict(Protocol):
    """A stop rule's answer after an epoch: `stop` (the member trains no further) and `best`
    (keep this epoch's weights: they are restored when fitting ends)."""

    stop: bool
    best: bool


class StopsAfterEpoch(Protocol):
    """What `fit` asks of a member's stop rule (`propensity.engines.stopping.StopRule`)."""

    def after_epoch(self, epoch: int, metrics: Mapping[str, float], max_epochs: int) -> Verdict: ...


@dataclass
class MemberData:
    """One run's data: its splits (tensors may be shared with other members) and batch seed."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    batch_seed: int


@dataclass
class FitResult:
    """What fitting one member gave, whichever engine fitted it: its history rows (those of
    ``history.csv``), the epochs trained, and ``running`` or ``diverged`` (with the error)."""

    history: list[dict[str, float]] = field(default_factory=list)
    status: str = "running"
    error: str | None = None
    epochs_trained: int = 0


@dataclass
class EpochEnd:
    """The cohort after `epoch` epochs, as `fit`'s hook sees it.

    `active` are the member ids still training, in stack order; `results` every member's
    results so far (its last history row is this epoch's, for the members that trained it).
    """

    epoch: int
    active: list[int]
    results: list[FitResult]
    cohort: StackedModel
    optimizer: torch.optim.Optimizer
    best: dict[int, dict[str, torch.Tensor]]
    finals: dict[int, dict[str, torch.Tensor]]

    def state(self) -> dict[str, Any]:
        """A copy on the CPU of all `fit` needs to resume here: epoch, active members and their
        weights and buffers, optimiser state, results, best (``val_loss_min``) and final states.

        Plain tensors, lists and dicts, so ``torch.load(..., weights_only=True)`` reads it.
        """
        training = bool(self.active)
        return {
            "epoch": self.epoch,
            "active": list(self.active),
            "results": [dataclasses.asdict(r) for r in self.results],
            "weights": {m: _member_state(self.cohort, p) for p, m in enumerate(self.active)},
            "optimizer": _to_cpu(self.optimizer.state_dict()) if training else None,
            "best": dict(self.best),
            "finals": dict(self.finals),
        }


@dataclass
class StepEnd:
    """The cohort after `steps` optimiser steps in all (0: before the first), as `fit`'s step
    hook sees it; `active` are the member ids training, in stack order. Every active member
    has taken each of these steps: members leave the stack only between epochs."""

    steps: int
    active: list[int]
    cohort: StackedModel

    def member_state(self, member: int) -> dict[str, torch.Tensor]:
        """Member `member`'s parameters and buffers under the single model's names, on the CPU."""
        return _member_state(self.cohort, self.active.index(member))


def _to_cpu(value: Any) -> Any:
    if torch.is_tensor(value):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


@torch.no_grad()
def _keep(
    cohort: StackedModel, optimizer: torch.optim.Optimizer, factory: OptimizerFactory,
    keep: list[int],
) -> torch.optim.Optimizer:
    """Slice the stack down to the positions `keep`; return an optimiser with sliced state.

    New parameter tensors (autograd records a leaf's shape) and a new optimiser over them,
    whose per-element state (momentum, Adam's moments, Adagrad's sums) is the old state's
    rows `keep`; scalar state such as the step count is shared by all members and kept.
    """
    index = torch.tensor(keep, device=next(cohort.parameters()).device)
    k = cohort.members
    old = list(cohort.parameters())
    for key, param in list(cohort.params.items()):
        cohort.params[key] = nn.Parameter(param.detach().index_select(0, index).contiguous())
    for name, buf in list(cohort.named_buffers()):
        setattr(cohort, name, buf.index_select(0, index).contiguous())
    cohort.members = len(keep)
    sliced = factory(cohort.parameters())
    for before, after in zip(old, cohort.parameters(), strict=True):
        state = optimizer.state.get(before, {})
        sliced.state[after] = {
            name: value.index_select(0, index).contiguous()
            if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == k else value
            for name, value in state.items()
        }
    return sliced


def _member_state(cohort: StackedModel, position: int) -> dict[str, torch.Tensor]:
    """Member `position`'s parameters and buffers under the single model's names, on the CPU."""
    names = cohort.names + cohort.buffer_names
    return {n: cohort.tensor(n)[position].detach().to("cpu", copy=True) for n in names}


def fit_stack(
    models: Sequence[nn.Module],
    members: Sequence[MemberData],
    optimizer: OptimizerFactory,
    stops: Sequence[StopsAfterEpoch],
    max_epochs: int,
    batch_size: int,
    *,
    eval_batch_size: int = 10_000,
    device: torch.device | str = "cpu",
    on_epoch: Callable[[EpochEnd], None] | None = None,
    resume: dict[str, Any] | None = None,
    train_batches: int | None = None,
    val_samples: int | None = None,
    masks: Sequence[Mapping[str, torch.Tensor] | None] | None = None,
    on_step: Callable[[StepEnd], None] | None = None,
) -> list[FitResult]:
    """Train `models` (initialised single models, one per member) as one cohort.

    After every epoch each member's stop rule (``stops[k]``) sees the epoch's metrics: a
    member whose rule says stop, or whose training loss is not finite (``diverged``), leaves
    the stack; a rule's ``best`` verdict keeps that epoch's weights, restored when fitting
    ends (``val_loss_min``). Each model ends holding its member's final or restored weights,
    as the single run's model would; the results hold each member's history (the rows of
    ``history.csv``). `on_epoch` is called after every epoch; `resume` is an `EpochEnd.state`
    of the same members to go on from (the rules' own state is their owner's to restore).
    `train_batches` and `val_samples` (None: all) are a debug run's limits, minibatches an
    epoch trains and validation samples per member, as the single run counts them
    (`propensity.engines.limits.BatchLimits`).
    `masks` holds each member's kept weights by parameter name (True: kept; None: dense): the
    removed ones are zeroed and stay exactly zero through every step, as in a single run
    (`propensity.pruning.masked_training`). `on_step` is called once when training starts
    (or resumes) and after every optimiser step, with the steps taken in all.
    """
    if not len(models) == len(members) == len(stops):
        raise ValueError(f"{len(models)} models, {len(members)} members and {len(stops)} stop rules")
    device = torch.device(device)
    cohort = stack(models).to(device)
    opt = optimizer(cohort.parameters())
    hold = partial(_hold_masks, masks=masks)
    hold(cohort, opt, list(range(len(members))))
    train = Pool([m.x_train for m in members], [m.y_train for m in members]).to(device)
    val = Pool([m.x_val for m in members], [m.y_val for m in members]).to(device)
    results = [FitResult() for _ in members]
    active = list(range(len(members)))  # member id at each stack position
    best: dict[int, dict[str, torch.Tensor]] = {}
    finals: dict[int, dict[str, torch.Tensor]] = {}
    start = 0
    if resume is not None:
        start, active, results, best, finals = _restore(resume, models)
        del cohort, opt
        cohort = stack([models[m] for m in active] or models).to(device)
        opt = optimizer(cohort.parameters())
        if resume["optimizer"] is not None:
            opt.load_state_dict(resume["optimizer"])
        hold(cohort, opt, active)
    steps = start * _steps_per_epoch(train.n, batch_size, train_batches)
    if on_step is not None and active and start < max_epochs:
        on_step(StepEnd(steps, list(active), cohort))
    for epoch in range(start, max_epochs if active else start):
        cohort.train()
        orders = torch.stack([epoch_permutation(train.n, members[m].batch_seed, epoch) for m in active])
        sums = torch.zeros(len(active), 2, device=device)  # loss x n, correct (as the module)
        seen = 0
        for step, (x, y) in enumerate(train.batches(train.index(active, orders), batch_size)):
            if train_batches is not None and step >= train_batches:
                break
            logits = cohort(x)
            losses = member_losses(logits, y)
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            opt.step()
            steps += 1
            if on_step is not None:
                on_step(StepEnd(steps, active, cohort))
            with torch.no_grad():
                sums[:, 0] += losses * y.shape[1]
                sums[:, 1] += (logits.argmax(dim=2) == y).sum(dim=1)
            seen += y.shape[1]
        cohort.eval()
        index = val.index(active)[:, :val_samples]
        totals = evaluate(cohort, val.batches(index, eval_batch_size), mean=True)
        val_rows = zip(totals.mean_loss(), totals.accuracy(), strict=True)
        keep = []
        for position, (m, (loss_sum, correct), (val_loss, val_acc)) in enumerate(
                zip(active, sums.tolist(), val_rows, strict=True)):
            row = {"epoch": epoch + 1, "train_loss": loss_sum / seen,
                   "train_acc": correct / seen, "val_loss": val_loss, "val_acc": val_acc}
            result = results[m]
            result.history.append(row)
            result.epochs_trained = epoch + 1
            verdict = stops[m].after_epoch(epoch + 1, row, max_epochs)
            if verdict.best:
                best[m] = _member_state(cohort, position)
            leaves = verdict.stop
            if not math.isfinite(row["train_loss"]):
                result.status = "diverged"
                result.error = f"training loss is {row['train_loss']} at epoch {epoch}"
                leaves = True
            if leaves:
                finals[m] = _member_state(cohort, position)
            else:
                keep.append(position)
        if len(keep) < len(active):
            active = [active[p] for p in keep]
            if active:
                opt = _keep(cohort, opt, optimizer, keep)
                hold(cohort, opt, active)
        if on_epoch is not None:
            on_epoch(EpochEnd(epoch + 1, list(active), results, cohort, opt, best, finals))
        if not active:
            break
    for position, m in enumerate(active):
        finals[m] = _member_state(cohort, position)
    for m, model in enumerate(models):
        model.load_state_dict(best[m] if m in best and results[m].status != "diverged" else finals[m])
    return results


def _steps_per_epoch(n: int, batch_size: int, train_batches: int | None) -> int:
    """The optimiser steps of one epoch: one per minibatch, up to the debugging limit."""
    batches = math.ceil(n / batch_size)
    return batches if train_batches is None else min(batches, train_batches)


def _hold_masks(
    cohort: StackedModel, optimizer: torch.optim.Optimizer, active: Sequence[int], *,
    masks: Sequence[Mapping[str, torch.Tensor] | None] | None,
) -> None:
    """Keep the removed weights of the members at `active` (stack order) at zero through
    every step of `optimizer`: each masked parameter's members' masks, stacked."""
    if masks is None or all(m is None for m in masks):
        return
    names = sorted({name for m in masks if m is not None for name in m})
    pairs = []
    for name in names:
        weight = cohort.tensor(name)
        pairs.append((weight, torch.stack([
            masks[m][name] if masks[m] is not None and name in masks[m]  # type: ignore[index]
            else torch.ones(weight.shape[1:], dtype=torch.bool) for m in active]).to(weight.device)))
    keep_pruned_at_zero(optimizer, pairs)


def _restore(
    state: dict[str, Any], models: Sequence[nn.Module]
) -> tuple[int, list[int], list[FitResult], dict, dict]:
    """Unpack an `EpochEnd.state`; the active members' weights go into their models, which
    are stacked from there (bitwise, as `_keep` slices them)."""
    if len(state["results"]) != len(models):
        raise ValueError(f"the state to resume holds {len(state['results'])} members, not {len(models)}")
    for m in state["active"]:
        models[m].load_state_dict(state["weights"][m])
    results = [FitResult(**r) for r in state["results"]]
    return (int(state["epoch"]), list(state["active"]), results, dict(state["best"]),
            dict(state["finals"]))


__all__ = ["EpochEnd", "FitResult", "MemberData", "StepEnd", "StopsAfterEpoch", "Verdict", "fit_stack"]
