"""Lightning callbacks for researchers' own Trainers: each a thin adapter over the code the
recipe runs (`propensity.measurements`, `propensity.llc`, `propensity.mechanisms`), so a
model trained elsewhere is pruned, estimated and recorded exactly as this project's runs."""

from propensity.engines.callbacks.llc import LLCEstimation
from propensity.engines.callbacks.prune_after_fit import PruneAfterFit
from propensity.engines.callbacks.save_artifacts import SaveArtifacts

__all__ = ["LLCEstimation", "PruneAfterFit", "SaveArtifacts"]
