"""Post-training layer-wise magnitude pruning and effective density (sections 3.2, 4)."""

from propensity.pruning.prunable import prunable_weights, total_weights, weights_per_layer

__all__ = ["prunable_weights", "total_weights", "weights_per_layer"]
