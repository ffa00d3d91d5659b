"""Batches drawn by index from tensors held in memory: the fast data path.

The paper's models are tiny (section 3.1), so a DataLoader that builds every sample
through PIL transforms costs more than the forward and backward pass. Here a whole split
is one normalized tensor and a batch is ``x[idx]``.
"""

from collections.abc import Callable, Iterator

import numpy as np
import torch


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of the training set in one epoch, a function of (seed, epoch) only.

    Keying the permutation on the epoch rather than on a generator's running state means a
    run resumed at epoch ``e`` draws exactly the batches an uninterrupted run draws there.
    ``SeedSequence`` mixes the pair so neighbouring seeds and epochs give unrelated orders.
    """
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    generator = torch.Generator().manual_seed(int(state))
    return torch.randperm(n, generator=generator)


class TensorBatches:
    """An iterable of ``(x[idx], y[idx])`` batches that Lightning accepts as a dataloader.

    Lightning 2.x takes any iterable with ``__len__`` as a dataloader; this one has no
    workers, no collation and no per-sample work.

    Args:
        x: inputs, first dimension indexing samples.
        y: labels, one per sample.
        batch_size: samples per batch; the last batch of an epoch may be smaller.
        shuffle: draw each epoch in the order :func:`epoch_permutation` gives; otherwise
            batches are contiguous slices in stored order (validation and test).
        seed: the batch seed, used only when ``shuffle``.
        epoch: returns the current epoch (the trainer's ``current_epoch``) or None; when
            absent or None, the number of epochs this object has already started is used.
        device: returns the device the tensors should live on, or None to leave them.
            Asked on each iteration; the tensors are moved once, on the first iteration
            that finds them elsewhere, so on a GPU a split is copied there a single time.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        epoch: Callable[[], int | None] | None = None,
        device: Callable[[], torch.device | None] | None = None,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be at least 1")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch
        self.device = device
        self.epochs_started = 0

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def _current_epoch(self) -> int:
        epoch = self.epoch() if self.epoch is not None else None
        return self.epochs_started if epoch is None else epoch

    def _move(self) -> None:
        device = self.device() if self.device is not None else None
        if device is not None and self.x.device != device:
            self.x, self.y = self.x.to(device), self.y.to(device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # A generator: Lightning calls iter() once only to check iterability, which must
        # neither count as an epoch nor move data.
        self._move()
        x, y, n, size = self.x, self.y, len(self.x), self.batch_size
        if self.shuffle:
            order = epoch_permutation(n, self.seed, self._current_epoch()).to(x.device)
            self.epochs_started += 1
            for start in range(0, n, size):
                idx = order[start : start + size]
                yield x[idx], y[idx]
        else:
            self.epochs_started += 1
            for start in range(0, n, size):
                yield x[start : start + size], y[start : start + size]


class WholeEpoch:
    """A loader of one item per epoch: the epoch's :class:`TensorBatches`, iterated lazily.

    The consumer (the training step) iterates the item to draw the minibatches, so the
    order, the device placement and the resumption guarantees are those of `batches`.
    """

    def __init__(self, batches: TensorBatches) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[TensorBatches]:
        yield self.batches
