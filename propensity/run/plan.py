"""How a job's members are split into chunks, and how many samples and levels go in a forward.

The arithmetic is `propensity.cohort.memory`'s (one member's bytes: weights, gradients,
optimiser state, activations, data); this module reads a job's settings for it: the model
and optimiser of the cell, the data seeds, ``cohort_memory_gb`` and the device. A chunk of
one member is a single run, which Lightning fits; its evaluation batches are the configured
ones, and only ``pruning.levels_at_once=0`` asks the memory model anything of it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property

from propensity.cohort.memory import GIB, MemberBytes, budget_bytes, chunk_sizes, member_bytes
from propensity.config.settings import RunSettings
from propensity.pruning.masks import last_level
from propensity.pruning.measure import SWEEP_BATCH

log = logging.getLogger("propensity")

# A cohort's evaluation passes (validation each epoch, every pruning level) are planned at
# this many samples a forward, then grown to what the budget leaves, up to the configured
# sizes: K members' activations at the configured 5,000-10,000 samples would otherwise
# decide the chunks of a wide model (Conv-2 2x: 7-12 GiB a member).
PLANNED_EVAL_BATCH = 256


def configured_batches(run: RunSettings) -> tuple[int, int]:
    """The single run's (validation, pruning) batch sizes."""
    return run.eval_batch_size, SWEEP_BATCH


class MemoryPlan:
    """The memory arithmetic of one job's members (one grid cell): one member's estimate,
    made once for the job when first asked, and the budget on the job's device."""

    def __init__(self, members: Sequence[RunSettings]) -> None:
        self.members = list(members)

    @cached_property
    def estimate(self) -> MemberBytes:
        """The memory of one member on its device, its evaluation passes planned at
        `PLANNED_EVAL_BATCH` samples."""
        run = self.members[0]
        dm = run.build.data(data_seed=run.data_seed, batch_seed=0)
        dm.prepare_data()
        dm.setup("fit")
        model = run.build.model(input_shape=dm.input_shape, num_classes=dm.num_classes)
        val_batch, prune_batch = configured_batches(run)
        return member_bytes(
            model, dm.input_shape, run.optim_name, run.batch_size,
            min(val_batch, PLANNED_EVAL_BATCH), min(prune_batch, PLANNED_EVAL_BATCH),
            (len(dm.x_train), len(dm.x_val), len(dm.x_test)), run.momentum,
        )

    @cached_property
    def budget(self) -> int:
        """Bytes the job may use on its device: ``cohort_memory_gb``, or a share of what is free."""
        run = self.members[0]
        return budget_bytes(run.device, run.cohort_memory_gb)

    def chunk_sizes(self, members: Sequence[RunSettings]) -> list[int]:
        """Near-equal chunk sizes of `members`, each within the budget ``cohort_memory_gb``
        (null: a fraction of what is free on the job's device)."""
        if len(members) < 2:
            return [1] * len(members)
        seeds = _data_seeds(members)
        sizes = chunk_sizes(len(members), lambda c: self.estimate.chunk_peak(c, seeds), self.budget)
        log.info("cohort of %d members: %.2f GiB estimated for a chunk of %d, budget %.2f GiB: "
                 "%d chunk(s) of at most %d", len(members), self.estimate.chunk_peak(sizes[0], seeds) / GIB,
                 sizes[0], self.budget / GIB, len(sizes), sizes[0])
        return sizes

    def evaluation_batches(self, chunk: Sequence[RunSettings]) -> tuple[int, int]:
        """The (validation, pruning) batch sizes of `chunk`: the configured ones, or less where
        the memory budget leaves room for fewer samples of K members at once
        (`MemberBytes.evaluation_batch`). Accuracies are unchanged; losses sum in another order."""
        val_batch, prune_batch = configured_batches(chunk[0])
        if len(chunk) < 2:
            return val_batch, prune_batch
        k, seeds = len(chunk), _data_seeds(chunk)
        return (self.estimate.evaluation_batch(k, seeds, self.budget, val_batch,
                                               min(val_batch, PLANNED_EVAL_BATCH)),
                self.estimate.evaluation_batch(k, seeds, self.budget, prune_batch,
                                               min(prune_batch, PLANNED_EVAL_BATCH)))

    def pruning_levels(self, chunk: Sequence[RunSettings], prune_batch: int) -> int:
        """How many pruning levels `chunk` evaluates per forward: ``pruning.levels_at_once``,
        or with 0 the most that fit beside the chunk in the memory budget at `prune_batch`
        samples a forward (`MemberBytes.levels_at_once`)."""
        p = chunk[0].pruning
        levels = last_level(p.step, p.schedule, p.min_density) + 1  # type: ignore[arg-type]
        if p.levels_at_once > 0:
            return min(p.levels_at_once, levels)
        return self.estimate.levels_at_once(len(chunk), _data_seeds(chunk), self.budget, prune_batch,
                                            levels)


def _data_seeds(members: Sequence[RunSettings]) -> int:
    return len({m.data_seed for m in members})
