"""The pruning trajectories of a cohort's members, evaluated in batched passes (section 3.2).

Each member is ranked and scheduled exactly as its single run's sweep ranks it
(`propensity.pruning.masks.plan` on its own weights); only the evaluation is batched: at
each level every member's weights are pruned to that level in one stacked copy, and one
forward of the `StackedModel` gives all members' accuracy and loss on their own
validation splits. Trajectories are assembled as `propensity.pruning.measure.measure_trajectory` does, so
the effective density (`propensity.pruning.summarize`) reads them unchanged.

With ``levels_at_once`` L > 1, L consecutive levels of all K members go through one forward
of a stack of L x K members (member k at level l is member ``l * K + k``): a small model's
evaluation then fills a GPU instead of launching a forward per level. It changes which
kernels sum the logits, not what is summed, so accuracies equal the level-by-level pass and
losses agree to float32 rounding.
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
    levels_at_once: int = 1,
) -> list[Trajectory]:
    """Each member's `sweep` trajectory: ``models[k]`` pruned level by level on ``val[k]``.

    The models are only read (a stacked copy is pruned). Splits of one data seed may be the
    same tensors; member k's validation (and test) split is ``val[k]`` (``test[k]``).
    `levels_at_once` levels are evaluated per forward (see the module's docstring); the
    caller sizes it to its memory (`propensity.cohort.memory.MemberBytes.levels_at_once`).
    """
    if levels_at_once < 1:
        raise ValueError(f"levels_at_once={levels_at_once} must be at least 1")
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
        runs.append(_walk(models, member_plans, splits, batch_size, levels_at_once))
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
    levels_at_once: int = 1,
) -> torch.Tensor:
    """``level x member x split x 2`` totals, `levels_at_once` levels a stacked forward per split."""
    k, levels = len(models), plans[0].levels
    device = splits[0].x.device
    cohort = stack(models).to(device).eval()
    params = [w for _, w in cohort.prunable()]
    views = [[w[j].view(-1) for w in params] for j in range(k)]
    done = [torch.zeros(len(params), dtype=torch.long) for _ in models]
    at_once = min(levels_at_once, levels)
    wide = stack(list(models) * at_once).to(device).eval() if at_once > 1 else cohort
    wide_params = [w for _, w in wide.prunable()]
    rows = []
    for start in range(0, levels, at_once):
        chunk = range(start, min(start + at_once, levels))
        for slot, level in enumerate(chunk):
            for j, p in enumerate(plans):
                _prune_to([w[j] for w in params], views[j], p, level, done[j])
                done[j] = p.pruned[level]
            if wide is not cohort:
                with torch.no_grad():
                    for w, stacked in zip(params, wide_params, strict=True):
                        stacked[slot * k : (slot + 1) * k].copy_(w)
        members = list(range(k)) * (wide.members // k)
        totals = [evaluate(wide, pool, pool.index(members), batch_size) for pool in splits]
        rows.append(torch.stack(totals, 1).view(-1, k, len(splits), 2)[: len(chunk)])
    return torch.cat(rows).cpu()


def _pool(splits: Sequence[Split]) -> Pool:
    return Pool([x for x, _ in splits], [y for _, y in splits])
