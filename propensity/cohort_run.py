"""Glue: train a cohort of configs (one grid cell, several seeds) and record each member.

Each member is the single run its config describes (`propensity.train`): same data module,
model, initialisation, batch seed and run key, and one run folder with ``history.csv``,
``trajectory.csv`` and ``record.json``. Only the arithmetic is shared: training and the
pruning trajectories go through `propensity.cohort`.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from propensity.atomic import write_text_atomic
from propensity.callbacks.history import COLUMNS
from propensity.cohort import Member, StopRule, fit, trajectories
from propensity.cohort.memory import GIB, MemberBytes, budget_bytes, chunk_sizes, member_bytes, near_equal
from propensity.identity import batch_seed, hashed_config, run_key
from propensity.models import initialize
from propensity.pruning import summarize, total_weights, weights_per_layer
from propensity.pruning.edge_popup import edge_popup
from propensity.pruning.measure import evaluate
from propensity.pruning.trajectory import Trajectory
from propensity.records import RunRecord
from propensity.validation import validate

log = logging.getLogger("propensity")

# Keys in which the members of one cohort may differ.
SEED_KEYS: tuple[str, ...] = ("init_seed", "data_seed")


@dataclass
class Prepared:
    """One member's single-run ingredients, built as `propensity.train` builds them."""

    cfg: DictConfig
    model: nn.Module
    datamodule: Any
    member: Member


def cell(cfg: DictConfig) -> str:
    """The grid cell of a config: its scientific config without the seeds, as JSON."""
    import json

    science = {k: v for k, v in hashed_config(cfg).items() if k not in SEED_KEYS}
    return json.dumps(science, sort_keys=True)


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
    from propensity.train import build

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


def device_of(cfg: DictConfig) -> torch.device:
    """The job's device: under ``launcher=gpus`` its GPU (`propensity.launch.job_device`,
    job N on visible GPU N mod count), else ``cuda`` when the trainer may use it and one is
    visible, else the CPU."""
    from propensity.launch import job_device

    bound = job_device(cfg)
    if bound:
        devices = bound["devices"]
        return torch.device("cpu") if bound["accelerator"] == "cpu" else torch.device("cuda", devices[0])
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def train_cohort(cfgs: Sequence[DictConfig]) -> list[RunRecord]:
    """Run (or skip) the single runs `cfgs` describe as one cohort; one record per member.

    Each member's folder, run key and files are those its single run would write
    (``record.json``, ``history.csv``, ``trajectory.csv``), its record says
    ``cohort_size`` (the members trained together). Finished members are skipped; the rest
    train in chunks that fit the memory budget (`chunk_plan`), one after another, and a
    chunk that runs out of CUDA memory is halved and retried. A chunk of one member is
    that member's single run (`propensity.train.train`), exactly.
    """
    from propensity.train import train

    for cfg in cfgs:
        validate(cfg)
    check_cohort(cfgs)
    records: dict[int, RunRecord] = {}
    todo = []
    for i, cfg in enumerate(cfgs):
        done = _finished(cfg)
        if done is not None and bool(cfg.resume):
            log.info("skip %s: already %s", done.run_key, done.status)
            records[i] = done
        else:
            todo.append(i)
    limit = max(chunk_plan([cfgs[i] for i in todo]), default=1)
    while todo:  # chunk after chunk, each within the memory budget (propensity.cohort.memory)
        chunk = todo[: near_equal(len(todo), math.ceil(len(todo) / limit))[0]]
        try:
            trained = [train(cfgs[chunk[0]])] if len(chunk) == 1 else _train_members(
                [cfgs[i] for i in chunk])
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


def chunk_plan(cfgs: Sequence[DictConfig]) -> list[int]:
    """Near-equal chunk sizes of `cfgs` (one grid cell's members), each within the budget
    ``cohort_memory_gb`` (null: a fraction of what is free on the cohort's device)."""
    if len(cfgs) < 2:
        return [1] * len(cfgs)
    first = cfgs[0]
    estimate = member_estimate(first)
    budget = budget_bytes(device_of(first), first.get("cohort_memory_gb"))
    seeds = len({int(cfg.data_seed) for cfg in cfgs})
    sizes = chunk_sizes(len(cfgs), lambda c: estimate.chunk(c, seeds), budget)
    log.info("cohort of %d members: %.2f GiB estimated for a chunk of %d, budget %.2f GiB: "
             "%d chunk(s) of at most %d", len(cfgs), estimate.chunk(sizes[0], seeds) / GIB,
             sizes[0], budget / GIB, len(sizes), sizes[0])
    return sizes


def member_estimate(cfg: DictConfig) -> MemberBytes:
    """The memory of one member of `cfg`'s cohort on its device (`propensity.cohort.memory`)."""
    from propensity.train import build

    dm = build(cfg.data, data_seed=cfg.data_seed, batch_seed=0)
    dm.prepare_data()
    dm.setup("fit")
    model = build(cfg.model, input_shape=dm.input_shape, num_classes=dm.num_classes)
    return member_bytes(
        model, dm.input_shape, str(cfg.optim.name), int(cfg.data.batch_size),
        int(cfg.data.get("eval_batch_size", 10_000)),
        inspect.signature(trajectories).parameters["batch_size"].default,
        (len(dm.x_train), len(dm.x_val), len(dm.x_test)), float(cfg.optim.get("momentum", 0.0)),
    )


def _finished(cfg: DictConfig) -> RunRecord | None:
    from propensity.train import finished_record

    return finished_record(cfg)


def _train_members(cfgs: Sequence[DictConfig]) -> list[RunRecord]:
    """Fit, prune and test the members together; write each member's files and record."""
    from propensity.train import _new_record, _now, run_directory

    started = time.perf_counter()
    dirs = [run_directory(cfg) for cfg in cfgs]
    records = [_new_record(cfg, run_key(cfg), None) for cfg in cfgs]
    for record, run_dir in zip(records, dirs, strict=True):
        record.cohort_size = len(cfgs)
        record.save(run_dir / "record.json")
    try:
        _fit_prune_test(cfgs, dirs, records)
    except Exception as error:
        for record in records:
            record.status, record.error = "failed", f"{type(error).__name__}: {error}"
            record.traceback = traceback.format_exc()
        raise
    finally:
        wall = time.perf_counter() - started
        for record, run_dir in zip(records, dirs, strict=True):
            record.wall_time_s = wall / len(cfgs)  # the cohort's time, shared evenly
            record.finished_at = _now()
            record.save(run_dir / "record.json")
    log.info("cohort of %d trained in %.1fs: %s", len(cfgs), wall,
             ", ".join(f"{r.run_key} {r.status}" for r in records))
    return records


def _fit_prune_test(
    cfgs: Sequence[DictConfig], dirs: Sequence[Path], records: Sequence[RunRecord]
) -> None:
    from propensity.train import build, mark_if_untrained

    first = cfgs[0]
    device = device_of(first)
    prepared = prepare(cfgs)
    models = [p.model for p in prepared]
    for record, model in zip(records, models, strict=True):
        record.total_weights, record.weights_per_layer = total_weights(model), weights_per_layer(model)
    log.info("train a cohort of %d %s on %s: width %g, %s, seeds %s", len(cfgs),
             first.model.name, first.data.name, first.width, first.optim.name,
             [(int(c.init_seed), int(c.data_seed)) for c in cfgs])
    results = fit(models, [p.member for p in prepared], build(first.optim), stop_rule(first),
                  int(first.data.batch_size), int(first.data.get("eval_batch_size", 10_000)),
                  device)
    for record, result, run_dir in zip(records, results, dirs, strict=True):
        frame = pd.DataFrame(result.history, columns=list(COLUMNS))
        write_text_atomic(run_dir / "history.csv", frame.to_csv(index=False))
        record.stop_epoch, record.stop_target_met = result.stop_epoch, result.target_met
        record.epochs_trained = result.epochs_trained
        if result.status == "diverged":
            record.status, record.error = "diverged", result.error
            continue
        best = frame.set_index("epoch").loc[result.stop_epoch]
        record.train_loss, record.train_acc = float(best.train_loss), float(best.train_acc)
        record.val_loss, record.val_acc = float(best.val_loss), float(best.val_acc)
    live = [i for i, r in enumerate(results) if r.status != "diverged"]
    if not live:
        return
    models = [models[i].to(device) for i in live]
    val = [(prepared[i].member.x_val.to(device), prepared[i].member.y_val.to(device)) for i in live]
    test = [(prepared[i].datamodule.x_test.to(device), prepared[i].datamodule.y_test.to(device))
            for i in live]
    train = [(prepared[i].member.x_train.to(device), prepared[i].member.y_train.to(device))
             for i in live]
    summaries = _prune(first, models, train, val, test)
    for j, i in enumerate(live):
        record = records[i]
        frame = pd.concat([t.to_frame() for t in summaries[j][0]], ignore_index=True)
        write_text_atomic(dirs[i] / "trajectory.csv", frame.to_csv(index=False))
        for key, value in summaries[j][1].items():
            setattr(record, key, value)
        correct, loss = (evaluate(models[j].eval(), *test[j]) / len(test[j][1])).tolist()
        record.test_loss, record.test_acc = loss, correct
        record.status = "finished" if results[i].target_met else "max_epochs_reached"
        mark_if_untrained(record, prepared[i].datamodule.num_classes)


def _prune(
    cfg: DictConfig,
    models: Sequence[nn.Module],
    train: Sequence[tuple[torch.Tensor, torch.Tensor]],
    val: Sequence[tuple[torch.Tensor, torch.Tensor]],
    test: Sequence[tuple[torch.Tensor, torch.Tensor]],
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
            test if p["eval_test"] else None, mask_seeds=range(p["mask_seeds"]))
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
    from propensity.sweeper import MEMBERS_KEY

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


def main_cohort(cfg: DictConfig) -> list[float | None] | None:
    """The Hydra job of one cohort: train it, leave the job status, return members' EDs.

    As for a single run's job, a failure is recorded (in each member's ``record.json`` and
    the job's status) and the multirun goes on; the job status names the first member.
    """
    from propensity.launch import write_job_status
    from propensity.train import _is_multirun

    try:
        records = train_cohort(member_configs(cfg))
    except Exception as error:
        write_job_status(None, error=error)
        if not _is_multirun():
            raise
        log.exception("cohort job failed; recorded in its members' record.json, the sweep goes on")
        return None
    write_job_status(records[0])
    return [r.effective_density for r in records]
