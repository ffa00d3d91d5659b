"""Collect the runs of a W&B project through wandb's public API (`wandb.Api`).

Per W&B run: `run.config` and `run.summary_metrics` give the record's fields, the
``pruning/trajectory`` table's file (named by its summary entry's ``path``) is fetched with
`run.file(path).download`, and `run.scan_history()` gives the per-epoch history.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from propensity.collect.tables import (
    HISTORY_COLUMNS,
    TRAJECTORY_COLUMNS,
    CollectedResults,
    Found,
    TablesReader,
    build,
    fits,
    one_line,
    order_columns,
    record_from_json,
    report,
)
from propensity.storage.records import COMPLETE, RunRecord

log = logging.getLogger("propensity.collect")

TRAJECTORY_KEY = "pruning/trajectory"
_FIELDS = {f.name for f in dataclasses.fields(RunRecord)}
# W&B run states that say how a run ended when its summary carries no `status`.
_STATE_STATUS = {
    "finished": "finished",
    "running": "running",
    "crashed": "failed",
    "failed": "failed",
    "killed": "failed",
}


def collect_wandb(project: str, out: str | Path, api: Any | None = None) -> CollectedResults:
    """Build the tables from the W&B project ``ENTITY/PROJECT`` and write them to `out`.

    `api` defaults to ``wandb.Api()``; errors reaching the project itself propagate, a
    run that cannot be read is reported and skipped.
    """
    if api is None:
        import wandb  # slow to import: only when W&B is asked for

        api = wandb.Api()
    problems: list[str] = []
    found, skipped = [], 0
    for run in api.runs(project):
        where = f"wandb:{'/'.join(map(str, getattr(run, 'path', [project, run.id])))}"
        try:
            record = record_from_json(record_dict(run))
        except Exception as error:  # one bad run must not stop the rest
            skipped += 1
            report(problems, f"skipped {where}: {one_line(error)}")
            continue
        found.append(Found(record, where, _tables_reader(run, record, where)))
    results = build(found, problems, source=f"wandb:{project}", skipped=skipped)
    results.write(out)
    log.info(results.summary())
    return results


def record_dict(run: Any) -> dict[str, Any]:
    """The record's fields from a W&B run: config first, summary over it.

    Keys are matched exactly, or by their last ``.``/``/`` component (``optim.lr`` -> lr,
    ``pruning/effective_density`` -> effective_density) where no exact key exists;
    summary keys ``ed_<threshold>`` fill `ed_by_threshold`.
    """
    summary = _summary(run)
    data: dict[str, Any] = {}
    for source in (_plain(run.config), summary):
        data.update(_known_fields(source))
    for key, value in summary.items():
        if key.startswith("ed_") and key not in _FIELDS and "ed_by_threshold" not in summary:
            data.setdefault("ed_by_threshold", {})[key[3:]] = value
    data.setdefault("run_key", run.id)
    data.setdefault("experiment", getattr(run, "project", "") or "wandb")
    if "status" not in data:
        data["status"] = _STATE_STATUS.get(getattr(run, "state", ""), "running")
    return data


def _known_fields(source: Mapping[str, Any]) -> dict[str, Any]:
    exact = {k: v for k, v in source.items() if k in _FIELDS}
    by_suffix: dict[str, Any] = {}
    for key, value in source.items():
        name = key.replace("/", ".").rsplit(".", 1)[-1]
        if name not in exact and fits(name, value):  # a guess, so only if its type fits
            by_suffix.setdefault(name, value)
    return {**by_suffix, **exact}


def _plain(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Config flattened to dotted keys; W&B's ``{"value": ...}`` wrappers unwrapped."""
    out: dict[str, Any] = {}
    for key, value in dict(config).items():
        if isinstance(value, Mapping) and set(value) <= {"value", "desc"} and "value" in value:
            value = value["value"]
        if str(key).startswith("_"):
            continue
        if isinstance(value, Mapping):
            out.update(_plain(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _summary(run: Any) -> dict[str, Any]:
    metrics = getattr(run, "summary_metrics", None)
    if metrics is None:
        metrics = dict(run.summary.items())
    return {k: v for k, v in dict(metrics).items() if not k.startswith("_")}


def _tables_reader(run: Any, record: RunRecord, where: str) -> TablesReader:
    def read(problems: list[str]) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        trajectory = history = None
        try:
            trajectory = _trajectory(run)
        except Exception as error:
            report(problems, f"unreadable trajectory of {where}: {one_line(error)}")
        else:
            if trajectory is None and record.status in COMPLETE:
                report(problems, f"missing trajectory of {where}: no {TRAJECTORY_KEY} table")
        try:
            history = _history(run.scan_history())
        except Exception as error:
            report(problems, f"unreadable history of {where}: {one_line(error)}")
        return trajectory, history

    return read


def _trajectory(run: Any) -> pd.DataFrame | None:
    entry = _summary(run).get(TRAJECTORY_KEY)
    if not isinstance(entry, Mapping) or "path" not in entry:
        return None
    with tempfile.TemporaryDirectory() as root:
        run.file(entry["path"]).download(root=root, replace=True).close()
        table = json.loads((Path(root) / entry["path"]).read_text())
    frame = pd.DataFrame(table["data"], columns=table["columns"])
    if "method" not in frame.columns:
        frame.insert(0, "method", "magnitude")
    return order_columns(frame, TRAJECTORY_COLUMNS)


def _history(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame | None:
    """One row per epoch, from history rows whose metrics are logged as ``val_acc`` or
    ``val/acc``; metrics logged at different steps of one epoch are merged."""
    frame = pd.DataFrame.from_records([dict(row) for row in rows])
    frame.columns = [str(c).replace("/", "_") for c in frame.columns]
    if "epoch" not in frame.columns:
        return None
    frame = frame[[c for c in HISTORY_COLUMNS if c in frame.columns]]
    frame = frame.dropna(subset=["epoch"]).astype({"epoch": "int64"})
    return frame.groupby("epoch", as_index=False).last()
