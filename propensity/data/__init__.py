"""Data modules: each split held as one normalized tensor and batched by index (section 3.1)."""

from propensity.data.base import DatasetNotFoundError, TensorDataModule, default_root, split_indices
from propensity.data.batches import TensorBatches, WholeEpoch, epoch_permutation
from propensity.data.cifar10 import CIFAR10DataModule, UncheckedCIFAR10
from propensity.data.digits import DigitsDataModule
from propensity.data.mnist import MNISTDataModule
from propensity.data.synthetic import SyntheticDataModule

__all__ = [
    "CIFAR10DataModule",
    "DatasetNotFoundError",
    "DigitsDataModule",
    "MNISTDataModule",
    "SyntheticDataModule",
    "TensorBatches",
    "TensorDataModule",
    "UncheckedCIFAR10",
    "WholeEpoch",
    "default_root",
    "epoch_permutation",
    "split_indices",
]
