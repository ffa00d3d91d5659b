"""Post-training layer-wise magnitude pruning and effective density (sections 3.2, 4).

`sweep` and `effective_density` are functions in modules of the same name: import them from
there (``from propensity.pruning.sweep import sweep``); re-exporting them here would shadow
the modules.
"""

from propensity.pruning.effective_density import (
    EffectiveDensity,
    degradation,
    summarize,
)
from propensity.pruning.masks import (
    PruningPlan,
    kept_count,
    kept_counts,
    last_level,
    magnitude_masks,
    plan,
)
from propensity.pruning.prunable import prunable_weights, total_weights, weights_per_layer
from propensity.pruning.trajectory import Trajectory

__all__ = [
    "EffectiveDensity",
    "PruningPlan",
    "Trajectory",
    "degradation",
    "kept_count",
    "kept_counts",
    "last_level",
    "magnitude_masks",
    "plan",
    "prunable_weights",
    "summarize",
    "total_weights",
    "weights_per_layer",
]
