"""Post-training layer-wise magnitude pruning and effective density (sections 3.2, 4).

`measure_trajectory` (module `measure`) computes a ranked method's trajectory of one model;
the methods by name are in `propensity.pruning.registry`, and `evaluate` (module
`evaluation`) is the one evaluation every measurement uses. `effective_density` is a
function in a module of the same name: import it from there; re-exporting it here would
shadow the module.
"""

from propensity.pruning.effective_density import (
    EffectiveDensity,
    degradation,
    summarize,
)
from propensity.pruning.evaluation import Totals, evaluate
from propensity.pruning.masks import (
    PruningPlan,
    kept_count,
    kept_counts,
    last_level,
    magnitude_masks,
    plan,
)
from propensity.pruning.measure import measure_trajectory
from propensity.pruning.prunable import prunable_weights, total_weights, weights_per_layer
from propensity.pruning.registry import METHOD_NAMES, METHODS, PruningMethod, Splits
from propensity.pruning.settings import PruningSettings
from propensity.pruning.trajectory import Trajectory

__all__ = [
    "METHODS",
    "METHOD_NAMES",
    "EffectiveDensity",
    "PruningMethod",
    "PruningPlan",
    "PruningSettings",
    "Splits",
    "Totals",
    "Trajectory",
    "degradation",
    "evaluate",
    "kept_count",
    "kept_counts",
    "last_level",
    "magnitude_masks",
    "measure_trajectory",
    "plan",
    "prunable_weights",
    "summarize",
    "total_weights",
    "weights_per_layer",
]
