"""Figures 3, 4 and 6, and ED against the threshold (sections 3.2, 4.1, 4.4).

Figure 3: pruning trajectories (mean validation accuracy per level, a std band, accuracy
against density). Figure 4: KDE of effective density per width. Figure 6: ED by width for
Glorot vs He. Beyond the paper, `ed_by_threshold` shows how ED moves when the acceptable
accuracy drop goes from 1 to 10 points, using the ED the sweep recorded at each threshold.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde

from propensity.analysis.model_types import INIT_NAMES, complete_runs
from propensity.analysis.panels import (
    POINTS_BELOW,
    errorbars_by_width,
    figure_per_model_type,
    label,
    run_points,
    say,
    width_colours,
    width_legend,
    widths_of,
)

THRESHOLD_COLUMN = re.compile(r"^ed_(\d*\.?\d+)$")
INIT_COLOURS = {"glorot": "#1b5e20", "he": "#81c784"}  # dark and light green, as in Figure 6


def pruning_trajectories(
    runs: pd.DataFrame, trajectories: pd.DataFrame, method: str = "magnitude"
) -> Figure:
    """Figure 3: validation accuracy against density, mean line and +-1 std band per width.

    Runs are aligned by pruning level (the same schedule gives the same density per level
    at one width); the x value is the mean density of the level. Where ED is read is marked
    (`threshold_marks`): a dashed line at the accuracy the threshold allows, and each run's
    ED on it.
    """
    title = (
        "Figure 3: validation accuracy against density (magnitude pruning)"
        if method == "magnitude"
        else f"Validation accuracy against density, {method} pruning (as Figure 3)"
    )
    fig, cells = figure_per_model_type(runs, title)
    colours = width_colours(widths_of(complete_runs(runs)))
    steps = (
        trajectories[trajectories["method"] == method] if "method" in trajectories else trajectories
    )
    for ax, _, group in cells:
        drawn = False
        for width in widths_of(group):
            keys = group.loc[group["width"] == width, "run_key"]
            levels = steps[steps["run_key"].isin(keys)]
            if levels.empty:
                continue
            stats = levels.groupby("level").agg(
                density=("density", "mean"), mean=("val_acc", "mean"), std=("val_acc", "std")
            )
            std = stats["std"].fillna(0.0)
            colour = colours[width]
            n = levels["run_key"].nunique()
            ax.plot(stats["density"], stats["mean"], color=colour, label=label(width, n))
            ax.fill_between(
                stats["density"],
                stats["mean"] - std,
                stats["mean"] + std,
                color=colour,
                alpha=0.25,
                linewidth=0,
            )
            threshold_marks(ax, group[group["width"] == width], levels, method, colour)
            drawn = True
        if not drawn:
            say(ax, f"no '{method}' trajectories for these runs")
            continue
        ax.set_xlim(1.0, 0.0)
        ax.set_xlabel("density (fraction of weights remaining)")
        ax.set_ylabel("validation accuracy")
        width_legend(ax)
    return fig


def threshold_accuracy(base: pd.Series, threshold: pd.Series, mode: pd.Series) -> pd.Series:
    """The accuracy below which a trajectory has degraded (section 3.2,
    `propensity.pruning.effective_density`): base - threshold (``absolute``), base x (1 -
    threshold) (``relative``); NaN for ``loss``, which no accuracy axis shows."""
    absolute = base - threshold
    relative = base * (1 - threshold)
    return absolute.where(mode == "absolute", relative.where(mode == "relative"))


def threshold_marks(
    ax: Axes, runs: pd.DataFrame, levels: pd.DataFrame, method: str, colour: object
) -> None:
    """Where ED is read on Figure 3, for the runs of one width: a dashed line from density 1 at
    the runs' mean threshold accuracy (their level-0 accuracy less the threshold) to their
    mean ED, and each run's ED as a diamond at its own threshold accuracy. Nothing for runs
    whose ED with `method` or whose threshold the runs table does not hold."""
    ed_column = f"effective_density_{method}"
    if ed_column in runs.columns:
        ed = runs[ed_column]
    elif "pruning_method" in runs.columns:
        ed = runs["effective_density"].where(runs["pruning_method"] == method)
    else:
        ed = runs["effective_density"]
    if "threshold" not in runs.columns or "threshold_mode" not in runs.columns:
        return
    base = levels.sort_values("level").groupby("run_key")["val_acc"].first()
    table = pd.DataFrame({
        "ed": pd.to_numeric(ed, errors="coerce").to_numpy(dtype=float),
        "base": runs["run_key"].map(base).to_numpy(dtype=float),
        "threshold": pd.to_numeric(runs["threshold"], errors="coerce").to_numpy(dtype=float),
        "mode": runs["threshold_mode"].astype(str).to_numpy(),
    })
    table["accuracy"] = threshold_accuracy(table["base"], table["threshold"], table["mode"])
    table = table.dropna(subset=["ed", "accuracy"])
    if table.empty:
        return
    mean_ed, mean_accuracy = table["ed"].mean(), table["accuracy"].mean()
    ax.plot([1.0, mean_ed], [mean_accuracy, mean_accuracy], "--", color=colour, linewidth=0.9)
    ax.scatter(table["ed"], table["accuracy"], marker="D", s=16, color=colour,
               edgecolors="black", linewidths=0.4, zorder=4)


def effective_density_kde(runs: pd.DataFrame, points: int = 200) -> Figure:
    """Figure 4: kernel density estimate of ED per width (scipy's `gaussian_kde`).

    A KDE needs two distinct values; a width with one run, or with identical EDs, is drawn
    as a vertical line at its value and says so in the legend instead of failing. A width of
    fewer than `POINTS_BELOW` runs also shows each run, as a circle on a strip of its own
    below the curves: a smooth curve from three values looks like more data than it is.
    """
    fig, cells = figure_per_model_type(runs, "Figure 4: distribution of effective density")
    colours = width_colours(widths_of(complete_runs(runs)))
    grid = np.linspace(0.0, 1.0, points)
    for ax, _, group in cells:
        _run_strips(ax, group, colours)
        for width in widths_of(group):
            values = group.loc[group["width"] == width, "effective_density"].astype(float)
            colour, n = colours[width], len(values)
            if n < 2 or np.ptp(values) == 0:
                ax.axvline(
                    values.iloc[0],
                    color=colour,
                    linestyle="--",
                    label=f"{label(width, n)}: all at {values.iloc[0]:.3f}, no KDE",
                )
                continue
            ax.plot(grid, gaussian_kde(values)(grid), color=colour, label=label(width, n))
        ax.set_xlabel("effective density")
        ax.set_ylabel("estimated density of runs")
        width_legend(ax)
    return fig


def _run_strips(ax: Axes, group: pd.DataFrame, colours: dict[float, tuple[float, ...]]) -> None:
    """One strip per width below Figure 4's curves, each run's ED a circle on it (widths of
    fewer than `POINTS_BELOW` runs); the strips sit below zero on the density axis."""
    shown = [w for w in widths_of(group) if (group["width"] == w).sum() < POINTS_BELOW]
    if not shown:
        return
    values = group["effective_density"].astype(float)
    peaks = [
        float(gaussian_kde(members)(np.linspace(0, 1, 200)).max())
        for width in widths_of(group)
        if (members := values[group["width"] == width]).nunique() > 1
    ]
    peak = max(peaks, default=1.0)
    step = 0.06 * peak
    for row, width in enumerate(shown, start=1):
        members = values[group["width"] == width]
        ax.scatter(members, np.full(len(members), -row * step), s=16, facecolors="none",
                   edgecolors=[colours[width]], linewidths=0.9, zorder=3)
    ax.axhline(0.0, color="0.6", linewidth=0.6)
    ax.set_ylim(-(len(shown) + 1) * step, 1.08 * peak)
    ax.set_yticks([t for t in ax.get_yticks() if 0 <= t <= 1.08 * peak])
    ax.text(0.005, -0.5 * step, "runs", fontsize=7, color="0.4", va="top",
            transform=ax.get_yaxis_transform())


def ed_by_init(runs: pd.DataFrame) -> Figure:
    """Figure 6: mean ED +- std per width, Glorot (dark green) beside He (light green)."""
    fig, cells = figure_per_model_type(runs, "Figure 6: effective density, Glorot vs He")
    for ax, _, group in cells:
        inits = sorted(group["init"].dropna().unique(), key=lambda i: (i != "glorot", i))
        errorbars_by_width(ax, group, "init", inits, INIT_COLOURS, INIT_NAMES)
    return fig


def threshold_columns(runs: pd.DataFrame) -> dict[float, str]:
    """The ``ed_<threshold>`` columns of the runs table, keyed by threshold, ascending."""
    found = {float(m.group(1)): c for c in runs.columns if (m := THRESHOLD_COLUMN.match(c))}
    return dict(sorted(found.items()))


def ed_by_threshold(runs: pd.DataFrame) -> Figure:
    """ED against the accuracy-drop threshold (1-10 points) per width: mean +- std.

    Not in the paper, which visualises 5 points only. If the wider models' curves cross the
    narrow ones', the ordering of EDs by width depends on the threshold chosen.
    """
    fig, cells = figure_per_model_type(runs, "Effective density against the threshold")
    columns = threshold_columns(runs)
    colours = width_colours(widths_of(complete_runs(runs)))
    for ax, _, group in cells:
        if not columns:
            say(ax, "no ed_<threshold> columns in the runs table")
            continue
        for width in widths_of(group):
            members = group[group["width"] == width]
            values = members[list(columns.values())].astype(float)
            ax.errorbar(
                [100 * t for t in columns],
                values.mean(),
                yerr=values.std().fillna(0.0),
                marker="o",
                capsize=3,
                color=colours[width],
                label=label(width, len(members)),
            )
            for threshold, column in columns.items():
                run_points(ax, 100 * threshold, values[column], colours[width], spread=0.0)
        ax.set_xlabel("threshold (accuracy drop, %)")
        ax.set_ylabel("effective density")
        width_legend(ax)
    return fig
