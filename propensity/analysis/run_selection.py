"""Which runs enter the analysis, and every run left out with the reason (sections 3.2 and 4).

The paper trains every model "until the training loss reaches" its target (section 3.1)
and measures effective density on that converged model (section 3.2). A run that hit its
epoch bound first (``max_epochs_reached``) was pruned all the same, but its ED belongs to a
model the paper would not have pruned yet, so by default it is left out and counted;
``include_unconverged=True`` (``--include-unconverged`` on ``python -m propensity.report``)
puts it back. A run whose unpruned accuracy ended near chance (`propensity.analysis.chance`)
has no accuracy to lose to pruning, so its ED measures noise: it is left out too. Diverged,
failed and still-running (or interrupted) runs, finished runs without an ED, and runs whose
trajectory or history is missing or holds a NaN are always left out. Nothing is left out
silently: `select_runs` returns the excluded runs with a reason each, for the report's "Runs"
section and for the counts beside Table 2's cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from propensity.analysis.chance import near_chance, rule
from propensity.analysis.model_types import model_type_labels

CONVERGED = "finished"
UNCONVERGED = "max_epochs_reached"
# Reasons, one per way a run can be left out; `excluded` rows carry one of these first.
REASON_UNCONVERGED = "unconverged: stopped at its epoch bound before the stop rule's target"
REASON_NO_ED = "untrained or not pruned: no effective density"
REASON_UNREADABLE = "unreadable record"
REASON_NEAR_CHANCE = f"near chance: {rule()}"
EXCLUDED_COLUMNS = ["run_key", "reason", "status", "model_type", "width", "where"]
# The columns whose NaN makes a trajectory or history unusable (others may be NaN by design,
# e.g. `start_val_acc` exists for edge-popup rows only).
TRAJECTORY_VALUES = ("density", "val_acc")
HISTORY_VALUES = ("train_loss", "val_loss")


@dataclass(frozen=True)
class RunSelection:
    """The runs that enter the analysis (`kept`, the runs table's rows and columns plus
    `model_type`) and those left out (`excluded`: `EXCLUDED_COLUMNS`, one row per run)."""

    kept: pd.DataFrame
    excluded: pd.DataFrame
    include_unconverged: bool

    def unconverged_counts(self) -> pd.Series:
        """Unconverged runs left out per (model_type, width); empty when they were kept."""
        unconverged = self.excluded[self.excluded["reason"] == REASON_UNCONVERGED]
        return unconverged.groupby(["model_type", "width"]).size().rename("n_unconverged")

    def note(self) -> str:
        """One line for a caption: how many runs are left out and how to put them back."""
        if self.excluded.empty:
            return "No run left out."
        unconverged = int((self.excluded["reason"] == REASON_UNCONVERGED).sum())
        chance = int((self.excluded["reason"] == REASON_NEAR_CHANCE).sum())
        other = len(self.excluded) - unconverged - chance
        parts = []
        if unconverged:
            parts.append(
                f"{unconverged} unconverged run(s) left out (`--include-unconverged` puts them back)"
            )
        if chance:
            parts.append(f"{chance} run(s) near chance left out ({rule()})")
        if other:
            parts.append(f"{other} other run(s) left out (see Runs)")
        return "; ".join(parts) + "."


def _status_reason(status: str, error: object) -> str | None:
    if status == CONVERGED:
        return None
    if status == UNCONVERGED:
        return REASON_UNCONVERGED
    if status == "diverged":
        return "diverged"
    if status == "failed":
        return f"failed: {error}" if isinstance(error, str) and error else "failed"
    if status == "running":
        return "interrupted or still running (status running)"
    return f"status {status!r}"


def _nan_or_missing(
    run_keys: pd.Series, frame: pd.DataFrame | None, values: Sequence[str], name: str
) -> dict[str, str]:
    """run_key -> why its `name` file is unusable: no rows at all, or a NaN in `values`."""
    if frame is None:
        return {}
    present = set(frame["run_key"]) if "run_key" in frame.columns else set()
    reasons = {key: f"missing {name}" for key in run_keys if key not in present}
    columns = [c for c in values if c in frame.columns]
    if columns and len(frame):
        nan_rows = frame[frame[columns].isna().any(axis=1)]
        for key, rows in nan_rows.groupby("run_key", sort=False):
            bad = [c for c in columns if rows[c].isna().any()]
            reasons.setdefault(str(key), f"NaN in {name} ({', '.join(bad)})")
    return reasons


def _in_collectors_words(
    reason: str, name: str, runs: pd.DataFrame, key: str, problems: Sequence[str]
) -> str:
    """The collector's message about this run's `name` file, if a missing file has one."""
    if not reason.startswith("missing") or "run_dir" not in runs.columns:
        return reason
    run_dir = runs.loc[runs["run_key"] == key, "run_dir"].astype(str).iloc[0]
    path = f"{run_dir.rstrip('/')}/{name}"
    said = [p for p in problems if path in p and not p.startswith("skipped ")]
    return said[0] if said else reason


def select_runs(
    runs: pd.DataFrame,
    include_unconverged: bool = False,
    trajectories: pd.DataFrame | None = None,
    histories: pd.DataFrame | None = None,
    problems: Sequence[str] = (),
) -> RunSelection:
    """Split the runs table into the runs analysed and the runs left out, with reasons.

    Kept: status ``finished`` (plus ``max_epochs_reached`` when `include_unconverged`) with
    an effective density, not near chance (`propensity.analysis.chance`), and, where
    `trajectories` / `histories` are given, rows in both with no NaN in `TRAJECTORY_VALUES` /
    `HISTORY_VALUES`. `problems` are the collector's
    messages (`propensity.collect.CollectedResults.problems`): each record it skipped
    (``skipped PATH: ...``) becomes an excluded row without a run_key, and a run whose file
    is missing says why in the collector's words where it has some (``unreadable PATH:
    ...``). A run gets its first reason only: status, then ED, then near chance, then
    trajectory, then history.
    """
    missing = [c for c in ("run_key", "status", "effective_density") if c not in runs.columns]
    if missing:
        raise ValueError(f"runs table has no column {', '.join(missing)}; collect it again")
    labels = model_type_labels(runs)
    reasons: dict[str, str] = {}
    for key, status, error in zip(
        runs["run_key"],
        runs["status"],
        runs.get("error", pd.Series(None, index=runs.index)),
        strict=True,
    ):
        reason = _status_reason(str(status), error)
        if reason == REASON_UNCONVERGED and include_unconverged:
            reason = None
        if reason is not None:
            reasons[str(key)] = reason
    no_ed = runs["effective_density"].isna()
    for key in runs.loc[no_ed, "run_key"]:
        reasons.setdefault(str(key), REASON_NO_ED)
    for key in runs.loc[near_chance(runs), "run_key"]:
        reasons.setdefault(str(key), REASON_NEAR_CHANCE)
    candidates = runs.loc[~runs["run_key"].isin(list(reasons)), "run_key"]
    for frame, values, name in (
        (trajectories, TRAJECTORY_VALUES, "trajectory.csv"),
        (histories, HISTORY_VALUES, "history.csv"),
    ):
        for key, reason in _nan_or_missing(candidates, frame, values, name).items():
            reasons.setdefault(key, _in_collectors_words(reason, name, runs, key, problems))
    out = runs["run_key"].astype(str).isin(list(reasons))
    kept = runs[~out].copy()
    kept["model_type"] = labels[~out]
    left = runs[out]
    excluded = pd.DataFrame(
        {
            "run_key": left["run_key"].astype(str),
            "reason": left["run_key"].astype(str).map(reasons),
            "status": left["status"].astype(str),
            "model_type": labels[out],
            "width": left["width"].astype(float) if "width" in left else np.nan,
            "where": left["run_dir"].astype(str) if "run_dir" in left else "",
        }
    )
    skipped = [
        dict.fromkeys(EXCLUDED_COLUMNS, "")
        | {"reason": f"{REASON_UNREADABLE}: {message.removeprefix('skipped ')}", "width": np.nan}
        for message in problems
        if message.startswith("skipped ")
    ]
    if skipped:
        excluded = pd.concat([excluded, pd.DataFrame(skipped)], ignore_index=True)
    excluded = excluded.reset_index(drop=True)[EXCLUDED_COLUMNS]
    return RunSelection(kept, excluded, include_unconverged)
