"""Where a run starts from: a finished record to skip, a folder healed to restart in, a new record
that keeps what resuming needs (the start time, the CPU thread count).

Every member of a cohort is recorded exactly as its single run would be: these are the only
functions that make, trust or distrust a ``record.json`` (`propensity.storage.records` is its
schema; `propensity.run.lifecycle` saves it until the run ends).
"""

from __future__ import annotations

import copy
import logging
import platform
import shutil
from datetime import datetime
from importlib.metadata import version
from typing import TYPE_CHECKING

from propensity.storage.checkpoints import Checkpoint
from propensity.storage.lock import LOCK_FILES
from propensity.storage.records import TERMINAL, RunRecord, incomplete, load_record, remove_temporaries

if TYPE_CHECKING:
    from propensity.config.settings import RunSettings

log = logging.getLogger("propensity")

# Packages whose versions each record keeps, for reproducing a result later.
PACKAGES = ("propensity", "torch", "torchvision", "lightning", "hydra-core", "numpy")


def finished_record(run: RunSettings) -> RunRecord | None:
    """The record of this run if an earlier attempt ended it and its results are whole."""
    if run.debug:
        return None
    previous, _ = load_record(run.run_dir / "record.json")
    if previous is None or previous.status not in TERMINAL or incomplete(run.run_dir, previous):
        return None
    return previous


def heal(run: RunSettings) -> RunRecord | None:
    """Make the run's folder safe to (re)start in and return the previous record worth trusting.

    A debug run starts from nothing. Otherwise leftover temporaries go; a record that does
    not validate, or a complete one whose tables are missing or hold NaN, is not a result:
    the run is retrained from scratch (its checkpoint moved aside).
    """
    if run.debug:  # everything but the lock this process holds
        for path in run.run_dir.glob("*") if run.run_dir.is_dir() else ():
            if path.is_dir():
                shutil.rmtree(path)
            elif path.name not in LOCK_FILES:
                path.unlink(missing_ok=True)
        return None
    if not run.run_dir.is_dir():
        return None
    remove_temporaries(run.run_dir)
    previous, problem = load_record(run.run_dir / "record.json")
    problem = problem or (incomplete(run.run_dir, previous) if previous is not None else None)
    if problem is None:
        return previous
    log.warning("%s; retraining %s from scratch", problem, run.run_dir.name)
    Checkpoint.of_run(run.run_dir, run.run_key).set_aside(f"before-{datetime.now():%Y%m%dT%H%M%S}")
    return None


def new_record(run: RunSettings, previous: RunRecord | None) -> RunRecord:
    """A ``running`` record of `run`; a run resumed while ``running`` keeps its start time."""
    versions = {"python": platform.python_version(), **{p: version(p) for p in PACKAGES}}
    return RunRecord(
        run_key=run.run_key, experiment=run.experiment, model=run.model_name, data=run.data_name,
        optim=run.optim_name, lr=run.lr, init=run.init, width=run.width,
        init_seed=run.init_seed, data_seed=run.data_seed, stop=run.stop_name,
        batch_size=run.batch_size,
        started_at=previous.started_at if previous and previous.status == "running" else now(),
        versions=versions, config=copy.deepcopy(dict(run.config)),
    )


def now() -> str:
    """ISO 8601 with microseconds: two runs of one key within a second still differ."""
    return datetime.now().astimezone().isoformat(timespec="microseconds")


def use_threads(record: RunRecord, previous: RunRecord | None) -> None:
    """Resume with the CPU thread count the run started with: the last bits of a float sum
    depend on how many threads split it, so bit-identical resumption needs the same count.
    A run started afresh gets its count once its model is built (`recipe.prepare`)."""
    import torch

    if previous is not None and previous.status in ("running", "interrupted", "failed") \
            and previous.cpu_threads:
        if previous.cpu_threads != torch.get_num_threads():
            log.info("resume with %d CPU threads, as the run started", previous.cpu_threads)
            torch.set_num_threads(previous.cpu_threads)
        record.cpu_threads = previous.cpu_threads
    else:
        record.cpu_threads = None
