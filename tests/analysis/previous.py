"""The analyses as they were before the report was made to scale, kept verbatim as the
reference the faster versions must reproduce exactly (tests/analysis/test_faster_analyses.py).

Shared grid: a filter and a per-density loop per run; similarity: one permutation at a time
over every pair; overlap: a full stable sort per layer; activations: one frame per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from propensity.analysis.activations import STATISTICS
from propensity.analysis.methods import REFERENCE
from propensity.analysis.model_types import complete_runs
from propensity.analysis.shared_grid import COARSE, COLUMNS, EXACT, GRID_TOLERANCE, OWN, _rank
from propensity.pruning.effective_density import degradation
from propensity.pruning.masks import magnitude_order
from propensity.pruning.trajectory import Trajectory


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


def hamming_matrix(correct: np.ndarray) -> np.ndarray:
    c = np.asarray(correct, dtype=bool).astype(np.int64)
    ones = c.sum(axis=1)
    both = c @ c.T
    return ones[:, None] + ones[None, :] - 2 * both


def _pair_means(distance: np.ndarray, widths: np.ndarray) -> tuple[float, float]:
    """Mean distance over distinct pairs of equal width and over pairs of different width."""
    i, j = np.triu_indices(len(widths), k=1)
    same = widths[i] == widths[j]
    d = distance[i, j]
    within = float(d[same].mean()) if same.any() else np.nan
    across = float(d[~same].mean()) if (~same).any() else np.nan
    return within, across


def width_distance_table(correct: np.ndarray, widths: Sequence[float]) -> pd.DataFrame:
    """(width x width) mean pairwise Hamming distance; the diagonal excludes self-pairs."""
    distance = hamming_matrix(correct)
    widths = np.asarray(widths)
    levels = np.unique(widths)
    table = pd.DataFrame(index=pd.Index(levels, name="width"), columns=levels, dtype=float)
    for a in levels:
        for b in levels:
            block = distance[np.ix_(widths == a, widths == b)]
            if a == b:
                block = block[~np.eye(len(block), dtype=bool)]
            table.loc[a, b] = block.mean() if block.size else np.nan
    return table


def within_across(
    correct: np.ndarray, widths: Sequence[float], permutations: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Mean pairwise Hamming distance within and across widths, and a permutation test.

    If models of different widths implement different functions, pairs of different width
    are further apart than pairs of equal width: ``difference = across - within > 0``.
    ``p_value`` is the share of `permutations` random relabellings of the widths (seeded)
    whose difference is at least the observed one (with the +1 correction), a one-sided test
    of "width does not matter" that respects the pairwise dependence of the distances.
    """
    distance = hamming_matrix(correct)
    widths = np.asarray(widths)
    if len(widths) != len(distance):
        raise ValueError(f"{len(widths)} widths for {len(distance)} correctness vectors")
    within, across = _pair_means(distance, widths)
    observed = across - within
    rng = np.random.default_rng(seed)
    exceed = 0
    for _ in range(permutations):
        w, a = _pair_means(distance, rng.permutation(widths))
        exceed += bool(a - w >= observed - 1e-12)
    return {
        "within": within,
        "across": across,
        "difference": observed,
        "p_value": (exceed + 1) / (permutations + 1) if permutations else np.nan,
        "models": float(len(widths)),
        "images": float(np.asarray(correct).shape[1]),
    }


def lowest_fraction_mask(weight: torch.Tensor, fraction: float = 0.4) -> torch.Tensor:
    """True for the ``round(fraction * n)`` entries of smallest |w| (ties: index order).

    The ranking is the pruning sweep's (:func:`~propensity.pruning.masks.magnitude_order`),
    so "lowest 40%" here means the weights magnitude pruning would remove first.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction={fraction} must be in [0, 1], e.g. 0.4")
    flat = torch.zeros(weight.numel(), dtype=torch.bool)
    flat[magnitude_order(weight.cpu())[: round(fraction * weight.numel())]] = True
    return flat.view(weight.shape)


def layer_summary(stats: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """One row per layer of one run: unit count, dead fraction and the mean of each statistic.

    Every mean skips dead units (NaN Hoyer), so it describes the units that do something.
    """
    rows = []
    for layer, per_unit in stats.items():
        hoyer = np.asarray(per_unit["hoyer"], dtype=np.float64)
        alive = ~np.isnan(hoyer)
        row: dict[str, object] = {
            "layer": layer,
            "units": len(hoyer),
            "dead_fraction": float(1 - alive.mean()) if len(hoyer) else np.nan,
        }
        for name in STATISTICS:
            values = np.asarray(per_unit[name], dtype=np.float64)[alive]
            finite = values[~np.isnan(values)]
            row[name] = float(finite.mean()) if finite.size else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def activation_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per run and layer, the layer summary of its ``activations.npz`` (section 5.3).

    `runs` is the collected runs table; runs whose artifact is missing (artifacts were off,
    or the run did not finish) are skipped. Identity columns are carried along.
    """
    from propensity.mechanisms.artifacts import ACTIVATIONS, artifact_path, load_activation_statistics

    identity = [
        c
        for c in ("run_key", "model", "optim", "init", "width", "init_seed", "data_seed")
        if c in runs.columns
    ]
    frames = []
    for _, run in runs.iterrows():
        path = artifact_path(Path(run["run_dir"]), ACTIVATIONS)
        if not path.exists():
            continue
        summary = layer_summary(load_activation_statistics(path))
        for column in reversed(identity):
            summary.insert(0, column, run[column])
        frames.append(summary)
    if not frames:
        return pd.DataFrame(columns=[*identity, "layer", "units", "dead_fraction", *STATISTICS])
    return pd.concat(frames, ignore_index=True)
