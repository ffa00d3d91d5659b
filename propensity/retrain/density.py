"""Effective density by regime: the paper's definition on each retrained trajectory.

The ED of a regime is `propensity.pruning.effective_density.degradation` of its trajectory
(section 3.2: the first level degrading more than the threshold below level 0), so ``none``,
``finetune``, ``imp`` and IMP's controls are read with one definition. Beside it, the
*matching density* of the lottery-ticket literature (Frankle and Carbin 2019; Frankle et al.
2020): the lowest density whose accuracy stays within the threshold, whether or not a level
before it degraded. The two agree when accuracy falls monotonically; the matching density
lies below the ED's last pass when a trajectory recovers after its first crossing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from propensity.pruning.effective_density import ThresholdMode, degradation, within_threshold
from propensity.pruning.trajectory import Trajectory


def matching_density(
    trajectory: Trajectory, threshold: float = 0.05, mode: ThresholdMode = "absolute"
) -> float:
    """The lowest density among the trajectory's levels that stay within `threshold` of level 0
    (level 0 always does, so a trajectory whose every pruned level degrades matches at 1)."""
    passing = within_threshold(trajectory, threshold, mode)
    return min(float(d) for d, ok in zip(trajectory.density, passing, strict=True) if ok)


def regime_summary(
    trajectory: Trajectory,
    total_weights: int,
    threshold: float = 0.05,
    mode: ThresholdMode = "absolute",
) -> dict[str, Any]:
    """One regime's entry of ``record.json``'s ``ed_by_regime``: its ED, last pass, level and
    core size (ED x `total_weights`, section 4.1), whether it never degraded, its matching
    density, and how many levels were measured (a fine-tuning search measures a few)."""
    ed = degradation(trajectory, threshold, mode)
    return {
        "effective_density": ed.effective_density,
        "ed_last_pass": ed.ed_last_pass,
        "level": ed.level,
        "unpruned_weights": round(ed.effective_density * total_weights),
        "never_degraded": ed.never_degraded,
        "matching_density": matching_density(trajectory, threshold, mode),
        "base_val_acc": ed.base_val_acc,
        "levels_measured": len(trajectory),
    }


def ed_by_regime(
    trajectories: Mapping[str, Trajectory],
    total_weights: int,
    threshold: float = 0.05,
    mode: ThresholdMode = "absolute",
) -> dict[str, dict[str, Any]]:
    """`regime_summary` of each named trajectory (``none``, ``finetune``, ``imp``,
    ``imp_reinit``, ``imp_random``): the ``ed_by_regime`` field of ``record.json``."""
    return {name: regime_summary(trajectory, total_weights, threshold, mode)
            for name, trajectory in trajectories.items()}
