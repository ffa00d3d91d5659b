"""Collect the runs of a results directory: every ``record.json`` below it and its CSVs."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pandas as pd

from propensity.collect.tables import (
    HISTORY_COLUMNS,
    REGIME_LEVEL_COLUMNS,
    TRAJECTORY_COLUMNS,
    CollectedResults,
    Found,
    build,
    one_line,
    order_columns,
    record_from_json,
    report,
)
from propensity.storage.records import COMPLETE, RunRecord

log = logging.getLogger("propensity.collect")

# Directories a run leaves beside its record that never hold another run's record.
_NOT_RUNS = {"checkpoints", "artifacts", "wandb", "__pycache__", "debug"}  # debug: debug=... runs
# The checkout (for an editable install): relative results paths are tried against it last.
_REPOSITORY = Path(__file__).resolve().parents[2]


def results_path(path: str | Path, start: str | Path | None = None) -> Path:
    """Where a results directory named relative to the repository or a launch directory is.

    A Jupyter kernel runs in the notebook's folder, not where ``jupyter lab`` was started, so
    ``PROPENSITY_RESULTS=results/quickstart`` is tried against `start` (default: the working
    directory), each of its parents, then the repository; the first existing one wins.
    """
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    here = Path.cwd() if start is None else Path(start).resolve()
    tried = [here, *here.parents, _REPOSITORY]
    for base in tried:
        if (base / path).is_dir():
            return base / path
    raise FileNotFoundError(
        f"results directory {path} not found in {here}, its parents or {_REPOSITORY}; "
        "give an absolute path or run `make demo` first"
    )


def collect(results_dir: str | Path, out: str | Path | None = None) -> CollectedResults:
    """Gather every run under `results_dir` and write the tables to `out` (default: there).

    Unreadable records are reported and skipped; a run_key found twice is kept once.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results directory {results_dir} does not exist")
    problems: list[str] = []
    found, skipped = [], 0
    for path in find_records(results_dir):
        try:
            record = record_from_json(json.loads(path.read_text()))
        except (OSError, UnicodeDecodeError, ValueError, TypeError) as error:
            # json.JSONDecodeError is a ValueError: a truncated file lands here too.
            skipped += 1
            report(problems, f"skipped {path}: {one_line(error)}")
            continue
        run_dir = path.parent
        found.append(Found(record, str(run_dir.resolve()), partial(_read_tables, run_dir, record),
                           partial(_read_levels, run_dir)))
    results = build(found, problems, source=str(results_dir), skipped=skipped)
    results.write(out if out is not None else results_dir)
    log.info(results.summary())
    return results


def find_records(results_dir: Path) -> Iterator[Path]:
    """Every ``record.json`` under `results_dir`, in a stable order, skipping hidden folders."""
    for root, dirs, files in os.walk(results_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _NOT_RUNS)
        if "record.json" in files:
            yield Path(root) / "record.json"


def _read_tables(
    run_dir: Path, record: RunRecord, problems: list[str]
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    # A complete run has been pruned and trained at least an epoch: its CSVs must exist.
    # Running or failed runs may lack them, which is expected, not a problem.
    trained = record.status in COMPLETE or bool(record.epochs_trained)
    trajectory = _read_csv(
        run_dir / "trajectory.csv", ["level", "density"], record.status in COMPLETE, problems
    )
    if trajectory is not None and "method" not in trajectory.columns:
        trajectory.insert(0, "method", "magnitude")  # as Trajectory.from_frame reads it
    history = _read_csv(run_dir / "history.csv", ["epoch"], trained, problems)
    if trajectory is not None:
        trajectory = order_columns(trajectory, TRAJECTORY_COLUMNS)
    if history is not None:
        history = order_columns(history, HISTORY_COLUMNS)
    return trajectory, history


def _read_levels(run_dir: Path, problems: list[str]) -> pd.DataFrame | None:
    """Every retraining branch's level rows (``branches/*/levels.csv``), or None without any."""
    frames = [_read_csv(path, ["branch", "level"], True, problems)
              for path in sorted(run_dir.glob("branches/*/levels.csv"))]
    frames = [frame for frame in frames if frame is not None]
    return order_columns(pd.concat(frames, ignore_index=True), REGIME_LEVEL_COLUMNS) if frames else None


def _read_csv(
    path: Path, required: list[str], expected: bool, problems: list[str]
) -> pd.DataFrame | None:
    if not path.is_file():
        if expected:
            report(problems, f"missing {path}")
        return None
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as error:
        # pandas' EmptyDataError is a ValueError.
        report(problems, f"unreadable {path}: {one_line(error)}")
        return None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        report(problems, f"unreadable {path}: no column {', '.join(missing)}")
        return None
    return frame
