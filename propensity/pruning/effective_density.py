"""Effective density: where the pruning trajectory first degrades (sections 3.2 and 4.1).

"The percentage of weights remaining at the first pruning cycle for which the model
degrades beyond the acceptable threshold" (section 3.2); the paper's figures use a 5%
drop in validation accuracy, which we read as 5 percentage points (``absolute``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from propensity.pruning.trajectory import Trajectory

ThresholdMode = Literal["absolute", "relative", "loss"]
MODES: tuple[str, ...] = ("absolute", "relative", "loss")
# Accuracies are multiples of 1/N; a drop equal to the threshold up to float noise (e.g.
# 0.95 - 0.90 = 0.05000000000000004) is "not more than" it. 1e-9 is far below 1/N.
TOLERANCE = 1e-9
THRESHOLDS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10)


@dataclass(frozen=True)
class EffectiveDensity:
    """Where a trajectory first degrades by more than `threshold`.

    `effective_density` is the density of that level and `ed_last_pass` the density of the
    level before it. A trajectory that never degrades reports its last level for both (and
    as `level`) with `never_degraded` set: its true ED is at most that density.
    """

    effective_density: float
    ed_last_pass: float
    level: int
    never_degraded: bool
    threshold: float
    threshold_mode: str
    base_val_acc: float


def drops(base: float, value: float, threshold: float = 0.05,
          mode: ThresholdMode = "absolute") -> bool:
    """Whether `value` is more than `threshold` worse than `base` (section 3.2).

    ``absolute`` and ``relative`` compare validation accuracies (``relative``: by more than
    ``threshold * base``); ``loss`` compares validation losses (a rise). Strictly more: a
    drop equal to the threshold within `TOLERANCE` passes.
    """
    if mode == "absolute":
        return base - value > threshold + TOLERANCE
    if mode == "relative":
        return base - value > threshold * base + TOLERANCE
    return value - base > threshold + TOLERANCE


def _degraded(traj: Trajectory, k: int, threshold: float, mode: ThresholdMode) -> bool:
    if mode == "loss":
        return drops(traj.val_loss[0], traj.val_loss[k], threshold, mode)
    return drops(traj.val_acc[0], traj.val_acc[k], threshold, mode)


def _check(trajectory: Trajectory, threshold: float, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"pruning.threshold_mode={mode!r} is unknown; use one of {MODES}")
    if not threshold >= 0:
        raise ValueError(f"pruning.threshold={threshold} must be >= 0, e.g. 0.05")
    if len(trajectory) == 0:
        raise ValueError("the trajectory is empty; it needs level 0 (the unpruned model)")


def within_threshold(
    trajectory: Trajectory, threshold: float = 0.05, mode: ThresholdMode = "absolute"
) -> list[bool]:
    """Per level, whether its validation metric stays within `threshold` of level 0's.

    The ED is the first level where this is False (`degradation`); a trajectory that is not
    monotone can pass again after it, which is why the first crossing, not the last pass,
    defines the ED.
    """
    _check(trajectory, threshold, mode)
    return [not _degraded(trajectory, k, threshold, mode) for k in range(len(trajectory))]


def degradation(
    trajectory: Trajectory, threshold: float = 0.05, mode: ThresholdMode = "absolute"
) -> EffectiveDensity:
    """The first level whose validation metric is more than `threshold` worse than level 0.

    ``absolute``: accuracy drops by more than `threshold` (0.05 = 5 points); ``relative``:
    by more than ``threshold * base accuracy``; ``loss``: loss rises by more than
    `threshold`. Strictly more: a drop exactly equal to the threshold (within `TOLERANCE`)
    passes. Later recoveries do not matter; the first crossing counts.
    """
    _check(trajectory, threshold, mode)
    base = float(trajectory.val_acc[0])
    for k in range(1, len(trajectory)):
        if _degraded(trajectory, k, threshold, mode):
            return EffectiveDensity(
                float(trajectory.density[k]),
                float(trajectory.density[k - 1]),
                int(trajectory.level[k]),
                False,
                float(threshold),
                mode,
                base,
            )
    last = float(trajectory.density[-1])
    return EffectiveDensity(
        last, last, int(trajectory.level[-1]), True, float(threshold), mode, base
    )


def effective_density(
    trajectory: Trajectory, threshold: float = 0.05, mode: ThresholdMode = "absolute"
) -> float:
    """Effective density |ω|/|θ| of a pruning trajectory (section 3.2)."""
    return degradation(trajectory, threshold, mode).effective_density


def summarize(
    trajectory: Trajectory,
    total_weights: int,
    threshold: float = 0.05,
    mode: ThresholdMode = "absolute",
    thresholds: Sequence[float] = THRESHOLDS,
) -> dict[str, Any]:
    """The effective-density fields of ``record.json`` (sections 3.2 and 4.1).

    `unpruned_weights` is ED x `total_weights`, the absolute size of the 'core' model
    (section 4.1, Figure 5); `ed_by_threshold` holds the ED in the same mode at each of
    `thresholds`, keyed by ``str(threshold)`` (e.g. ``"0.01"``), for the sensitivity view.
    A trajectory of whole units (an ``extra["unit_density"]`` column, `propensity.pruning.units`)
    also gives ``unit_effective_density``: the fraction of hidden units left at the ED's level.
    """
    ed = degradation(trajectory, threshold, mode)
    units = trajectory.extra.get("unit_density")
    extra = ({"unit_effective_density": float(units[trajectory.level.index(ed.level)])}
             if units is not None else {})
    return {
        "effective_density": ed.effective_density,
        "ed_last_pass": ed.ed_last_pass,
        "unpruned_weights": round(ed.effective_density * total_weights),
        "total_weights": int(total_weights),
        "threshold": float(threshold),
        "threshold_mode": mode,
        "base_val_acc": ed.base_val_acc,
        "never_degraded": ed.never_degraded,
        "ed_by_threshold": {
            str(float(t)): effective_density(trajectory, t, mode) for t in thresholds
        },
        **extra,
    }
