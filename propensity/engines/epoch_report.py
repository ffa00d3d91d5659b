"""After every epoch, for each member that trained it: its ``history.csv``, its loggers, and one
progress line for the job. Both engines report through this one class (section 3.1's curves).

``history.csv`` has one row per epoch (1-based `epoch`: the epochs trained), rewritten
atomically; the experiment loggers get the row under their stage names (``train/loss``, ...)
at step ``epoch - 1``, as Lightning numbers epochs; the progress line
(``progress=true``) says where the job is and how long it has left, up to ``stop.max_epochs``
at this session's mean epoch time (an upper bound where a rule may stop early). Where jobs of
a sweep print beside each other, the line names its run (`label`: the run key, or a cohort's
first key and how many more), so interleaved lines can be told apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from propensity.launch.console import duration
from propensity.storage.atomic import write_text_atomic

log = logging.getLogger("propensity")
COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")


def logger_names(metrics: Mapping[str, float]) -> dict[str, float]:
    """``train_loss`` -> ``train/loss``: the names the experiment loggers show, by stage."""
    return {k.replace("_", "/", 1): v for k, v in metrics.items()}


def time_left(elapsed_s: float, epochs_done: int, epochs_to_go: int) -> float:
    """Seconds left at the mean epoch time so far: ``elapsed / done * to_go``."""
    if epochs_done < 1:
        raise ValueError(f"epochs_done={epochs_done} must be >= 1")
    return elapsed_s / epochs_done * max(epochs_to_go, 0)


def run_label(run_keys: Sequence[str]) -> str:
    """A job's name on its progress lines: its run key, or a cohort's first key and the count
    of the others (the job's status file names them all)."""
    if not run_keys:
        raise ValueError("a job has at least one run")
    more = len(run_keys) - 1
    return run_keys[0] if not more else f"{run_keys[0]} and {more} more seed{'s' if more > 1 else ''}"


def history_frame(rows: Sequence[Mapping[str, float]]) -> pd.DataFrame:
    """The ``history.csv`` table of `rows`."""
    return pd.DataFrame(list(rows), columns=list(COLUMNS))


class EpochReport:
    """The per-epoch report of one job's members (one for a single run)."""

    def __init__(
        self,
        run_dirs: Sequence[Path],
        loggers: Sequence[Sequence[Any]],
        max_epochs: int,
        progress: bool = True,
        *,
        label: str = "",
    ) -> None:
        if len(run_dirs) != len(loggers):
            raise ValueError(f"{len(run_dirs)} run folders but {len(loggers)} logger lists")
        self.run_dirs, self.loggers = [Path(d) for d in run_dirs], list(loggers)
        self.max_epochs, self.progress, self.label = max_epochs, progress, label
        self.histories: list[list[dict[str, float]]] = [[] for _ in run_dirs]
        self._started: float | None = None
        self._first_epoch = 0

    def start(self, epochs_done: int) -> None:
        """Training (re)starts after `epochs_done` epochs: the clock of the time left."""
        self._started, self._first_epoch = time.perf_counter(), epochs_done

    def __call__(self, epoch: int, rows: Mapping[int, Mapping[str, float]], training: int) -> None:
        """Report `epoch` (1-based) for the members in `rows` (member index -> row without
        ``epoch``); `training` members train on after it."""
        for m, metrics in rows.items():
            row = {"epoch": epoch, **metrics}
            self.histories[m] = [r for r in self.histories[m] if r["epoch"] < epoch] + [row]
            write_text_atomic(self.run_dirs[m] / "history.csv",
                              history_frame(self.histories[m]).to_csv(index=False))
            named = {**logger_names(metrics), "epoch": epoch - 1}
            for logger in self.loggers[m]:
                logger.log_metrics(named, step=epoch - 1)
        if self.progress and rows:
            log.info(self._line(epoch, list(rows.values()), training))

    def _line(self, epoch: int, rows: list[Mapping[str, float]], training: int) -> str:
        if self._started is None:
            self.start(epoch - 1)
        assert self._started is not None
        elapsed = time.perf_counter() - self._started
        to_go = self.max_epochs - epoch if training else 0
        left = time_left(elapsed, epoch - self._first_epoch, to_go)
        members = len(self.run_dirs)
        who = "" if members == 1 else f"{training} of {members} members training, "
        whose = f" ({self.label})" if self.label else ""
        return (f"epoch {epoch}/{self.max_epochs}{whose}: {who}train loss {_span(rows, 'train_loss')}, "
                f"val acc {_span(rows, 'val_acc')}, {duration(elapsed)} elapsed, <={duration(left)} left")


def _span(rows: Sequence[Mapping[str, float]], key: str) -> str:
    """``0.412`` for one member, ``0.201-0.412`` (lowest to highest) for several."""
    values = [r[key] for r in rows if key in r]
    if not values:
        return "n/a"
    low, high = min(values), max(values)
    return f"{low:.3f}" if len(values) == 1 else f"{low:.3f}-{high:.3f}"
