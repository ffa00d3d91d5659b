"""Pruning methods compared on one grid of densities (sections 3.2 and 6).

Effective density is the first density of a trajectory at which accuracy drops by more than
the threshold (section 3.2), so it can only take a density the trajectory evaluated: a method
evaluated on a coarser grid reports a lower ED for that reason alone. Magnitude, random and
global magnitude pruning step 2% at a time; edge-popup is trained only at
``pruning.edge_popup.densities`` (0.9 ... 0.05). To compare methods, every method of a run is
read on the run's *shared grid*: the densities of its coarsest trajectory (edge-popup's,
when it ran), and its ED recomputed there with the run's own threshold and mode
(`propensity.pruning.effective_density.degradation`).

How a method's accuracy at a shared density d is read, in order of preference:

1. ``exact``: edge-popup starts from the layer-wise magnitude mask of each density
   (``score_init="magnitude"``) and records that mask's accuracy (``start_val_acc``), so
   magnitude's accuracy at exactly d is in the run. It is used only where it agrees with
   magnitude's own trajectory at every density both evaluated (else the start was not the
   magnitude mask).
2. ``own``: the method's own trajectory, at d itself (the coarsest method), or at its level
   nearest to d *at or above* it (denser, within `GRID_TOLERANCE` counting as "at"): the
   accuracy of the sparsest level that keeps at least d of the weights. Per-layer rounding
   puts the 2% grid on 0.9, 0.7, 0.5, 0.3, 0.2 and 0.1 exactly; 0.05 reads level 0.06.

The fine-grid magnitude ED (Table 2's) is unchanged and reported beside (`fine_ed`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from propensity.analysis.methods import METHOD_ORDER, REFERENCE, paired_test
from propensity.analysis.model_types import complete_runs
from propensity.analysis.significance import holm, mean_ci
from propensity.pruning.effective_density import degradation
from propensity.pruning.trajectory import Trajectory

COARSE = "edge_popup"
# A level within half a point of d counts as at d: far above per-layer rounding (at most a
# weight per layer), far below the 2% step.
GRID_TOLERANCE = 0.005
EXACT, OWN = "exact", "own"


def _rank(method: str) -> int:
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


COLUMNS = ["run_key", "model_type", "width", "method", "shared_ed", "fine_ed", "grid", "source"]


STEP_COLUMNS = ["run_key", "method", "level", "density", "val_acc", "val_loss", "start_val_acc"]


def _read(own: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """`points` (run_key, method, density d, any further columns) with the val_acc and
    val_loss of the level of `own` (the same run and method) nearest to d at or above it,
    within `GRID_TOLERANCE`; NaN where that trajectory never got to d.

    One `pandas.merge_asof` for every run and method at once: forward from d - tolerance
    is the least density at or above it."""
    keys = ["run_key", "method"]
    right = own[[*keys, "density", "val_acc", "val_loss"]].rename(columns={"density": "at"})
    right = right.dropna(subset=["at"]).sort_values("at", kind="stable")
    left = points.assign(at=points["density"] - GRID_TOLERANCE).reset_index(names="_row")
    read = pd.merge_asof(left.sort_values("at", kind="stable"), right, on="at", by=keys,
                         direction="forward").sort_values("_row")
    lowest = own.groupby(keys, sort=False)["density"].min().rename("_lowest")
    read = read.join(lowest, on=keys)
    never = read["_lowest"].isna() | (read["_lowest"] > read["density"] + GRID_TOLERANCE)
    read.loc[never.to_numpy(), ["val_acc", "val_loss"]] = np.nan
    return read.drop(columns=["at", "_row", "_lowest"]).set_index(points.index)


def read_at(trajectory: pd.DataFrame, densities: np.ndarray) -> pd.DataFrame:
    """The rows of `trajectory` read at each of `densities`: the nearest level at or above d
    (within `GRID_TOLERANCE`); NaN where the trajectory stops above d."""
    own = trajectory[["density", "val_acc", "val_loss"]].astype(float).assign(run_key="", method="")
    points = pd.DataFrame({"run_key": "", "method": "", "density": np.asarray(densities, dtype=float)})
    return _read(own, points)[["density", "val_acc", "val_loss"]].reset_index(drop=True)


def _ed(density: np.ndarray, acc: np.ndarray, loss: np.ndarray, threshold: float, mode: str) -> float:
    usable = np.logical_and.accumulate(~np.isnan(loss if mode == "loss" else acc))
    if not usable.any():  # stop at the first unreadable level
        return np.nan
    n = int(usable.sum())
    trajectory = Trajectory(
        level=list(range(n)),
        density=density[:n].tolist(),
        remaining_weights=[0] * n,
        val_acc=acc[:n].tolist(),
        val_loss=loss[:n].tolist(),
    )
    ed = degradation(trajectory, threshold, mode).effective_density  # type: ignore[arg-type]
    return round(ed, 12)  # the grid's densities are ratios of counts: drop float noise


def _coarsest(steps: pd.DataFrame) -> pd.DataFrame:
    """Per run, the method with the fewest levels (edge-popup first among equals, then the
    registry's order, then the name): the run's shared grid. Columns: run_key, coarsest."""
    sizes = steps.groupby(["run_key", "method"], sort=True).size().rename("rows").reset_index()
    sizes["not_coarse"] = sizes["method"] != COARSE
    sizes["rank"] = sizes["method"].map(_rank)
    first = sizes.sort_values(["run_key", "rows", "not_coarse", "rank", "method"], kind="stable")
    return first.drop_duplicates("run_key")[["run_key", "method"]].rename(columns={"method": "coarsest"})


def _exact_runs(grid: pd.DataFrame, steps: pd.DataFrame) -> set[str]:
    """Runs whose coarsest trajectory is edge-popup's with a start accuracy on every level
    that equals magnitude's wherever both evaluated a density (see the module docstring)."""
    popup = grid[grid["coarsest"] == COARSE]
    complete = popup.groupby("run_key")["start_val_acc"].apply(lambda s: s.notna().all())
    candidates = complete[complete].index
    magnitude = steps[(steps["method"] == REFERENCE) & steps["run_key"].isin(candidates)]
    both = popup[popup["run_key"].isin(candidates)].merge(
        magnitude[["run_key", "density", "val_acc"]], on=["run_key", "density"],
        suffixes=("", "_magnitude"),
    )
    agree = np.isclose(both["start_val_acc"], both["val_acc_magnitude"], atol=1e-9, rtol=1e-5)
    with_magnitude = set(magnitude["run_key"]) - set(both.loc[~agree, "run_key"])
    return {key for key in candidates if key in with_magnitude}


def shared_grid_frame(runs: pd.DataFrame, trajectories: pd.DataFrame) -> pd.DataFrame:
    """One row per complete run and method with a trajectory: its ED on the run's shared grid.

    Columns: run_key, model_type, width, method, shared_ed, fine_ed (the run's recorded ED of
    that method, on its own grid), grid (the shared densities, e.g. ``'0.9, 0.7, ...'``) and
    source (``exact`` or ``own``, see the module's docstring). The trajectories are grouped
    once for all runs (the grid, the readings and the exact check are joins, not a filter
    per run), so the cost grows with the rows, not with runs x rows.
    """
    done = complete_runs(runs)
    if done.empty or trajectories.empty or "method" not in trajectories.columns:
        return pd.DataFrame(columns=COLUMNS)
    steps = trajectories[trajectories["run_key"].isin(done["run_key"])]
    steps = steps.reindex(columns=STEP_COLUMNS).reset_index(drop=True)
    for column in STEP_COLUMNS[3:]:
        steps[column] = steps[column].astype(float)
    if steps.empty:
        return pd.DataFrame(columns=COLUMNS)
    steps = steps.merge(_coarsest(steps), on="run_key")
    own_grid = steps["method"] == steps["coarsest"]
    grid = steps[own_grid].sort_values(["run_key", "density"], ascending=[True, False], kind="stable")
    shared = grid[grid["density"] < 1]
    shared = shared.assign(pos=shared.groupby("run_key").cumcount() + 1)
    exact = _exact_runs(grid, steps)
    settings = done.set_index("run_key")
    mode = settings["threshold_mode"].astype(str)
    # level 0 of every method: the unpruned model each reading starts from
    first_level = steps.groupby(["run_key", "method"])["level"].transform("min")
    base = steps[(steps["level"] == first_level) & ~own_grid]
    pairs = steps.loc[~own_grid, ["run_key", "method"]].drop_duplicates()
    from_start = pairs["method"].eq(REFERENCE) & pairs["run_key"].isin(exact)
    from_start &= pairs["run_key"].map(mode).ne("loss")
    # the readings: (run, method, d) for every shared density d of the run
    points = pairs.merge(shared[["run_key", "density", "start_val_acc", "pos"]], on="run_key")
    start = points.merge(pairs[from_start], on=["run_key", "method"])
    start = start.assign(val_acc=start["start_val_acc"], val_loss=np.nan)
    others = points.merge(pairs[~from_start], on=["run_key", "method"])
    read = _read(steps[~own_grid], others[["run_key", "method", "density", "pos"]])
    levels = pd.concat(
        [
            grid.assign(pos=grid.groupby("run_key").cumcount()),
            base.assign(pos=0),
            start,
            read,
        ],
        ignore_index=True,
    )[["run_key", "method", "pos", "density", "val_acc", "val_loss"]]
    levels = levels.sort_values(["run_key", "method", "pos"], kind="stable")
    keys = levels[["run_key", "method"]].to_numpy()
    bounds = np.flatnonzero((keys[1:] != keys[:-1]).any(axis=1)) + 1
    starts, stops = np.r_[0, bounds], np.r_[bounds, len(levels)]
    density, acc, loss = (levels[c].to_numpy(dtype=float) for c in ("density", "val_acc", "val_loss"))
    threshold = settings["threshold"].astype(float).to_dict()
    mode_of = mode.to_dict()
    rows = pd.DataFrame({"run_key": keys[starts, 0], "method": keys[starts, 1]})
    rows["shared_ed"] = [
        _ed(density[a:b], acc[a:b], loss[a:b], threshold[key], mode_of[key])
        for key, a, b in zip(rows["run_key"], starts, stops, strict=True)
    ]
    coarsest = grid.drop_duplicates("run_key").set_index("run_key")["coarsest"]
    rows["source"] = np.where(
        rows["method"].eq(REFERENCE) & rows["run_key"].isin(exact) & rows["run_key"].map(mode).ne("loss")
        & rows["method"].ne(rows["run_key"].map(coarsest)),
        EXACT, OWN,
    )
    labels = shared.groupby("run_key")["density"].agg(lambda d: ", ".join(f"{x:.3g}" for x in d))
    rows["grid"] = rows["run_key"].map(labels).fillna("")
    rows["model_type"] = rows["run_key"].map(settings["model_type"])
    rows["width"] = rows["run_key"].map(settings["width"]).astype(float)
    rows["fine_ed"] = _fine_ed(rows, settings)
    frame = rows[COLUMNS].copy()
    frame["_order"] = frame["method"].map(_rank)
    frame = frame.sort_values(["model_type", "width", "_order", "run_key"])
    return frame.drop(columns="_order").reset_index(drop=True)


def _fine_ed(rows: pd.DataFrame, settings: pd.DataFrame) -> np.ndarray:
    """The ED each run recorded for each method on its own grid (the run's own method falls
    back to the unsuffixed column, for records that carry no per-method EDs)."""
    fine = np.full(len(rows), np.nan)
    own_method = settings.get("pruning_method")
    for method in rows["method"].unique():
        at = (rows["method"] == method).to_numpy()
        keys = rows.loc[at, "run_key"]
        column = f"effective_density_{method}"
        values = keys.map(settings[column]) if column in settings else pd.Series(np.nan, index=keys.index)
        values = values.astype(float)
        own = keys.map(own_method) if own_method is not None else REFERENCE
        fallback = keys.map(settings["effective_density"]).astype(float)
        fine[at] = values.where(~(values.isna() & (own == method)), fallback).to_numpy()
    return fine


def shared_grid_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model type, width and method: n, mean and std of the shared-grid ED, the mean of
    the method's own-grid ED beside it, and the grid and how the values were read."""
    rows = []
    for (model_type, width, method), group in frame.groupby(["model_type", "width", "method"], sort=False):
        shared, fine = mean_ci(group["shared_ed"]), mean_ci(group["fine_ed"])
        rows.append(
            {
                "model_type": model_type,
                "width": width,
                "method": method,
                "n": shared["n"],
                "mean_shared_ed": shared["mean"],
                "std_shared_ed": shared["std"],
                "mean_fine_ed": fine["mean"],
                "grid": " | ".join(sorted(set(group["grid"]))),
                "source": ", ".join(sorted(set(group["source"]))),
            }
        )
    return pd.DataFrame(rows)


def shared_grid_differences(frame: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Per model type, width and method, the paired t-test of its shared-grid ED against
    `reference`'s on the same runs (`paired_test`), Holm-adjusted over all rows."""
    columns = ["model_type", "width", "method", "reference", "n_pairs", "mean_diff", "std_diff"]
    columns += ["t", "p", "df", "diff_ci_low", "diff_ci_high", "note"]
    if frame.empty or reference not in set(frame["method"]):
        return pd.DataFrame(columns=[*columns, "p_holm"])
    index = ["run_key", "model_type", "width"]
    wide = frame.pivot_table(index=index, columns="method", values="shared_ed", aggfunc="first")
    wide = wide.reset_index()
    methods = sorted(set(frame["method"]) - {reference}, key=_rank)
    rows = []
    for (model_type, width), group in wide.groupby(["model_type", "width"], sort=True):
        for method in methods:
            if method in group.columns:
                test = paired_test(group[method], group[reference])
                keys = {"model_type": model_type, "width": width, "method": method}
                rows.append({**keys, "reference": reference, **test})
    table = pd.DataFrame(rows, columns=columns)
    table["p_holm"] = holm(table["p"]) if len(table) else []
    return table
