"""Which runs enter the propensity exponent, with what core size, in which seed cluster, and
at which widths the null hypothesis can hold (section 4.2).

A run's core size is |omega| = ED x |theta| (section 4.2), read where its pruning
trajectory first degrades (section 3.2). Three kinds of run need a decision:

- **Never degraded.** The trajectory ends without losing more than the threshold, and the
  record reports the last level's density (0 under the paper's schedule, ``min_density``
  under ``remaining``). The run's true ED is *at most* that density: an upper bound, not a
  measurement. Such runs are left out of the fit and counted per width (no censored
  regression: its per-cluster slopes would need a likelihood per cluster of a few runs).
  Leaving them out makes the fit conditional on degrading; where they pile up at one end
  of the widths the counts say so.
- **Zero core.** The run degrades at the last level, density 0: it still passed one step
  above (``ed_last_pass``), so its core is read there, one pruning step up, instead of being
  dropped (dropping would remove the most prunable runs and push b up). Counted per width.
- **No ED at all** (missing, or ``ed_last_pass`` missing where it is needed): left out and
  counted.

The null core of a run is its 1x twin's core (same init and seeds, as in
`propensity.analysis.null_hypothesis`). A width is *uncapped* when every run there with a
twin has more weights than the twin's core: only there can a constant core show as b = 0,
since a model smaller than the core keeps at most all of its weights and the null then
predicts b = 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from propensity.analysis.model_types import complete_runs, width_label
from propensity.analysis.null_hypothesis import PAIR_KEYS, REFERENCE_WIDTH
from propensity.pruning.effective_density import TOLERANCE

ENTERED = "entered"
NEVER_DEGRADED = "never degraded: ED at most the last level's density (an upper bound), left out"
ZERO_CORE = "zero core: degraded at density 0, core read at ed_last_pass (one step up)"
NO_CORE = "no core: ED or ed_last_pass missing, left out"
# The seed clusters, by what the runs of a group vary.
BY_DATA_SEED = "data seed"
BY_INIT_SEED = "init seed, on one data split"

CORE_COLUMNS = ["run_key", "model_type", "init", "width", "init_seed", "data_seed",
                "total_weights", "core_size", "bound", "entry", "null_core", "null_capped"]


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].astype("boolean").fillna(False).astype(bool)


def core_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per complete run (`CORE_COLUMNS`): its core size where it enters the fit
    (``entry`` == ``'entered'`` or the zero-core reading), NaN otherwise with the reason in
    ``entry``; ``bound`` is ED x total, the reported core (an upper bound for a run that
    never degraded); ``null_core`` is its 1x twin's core and ``null_capped`` whether this
    run's total weights are at most that (the null then predicts the whole model).

    Reads ``effective_density``, ``ed_last_pass`` and ``never_degraded``; a table whose
    other measure (threshold, method) is wanted puts its columns under these names first.
    """
    done = complete_runs(runs)
    if done.empty:
        return pd.DataFrame(columns=CORE_COLUMNS)
    total = done["total_weights"].astype(float)
    ed = done["effective_density"].astype(float)
    last_pass = done.get("ed_last_pass", pd.Series(np.nan, index=done.index)).astype(float)
    never = _flag(done, "never_degraded")
    zero = ~never & (ed <= 0) & (last_pass > 0)
    entry = np.select([never, zero, ed > 0], [NEVER_DEGRADED, ZERO_CORE, ENTERED], NO_CORE)
    frame = done.assign(
        total_weights=total,
        width=done["width"].astype(float),
        bound=ed * total,
        core_size=np.where(zero, last_pass * total, np.where(entry == ENTERED, ed * total, np.nan)),
        entry=entry,
    )
    frame = _with_null_core(frame)
    return frame[CORE_COLUMNS].reset_index(drop=True)


def _with_null_core(frame: pd.DataFrame) -> pd.DataFrame:
    """Add each run's 1x twin's core (its fitted core, else its reported bound) and whether
    the run is capped by it."""
    keys = ["model_type", *PAIR_KEYS]
    reference = frame[np.isclose(frame["width"], REFERENCE_WIDTH)]
    twin_core = reference["core_size"].fillna(reference["bound"])
    twins = reference.assign(null_core=twin_core)[[*keys, "null_core"]]
    twins = twins.drop_duplicates(subset=keys, keep=False)  # ambiguous twins pair with none
    merged = frame.reset_index(drop=True).merge(twins, on=keys, how="left")
    merged["null_capped"] = merged["total_weights"] <= merged["null_core"]
    return merged


def uncapped_widths(group: pd.DataFrame) -> list[float]:
    """The widths of `group` (a `core_frame` slice) where the null can show as b = 0: at
    least one run there has a 1x twin, and no run there is capped by its twin's core."""
    twinned = group[group["null_core"].notna()]
    capped = twinned.groupby("width")["null_capped"].any()
    return sorted(float(w) for w, is_capped in capped.items() if not is_capped)


def seed_clusters(group: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Each run's seed cluster and what it is. The validation split that ED is read on is
    drawn by the data seed alone, so runs sharing a data seed share it: the data seed is the
    cluster wherever the runs vary it. Where every run has one data seed there is one split,
    and the init seeds are the clusters: the interval is then conditional on that split."""
    if group["data_seed"].nunique(dropna=False) >= 2:
        return group["data_seed"].astype("Int64").astype(str).to_numpy(), BY_DATA_SEED
    return group["init_seed"].astype("Int64").astype(str).to_numpy(), BY_INIT_SEED


def entry_counts(group: pd.DataFrame) -> str:
    """Per width, how many runs never degraded and how many were read at their zero-core
    step (zeros included, so the note says what was checked), then any left out without a
    core, e.g. ``never degraded ...: 0.1x 0, 1x 2; zero core ...: 0.1x 1, 1x 0``."""
    widths = sorted(group["width"].unique())
    said = []
    for reason in (NEVER_DEGRADED, ZERO_CORE, NO_CORE):
        per_width = group[group["entry"] == reason].groupby("width").size()
        if reason == NO_CORE and per_width.empty:
            continue
        counts = ", ".join(f"{width_label(float(w))} {int(per_width.get(w, 0))}" for w in widths)
        said.append(f"{reason}: {counts}")
    return "; ".join(said)


def degradation_by_threshold(
    runs: pd.DataFrame, trajectories: pd.DataFrame, thresholds: list[float]
) -> dict[float, pd.DataFrame]:
    """Per threshold, each run's ``effective_density``, ``ed_last_pass`` and
    ``never_degraded`` read from its own method's trajectory in its own threshold mode, by
    the rule of `propensity.pruning.effective_density.degradation` (the first level whose
    drop exceeds the threshold; none: the last level, never degraded), for all runs at once.
    """
    needed = {"run_key", "method", "level", "density", "val_acc"}
    if trajectories is None or not needed <= set(trajectories.columns) or runs.empty:
        return {}
    own = runs[["run_key"]].assign(
        method=runs.get("pruning_method", pd.Series("magnitude", index=runs.index)).fillna("magnitude"),
        mode=runs.get("threshold_mode", pd.Series("absolute", index=runs.index)).fillna("absolute"),
    )
    walk = trajectories.merge(own, on=["run_key", "method"]).sort_values(["run_key", "level"])
    walk = walk.reset_index(drop=True)
    step = walk.groupby("run_key").cumcount().to_numpy()
    first = walk.groupby("run_key")[["val_acc"]].transform("first")["val_acc"].to_numpy()
    drop = first - walk["val_acc"].to_numpy()
    rise = np.zeros(len(walk))
    if "val_loss" in walk.columns:
        rise = walk["val_loss"].to_numpy() - walk.groupby("run_key")["val_loss"].transform("first").to_numpy()
    mode = walk["mode"].to_numpy()
    previous = walk.groupby("run_key")["density"].shift(1).to_numpy()
    last = walk.groupby("run_key")["density"].last()
    out = {}
    for threshold in thresholds:
        exceeded = np.select(
            [mode == "relative", mode == "loss"],
            [drop > threshold * first + TOLERANCE, rise > threshold + TOLERANCE],
            drop > threshold + TOLERANCE,
        )
        crossing = walk[(step > 0) & exceeded].assign(ed_last_pass=previous[(step > 0) & exceeded])
        crossing = crossing.groupby("run_key").first()
        table = pd.DataFrame({"effective_density": last, "ed_last_pass": last, "never_degraded": True})
        table.loc[crossing.index, "effective_density"] = crossing["density"]
        table.loc[crossing.index, "ed_last_pass"] = crossing["ed_last_pass"]
        table.loc[crossing.index, "never_degraded"] = False
        out[float(threshold)] = table.rename_axis("run_key").reset_index()
    return out
