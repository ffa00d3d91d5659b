"""Where a fine-tuned trajectory first degrades, in a handful of fine-tunes (section 3.2).

The ED after fine-tuning is the paper's definition applied to fine-tuned accuracies: the
first level of the run's grid (2% steps, 50 levels) whose fine-tuned validation accuracy drops
more than the threshold below the dense model's. Fine-tuning every level costs 50 trainings;
`find_crossing` bisects instead.

Bisection assumes the fine-tuned accuracy, once degraded, stays degraded (monotone on the
grid). It first fine-tunes the last level (if that one passes, nothing degrades and the search
ends), then halves the bracket "level lo passes, level hi fails" until hi = lo + 1 (at most
``ceil(log2(last))`` fine-tunes: 6 for 50 levels), then checks the assumption at the bracket:

- level lo - 1 must pass too; if it fails, a failure lies below the bracket, which moves
  down (between the highest passing level fine-tuned below it and lo - 1) and is bisected
  again, so the answer is always a level whose predecessor was fine-tuned and passed;
- level hi + 1 must fail too; if it passes, accuracy recovers right after the crossing.

Either finding sets `monotone_at_bracket` False. On a monotone curve the search costs at most
9 fine-tunes (1 + 6 + 2) on the 50-level grid, and finds the same level as fine-tuning every
level. On a curve that is not monotone it returns the first crossing among the levels it
fine-tuned: a dip at a level it never visits (below the bracket, not next to it) is not seen,
which is the assumption. ``search="every_level"`` fine-tunes all levels instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from propensity.pruning.effective_density import (
    EffectiveDensity,
    ThresholdMode,
    degradation,
    drops,
)
from propensity.pruning.trajectory import Trajectory

SEARCHES: tuple[str, ...] = ("bisection", "every_level")


@dataclass(frozen=True)
class Crossing:
    """The result of a crossing search.

    `degradation` is `propensity.pruning.effective_density.degradation` of `evaluated`, the
    levels fine-tuned (plus level 0, the dense model), sorted by level; `fine_tunes` counts
    the calls of ``accuracy_at``.
    """

    degradation: EffectiveDensity
    evaluated: Trajectory
    fine_tunes: int
    monotone_at_bracket: bool


def max_fine_tunes(last_level: int) -> int:
    """Fine-tunes `find_crossing` needs at most on a monotone curve: the last level, the
    bisection of ``0..last_level``, and the two checks beside the bracket (9 for 50 levels)."""
    return 1 + math.ceil(math.log2(max(last_level, 1))) + 2


def find_crossing(
    accuracy_at: Callable[[int], float],
    base_accuracy: float,
    remaining_weights: Sequence[int],
    *,
    threshold: float = 0.05,
    mode: ThresholdMode = "absolute",
    search: str = "bisection",
) -> Crossing:
    """The first level whose fine-tuned accuracy drops more than `threshold` below the dense
    model's `base_accuracy` (``absolute`` or ``relative``, `propensity.pruning.effective_density`).

    `remaining_weights[k]` is level k's weight count (level 0: the dense model, never
    fine-tuned); ``accuracy_at(k)`` prunes the trained model to level k, fine-tunes it and
    returns its validation accuracy. Each level is fine-tuned at most once.
    """
    if mode not in ("absolute", "relative"):
        raise ValueError(f"pruning.threshold_mode={mode!r}: the fine-tuning search compares "
                         "accuracies; use absolute or relative")
    if search not in SEARCHES:
        raise ValueError(f"retrain.search={search!r} is unknown; use one of {', '.join(SEARCHES)}")
    last = len(remaining_weights) - 1
    if last < 1:
        raise ValueError("the grid needs level 0 and at least one pruned level")
    accuracies: dict[int, float] = {0: float(base_accuracy)}

    def fails(level: int) -> bool:
        if level not in accuracies:
            accuracies[level] = float(accuracy_at(level))
        return drops(base_accuracy, accuracies[level], threshold, mode)

    monotone = True
    if search == "every_level":
        for level in range(1, last + 1):
            fails(level)
    elif fails(last):
        lo, hi = 0, last
        while True:
            while hi - lo > 1:
                middle = (lo + hi) // 2
                lo, hi = (lo, middle) if fails(middle) else (middle, hi)
            if lo > 1 and fails(lo - 1):
                monotone = False
                hi = lo - 1
                lo = max(k for k in accuracies if k < hi and not fails(k))
                continue
            break
        if hi < last and not fails(hi + 1):
            monotone = False
    evaluated = _trajectory(accuracies, remaining_weights)
    return Crossing(degradation(evaluated, threshold, mode), evaluated, len(accuracies) - 1, monotone)


def _trajectory(accuracies: dict[int, float], remaining_weights: Sequence[int]) -> Trajectory:
    levels = sorted(accuracies)
    total = remaining_weights[0]
    return Trajectory(
        level=levels,
        density=[remaining_weights[k] / total for k in levels],
        remaining_weights=[int(remaining_weights[k]) for k in levels],
        val_acc=[accuracies[k] for k in levels],
        val_loss=[math.nan for _ in levels],
        method="finetune",
    )
