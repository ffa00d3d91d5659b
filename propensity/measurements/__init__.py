"""What is measured on trained models, once per model, whichever engine trained them.

A single run is a cohort of one: the recipe hands K trained models (K >= 1) to these
functions, and `propensity.engines.callbacks.PruneAfterFit` hands them the one model of a
researcher's own Trainer. Members of one class are evaluated batched (`propensity.cohort`);
one model, or a model class that does not stack, is evaluated on its own, exactly as a
single run always was.
"""

from propensity.measurements.held_out import measure_test
from propensity.measurements.pruning import MemberSplits, PruningResult, measure_pruning

__all__ = ["MemberSplits", "PruningResult", "measure_pruning", "measure_test"]
