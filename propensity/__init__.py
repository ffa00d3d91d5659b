"""propensity: effective density of feed-forward models as width grows (Schoots, Jackson et al.)."""

__version__ = "0.1.0"
