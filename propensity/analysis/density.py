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
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde

from propensity.analysis.model_types import INIT_NAMES, complete_runs
from propensity.analysis.panels import (
    errorbars_by_width,
    figure_per_model_type,
    label,
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
    at one width); the x value is the mean density of the level.
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
            drawn = True
        if not drawn:
            say(ax, f"no '{method}' trajectories for these runs")
            continue
        ax.set_xlim(1.0, 0.0)
        ax.set_xlabel("density (fraction of weights remaining)")
        ax.set_ylabel("validation accuracy")
        width_legend(ax)
    return fig


def effective_density_kde(runs: pd.DataFrame, points: int = 200) -> Figure:
    """Figure 4: kernel density estimate of ED per width (scipy's `gaussian_kde`).

    A KDE needs two distinct values; a width with one run, or with identical EDs, is drawn
    as a vertical line at its value and says so in the legend instead of failing.
    """
    fig, cells = figure_per_model_type(runs, "Figure 4: distribution of effective density")
    colours = width_colours(widths_of(complete_runs(runs)))
    grid = np.linspace(0.0, 1.0, points)
    for ax, _, group in cells:
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
        ax.set_xlabel("threshold (accuracy drop, %)")
        ax.set_ylabel("effective density")
        width_legend(ax)
    return fig
