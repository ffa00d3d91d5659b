"""Which weights each pruning level removes: schedules, rankings and masks (section 3.2).

Without retraining between levels the weights never change, so iterating "prune the
smallest 2% of each layer" equals one-shot pruning at each level's count: one ranking per
layer gives the whole trajectory, and the masks are nested (a weight pruned at level k stays
pruned). A `PruningPlan` is that ranking plus the number of weights each level prunes in
each layer; masks, the measured trajectory and the tests all read it.

Counts use exact rational arithmetic (``fractions.Fraction``) and Python's ``round``
(half to even), so ``round(k * step * n)`` never depends on float noise in ``k * 0.02``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import torch
from torch import nn

from propensity.pruning.prunable import prunable_weights

Schedule = Literal["original", "remaining"]
Method = Literal["magnitude", "global_magnitude", "random"]
Weights = nn.Module | Sequence[tuple[str, torch.Tensor]] | Mapping[str, torch.Tensor]

# The allowed values of ``pruning.schedule`` and ``pruning.step``; `propensity.validation` reads them.
SCHEDULES: tuple[str, ...] = ("original", "remaining")
# A step above one half leaves no level between the unpruned and the fully pruned model.
STEP_RANGE: tuple[float, float] = (0.0, 0.5)
# The rankings `plan` implements; `propensity.pruning.registry` registers each as a method.
RANKINGS: tuple[str, ...] = ("magnitude", "global_magnitude", "random")


def _exact(x: float) -> Fraction:
    return Fraction(x).limit_denominator(10**9)


def _check(step: float, schedule: str, min_density: float) -> None:
    if schedule not in SCHEDULES:
        raise ValueError(f"pruning.schedule={schedule!r} is unknown; use one of {SCHEDULES}")
    low, high = STEP_RANGE
    if not low < step <= high:
        raise ValueError(f"pruning.step={step} must be in ({low:g}, {high:g}], e.g. 0.02")
    if schedule == "remaining" and not 0 < min_density < 1:
        raise ValueError(f"pruning.min_density={min_density} must be in (0, 1), e.g. 0.01")


def last_level(
    step: float = 0.02, schedule: Schedule = "original", min_density: float = 0.01
) -> int:
    """Index of the trajectory's last level (level 0 is the unpruned model).

    ``original`` (the paper's "repeat until all weights have been pruned"): the first level
    whose fraction ``k * step`` reaches 1, i.e. 50 for step 0.02 (fully pruned).
    ``remaining`` (density ``(1 - step)^k``): "down to `min_density`" means the trajectory
    *reaches* it: the last level is the first whose nominal density is <= `min_density`
    (228 for 0.98^k and 0.01, density 0.00998), so every density in [min_density, 1] is
    covered and a model still intact at `min_density` shows up as never degraded.
    """
    _check(step, schedule, min_density)
    s = _exact(step)
    if schedule == "original":
        return math.ceil(1 / s)
    keep, floor, k = 1 - s, _exact(min_density), 0
    density = Fraction(1)
    while density > floor:
        density *= keep
        k += 1
    return k


def kept_count(n: int, level: int, step: float = 0.02, schedule: Schedule = "original") -> int:
    """Weights a layer of `n` keeps at `level` (section 3.2).

    ``original``: ``n - round(k * step * n)`` (at least 0); ``remaining``:
    ``round(n * (1 - step)^k)``. Both are non-increasing in k, which makes masks nested.
    """
    _check(step, schedule, 0.5)
    s = _exact(step)
    if schedule == "original":
        return max(0, n - round(level * s * n))
    return round(n * (1 - s) ** level)


def kept_counts(
    sizes: Mapping[str, int],
    step: float = 0.02,
    schedule: Schedule = "original",
    min_density: float = 0.01,
) -> list[dict[str, int]]:
    """Kept weights per layer at every level 0..last_level, for layers of the given sizes."""
    last = last_level(step, schedule, min_density)
    return [
        {name: kept_count(n, k, step, schedule) for name, n in sizes.items()}
        for k in range(last + 1)
    ]


def _named(weights: Weights) -> list[tuple[str, torch.Tensor]]:
    if isinstance(weights, nn.Module):
        pairs = prunable_weights(weights)
    elif isinstance(weights, Mapping):
        pairs = list(weights.items())
    else:
        pairs = list(weights)
    return [(name, w.detach()) for name, w in pairs]


def magnitude_order(weight: torch.Tensor) -> torch.Tensor:
    """Flat indices of `weight` from smallest |w| to largest: the order entries are pruned.

    A stable sort, so equal magnitudes are pruned in index order (deterministic ties).
    """
    return torch.sort(weight.detach().reshape(-1).abs(), stable=True).indices


@dataclass
class PruningPlan:
    """Per-layer pruning orders and how many weights each level prunes in each layer.

    ``orders[i]`` lists layer i's flat indices, first pruned first; ``pruned[k, i]`` is the
    number layer i has lost at level k, so level k's mask of layer i removes
    ``orders[i][:pruned[k, i]]``.
    """

    names: list[str]
    shapes: list[torch.Size]
    orders: list[torch.Tensor]
    pruned: torch.Tensor
    method: str = "magnitude"

    @property
    def levels(self) -> int:
        return int(self.pruned.shape[0])

    @property
    def total(self) -> int:
        return sum(math.prod(s) for s in self.shapes)

    def remaining(self, level: int) -> int:
        return self.total - int(self.pruned[level].sum())

    def density(self, level: int) -> float:
        return self.remaining(level) / self.total

    def masks(self, level: int) -> dict[str, torch.Tensor]:
        """Boolean masks of `level`, True where the weight is kept."""
        if not 0 <= level < self.levels:
            raise ValueError(f"level {level} is outside this plan's 0..{self.levels - 1}")
        out = {}
        for i, (name, shape, order) in enumerate(
            zip(self.names, self.shapes, self.orders, strict=True)
        ):
            mask = torch.ones(math.prod(shape), dtype=torch.bool, device=order.device)
            mask[order[: int(self.pruned[level, i])]] = False
            out[name] = mask.view(shape)
        return out


def plan(
    weights: Weights,
    method: Method = "magnitude",
    step: float = 0.02,
    schedule: Schedule = "original",
    min_density: float = 0.01,
    seed: int = 0,
) -> PruningPlan:
    """Rank once and fix every level's per-layer counts.

    ``magnitude``: layer-wise, the paper's method. ``random``: each layer's order is a
    permutation drawn from a generator seeded with `seed` (the random-ablation view of
    Casper et al., section 2), same counts. ``global_magnitude``: one |w| ranking across all
    layers (stable: ties by layer order, then index); level k prunes the schedule's count of
    the *total*, and each layer loses those of its entries among the globally smallest.
    """
    if method not in RANKINGS:
        raise ValueError(f"pruning.method={method!r} is not a ranking; use one of {RANKINGS}")
    named = _named(weights)
    if not named:
        raise ValueError("no prunable weights (Linear/Conv) to prune")
    names = [n for n, _ in named]
    shapes = [w.shape for _, w in named]
    sizes = [w.numel() for _, w in named]
    last = last_level(step, schedule, min_density)
    if method == "random":
        gen = torch.Generator().manual_seed(int(seed))
        orders = [
            torch.randperm(n, generator=gen).to(w.device)
            for n, (_, w) in zip(sizes, named, strict=True)
        ]
    else:
        orders = [magnitude_order(w) for _, w in named]
    if method == "global_magnitude":
        pruned = global_pruned([w.abs() for _, w in named], step, schedule, last)
    else:
        pruned = torch.tensor(
            [[n - kept_count(n, k, step, schedule) for n in sizes] for k in range(last + 1)]
        )
    return PruningPlan(names, shapes, orders, pruned.long(), method)


def global_pruned(
    scores: Sequence[torch.Tensor], step: float, schedule: Schedule, last: int
) -> torch.Tensor:
    """``level x layer`` counts pruned by one ranking of `scores` across all layers.

    Level k prunes the schedule's count of the *total*; each layer loses those of its entries
    among the globally smallest (a stable sort: ties by layer order, then index), so a layer's
    own order must be the stable sort of its scores.
    """
    sizes = [s.numel() for s in scores]
    flat = torch.cat([s.reshape(-1).to(scores[0].device) for s in scores])
    layer_of = torch.repeat_interleave(
        torch.arange(len(sizes), device=flat.device), torch.tensor(sizes, device=flat.device)
    )
    layer_sorted = layer_of[torch.sort(flat, stable=True).indices]
    counts = torch.tensor(
        [sum(sizes) - kept_count(sum(sizes), k, step, schedule) for k in range(last + 1)],
        device=flat.device,
    )
    # positions (in the global order) of each layer's entries; how many lie below a count
    return torch.stack(
        [
            torch.searchsorted((layer_sorted == i).nonzero().squeeze(1), counts)
            for i in range(len(sizes))
        ],
        dim=1,
    ).cpu()


def magnitude_masks(
    weights: Weights, level: int, step: float = 0.02, schedule: Schedule = "original"
) -> dict[str, torch.Tensor]:
    """Layer-wise magnitude masks of one level (True = kept), keyed by parameter name."""
    min_density = 0.5 * (1 - step) ** level if schedule == "remaining" else 0.01
    return plan(weights, "magnitude", step, schedule, min_density).masks(level)
