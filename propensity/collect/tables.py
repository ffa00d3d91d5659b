"""The result tables, their shape, and the rules shared by every source of runs.

A source (a results directory, a W&B project) turns each run into a `Found`: a validated
`RunRecord` plus, possibly, its trajectory and history frames. `build` de-duplicates them
and assembles `CollectedResults`; `CollectedResults.write` and `load` move it to and from
parquet. The column schema is documented in `propensity.collect`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import pandas as pd

from propensity.storage.atomic import write_atomic, write_text_atomic
from propensity.storage.records import RunRecord, conforms

log = logging.getLogger("propensity.collect")

FILES = {
    "runs": "runs.parquet",
    "trajectories": "trajectories.parquet",
    "histories": "histories.parquet",
}
TRAJECTORY_COLUMNS = ["method", "level", "density", "remaining_weights", "val_acc", "val_loss"]
HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"]
# One row per run and retraining regime (``RunRecord.ed_by_regime``), keyed like the runs. A
# table of its own, not columns of runs.parquet: a regime's fields share their names with the
# run's (``effective_density``), and a regime name would read as a pruning method there.
REGIMES_FILE = "regimes.parquet"
REGIME_COLUMNS = ["run_key", "regime", "effective_density", "ed_last_pass", "level",
                  "unpruned_weights", "never_degraded", "matching_density", "base_val_acc",
                  "levels_measured"]
# One row per run, retraining branch and level (each branch's ``levels.csv``, see
# `propensity.run.branches`): the retrained trajectories the regimes' EDs are read from.
REGIME_LEVELS_FILE = "regime_levels.parquet"
REGIME_LEVEL_COLUMNS = ["branch", "branch_key", "level", "density", "remaining_weights", "val_acc",
                        "val_loss", "train_acc", "train_loss", "test_acc", "test_loss", "epochs"]
# What the collection left out or found wrong, one message a line, beside the tables, so the
# report can list unreadable records after the collection's stderr is gone.
PROBLEMS_FILE = "collect_problems.txt"
STATUS_ORDER = ["finished", "max_epochs_reached", "diverged", "failed", "running"]

_HINTS = get_type_hints(RunRecord)
# Fields of the record that are not columns of runs.parquet: mappings (two are flattened
# into columns of their own) and the traceback, which `error` summarises.
_DROPPED = {name for name, hint in _HINTS.items() if get_origin(hint) is dict} | {"traceback"}
SCALAR_FIELDS = [f.name for f in dataclasses.fields(RunRecord) if f.name not in _DROPPED]
_DTYPES = {int: "Int64", float: "float64", bool: "boolean"}

# Reads a run's (trajectory, history), reporting into the list it is given.
TablesReader = Callable[[list[str]], tuple[pd.DataFrame | None, pd.DataFrame | None]]


@dataclass
class Found:
    """One run as read from a source, before de-duplication."""

    record: RunRecord
    run_dir: str
    # Called only for the copy that is kept, so a discarded duplicate is never read.
    read_tables: TablesReader
    # The retraining branches' level rows (None: the source keeps none).
    read_levels: Callable[[list[str]], pd.DataFrame | None] | None = None


@dataclass
class CollectedResults:
    """The runs, trajectories, histories and retraining regimes of one collection, and what
    went wrong in it."""

    runs: pd.DataFrame
    trajectories: pd.DataFrame
    histories: pd.DataFrame
    regimes: pd.DataFrame = field(default_factory=lambda: regimes_frame([]))
    regime_levels: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["run_key", *REGIME_LEVEL_COLUMNS]))
    problems: list[str] = field(default_factory=list)
    source: str = ""
    skipped: int = 0
    duplicates: int = 0

    def summary(self) -> str:
        """One line: how many runs, by status, from where, and what was left out."""
        counts = Counter(self.runs["status"]) if len(self.runs) else Counter()
        order = STATUS_ORDER + sorted(set(counts) - set(STATUS_ORDER))
        by_status = ", ".join(f"{counts[s]} {s}" for s in order if counts[s])
        return (
            f"collected {len(self.runs)} runs ({by_status or 'none'}) from {self.source}; "
            f"skipped {self.skipped} unreadable; {self.duplicates} duplicates"
        )

    def write(self, out: str | Path) -> None:
        """Write the tables to `out`, each atomically (`propensity.storage.atomic`)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {**FILES, "regimes": REGIMES_FILE, "regime_levels": REGIME_LEVELS_FILE}
        for name in ("trajectories", "histories", "regimes", "regime_levels", "runs"):
            frame = getattr(self, name)
            write_atomic(out / paths[name], lambda tmp, frame=frame: frame.to_parquet(tmp, index=False))
        write_text_atomic(out / PROBLEMS_FILE, "".join(f"{p}\n" for p in self.problems))


def load(directory: str | Path) -> CollectedResults:
    """Read back the tables that `collect` wrote to `directory` (tables collected before the
    regimes table existed read back with an empty one)."""
    directory = Path(directory)
    missing = [name for name in FILES.values() if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{directory} holds no collected results: missing {missing}")
    frames = {key: pd.read_parquet(directory / name) for key, name in FILES.items()}
    regimes = directory / REGIMES_FILE
    frames["regimes"] = pd.read_parquet(regimes) if regimes.is_file() else regimes_frame([])
    levels = directory / REGIME_LEVELS_FILE
    if levels.is_file():
        frames["regime_levels"] = pd.read_parquet(levels)
    problems_file = directory / PROBLEMS_FILE
    problems = problems_file.read_text().splitlines() if problems_file.is_file() else []
    skipped = sum(p.startswith("skipped ") for p in problems)
    return CollectedResults(**frames, problems=problems, source=str(directory), skipped=skipped)


def report(problems: list[str], message: str) -> None:
    """Log one problem on one line and keep it for `CollectedResults.problems`."""
    log.warning(message)
    problems.append(message)


def one_line(error: BaseException) -> str:
    """An exception as ``Type: first line of its message``."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def record_from_json(data: Any) -> RunRecord:
    """A `RunRecord` from parsed JSON, or ValueError naming the first field of the wrong type."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    for name in ("run_key", "experiment"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise ValueError(f"{name} is missing or not a non-empty string")
    return RunRecord.from_dict(data)  # every field's type, checked once (`records.conforms`)


def fits(name: str, value: Any) -> bool:
    """Whether `value` has the type of the record's field `name`."""
    return name in _HINTS and conforms(value, _HINTS[name])


def order_columns(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`frame` with the `columns` it has first, in that order, then the rest."""
    known = [c for c in columns if c in frame.columns]
    return frame[known + [c for c in frame.columns if c not in known]]



def run_row(record: RunRecord, run_dir: str) -> dict[str, Any]:
    """One row of runs.parquet: scalar fields, run_dir, then ED per threshold and per method."""
    row: dict[str, Any] = {name: getattr(record, name) for name in SCALAR_FIELDS}
    row["run_dir"] = run_dir
    for key in sorted(record.ed_by_threshold, key=_numeric_first):
        row[f"ed_{key}"] = record.ed_by_threshold[key]
    for method in sorted(record.ed_by_method):
        for name, value in record.ed_by_method[method].items():
            column = f"{name}_{method}"
            if column not in row and (value is None or isinstance(value, (str, int, float, bool))):
                row[column] = value
    return row


def regime_rows(record: RunRecord) -> list[dict[str, Any]]:
    """Rows of regimes.parquet: one per entry of the record's ``ed_by_regime``, its scalar
    fields under their own names (a mapping or list inside an entry is dropped)."""
    rows = []
    for regime, summary in record.ed_by_regime.items():
        row: dict[str, Any] = {"run_key": record.run_key, "regime": regime}
        for name, value in summary.items():
            if name not in row and (value is None or isinstance(value, (str, int, float, bool))):
                row[name] = value
        rows.append(row)
    return rows


def regimes_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """regimes.parquet from `regime_rows`: `REGIME_COLUMNS` first, then any other field an
    entry carried; nullable integer and boolean columns, as in runs.parquet."""
    columns = list(REGIME_COLUMNS)
    for row in rows:
        columns += [c for c in row if c not in columns]
    data = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        data[column] = pd.Series(values, dtype=_dtype(column, values) if rows else "object")
    return pd.DataFrame(data, columns=columns)


def _numeric_first(key: str) -> tuple[int, float, str]:
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


def _rank(found: Found) -> tuple[int, str, str]:
    record = found.record
    status = STATUS_ORDER.index(record.status) if record.status in STATUS_ORDER else 99
    return (-status, record.finished_at or "", record.started_at or "")


def build(found: list[Found], problems: list[str], source: str, skipped: int) -> CollectedResults:
    """Keep the most complete copy of every run_key and assemble the tables."""
    by_key: dict[str, list[Found]] = {}
    for item in found:
        by_key.setdefault(item.record.run_key, []).append(item)
    rows, regimes, trajectories, histories, levels, duplicates = [], [], [], [], [], 0
    for run_key, copies in by_key.items():
        kept = max(copies, key=_rank)  # ties keep the first copy found
        for other in copies:
            if other is not kept:
                duplicates += 1
                report(
                    problems,
                    f"duplicate run {run_key}: kept {kept.run_dir} "
                    f"({kept.record.status}), ignored {other.run_dir} "
                    f"({other.record.status})",
                )
        rows.append(run_row(kept.record, kept.run_dir))
        regimes += regime_rows(kept.record)
        trajectory, history = kept.read_tables(problems)
        branch_levels = kept.read_levels(problems) if kept.read_levels is not None else None
        for frame, into in ((trajectory, trajectories), (history, histories), (branch_levels, levels)):
            if frame is not None and len(frame):
                into.append(frame.assign(run_key=run_key)[["run_key", *frame.columns]])
    return CollectedResults(
        runs=_runs_frame(rows),
        trajectories=_concat(trajectories, TRAJECTORY_COLUMNS),
        histories=_concat(histories, HISTORY_COLUMNS),
        regimes=regimes_frame(regimes),
        regime_levels=_concat(levels, REGIME_LEVEL_COLUMNS),
        problems=problems,
        source=source,
        skipped=skipped,
        duplicates=duplicates,
    )


def _runs_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = [*SCALAR_FIELDS, "run_dir"]
    for row in rows:
        columns += [c for c in row if c not in columns]
    data = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        data[column] = pd.Series(values, dtype=_dtype(column, values))
    return pd.DataFrame(data, columns=columns)


def _dtype(column: str, values: list[Any]) -> str | None:
    """Nullable dtypes so that an int column with a missing value stays int in parquet."""
    hint = _HINTS.get(column)
    args = [a for a in get_args(hint) if a is not type(None)] if hint is not None else []
    if len(args) == 1 and args[0] in _DTYPES:
        return _DTYPES[args[0]]
    present = [v for v in values if v is not None]
    if not present:
        return "object" if hint is None else None
    for kind in (bool, int):
        if all(type(v) is kind for v in present):
            return _DTYPES[kind]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float64"
    return None


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ["run_key", *columns]})
    return pd.concat(frames, ignore_index=True)
