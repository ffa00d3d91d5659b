"""How many weights each layer keeps at each level, given per-layer scores (sections 3.2 and 6).

A criterion is a score (`propensity.pruning.scores`) and an allocation: the paper prunes the
same fraction of every layer (``layerwise``); the alternatives spend a level's total budget
unevenly. Each returns a `PruningPlan`: per layer the order in which its weights go (the
stable sort of its scores, smallest first) and the count each level prunes, so masks stay
nested and every sweep (one model, or a cohort batched) evaluates it unchanged.

- ``layerwise``: level k prunes ``round(k * step * n)`` of each layer of n (the paper's);
- ``global``: one ranking of the raw scores across all layers (scores of different layers
  are compared as they are, which is why global magnitude is known to empty small layers);
- ``lamp``: global on LAMP scores (Lee et al. 2021);
- ``erk``: Erdos-Renyi-Kernel densities per layer (Evci et al. 2020), the level's total kept.

`shuffled` keeps a plan's counts and draws its positions at random: the sanity control "random
at the same allocation".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from propensity.pruning.masks import PruningPlan, Schedule, global_pruned, kept_count, last_level

ALLOCATIONS: tuple[str, ...] = ("layerwise", "global", "lamp", "erk")


def lamp_scores(score: torch.Tensor) -> torch.Tensor:
    """LAMP scores of one layer (Lee et al. 2021, "Layer-adaptive sparsity for the
    magnitude-based pruning", eq. 2): with the layer's entries sorted so that
    s[1] <= s[2] <= ..., ``lamp(u) = s[u]^2 / sum_{v >= u} s[v]^2``.

    The paper defines it for s = |w|; any other score enters the same way (its square), as
    Torch-Pruning's LAMP importance does. Within a layer LAMP keeps the score's order; across
    layers it makes scores comparable: a layer's largest entry always scores 1. Ties are
    ordered by index (a stable sort); a layer whose scores are all zero scores 0.
    """
    flat = score.detach().reshape(-1).to(torch.float64)
    order = torch.sort(flat, stable=True).indices
    squared = flat[order].square()
    tail = squared.flip(0).cumsum(0).flip(0)
    sorted_lamp = torch.where(tail > 0, squared / tail.clamp_min(torch.finfo(torch.float64).tiny),
                              torch.zeros_like(squared))
    out = torch.empty_like(flat)
    out[order] = sorted_lamp
    return out.view(score.shape)


def erk_factors(shapes: Sequence[torch.Size]) -> list[float]:
    """Erdos-Renyi-Kernel's per-layer density factor (Evci et al. 2020, "Rigging the lottery",
    section 3): ``sum(shape) / prod(shape)``, i.e. (n_in + n_out) / (n_in n_out) for a dense
    layer and (n_in + n_out + h + w) / (n_in n_out h w) for a convolution."""
    return [sum(shape) / math.prod(shape) for shape in shapes]


def erk_kept(shapes: Sequence[torch.Size], total: int) -> list[int]:
    """Weights each layer keeps when the model keeps `total`, by ERK (Evci et al. 2020).

    Layer l keeps ``min(n_l, eps * factor_l * n_l)``, eps solved so the sum is `total`: as in
    RigL's code, layers that would exceed density 1 are made dense and eps is solved again for
    the rest until none does. Counts are rounded to integers, so the model keeps `total` up to
    one weight per layer. Every layer is pruned, the output layer too, as the paper prunes it.
    """
    sizes = [math.prod(s) for s in shapes]
    factors = erk_factors(shapes)
    dense: set[int] = set()
    while True:
        rest = [i for i in range(len(sizes)) if i not in dense]
        budget = total - sum(sizes[i] for i in dense)
        weight = sum(factors[i] * sizes[i] for i in rest)
        eps = budget / weight if weight > 0 else 0.0
        grown = {i for i in rest if eps * factors[i] >= 1}
        if not grown:
            break
        dense |= grown
    return [sizes[i] if i in dense else min(sizes[i], round(eps * factors[i] * sizes[i]))
            for i in range(len(sizes))]


def _orders(scores: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [torch.sort(s.detach().reshape(-1), stable=True).indices for s in scores]


def allocate(
    allocation: str,
    names: Sequence[str],
    scores: Sequence[torch.Tensor],
    step: float = 0.02,
    schedule: Schedule = "original",
    min_density: float = 0.01,
    method: str = "",
) -> PruningPlan:
    """The `PruningPlan` of per-layer `scores` (named `names`) under `allocation`.

    With ``layerwise`` and magnitude scores (|w|) this is the paper's plan: equal to
    ``masks.plan(model, "magnitude")`` entry for entry.
    """
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation {allocation!r} is unknown; use one of {ALLOCATIONS}")
    if not scores:
        raise ValueError("no prunable weights (Linear/Conv) to prune")
    shapes = [s.shape for s in scores]
    sizes = [s.numel() for s in scores]
    last = last_level(step, schedule, min_density)
    ranked = [lamp_scores(s) for s in scores] if allocation == "lamp" else list(scores)
    orders = _orders(ranked)
    if allocation in ("global", "lamp"):
        pruned = global_pruned(ranked, step, schedule, last)
    elif allocation == "erk":
        total = sum(sizes)
        kept = torch.tensor([erk_kept(shapes, kept_count(total, k, step, schedule))
                             for k in range(last + 1)])
        # rounding must not let a layer grow back at a later level: masks stay nested
        kept = torch.cummin(kept, dim=0).values
        pruned = torch.tensor(sizes) - kept
    else:
        pruned = torch.tensor([[n - kept_count(n, k, step, schedule) for n in sizes]
                               for k in range(last + 1)])
    return PruningPlan(list(names), shapes, orders, pruned.long(), method or allocation)


def shuffled(p: PruningPlan, seed: int, method: str | None = None) -> PruningPlan:
    """`p`'s per-layer counts at every level, positions drawn at random (seeded by `seed`, each
    layer a permutation in layer order, as the ``random`` method draws them)."""
    generator = torch.Generator().manual_seed(int(seed))
    orders = [torch.randperm(math.prod(shape), generator=generator).to(order.device)
              for shape, order in zip(p.shapes, p.orders, strict=True)]
    return PruningPlan(list(p.names), list(p.shapes), orders, p.pruned.clone(), method or p.method)
