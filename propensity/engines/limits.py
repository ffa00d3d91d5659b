"""A debug run's limits on batches, read once, so both engines and the test split honour them.

``debug=fdr|limit|overfit`` set Lightning's ``fast_dev_run``, ``limit_*_batches`` and
``overfit_batches``. The Lightning engine's Trainer applies them to its loaders; the stacked
engine and the test metrics (measured after fitting, for either engine) read the same
values here, with Lightning's rules (`lightning.pytorch.trainer.setup`,
``_parse_num_batches``): an int is a count of batches, a float a fraction of them
(``int(fraction * batches)``); ``fast_dev_run=n`` is n batches of every loop in one epoch,
without checkpoints or logging; ``overfit_batches`` limits training and validation alike.
Under ``data.whole_epoch=true`` one Lightning batch is a whole epoch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BatchLimits:
    """How many batches each loop of a debug run runs (None: all), and what it leaves out.

    The Lightning engine's Trainer applies these limits from its own config; the stacked
    engine and the test metrics count them here (`train_batches`, `samples`)."""

    train: int | float | None = None
    val: int | float | None = None
    test: int | float | None = None
    max_epochs: int | None = None  # fast_dev_run trains one epoch
    checkpoints: bool = True
    logging: bool = True

    def count(self, loop: str, batches: int) -> int:
        """Batches `loop` runs out of `batches` (Lightning's ``_parse_num_batches``)."""
        limit = getattr(self, loop)
        if limit is None or (isinstance(limit, float) and limit == 1.0):
            return batches
        if isinstance(limit, float):
            kept = int(batches * limit)
            if kept == 0 and limit > 0:
                raise ValueError(f"trainer.limit_{loop}_batches={limit}: {limit} x {batches} batches < 1; "
                                 f"use at least {1 / batches:g}")
            return kept
        return min(batches, int(limit))

    def samples(self, loop: str, size: int, batch_size: int) -> int:
        """Samples of a split of `size` that `loop` sees in batches of `batch_size`."""
        return min(size, self.count(loop, math.ceil(size / batch_size)) * batch_size)

    def train_batches(self, size: int, batch_size: int, whole_epoch: bool) -> int | None:
        """Minibatches of `batch_size` an epoch of a training split of `size` trains (None: all).

        Under ``whole_epoch`` Lightning sees the epoch as one batch, so the limit lets all of
        it through or none of it."""
        if self.train is None:
            return None
        minibatches = math.ceil(size / batch_size)
        if whole_epoch:
            return None if self.count("train", 1) else 0
        train = self.count("train", minibatches)
        return None if train == minibatches else train


def batch_limits(trainer: Mapping[str, Any]) -> BatchLimits:
    """The limits of the ``trainer`` config (the keys left out are Lightning's defaults)."""
    fast = trainer.get("fast_dev_run") or 0
    overfit = trainer.get("overfit_batches") or 0
    if isinstance(fast, bool):
        fast = int(fast)
    if fast:
        n = int(fast)
        train = val = (overfit or n) if overfit else n
        return BatchLimits(train, val, n, max_epochs=1, checkpoints=False, logging=False)
    if overfit:
        return BatchLimits(overfit, overfit, trainer.get("limit_test_batches"))
    return BatchLimits(trainer.get("limit_train_batches"), trainer.get("limit_val_batches"),
                       trainer.get("limit_test_batches"))
