"""Train, prune and record: the experiment of sections 3.1 and 3.2, for one run or a cohort of K.

    members -> chunks within the memory budget -> fit -> measurements -> outcome -> records

A single run is a cohort of one. The members are the single-run configs of one grid cell
(`propensity.run.members`); those already finished, or being trained by another process
(which holds the run's lock, `propensity.storage.lock`), are skipped. The rest are trained in
chunks that fit the memory budget (`propensity.run.plan`), one after another. A chunk is
fitted by Lightning when it holds one member and by the stacked engine when it holds more
(`propensity.engines`); either way every fitted model is then measured by the same step
(`propensity.run.measure_fitted`), concluded by the same rules (`propensity.run.outcome`)
and recorded in its own run folder, under its own run key, as its single run would be
(`propensity.run.lifecycle`).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from propensity.cohort.fit import FitResult
from propensity.cohort.memory import near_equal
from propensity.config import preflight
from propensity.config.members import JobConfig
from propensity.config.settings import RunSettings
from propensity.data.base import TensorDataModule
from propensity.engines.epoch_report import EpochReport, run_label
from propensity.engines.fitting import Chunk, Engine, FitMember
from propensity.engines.lightning import LightningEngine
from propensity.engines.limits import BatchLimits, batch_limits
from propensity.engines.loggers import close_loggers, make_loggers
from propensity.engines.stacked import StackedEngine, cohort_checkpoint
from propensity.engines.stopping import StopRule
from propensity.launch.console import in_parallel_sweep
from propensity.launch.threads import set_training_threads
from propensity.models import initialize
from propensity.pruning import total_weights, weights_per_layer
from propensity.run import branches
from propensity.run.lifecycle import lifecycle
from propensity.run.measure_fitted import measure_fitted
from propensity.run.members import build_model, check_branch, data_module, read_members, rewind_iteration
from propensity.run.outcome import conclude, record_fit
from propensity.run.plan import MemoryPlan
from propensity.run.resumption import finished_record
from propensity.storage.lock import RunBusyError, RunLock
from propensity.storage.records import RunRecord, load_record

log = logging.getLogger("propensity")


def train(cfg: JobConfig) -> RunRecord:
    """Run (or skip, or resume) the experiment `cfg` describes and return its record."""
    return train_cohort([cfg])[0]


def train_cohort(cfgs: Sequence[JobConfig]) -> list[RunRecord]:
    """Run (or skip, or resume) the runs `cfgs` (one grid cell's seeds); one record each."""
    return trained_and_skipped(cfgs)[0]


def trained_and_skipped(cfgs: Sequence[JobConfig]) -> tuple[list[RunRecord], list[bool]]:
    """Each run's record, and whether it was skipped: finished before, or being trained now
    by another process (which holds its lock, `propensity.storage.lock`). The runs trained
    here hold their locks until they are recorded."""
    members = read_members(cfgs)
    checked: preflight.Cache = {}
    for cfg, member in zip(cfgs, members, strict=True):  # before any data loads or folder is made
        if not (member.resume and finished_record(member) is not None):
            preflight.check(cfg, checked)
        check_branch(member)
    records: dict[int, RunRecord] = {}
    todo = []
    with contextlib.ExitStack() as held:
        for i, member in enumerate(members):
            record = _skip(member, held)
            if record is None:
                todo.append(i)
            else:
                records[i] = record
        skipped = [i in records for i in range(len(members))]
        plan = MemoryPlan(members)
        limit = max(plan.chunk_sizes([members[i] for i in todo]), default=1)
        while todo:  # chunk after chunk, each within the memory budget
            chunk = todo[: near_equal(len(todo), math.ceil(len(todo) / limit))[0]]
            try:
                trained = train_chunk([members[i] for i in chunk], plan)
            except torch.cuda.OutOfMemoryError:
                if len(chunk) == 1:
                    raise
                limit = math.ceil(len(chunk) / 2)
                log.warning("a chunk of %d members ran out of CUDA memory; retrying in chunks of "
                            "at most %d (set cohort_memory_gb lower to start there)", len(chunk), limit)
                torch.cuda.empty_cache()
                continue
            records.update(zip(chunk, trained, strict=True))
            todo = todo[len(chunk):]
        branching = [i for i, m in enumerate(members) if m.retrain.regime != "none"
                     and records[i].status in ("finished", "max_epochs_reached")]
        per_chunk = branches.members_per_chunk([members[i] for i in branching], plan.chunk_sizes)
        for start in range(0, len(branching), per_chunk):
            part = branching[start:start + per_chunk]
            branches.retrain_chunk([members[i] for i in part], [records[i] for i in part], plan, held,
                          locked=[not skipped[i] for i in part])
    return [records[i] for i in range(len(members))], skipped


def _skip(member: RunSettings, held: contextlib.ExitStack) -> RunRecord | None:
    """The record to report instead of training `member` (finished, or busy elsewhere), or
    None after taking its lock (kept in `held`) for this process to train it.

    Finished is asked before and after the lock is taken: before, so a finished run's folder
    is only read; after, because the holder that made the run busy may have finished it
    between the two looks."""
    done = finished_record(member) if member.resume else None
    if done is None:
        lock = RunLock(member.run_dir)
        try:
            lock.acquire()
        except RunBusyError as busy:
            log.info("skip %s: %s (%s)", member.run_key, busy, member.run_dir)
            previous, _ = load_record(member.run_dir / "record.json")
            return previous or RunRecord(run_key=member.run_key, experiment=member.experiment)
        held.callback(lock.release)
        done = finished_record(member) if member.resume else None
        if done is None:
            if lock.taken_over is not None:
                log.warning("take over %s: its lock was left by %s, which ended without releasing "
                            "it", member.run_key, lock.taken_over)
            return None
    log.info("skip %s: already %s in %s", done.run_key, done.status, member.run_dir)
    return done


@dataclass
class Prepared:
    """A chunk's ingredients: each member's data (one module per data seed) and initialised model."""

    data: list[TensorDataModule]
    models: list[nn.Module]


def train_chunk(members: Sequence[RunSettings], plan: MemoryPlan) -> list[RunRecord]:
    """Fit, measure, conclude and record the members of one chunk."""
    with lifecycle(members) as records:
        prepared = prepare(members, records)
        batches = batch_limits(members[0].trainer)
        loggers = [make_loggers(m, r, reinit="create_new") if batches.logging else []
                   for m, r in zip(members, records, strict=True)]
        try:
            results, rules, device = fit_chunk(members, prepared, loggers, batches, plan)
            for record, result, rule in zip(records, results, rules, strict=True):
                record_fit(record, result, rule)
                record.device = str(device)
            live = [k for k, result in enumerate(results) if result.status != "diverged"]
            if live:
                eval_batch, prune_batch = plan.evaluation_batches(members)
                measure_fitted([members[k] for k in live], [records[k] for k in live],
                               [prepared.models[k] for k in live], [prepared.data[k] for k in live],
                               loggers=[loggers[k] for k in live], device=device, eval_batch=eval_batch,
                               prune_batch=prune_batch,
                               levels_at_once=plan.pruning_levels(members, prune_batch), limits=batches)
            for k in live:
                conclude(records[k], prepared.data[k].num_classes)
                branches.save_trained(members[k], prepared.models[k])
        finally:
            for member_loggers, record in zip(loggers, records, strict=True):
                close_loggers(member_loggers, record)
    if len(members) > 1:
        cohort_checkpoint(members).remove_finished()
    return records


def prepare(members: Sequence[RunSettings], records: Sequence[RunRecord]) -> Prepared:
    """Each member's data module (shared by the members of one data seed) and its model,
    built and initialised by its init seed alone (section 4.4); its weight counts go to its record."""
    import lightning as L

    first = members[0]
    L.seed_everything(first.batch_seed, verbose=False)
    modules: dict[int, TensorDataModule] = {}
    data, models = [], []
    for member, record in zip(members, records, strict=True):
        dm = data_module(member, modules)
        model = build_model(member, dm)
        initialize(model, member.init, member.init_seed)
        record.total_weights, record.weights_per_layer = total_weights(model), weights_per_layer(model)
        data.append(dm)
        models.append(model)
    if not any(record.cpu_threads for record in records):  # none resumed with its count
        set_training_threads(models[0], data[0].input_shape, first.batch_size * len(members))
    threads = torch.get_num_threads()
    for record in records:
        record.cpu_threads = threads
    if len(members) == 1:
        log.info("train %s on %s: width %g, %d weights, %s, %s init, seeds init=%d data=%d, %s",
                 first.model_name, first.data_name, first.width, records[0].total_weights,
                 first.optim_name, first.init, first.init_seed, first.data_seed, _threads(threads))
    else:
        log.info("train a cohort of %d %s on %s: width %g, %d weights each, %s, %s init, seeds %s, %s",
                 len(members), first.model_name, first.data_name, first.width, records[0].total_weights,
                 first.optim_name, first.init, [(m.init_seed, m.data_seed) for m in members],
                 _threads(threads))
    return Prepared(data, models)


def _threads(count: int) -> str:
    return "1 CPU thread" if count == 1 else f"{count} CPU threads"


def fit_chunk(
    members: Sequence[RunSettings], prepared: Prepared, loggers: Sequence[list[Any]], batches: BatchLimits,
    plan: MemoryPlan,
) -> tuple[list[FitResult], list[StopRule], torch.device]:
    """Fit the chunk with its engine (Lightning for one member, the stack for more); each
    member's stop rule is built from ``conf/stop``."""
    first = members[0]
    rules = [m.build.stop_rule() for m in members]
    max_epochs = batches.max_epochs or first.max_epochs
    label = run_label([m.run_key for m in members]) if in_parallel_sweep() else ""
    report = EpochReport([m.run_dir for m in members], loggers, max_epochs, first.progress, label=label)
    chunk = Chunk(optimizer=first.build.optimizer(), max_epochs=max_epochs, report=report,
                  limits=batches, val_batch=plan.evaluation_batches(members)[0])
    engine: Engine = LightningEngine() if len(members) == 1 else StackedEngine()
    results = engine.fit([FitMember(run=m, model=model, data=data, rule=rule, loggers=member_loggers,
                                    rewind_at=rewind_iteration(m))
                          for m, model, data, rule, member_loggers
                          in zip(members, prepared.models, prepared.data, rules, loggers, strict=True)],
                         chunk)
    return results, rules, engine.device
