"""Cohorts: the seeds of one grid cell trained and pruned as one stacked model.

The paper's grid (section 3.1) repeats every configuration over init and data seeds; those
runs differ only in their seeds, so a cohort trains them together (`fit`) and sweeps their
pruning levels together (`walk_cohort`), each member reproducing its single run up to float
summation order. The paper's classes stack by hand (`stacked`), any other model generically
(`functional`, ``torch.func.vmap``). `memory` says how many members fit on a device at once; which jobs of a
multirun form a cohort is the launcher's business (`propensity.launch.grouping`).
"""

from propensity.cohort.fit import EpochEnd, FitResult, MemberData, fit_stack
from propensity.cohort.functional import FunctionalStack, stack_problem
from propensity.cohort.pool import Pool
from propensity.cohort.prune import walk_cohort
from propensity.cohort.stacked import StackedModel, unstack
from propensity.cohort.stacking import class_stack_refusal, stack, stack_refusal, stackable

__all__ = [
    "EpochEnd",
    "FitResult",
    "FunctionalStack",
    "MemberData",
    "Pool",
    "StackedModel",
    "class_stack_refusal",
    "fit_stack",
    "stack",
    "stack_problem",
    "stack_refusal",
    "stackable",
    "unstack",
    "walk_cohort",
]
