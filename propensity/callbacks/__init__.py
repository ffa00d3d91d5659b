"""Lightning callbacks: cross-cutting work around training, each a thin layer over pure code."""

from propensity.callbacks.history import EpochHistory
from propensity.callbacks.progress import EpochProgress
from propensity.callbacks.stopping import (
    RestoreBestValLoss,
    StopAtTrainLoss,
    StopRule,
    TrainForEpochs,
)

__all__ = [
    "EpochHistory",
    "EpochProgress",
    "RestoreBestValLoss",
    "StopAtTrainLoss",
    "StopRule",
    "TrainForEpochs",
]
