"""The pruning trajectories of a cohort's members, evaluated in batched passes (section 3.2).

Each member is ranked and scheduled exactly as its single run's sweep ranks it
(`propensity.pruning.masks.plan` on its own weights); only the evaluation is batched: at
each level every member's weights are pruned to that level in one stacked copy, and one
forward of the `StackedModel` gives all members' accuracy and loss on their own
validation splits. Trajectories are assembled as `propensity.pruning.measure.measure_trajectory` does, so
the effective density (`propensity.pruning.summarize`) reads them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from propensity.cohort.pool import Pool, evaluate
from propensity.cohort.stacked import stack
from propensity.pruning.masks import Method, PruningPlan, Schedule, plan
from propensity.pruning.measure import _prune_to, assemble
from propensity.pruning.trajectory import Trajectory

Split = tuple[torch.Tensor, torch.Tensor]


def trajectories(
    models: Sequence[nn.Module],
    val: Sequence[Split],
    step: float = 0.02,
    schedule: Schedule = "original",
    min_density: float = 0.01,
    method: Method = "magnitude",
    test: Sequence[Split] | None = None,
    batch_size: int = 8192,
    mask_seeds: Sequence[int] = (0, 1, 2),
) -> list[Trajectory]:
    """Each member's `sweep` trajectory: ``models[k]`` pruned level by level on ``val[k]``.

    The models are only read (a stacked copy is pruned). Splits of one data seed may be the
    same tensors; member k's validation (and test) split is ``val[k]`` (``test[k]``).
    """
    if len(val) != len(models) or (test is not None and len(test) != len(models)):
        raise ValueError("pass one validation (and test) split per model")
    seeds = list(mask_seeds) if method == "random" else [0]
    if not seeds:
        raise ValueError("method=random needs at least one mask seed")
    if method == "edge_popup":
        raise ValueError("pruning.method=edge_popup trains scores per model; use cohort=1")
    splits = [_pool(val)] + ([_pool(test)] if test is not None else [])
    runs = []  # [seed] -> level x member x split x 2
    plans: list[list[PruningPlan]] = []
    for seed in seeds:
        member_plans = [plan(m, method, step, schedule, min_density, seed) for m in models]
        plans.append(member_plans)
        runs.append(_walk(models, member_plans, splits, batch_size))
    sizes = [pool.n for pool in splits]
    totals = torch.stack(runs)  # seed x level x member x split x 2
    return [
        assemble(plans[0][k], totals[:, :, k], sizes, method, test is not None)
        for k in range(len(models))
    ]


def _walk(
    models: Sequence[nn.Module],
    plans: Sequence[PruningPlan],
    splits: Sequence[Pool],
    batch_size: int,
) -> torch.Tensor:
    """``level x member x split x 2`` totals, every level one stacked forward per split."""
    cohort = stack(models).to(splits[0].x.device).eval()
    params = [w for _, w in cohort.prunable()]
    views = [[w[k].view(-1) for w in params] for k in range(len(models))]
    done = [torch.zeros(len(params), dtype=torch.long) for _ in models]
    rows = []
    for level in range(plans[0].levels):
        for k, p in enumerate(plans):
            _prune_to([w[k] for w in params], views[k], p, level, done[k])
            done[k] = p.pruned[level]
        totals = [evaluate(cohort, pool, pool.index(range(len(plans))), batch_size) for pool in splits]
        rows.append(torch.stack(totals, 1))
    return torch.stack(rows).cpu()


def _pool(splits: Sequence[Split]) -> Pool:
    return Pool([x for x, _ in splits], [y for _, y in splits])
