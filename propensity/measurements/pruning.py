"""Every registered pruning method's trajectory and effective density, for K trained models.

Section 3.2's sweep, and its baselines (sections 2 and 6), measured once per trained model
through the registry (`propensity.pruning.registry`): a method that plans masks is planned
per member and its plans are walked batched over the members (and ``levels_at_once``
levels) when K > 1 models stack, level by level on each model otherwise; a criterion's scores
are computed once for all K models (batched) and shared by every criterion of that score in
the run, then its plans are walked the same way; a method that measures its own trajectory is
given one model at a time. No method's name is known here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from propensity.cohort import walk_cohort
from propensity.cohort.stacking import stack_refusal
from propensity.pruning import measure
from propensity.pruning.criteria import criterion_plans
from propensity.pruning.effective_density import summarize
from propensity.pruning.measure import SWEEP_BATCH, assemble
from propensity.pruning.prunable import total_weights
from propensity.pruning.registry import PruningMethod, Splits, method
from propensity.pruning.settings import PruningSettings
from propensity.pruning.trajectory import Trajectory

Split = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class MemberSplits:
    """One member's splits on its model's device; train is read only by methods that train."""

    val: Split
    test: Split | None = None
    train: Split | None = None

    def for_method(self, needs_train_split: bool) -> Splits:
        train = self.train if needs_train_split and self.train is not None else (None, None)
        return Splits(*self.val, *(self.test or (None, None)), *train)


@dataclass
class PruningResult:
    """One model's trajectories (the run's method first, then its baselines) and the pruning
    fields of its record: the method's effective density and every method's (``ed_by_method``)."""

    trajectories: list[Trajectory]
    fields: dict[str, Any]

    def frame(self) -> pd.DataFrame:
        """The ``trajectory.csv`` table: every method's levels, a ``method`` column first."""
        return pd.concat([t.to_frame() for t in self.trajectories], ignore_index=True)


def measure_pruning(
    models: Sequence[nn.Module],
    splits: Sequence[MemberSplits],
    settings: PruningSettings,
    batch_size: int = SWEEP_BATCH,
    levels_at_once: int = 1,
) -> list[PruningResult]:
    """Each model's `PruningResult` under `settings` (models are read, weights restored).

    ``splits[k]`` are model k's; test splits are evaluated at every level only with
    ``settings.eval_test``. `levels_at_once` (at least 1) levels are evaluated per forward
    of a stack (the recipe sizes it to its memory budget): accuracies are unchanged.
    """
    if len(splits) != len(models):
        raise ValueError(f"{len(models)} models but {len(splits)} splits")
    computed: dict[str, Any] = {}  # scores by name, shared by the criteria of one score
    walks = any(method(name).trajectory is None for name in settings.methods)
    batched = walks and (len(models) > 1 or levels_at_once > 1)
    stacked = batched and _stack(models, tuple(splits[0].val[0].shape[1:]))  # asked once, for every method
    by_method = {name: _trajectories(method(name), name, models, splits, settings, batch_size=batch_size,
                                     levels_at_once=levels_at_once, computed=computed, stacked=stacked)
                 for name in settings.methods}
    out = []
    for k, model in enumerate(models):
        n = total_weights(model)
        summary = {name: summarize(by_method[name][k], n, settings.threshold,
                                   settings.threshold_mode, settings.thresholds)  # type: ignore[arg-type]
                   for name in settings.methods}
        fields = {**summary[settings.method], "pruning_method": settings.method,
                  "schedule": settings.schedule, "ed_by_method": summary}
        out.append(PruningResult([by_method[name][k] for name in settings.methods], fields))
    return out


def _trajectories(
    pruning: PruningMethod, name: str, models: Sequence[nn.Module], splits: Sequence[MemberSplits],
    settings: PruningSettings, *, batch_size: int, levels_at_once: int, computed: dict[str, Any],
    stacked: bool,
) -> list[Trajectory]:
    if pruning.trajectory is not None:
        return [pruning.trajectory(model, split.for_method(pruning.needs_train_split), settings)
                for model, split in zip(models, splits, strict=True)]
    test = settings.eval_test and all(s.test is not None for s in splits)
    if pruning.criterion is not None:
        plans = criterion_plans(pruning.criterion, name, models, [(s.train, s.val) for s in splits],
                                settings, pruning.seeds(settings), computed)
    else:
        assert pruning.plan is not None
        plans = [[pruning.plan(model, settings, seed) for model in models]
                 for seed in pruning.seeds(settings)]
    data = [[s.val for s in splits]] + ([[s.test for s in splits]] if test else [])  # type: ignore[misc]
    sizes = [len(split[0][0]) for split in data]
    if stacked:
        totals = walk_cohort(models, plans, data, batch_size, levels_at_once)  # seed, level, member, split, 2
        per_model = [totals[:, :, k] for k in range(len(models))]
    else:
        per_model = [measure.walk_model(model, [p[k] for p in plans], [split[k] for split in data],
                                        batch_size) for k, model in enumerate(models)]
    return [assemble(plans[0][k], runs, sizes, name, test) for k, runs in enumerate(per_model)]


def _stack(models: Sequence[nn.Module], input_shape: tuple[int, ...]) -> bool:
    """Whether the models walk as one stack: one class, hand-written or one the generic stack
    runs (probed on `input_shape`: a single run's own model with ``levels_at_once`` > 1 was
    never checked before training); otherwise each model walks alone, as a single run."""
    return stack_refusal(models, input_shape) is None
