"""Glue: how many members of a cohort train at once, how many samples and pruning levels a forward.

The arithmetic is `propensity.cohort.memory`'s; this module reads a cohort's configs for it
(the model and optimiser of the cell, the data seeds, ``cohort_memory_gb`` and the device)
and gives `propensity.cohort_run` its chunks, evaluation batch sizes and pruning levels per
forward.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Sequence

import torch
from omegaconf import DictConfig

from propensity.cohort import trajectories
from propensity.cohort.memory import GIB, MemberBytes, budget_bytes, chunk_sizes, member_bytes
from propensity.identity import hashed_config
from propensity.launch import job_device
from propensity.pruning.masks import last_level
from propensity.runs import build
from propensity.sweeper import SEED_KEYS

log = logging.getLogger("propensity")


def cell(cfg: DictConfig) -> str:
    """The grid cell of a config: its scientific config without the seeds, as JSON."""
    science = {k: v for k, v in hashed_config(cfg).items() if k not in SEED_KEYS}
    return json.dumps(science, sort_keys=True)


def device_of(cfg: DictConfig) -> torch.device:
    """The job's device: under ``launcher=gpus`` its GPU (`propensity.launch.job_device`,
    job N on visible GPU N mod count), else ``cuda`` when the trainer may use it and one is
    visible, else the CPU."""
    bound = job_device(cfg)
    if bound:
        devices = bound["devices"]
        return torch.device("cpu") if bound["accelerator"] == "cpu" else torch.device("cuda", devices[0])
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def chunk_plan(cfgs: Sequence[DictConfig]) -> list[int]:
    """Near-equal chunk sizes of `cfgs` (one grid cell's members), each within the budget
    ``cohort_memory_gb`` (null: a fraction of what is free on the cohort's device)."""
    if len(cfgs) < 2:
        return [1] * len(cfgs)
    first = cfgs[0]
    estimate, budget = member_estimate(first), _budget(first)
    seeds = _data_seeds(cfgs)
    sizes = chunk_sizes(len(cfgs), lambda c: estimate.chunk(c, seeds), budget)
    log.info("cohort of %d members: %.2f GiB estimated for a chunk of %d, budget %.2f GiB: "
             "%d chunk(s) of at most %d", len(cfgs), estimate.chunk(sizes[0], seeds) / GIB,
             sizes[0], budget / GIB, len(sizes), sizes[0])
    return sizes


def member_estimate(cfg: DictConfig) -> MemberBytes:
    """The memory of one member of `cfg`'s cohort on its device (`propensity.cohort.memory`),
    its evaluation passes planned at `PLANNED_EVAL_BATCH` samples (`evaluation_batches`);
    one estimate per grid cell and process (every member of a cell is the same model)."""
    key = cell(cfg)
    if key not in _ESTIMATES:
        dm = build(cfg.data, data_seed=cfg.data_seed, batch_seed=0)
        dm.prepare_data()
        dm.setup("fit")
        model = build(cfg.model, input_shape=dm.input_shape, num_classes=dm.num_classes)
        val_batch, prune_batch = configured_batches(cfg)
        _ESTIMATES[key] = member_bytes(
            model, dm.input_shape, str(cfg.optim.name), int(cfg.data.batch_size),
            min(val_batch, PLANNED_EVAL_BATCH), min(prune_batch, PLANNED_EVAL_BATCH),
            (len(dm.x_train), len(dm.x_val), len(dm.x_test)),
            float(cfg.optim.get("momentum", 0.0)),
        )
    return _ESTIMATES[key]


# A cohort's evaluation passes (validation each epoch, every pruning level) are planned at
# this many samples a forward, then grown to what the budget leaves, up to the configured
# sizes: K members' activations at the configured 5,000-10,000 samples would otherwise
# decide the chunks of a wide model (Conv-2 2x: 7-12 GiB a member).
PLANNED_EVAL_BATCH = 256
_ESTIMATES: dict[str, MemberBytes] = {}


def configured_batches(cfg: DictConfig) -> tuple[int, int]:
    """The single run's (validation, pruning) batch sizes."""
    prune = inspect.signature(trajectories).parameters["batch_size"].default
    return int(cfg.data.get("eval_batch_size", 10_000)), int(prune)


def _budget(cfg: DictConfig) -> int:
    """Bytes the cohort may use on its device: ``cohort_memory_gb``, or a share of what is free."""
    return budget_bytes(device_of(cfg), cfg.get("cohort_memory_gb"))


def _data_seeds(cfgs: Sequence[DictConfig]) -> int:
    return len({int(cfg.data_seed) for cfg in cfgs})


def evaluation_batches(cfgs: Sequence[DictConfig]) -> tuple[int, int]:
    """The (validation, pruning) batch sizes of the chunk `cfgs`: the configured ones, or
    less where the memory budget leaves room for fewer samples of K members at once
    (`MemberBytes.evaluation_batch`). Accuracies are unchanged; losses sum in another order."""
    val_batch, prune_batch = configured_batches(cfgs[0])
    if len(cfgs) < 2:
        return val_batch, prune_batch
    estimate, budget = member_estimate(cfgs[0]), _budget(cfgs[0])
    k, seeds = len(cfgs), _data_seeds(cfgs)
    return (estimate.evaluation_batch(k, seeds, budget, val_batch, min(val_batch, PLANNED_EVAL_BATCH)),
            estimate.evaluation_batch(k, seeds, budget, prune_batch,
                                      min(prune_batch, PLANNED_EVAL_BATCH)))


def pruning_levels(cfgs: Sequence[DictConfig], prune_batch: int) -> int:
    """How many pruning levels the chunk `cfgs` evaluates per forward: ``pruning.levels_at_once``,
    or with 0 the most that fit beside the chunk in the memory budget at `prune_batch`
    samples a forward (`MemberBytes.levels_at_once`)."""
    first = cfgs[0]
    p = first.pruning
    levels = last_level(float(p.step), str(p.schedule), float(p.min_density)) + 1
    wanted = int(p.get("levels_at_once", 1))
    if wanted > 0:
        return min(wanted, levels)
    return member_estimate(first).levels_at_once(len(cfgs), _data_seeds(cfgs), _budget(first),
                                                 prune_batch, levels)
