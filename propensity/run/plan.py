"""How a job's members are split into chunks, and how many samples and levels go in a forward.

The arithmetic is `propensity.cohort.memory`'s (one member's bytes: weights, gradients,
optimiser state, activations, data); this module reads a job's settings for it: the model
and optimiser of the cell, the data seeds, ``cohort_memory_gb`` and the device. A chunk of
one member is a single run, which Lightning fits; its evaluation batches are the configured
ones, and only ``pruning.levels_at_once=0`` asks the memory model anything of it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from propensity.cohort.memory import GIB, MemberBytes, budget_bytes, chunk_sizes, member_bytes
from propensity.config.build import build
from propensity.config.settings import RunSettings
from propensity.identity import hashed_config
from propensity.launch.devices import device_of
from propensity.launch.grouping import SEED_KEYS
from propensity.pruning.masks import last_level
from propensity.pruning.measure import SWEEP_BATCH

log = logging.getLogger("propensity")

# A cohort's evaluation passes (validation each epoch, every pruning level) are planned at
# this many samples a forward, then grown to what the budget leaves, up to the configured
# sizes: K members' activations at the configured 5,000-10,000 samples would otherwise
# decide the chunks of a wide model (Conv-2 2x: 7-12 GiB a member).
PLANNED_EVAL_BATCH = 256
_ESTIMATES: dict[str, MemberBytes] = {}


def cell(run: RunSettings) -> str:
    """The grid cell of a run: its scientific config without the seeds, as JSON."""
    science = {k: v for k, v in hashed_config(run.cfg).items() if k not in SEED_KEYS}
    return json.dumps(science, sort_keys=True)


def chunk_plan(members: Sequence[RunSettings]) -> list[int]:
    """Near-equal chunk sizes of `members` (one grid cell's), each within the budget
    ``cohort_memory_gb`` (null: a fraction of what is free on the job's device)."""
    if len(members) < 2:
        return [1] * len(members)
    first = members[0]
    estimate, budget = member_estimate(first), _budget(first)
    seeds = _data_seeds(members)
    sizes = chunk_sizes(len(members), lambda c: estimate.chunk(c, seeds), budget)
    log.info("cohort of %d members: %.2f GiB estimated for a chunk of %d, budget %.2f GiB: "
             "%d chunk(s) of at most %d", len(members), estimate.chunk(sizes[0], seeds) / GIB,
             sizes[0], budget / GIB, len(sizes), sizes[0])
    return sizes


def member_estimate(run: RunSettings) -> MemberBytes:
    """The memory of one member of `run`'s cell on its device, its evaluation passes planned
    at `PLANNED_EVAL_BATCH` samples; one estimate per grid cell and process."""
    key = cell(run)
    if key not in _ESTIMATES:
        cfg = run.cfg
        dm = build(cfg.data, data_seed=run.data_seed, batch_seed=0)
        dm.prepare_data()
        dm.setup("fit")
        model = build(cfg.model, input_shape=dm.input_shape, num_classes=dm.num_classes)
        val_batch, prune_batch = configured_batches(run)
        _ESTIMATES[key] = member_bytes(
            model, dm.input_shape, str(cfg.optim.name), run.batch_size,
            min(val_batch, PLANNED_EVAL_BATCH), min(prune_batch, PLANNED_EVAL_BATCH),
            (len(dm.x_train), len(dm.x_val), len(dm.x_test)),
            float(cfg.optim.get("momentum", 0.0)),
        )
    return _ESTIMATES[key]


def configured_batches(run: RunSettings) -> tuple[int, int]:
    """The single run's (validation, pruning) batch sizes."""
    return int(run.cfg.data.get("eval_batch_size", 10_000)), SWEEP_BATCH


def _budget(run: RunSettings) -> int:
    """Bytes the job may use on its device: ``cohort_memory_gb``, or a share of what is free."""
    return budget_bytes(device_of(run.cfg), run.cohort_memory_gb)


def _data_seeds(members: Sequence[RunSettings]) -> int:
    return len({m.data_seed for m in members})


def evaluation_batches(members: Sequence[RunSettings]) -> tuple[int, int]:
    """The (validation, pruning) batch sizes of the chunk `members`: the configured ones, or
    less where the memory budget leaves room for fewer samples of K members at once
    (`MemberBytes.evaluation_batch`). Accuracies are unchanged; losses sum in another order."""
    val_batch, prune_batch = configured_batches(members[0])
    if len(members) < 2:
        return val_batch, prune_batch
    estimate, budget = member_estimate(members[0]), _budget(members[0])
    k, seeds = len(members), _data_seeds(members)
    return (estimate.evaluation_batch(k, seeds, budget, val_batch, min(val_batch, PLANNED_EVAL_BATCH)),
            estimate.evaluation_batch(k, seeds, budget, prune_batch,
                                      min(prune_batch, PLANNED_EVAL_BATCH)))


def pruning_levels(members: Sequence[RunSettings], prune_batch: int) -> int:
    """How many pruning levels the chunk evaluates per forward: ``pruning.levels_at_once``,
    or with 0 the most that fit beside the chunk in the memory budget at `prune_batch`
    samples a forward (`MemberBytes.levels_at_once`)."""
    p = members[0].pruning
    levels = last_level(p.step, p.schedule, p.min_density) + 1  # type: ignore[arg-type]
    if p.levels_at_once > 0:
        return min(p.levels_at_once, levels)
    return member_estimate(members[0]).levels_at_once(len(members), _data_seeds(members),
                                                      _budget(members[0]), prune_batch, levels)
