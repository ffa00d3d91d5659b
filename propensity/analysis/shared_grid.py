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


def _start_is_magnitude(coarse: pd.DataFrame, magnitude: pd.DataFrame) -> bool:
    """Whether edge-popup's start accuracies equal magnitude's wherever both have a density."""
    if "start_val_acc" not in coarse.columns or coarse["start_val_acc"].isna().any():
        return False
    both = coarse.merge(magnitude, on="density", suffixes=("", "_magnitude"))
    return bool(np.allclose(both["start_val_acc"], both["val_acc_magnitude"], atol=1e-9))


def read_at(trajectory: pd.DataFrame, densities: np.ndarray) -> pd.DataFrame:
    """The rows of `trajectory` read at each of `densities`: the nearest level at or above d
    (within `GRID_TOLERANCE`); NaN where the trajectory stops above d."""
    ordered = trajectory.sort_values("density")
    rows = []
    for d in densities:
        above = ordered[ordered["density"] >= d - GRID_TOLERANCE]
        if above.empty or ordered["density"].min() > d + GRID_TOLERANCE:  # never got to d
            rows.append({"density": d, "val_acc": np.nan, "val_loss": np.nan})
        else:
            row = above.iloc[0]
            rows.append({"density": d, "val_acc": row["val_acc"], "val_loss": row["val_loss"]})
    return pd.DataFrame(rows)


def _ed(levels: pd.DataFrame, threshold: float, mode: str) -> float:
    usable = levels["val_loss" if mode == "loss" else "val_acc"].notna().to_numpy()
    levels = levels[np.logical_and.accumulate(usable)]  # stop at the first unreadable level
    if levels.empty:
        return np.nan
    trajectory = Trajectory(
        level=list(range(len(levels))),
        density=levels["density"].tolist(),
        remaining_weights=[0] * len(levels),
        val_acc=levels["val_acc"].tolist(),
        val_loss=levels["val_loss"].tolist(),
    )
    ed = degradation(trajectory, threshold, mode).effective_density  # type: ignore[arg-type]
    return round(ed, 12)  # the grid's densities are ratios of counts: drop float noise


def shared_grid_frame(runs: pd.DataFrame, trajectories: pd.DataFrame) -> pd.DataFrame:
    """One row per complete run and method with a trajectory: its ED on the run's shared grid.

    Columns: run_key, model_type, width, method, shared_ed, fine_ed (the run's recorded ED of
    that method, on its own grid), grid (the shared densities, e.g. ``'0.9, 0.7, ...'``) and
    source (``exact`` or ``own``, see the module's docstring).
    """
    done = complete_runs(runs)
    if done.empty or trajectories.empty or "method" not in trajectories.columns:
        return pd.DataFrame(columns=COLUMNS)
    by_run = dict(tuple(trajectories[trajectories["run_key"].isin(done["run_key"])].groupby("run_key")))
    rows = []
    for run in done.itertuples(index=False):
        traj = by_run.get(run.run_key)
        if traj is None:
            continue
        methods = dict(tuple(traj.groupby("method")))
        coarsest = min(methods, key=lambda m: (len(methods[m]), m != COARSE, _rank(m)))
        grid = methods[coarsest].sort_values("density", ascending=False)
        densities = grid.loc[grid["density"] < 1, "density"].to_numpy()
        exact = coarsest == COARSE and REFERENCE in methods and _start_is_magnitude(grid, methods[REFERENCE])
        for method, own in methods.items():
            base = own.loc[own["level"] == own["level"].min(), ["density", "val_acc", "val_loss"]]
            source = OWN
            if method == coarsest:
                levels = grid[["density", "val_acc", "val_loss"]]
            elif method == REFERENCE and exact and str(run.threshold_mode) != "loss":
                at = grid[grid["density"] < 1]
                read = pd.DataFrame({"density": at["density"], "val_acc": at["start_val_acc"]})
                levels = pd.concat([base, read.assign(val_loss=np.nan)], ignore_index=True)
                source = EXACT
            else:
                levels = pd.concat([base, read_at(own, densities)], ignore_index=True)
            fine = getattr(run, f"effective_density_{method}", np.nan)
            if method == getattr(run, "pruning_method", REFERENCE) and pd.isna(fine):
                fine = run.effective_density
            rows.append(
                {
                    "run_key": run.run_key,
                    "model_type": run.model_type,
                    "width": float(run.width),
                    "method": method,
                    "shared_ed": _ed(levels, float(run.threshold), str(run.threshold_mode)),
                    "fine_ed": float(fine) if fine is not None and pd.notna(fine) else np.nan,
                    "grid": ", ".join(f"{d:.3g}" for d in densities),
                    "source": source,
                }
            )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["_order"] = frame["method"].map(_rank)
    frame = frame.sort_values(["model_type", "width", "_order", "run_key"])
    return frame.drop(columns="_order").reset_index(drop=True)


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
