"""The pruning sweep of a cohort's members, evaluated in batched passes (section 3.2).

Each member is planned exactly as its single run is (its own `PruningPlan`: ranked on its own
weights); only the evaluation is batched: at each level every member's weights are pruned to
that level in one stacked copy, and one forward of the stack gives all members' totals on
their own splits (`propensity.pruning.evaluation.evaluate`, the one evaluation). The totals
are those a single model's sweep (`propensity.pruning.measure.walk_model`) gives, so trajectories
are assembled and effective densities read unchanged.

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

from propensity.cohort.pool import Pool
from propensity.cohort.stacking import stack
from propensity.pruning.evaluation import evaluate
from propensity.pruning.masks import PruningPlan
from propensity.pruning.measure import SWEEP_BATCH, flat_views, prune_to_level

Split = tuple[torch.Tensor, torch.Tensor]


@torch.no_grad()
def walk_cohort(
    models: Sequence[nn.Module],
    plans: Sequence[Sequence[PruningPlan]],
    splits: Sequence[Sequence[Split]],
    batch_size: int = SWEEP_BATCH,
    levels_at_once: int = 1,
) -> torch.Tensor:
    """``seed x level x member x split x (correct, summed loss)`` of the members' sweeps.

    ``plans[s][k]`` is member k's plan for mask seed s (plans of one seed have one level
    count); ``splits[j][k]`` is member k's split j (validation, then test), whose tensors may
    be shared by members of one data seed. The models are only read: a stacked copy is pruned.
    """
    if levels_at_once < 1:
        raise ValueError(f"levels_at_once={levels_at_once} must be at least 1")
    if any(len(split) != len(models) for split in splits) or any(len(p) != len(models) for p in plans):
        raise ValueError("pass one plan per mask seed and one split per model")
    pools = [Pool([x for x, _ in split], [y for _, y in split]) for split in splits]
    return torch.stack([_walk(models, seed_plans, pools, batch_size, levels_at_once)
                        for seed_plans in plans])


def _walk(
    models: Sequence[nn.Module],
    plans: Sequence[PruningPlan],
    pools: Sequence[Pool],
    batch_size: int,
    levels_at_once: int,
) -> torch.Tensor:
    """``level x member x split x 2`` totals, `levels_at_once` levels a stacked forward per split."""
    k, levels = len(models), plans[0].levels
    device = pools[0].x.device
    cohort = stack(models).to(device).eval()
    params = [w for _, w in cohort.prunable()]
    views = [flat_views([w[j] for w in params]) for j in range(k)]
    done = [torch.zeros(len(params), dtype=torch.long) for _ in models]
    at_once = min(levels_at_once, levels)
    wide = stack(list(models) * at_once).to(device).eval() if at_once > 1 else cohort
    wide_params = [w for _, w in wide.prunable()]
    rows = []
    for start in range(0, levels, at_once):
        chunk = range(start, min(start + at_once, levels))
        for slot, level in enumerate(chunk):
            for j, p in enumerate(plans):
                done[j] = prune_to_level([w[j] for w in params], views[j], p, level, done[j])
            if wide is not cohort:
                for w, stacked in zip(params, wide_params, strict=True):
                    stacked[slot * k : (slot + 1) * k].copy_(w)
        members = list(range(k)) * (wide.members // k)
        totals = [evaluate(wide, pool.batches(pool.index(members), batch_size)).sums() for pool in pools]
        rows.append(torch.stack(totals, 1).view(-1, k, len(pools), 2)[: len(chunk)])
    return torch.cat(rows).cpu()
