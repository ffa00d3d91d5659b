"""Glue: what a cohort does after each epoch, as a single run's callbacks do (section 3.1).

After every epoch a single run's callbacks write ``history.csv``, log the epoch's metrics to
its experiment loggers, log a progress line and save ``checkpoints/last.ckpt``. A cohort
has no Trainer: `EpochReport`, called by `propensity.cohort.fit` after every epoch, does the
same for each member, and saves one checkpoint for the whole cohort.

Where that checkpoint lives: ``<results_dir>/<name>/cohorts/<digest>/last.pt``, beside the
members' run folders, where ``<digest>`` hashes the members' run keys in cohort order
(``members.json`` there lists them). One file for the cohort, not one per member, because
the stacked optimiser state and the epoch are the cohort's: resuming needs every member at
one epoch. A rerun of the same unfinished members with ``resume=true`` continues from it;
a rerun whose unfinished members differ (another ``cohort`` size, other seeds) has no
checkpoint of its own and retrains them from scratch, saying so when an older checkpoint
held some of them. A cohort's folder is removed once all its members have terminal records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig

from propensity.atomic import write_atomic, write_text_atomic
from propensity.callbacks.history import COLUMNS
from propensity.callbacks.progress import time_left
from propensity.cohort import EpochEnd
from propensity.console import duration
from propensity.identity import run_key
from propensity.module import logger_names
from propensity.records import TERMINAL, load_record
from propensity.runs import run_directory

log = logging.getLogger("propensity")


class CohortCheckpoint:
    """The one checkpoint of a cohort (see the module docstring for where and why)."""

    def __init__(self, cfgs: Sequence[DictConfig]) -> None:
        self.keys = [run_key(cfg) for cfg in cfgs]
        digest = hashlib.sha256("\n".join(self.keys).encode()).hexdigest()[:10]
        self.root = run_directory(cfgs[0]).parent / "cohorts"
        self.folder = self.root / digest
        self.path = self.folder / "last.pt"

    def load(self) -> dict[str, Any] | None:
        """The saved state of these members, or None (with the reason logged) when there is none."""
        if not self.path.is_file():
            self._say_if_members_changed()
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # an unreadable file is no reason to stop: retrain
            log.warning("cannot read %s (%s); retraining the cohort from scratch", self.path, error)
            return None
        if state.get("run_keys") != self.keys:
            log.warning("%s holds other members; retraining the cohort from scratch", self.path)
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Write `state` (an `EpochEnd.state`) atomically, with the run keys and thread count."""
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.folder / "members.json", json.dumps(self.keys, indent=2) + "\n")
        state = {**state, "run_keys": self.keys, "cpu_threads": torch.get_num_threads()}
        write_atomic(self.path, lambda tmp: torch.save(state, tmp))

    def remove_finished(self) -> None:
        """Remove every cohort checkpoint here (this one, or one left by an earlier set of
        members) whose members all have a terminal record: none of them will train again."""
        for listing in sorted(self.root.glob("*/members.json")):
            try:
                keys = json.loads(listing.read_text())
            except (OSError, ValueError):
                continue
            records = [load_record(self.root.parent / key / "record.json")[0] for key in keys]
            if all(r is not None and r.status in TERMINAL for r in records):
                shutil.rmtree(listing.parent, ignore_errors=True)

    def _say_if_members_changed(self) -> None:
        for listing in sorted(self.root.glob("*/members.json")):
            try:
                before = json.loads(listing.read_text())
            except (OSError, ValueError):
                continue
            if set(before) & set(self.keys) and before != self.keys:
                log.info("the unfinished members changed since %s (%d then, %d now): retraining "
                         "them from scratch", listing.parent, len(before), len(self.keys))
                return


class EpochReport:
    """`fit`'s epoch hook: each member's ``history.csv`` and logger metrics, the cohort's
    checkpoint and (``progress=true``) one progress line, as a single run's callbacks."""

    def __init__(
        self,
        dirs: Sequence[Path],
        loggers: Sequence[Sequence[Any]],
        checkpoint: CohortCheckpoint | None,
        max_epochs: int,
        progress: bool,
    ) -> None:
        self.dirs, self.loggers, self.checkpoint = list(dirs), list(loggers), checkpoint
        self.max_epochs, self.progress = max_epochs, progress
        self._started = time.perf_counter()
        self._first_epoch: int | None = None

    def __call__(self, end: EpochEnd) -> None:
        trained = [m for m, r in enumerate(end.results) if r.history and r.history[-1]["epoch"] == end.epoch]
        for m in trained:
            rows = end.results[m].history
            write_text_atomic(self.dirs[m] / "history.csv",
                              pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(index=False))
            metrics = {**logger_names({k: v for k, v in rows[-1].items() if k != "epoch"}),
                       "epoch": end.epoch - 1}  # as Lightning logs it: 0-based, at that step
            for logger in self.loggers[m]:
                logger.log_metrics(metrics, step=end.epoch - 1)
        if self.checkpoint is not None:
            self.checkpoint.save(end.state())
        if self.progress:
            self._log_progress(end, trained)

    def _log_progress(self, end: EpochEnd, trained: list[int]) -> None:
        if self._first_epoch is None:
            self._first_epoch = end.epoch - 1
        elapsed = time.perf_counter() - self._started
        left = time_left(elapsed, end.epoch - self._first_epoch, self.max_epochs - end.epoch) \
            if end.active else 0.0
        losses = [end.results[m].history[-1]["train_loss"] for m in trained]
        log.info("cohort epoch %d/%d: %d of %d members training, train loss %.3f-%.3f, "
                 "%s elapsed, <=%s left", end.epoch, self.max_epochs, len(end.active),
                 len(end.results), min(losses), max(losses), duration(elapsed), duration(left))
