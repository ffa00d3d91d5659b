"""Data modules: each split held as one normalized tensor and batched by index (section 3.1)."""

from propensity.data.base import DatasetNotFoundError, TensorDataModule, default_root, split_indices
from propensity.data.batches import TensorBatches, WholeEpoch, epoch_permutation
from propensity.data.cifar10 import CIFAR10DataModule, UncheckedCIFAR10
from propensity.data.cifar100 import CIFAR100DataModule
from propensity.data.digits import DigitsDataModule
from propensity.data.fashion_mnist import FashionMNISTDataModule
from propensity.data.mnist import MNISTDataModule
from propensity.data.svhn import SVHNDataModule
from propensity.data.synthetic import SyntheticDataModule

__all__ = [
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "DatasetNotFoundError",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "MNISTDataModule",
    "SVHNDataModule",
    "SyntheticDataModule",
    "TensorBatches",
    "TensorDataModule",
    "UncheckedCIFAR10",
    "WholeEpoch",
    "default_root",
    "epoch_permutation",
    "split_indices",
]
