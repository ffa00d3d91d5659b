"""Cohorts: the seeds of one grid cell trained and pruned as one stacked model.

The paper's grid (section 3.1) repeats every configuration over init and data seeds; those
runs differ only in their seeds, so a cohort trains them together (`fit`) and sweeps their
pruning levels together (`walk`), each member reproducing its single run up to float
summation order. `memory` says how many members fit on a device at once; which jobs of a
multirun form a cohort is the launcher's business (`propensity.launch.grouping`).
"""

from propensity.cohort.fit import EpochEnd, FitResult, Limits, Member, fit
from propensity.cohort.pool import Pool
from propensity.cohort.prune import walk
from propensity.cohort.stacked import StackedModel, stack, stackable, unstack

__all__ = [
    "EpochEnd",
    "FitResult",
    "Limits",
    "Member",
    "Pool",
    "StackedModel",
    "fit",
    "stack",
    "stackable",
    "unstack",
    "walk",
]
