"""Cohorts: the seeds of one grid cell trained and pruned as one stacked model.

The paper's grid (section 3.1) repeats every configuration over init and data seeds; those
runs differ only in their seeds, so a cohort trains them together (`fit`) and evaluates
their pruning trajectories together (`trajectories`), each member reproducing its single
run up to float summation order.
"""

from propensity.cohort.fit import EpochEnd, Member, MemberResult, StopRule, fit
from propensity.cohort.prune import trajectories
from propensity.cohort.stacked import StackedModel, stack, stackable, unstack

__all__ = [
    "EpochEnd",
    "Member",
    "MemberResult",
    "StackedModel",
    "StopRule",
    "fit",
    "stack",
    "stackable",
    "trajectories",
    "unstack",
]
