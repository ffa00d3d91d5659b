"""The data module every dataset shares: whole splits as normalized tensors, seeded splits.

Section 3.1: a validation set of ``val_size`` images (5,000 for MNIST and CIFAR-10) is
partitioned at random from the training set; the official test set is kept for test
metrics. Here the partition is decided by ``data_seed`` alone, and the batch order by
``batch_seed`` and the epoch alone, so the two sources of randomness can be varied apart.
"""

import os
from pathlib import Path
from typing import ClassVar

import torch

# Samples per forward of an evaluation pass (validation, test) unless a data config sets
# ``eval_batch_size``: a whole small split at once, a large one in few passes.
DEFAULT_EVAL_BATCH = 10_000


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are absent (or unreadable) and could not be downloaded.

    Raised in ``prepare_data``/``setup``, before any training, with one message that names
    the path expected and the ways out.
    """


def not_found(
    dataset: str, path: str, download_error: str | None = None, note: str = ""
) -> DatasetNotFoundError:
    """The one message for a dataset that is not there: what, where, and how to fix it."""
    if download_error is None:
        return DatasetNotFoundError(
            f"{dataset} not found{note} under {path}; run with data.download=true on a machine "
            "with internet, set DATA_DIR, or use data=digits"
        )
    return DatasetNotFoundError(
        f"{dataset} could not be downloaded to {path} ({download_error}); download it on a "
        "machine with internet and copy it there, set DATA_DIR, or use data=digits"
    )


def default_root(root: str | os.PathLike[str] | None) -> Path:
    """Where datasets live: ``root`` if given, else ``$DATA_DIR``, else ``./data``.

    Resolved when a data module is built, never at import time.
    """
    if root is None or str(root) == "":
        root = os.environ.get("DATA_DIR") or "./data"
    return Path(root).expanduser()


def split_indices(n: int, val_size: int, data_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val) of a random ``val_size`` partition of ``n`` training images.

    Section 3.1's validation split. A generator seeded with ``data_seed`` alone draws the
    permutation; both index sets are returned sorted, so the training tensor keeps the
    dataset's own order and only the batch seed decides the order batches are drawn in.
    """
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(data_seed))
    return perm[val_size:].sort().values, perm[:val_size].sort().values


def _check_non_negative(key: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{key}={value} is negative; seeds must be >= 0")


def _check_positive(key: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{key}={value} must be at least 1")


class TensorDataModule:
    """A data set held as one tensor per split, split by ``data_seed``; no framework needed.

    After ``setup()``: ``x_train, y_train, x_val, y_val, x_test, y_test`` (float32
    normalized images N x C x H x W, int64 labels) and ``train_indices, val_indices``
    (positions of the two splits within the training set as loaded). ``input_shape``
    (C, H, W), ``num_classes`` and ``name`` are known from construction on.

    Batches are drawn by index (`propensity.data.batches`): the training order of epoch
    ``e`` is a function of (``batch_seed``, e) only, so a resumed run draws the batches an
    uninterrupted one draws. The Lightning engine serves these tensors to its Trainer
    (`propensity.engines.lightning.TensorData`), a cohort batches them across members
    (`propensity.cohort.Pool`); ``whole_epoch`` makes the Lightning loader yield one item per
    epoch, whose iteration gives that epoch's minibatches (Lightning's per-step overhead is
    larger than these small models' steps, ``benchmarks/train_epoch.py``).

    Subclasses set ``name``, ``input_shape``, ``num_classes``, pass the size of their
    training set to :meth:`_check_val_size` in ``__init__`` when it is known (so a bad
    ``val_size`` fails before anything is read), implement :meth:`load`, and may implement
    :meth:`prepare_data` (a download).
    """

    name: ClassVar[str] = "tensor"

    def __init__(
        self,
        batch_size: int = 64,
        val_size: int = 5_000,
        data_seed: int = 0,
        batch_seed: int = 0,
        eval_batch_size: int = DEFAULT_EVAL_BATCH,
        whole_epoch: bool = False,
    ) -> None:
        _check_positive("data.batch_size", batch_size)
        _check_positive("data.eval_batch_size", eval_batch_size)
        _check_positive("data.val_size", val_size)
        _check_non_negative("data_seed", data_seed)
        _check_non_negative("batch_seed", batch_seed)
        self.batch_size = batch_size
        self.whole_epoch = whole_epoch
        self.val_size = val_size
        self.data_seed = data_seed
        self.batch_seed = batch_seed
        self.eval_batch_size = eval_batch_size
        self.input_shape: tuple[int, ...] = ()
        self.num_classes: int = 0
        self._is_set_up = False

    def _check_val_size(self, train_size: int) -> None:
        """Fail in one line when the validation split would leave no training images."""
        if self.val_size >= train_size:
            raise ValueError(
                f"data.val_size={self.val_size} is not smaller than the {train_size} training "
                f"images of {self.name}; lower data.val_size"
            )

    def prepare_data(self) -> None:
        """Fetch the files (where the data set downloads); nothing by default."""

    def missing(self) -> str | None:
        """Why the data set cannot be loaded as configured (its files are not there), in one
        line naming where they were expected and the ways out; None when nothing is missing.
        Cheap (files are looked for, not read), so a sweep asks it of every job before
        launching any. Embedded and generated data sets are never missing."""
        return None

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (x, y) of the training set, then of the test set, already normalized."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        """Load once, then split ``val_size`` images off the training set by ``data_seed``."""
        if self._is_set_up:
            return
        x, y, self.x_test, self.y_test = self.load()
        self._check_val_size(len(x))
        self.train_indices, self.val_indices = split_indices(len(x), self.val_size, self.data_seed)
        self.x_train, self.y_train = x[self.train_indices], y[self.train_indices]
        self.x_val, self.y_val = x[self.val_indices], y[self.val_indices]
        self._is_set_up = True


def normalized(
    images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...], scale: float = 255.0
) -> torch.Tensor:
    """Float32 N x C x H x W images scaled to [0, 1] by ``scale``, then standardized per channel.

    Done once for the whole split, instead of per sample in a transform.
    """
    x = images.to(torch.float32).div_(scale)
    shape = (1, -1, 1, 1)
    return x.sub_(torch.tensor(mean).view(shape)).div_(torch.tensor(std).view(shape))
