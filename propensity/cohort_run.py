"""Glue: train a cohort of configs (one grid cell, several seeds) and record each member.

Each member is the single run its config describes (`propensity.train`): same data module,
model, initialisation, batch seed and run key, and one run folder with ``history.csv``,
``trajectory.csv`` and ``record.json``. Only the arithmetic is shared: training and the
pruning trajectories go through `propensity.cohort`. The rest is the single run's too: the
helpers of `propensity.runs`, its loggers, its record on SIGTERM or Ctrl-C, and resumption
(from one checkpoint for the cohort, `propensity.cohort_epochs`).
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from propensity.atomic import write_text_atomic
from propensity.callbacks.history import COLUMNS
from propensity.callbacks.prune_after_fit import log_trajectory
from propensity.cohort import Member, MemberResult, StopRule, fit, trajectories
from propensity.cohort.memory import near_equal
from propensity.cohort_chunks import (
    chunk_plan,
    configured_batches,
    device_of,
    evaluation_batches,
    pruning_levels,
)
from propensity.cohort_epochs import CohortCheckpoint, EpochReport
from propensity.identity import batch_seed, hashed_config, is_debug, run_key
from propensity.launch import Interrupted, interruptible, write_job_status
from propensity.models import initialize
from propensity.module import logger_names
from propensity.pruning import summarize, total_weights, weights_per_layer
from propensity.pruning.edge_popup import edge_popup
from propensity.pruning.measure import evaluate
from propensity.pruning.trajectory import Trajectory
from propensity.records import RunRecord, load_record
from propensity.runs import (
    build,
    close_loggers,
    finished_record,
    heal,
    is_multirun,
    make_loggers,
    mark_if_untrained,
    new_record,
    now,
    run_directory,
    use_threads,
)
from propensity.sweeper import MEMBERS_KEY, SEED_KEYS
from propensity.validation import validate

log = logging.getLogger("propensity")

@dataclass
class Prepared:
    """One member's single-run ingredients, built as `propensity.train` builds them."""

    cfg: DictConfig
    model: nn.Module
    datamodule: Any
    member: Member


def check_cohort(cfgs: Sequence[DictConfig]) -> None:
    """One line naming the key when the configs are not one grid cell's seeds."""
    if not cfgs:
        raise ValueError("a cohort needs at least one config")
    first = hashed_config(cfgs[0])
    for cfg in cfgs[1:]:
        other = hashed_config(cfg)
        for key in sorted(first.keys() | other.keys()):
            if key not in SEED_KEYS and first.get(key) != other.get(key):
                raise ValueError(
                    f"cohort members differ in {key!r} ({first.get(key)} vs {other.get(key)}); only "
                    f"{' and '.join(SEED_KEYS)} may vary within a cohort"
                )


def prepare(cfgs: Sequence[DictConfig]) -> list[Prepared]:
    """Data modules, initialised models and `Member` data for each config.

    Members of one data seed share one data module, so their split tensors are one object
    (held once by the cohort).
    """
    check_cohort(cfgs)
    modules: dict[int, Any] = {}
    out = []
    for cfg in cfgs:
        seed = batch_seed(cfg.init_seed, cfg.data_seed)
        if int(cfg.data_seed) not in modules:
            dm = build(cfg.data, data_seed=cfg.data_seed, batch_seed=seed)
            dm.prepare_data()
            dm.setup("fit")
            modules[int(cfg.data_seed)] = dm
        dm = modules[int(cfg.data_seed)]
        model = build(cfg.model, input_shape=dm.input_shape, num_classes=dm.num_classes)
        initialize(model, cfg.init.scheme, cfg.init_seed)
        member = Member(dm.x_train, dm.y_train, dm.x_val, dm.y_val, seed)
        out.append(Prepared(cfg, model, dm, member))
    return out


def stop_rule(cfg: DictConfig) -> StopRule:
    """The cohort's `StopRule` from the ``stop`` config group."""
    stop = OmegaConf.to_container(cfg.stop, resolve=True)
    assert isinstance(stop, dict)
    return StopRule(stop["name"], int(stop["max_epochs"]), float(stop.get("target", 0.2)))


def train_cohort(
    cfgs: Sequence[DictConfig], single: Callable[[DictConfig], RunRecord] | None = None
) -> list[RunRecord]:
    """Run (or skip) the single runs `cfgs` describe as one cohort; one record per member.

    Each member's folder, run key and files are those its single run would write
    (``record.json``, ``history.csv``, ``trajectory.csv``), its record says
    ``cohort_size`` (the members trained together). Finished members are skipped; the rest
    train in chunks that fit the memory budget (`chunk_plan`), one after another, and a
    chunk that runs out of CUDA memory is halved and retried. A chunk of one member is
    that member's single run, exactly, when the entry point passes its recipe as `single`
    (`propensity.train.train`; glue does not import the entry point), and a cohort of one
    otherwise.
    """
    for cfg in cfgs:
        validate(cfg)
    check_cohort(cfgs)
    records: dict[int, RunRecord] = {}
    todo = []
    for i, cfg in enumerate(cfgs):
        done = finished_record(cfg)
        if done is not None and bool(cfg.resume):
            log.info("skip %s: already %s", done.run_key, done.status)
            records[i] = done
        else:
            todo.append(i)
    limit = max(chunk_plan([cfgs[i] for i in todo]), default=1)
    while todo:  # chunk after chunk, each within the memory budget (propensity.cohort.memory)
        chunk = todo[: near_equal(len(todo), math.ceil(len(todo) / limit))[0]]
        try:
            trained = ([single(cfgs[chunk[0]])] if len(chunk) == 1 and single is not None
                       else _train_members([cfgs[i] for i in chunk]))
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
    return [records[i] for i in range(len(cfgs))]


def _train_members(cfgs: Sequence[DictConfig]) -> list[RunRecord]:
    """Fit, prune and test the members together; write each member's files and record.

    As a single run (`propensity.train`): each member's folder is healed first, its record
    says ``running`` while it trains, ``interrupted`` after SIGTERM or Ctrl-C (re-raised as
    `Interrupted`), ``failed`` with the traceback after an error. The cohort resumes from its
    checkpoint (`propensity.cohort_epochs`) when ``resume=true``, with the thread count the
    members started with; checkpoints whose members all have terminal records are removed.
    """
    started = time.perf_counter()
    dirs = [run_directory(cfg) for cfg in cfgs]
    previous = [heal(cfg, run_dir) for cfg, run_dir in zip(cfgs, dirs, strict=True)]
    records = [new_record(cfg, run_key(cfg), p) for cfg, p in zip(cfgs, previous, strict=True)]
    resume = bool(cfgs[0].resume) and not is_debug(cfgs[0])
    for record, before, run_dir in zip(records, previous, dirs, strict=True):
        use_threads(record, before if resume else None)
        record.cohort_size = len(cfgs)
        record.save(run_dir / "record.json")
    checkpoint = CohortCheckpoint(cfgs)
    try:
        with interruptible():
            _fit_prune_test(cfgs, dirs, records, checkpoint, checkpoint.load() if resume else None)
    except (Interrupted, KeyboardInterrupt) as error:
        for record in records:
            record.status, record.error = "interrupted", str(error) or type(error).__name__
        raise
    except Exception as error:
        for record in records:
            record.status, record.error = "failed", f"{type(error).__name__}: {error}"
            record.traceback = traceback.format_exc()
        raise
    finally:
        wall = time.perf_counter() - started
        for record, run_dir in zip(records, dirs, strict=True):
            record.wall_time_s = wall / len(cfgs)  # the cohort's time, shared evenly
            record.finished_at = now()
            record.save(run_dir / "record.json")
    checkpoint.remove_finished()
    log.info("cohort of %d trained in %.1fs: %s", len(cfgs), wall,
             ", ".join(f"{r.run_key} {r.status}" for r in records))
    return records


def _fit_prune_test(
    cfgs: Sequence[DictConfig], dirs: Sequence[Path], records: Sequence[RunRecord],
    checkpoint: CohortCheckpoint, state: dict[str, Any] | None,
) -> None:
    first = cfgs[0]
    device = device_of(first)
    prepared = prepare(cfgs)
    models = [p.model for p in prepared]
    for record, model in zip(records, models, strict=True):
        record.total_weights, record.weights_per_layer = total_weights(model), weights_per_layer(model)
        record.device = str(device)
    log.info("train a cohort of %d %s on %s: width %g, %s, seeds %s", len(cfgs),
             first.model.name, first.data.name, first.width, first.optim.name,
             [(int(c.init_seed), int(c.data_seed)) for c in cfgs])
    if state is not None:
        log.info("resume the cohort from %s (epoch %d)", checkpoint.path, state["epoch"])
    loggers = [make_loggers(cfg, run_dir, record, reinit="create_new")
               for cfg, run_dir, record in zip(cfgs, dirs, records, strict=True)]
    try:
        report = EpochReport(dirs, loggers, None if is_debug(first) else checkpoint,
                             int(first.stop.max_epochs), bool(first.get("progress", True)))
        val_batch, prune_batch = evaluation_batches(cfgs)
        if (val_batch, prune_batch) != configured_batches(first):
            log.info("evaluation batches of %d (validation) and %d (pruning) samples a forward "
                     "keep the cohort's %d members within the memory budget", val_batch,
                     prune_batch, len(cfgs))
        results = fit(models, [p.member for p in prepared], build(first.optim), stop_rule(first),
                      int(first.data.batch_size), val_batch, device, on_epoch=report,
                      resume=state)
        _record_training(records, results, dirs)
        live = [i for i, r in enumerate(results) if r.status != "diverged"]
        if live:
            _prune_and_test(first, [prepared[i] for i in live], [records[i] for i in live],
                            [dirs[i] for i in live], [loggers[i] for i in live], device,
                            prune_batch)
    finally:
        for member_loggers, record in zip(loggers, records, strict=True):
            close_loggers(member_loggers, record)


def _record_training(
    records: Sequence[RunRecord], results: Sequence[MemberResult], dirs: Sequence[Path]
) -> None:
    for record, result, run_dir in zip(records, results, dirs, strict=True):
        frame = pd.DataFrame(result.history, columns=list(COLUMNS))
        write_text_atomic(run_dir / "history.csv", frame.to_csv(index=False))
        record.stop_epoch, record.stop_target_met = result.stop_epoch, result.target_met
        record.epochs_trained = result.epochs_trained
        record.status = result.status if result.status == "diverged" else "running"
        if result.status == "diverged":
            record.error = result.error
            continue
        best = frame.set_index("epoch").loc[result.stop_epoch]
        record.train_loss, record.train_acc = float(best.train_loss), float(best.train_acc)
        record.val_loss, record.val_acc = float(best.val_loss), float(best.val_acc)


def _prune_and_test(
    cfg: DictConfig, prepared: Sequence[Prepared], records: Sequence[RunRecord],
    dirs: Sequence[Path], loggers: Sequence[Sequence[Any]], device: torch.device,
    batch_size: int,
) -> None:
    """The trained (not diverged) members' trajectories, test metrics and outcome."""
    moved: dict[int, torch.Tensor] = {}

    def on_device(t: torch.Tensor) -> torch.Tensor:  # a data seed's split moves once
        return moved.setdefault(id(t), t.to(device))

    models = [p.model.to(device) for p in prepared]
    val = [(on_device(p.member.x_val), on_device(p.member.y_val)) for p in prepared]
    test = [(on_device(p.datamodule.x_test), on_device(p.datamodule.y_test)) for p in prepared]
    train = [(on_device(p.member.x_train), on_device(p.member.y_train)) for p in prepared]
    levels = pruning_levels([p.cfg for p in prepared], batch_size)
    summaries = _prune(cfg, models, train, val, test, batch_size, levels)
    for j, (p, record) in enumerate(zip(prepared, records, strict=True)):
        frame = pd.concat([t.to_frame() for t in summaries[j][0]], ignore_index=True)
        write_text_atomic(dirs[j] / "trajectory.csv", frame.to_csv(index=False))
        for key, value in summaries[j][1].items():
            setattr(record, key, value)
        log_trajectory(loggers[j], frame, summaries[j][1])
        correct, loss = (evaluate(models[j].eval(), *test[j]) / len(test[j][1])).tolist()
        record.test_loss, record.test_acc = loss, correct
        for logger in loggers[j]:  # as the single run's test loop logs them
            logger.log_metrics({**logger_names({"test_loss": loss, "test_acc": correct}),
                                "epoch": record.epochs_trained}, step=record.epochs_trained)
        record.status = "finished" if record.stop_target_met else "max_epochs_reached"
        mark_if_untrained(record, p.datamodule.num_classes)


def _prune(
    cfg: DictConfig,
    models: Sequence[nn.Module],
    train: Sequence[tuple[torch.Tensor, torch.Tensor]],
    val: Sequence[tuple[torch.Tensor, torch.Tensor]],
    test: Sequence[tuple[torch.Tensor, torch.Tensor]],
    batch_size: int,
    levels_at_once: int = 1,
) -> list[tuple[list[Trajectory], dict[str, Any]]]:
    """Every member's trajectories (method and baselines) and its record's pruning fields."""
    p = OmegaConf.to_container(cfg.pruning, resolve=True)
    assert isinstance(p, dict)
    methods = [p["method"], *p["baselines"]]
    by_method: dict[str, list[Trajectory]] = {}
    for method in methods:
        if method == "edge_popup":  # trains scores per model: one member at a time
            by_method[method] = [
                edge_popup(m, xt, yt, xv, yv, **p["edge_popup"])
                for m, (xt, yt), (xv, yv) in zip(models, train, val, strict=True)
            ]
            continue
        by_method[method] = trajectories(
            models, val, p["step"], p["schedule"], p["min_density"], method,
            test if p["eval_test"] else None, batch_size, range(p["mask_seeds"]), levels_at_once)
    out = []
    for k, model in enumerate(models):
        n = total_weights(model)
        summary = {m: summarize(by_method[m][k], n, p["threshold"], p["threshold_mode"],
                                tuple(p["thresholds"])) for m in methods}
        fields = {**summary[p["method"]], "pruning_method": p["method"],
                  "schedule": p["schedule"], "ed_by_method": summary}
        out.append(([by_method[m][k] for m in methods], fields))
    return out


def member_configs(cfg: DictConfig) -> list[DictConfig]:
    """The single-run configs of a cohort job (`propensity.sweeper`): one per member's seeds.

    Each is `cfg` with that member's ``init_seed`` and ``data_seed`` and without the
    ``cohort_members`` key, so it is exactly the config its single run would have.
    """
    members = OmegaConf.to_container(cfg[MEMBERS_KEY], resolve=True)
    assert isinstance(members, list)
    base = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(base, dict)
    base.pop(MEMBERS_KEY)
    out = []
    for init_seed, data_seed in members:
        member = OmegaConf.create(base)
        if init_seed is not None:
            member.init_seed = int(init_seed)
        if data_seed is not None:
            member.data_seed = int(data_seed)
        out.append(member)
    return out


def main_cohort(
    cfg: DictConfig, single: Callable[[DictConfig], RunRecord] | None = None
) -> list[float | None] | None:
    """The Hydra job of one cohort: train it, leave the job status, return members' EDs.

    As for a single run's job: a failure is recorded (in each member's ``record.json`` and
    the job's status, which names every member) and the multirun goes on; SIGTERM or Ctrl-C
    leaves each member ``interrupted`` and exits with 128 + the signal (143, 130).
    """
    cfgs = member_configs(cfg)
    skipped = {run_key(c) for c in cfgs if bool(c.resume) and finished_record(c) is not None}
    try:
        records = train_cohort(cfgs, single)
    except Interrupted as stop:
        write_job_status(None, error=stop, members=_members_on_disk(cfgs))
        log.error("%s: the members' records say interrupted; rerun the command to resume", stop)
        raise SystemExit(128 + stop.signum) from None
    except Exception as error:
        write_job_status(None, error=error, members=_members_on_disk(cfgs))
        if not is_multirun():
            raise
        log.exception("cohort job failed; recorded in its members' record.json, the sweep goes on")
        return None
    write_job_status(records[0], members=[
        {"run_key": r.run_key, "status": r.status, "skipped": r.run_key in skipped} for r in records])
    return [r.effective_density for r in records]


def _members_on_disk(cfgs: Sequence[DictConfig]) -> list[dict[str, Any]]:
    """Each member's run key and the status its ``record.json`` says (``failed`` if none)."""
    out = []
    for cfg in cfgs:
        record, _ = load_record(run_directory(cfg) / "record.json")
        out.append({"run_key": run_key(cfg), "status": record.status if record else "failed"})
    return out
