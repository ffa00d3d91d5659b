"""Figures 1 and 2: training curves by width (section 3.1, 'Stopping Criteria').

Figure 1 shows validation accuracy per epoch, Figure 2 validation loss per epoch with a
cross where each run stopped (the paper's crosses mark the loss minima). Every run is one
thin line in its width's colour, so the spread between seeds stays visible; a run's
`stop_epoch` uses the same 1-based epoch numbers as its history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from propensity.analysis.model_types import complete_runs
from propensity.analysis.panels import (
    figure_per_model_type,
    label,
    say,
    width_colours,
    width_legend,
    widths_of,
)


def _curves(runs: pd.DataFrame, histories: pd.DataFrame, metric: str, title: str) -> Figure:
    fig, cells = figure_per_model_type(runs, title)
    colours = width_colours(widths_of(complete_runs(runs)))
    for ax, _, group in cells:
        curves = histories[histories["run_key"].isin(group["run_key"])]
        curves = curves.dropna(subset=[metric])
        if curves.empty:
            say(ax, f"no {metric} history for these runs")
            continue
        for width in widths_of(group):
            keys = group.loc[group["width"] == width, "run_key"]
            members = curves[curves["run_key"].isin(keys)].sort_values(["run_key", "epoch"])
            run = members["run_key"].to_numpy()
            cuts = np.flatnonzero(run[1:] != run[:-1]) + 1
            lines = np.split(members[["epoch", metric]].to_numpy(dtype=float), cuts) if len(run) else []
            # one artist per width, not per run: thousands of runs draw in one pass
            ax.add_collection(LineCollection(
                [xy for xy in lines if len(xy) > 1], colors=[colours[width]], alpha=0.5,
                linewidths=0.9, label=label(width, len(lines)),
            ))
            if single := [xy[0] for xy in lines if len(xy) == 1]:
                ax.scatter(*np.array(single).T, color=colours[width], alpha=0.5, marker=".")
        ax.autoscale_view()
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.replace("_", " "))
        width_legend(ax)
    return fig


def validation_accuracy_curves(runs: pd.DataFrame, histories: pd.DataFrame) -> Figure:
    """Figure 1: validation accuracy per epoch, one line per run, coloured by width."""
    return _curves(runs, histories, "val_acc", "Figure 1: validation accuracy during training")


def stopping_points(runs: pd.DataFrame, histories: pd.DataFrame) -> pd.DataFrame:
    """Each complete run's (stop_epoch, validation loss at that epoch) from its history.

    A run whose history has no row at its stop epoch is left out of the crosses (and not
    invented from elsewhere); `missing` counts them for the figure's note.
    """
    done = complete_runs(runs).dropna(subset=["stop_epoch"])
    at_stop = histories.merge(
        done[["run_key", "stop_epoch", "width", "model_type"]], on="run_key", how="inner"
    )
    at_stop = at_stop[at_stop["epoch"] == at_stop["stop_epoch"]]
    return at_stop[["run_key", "model_type", "width", "epoch", "val_loss"]].reset_index(drop=True)


def validation_loss_curves(runs: pd.DataFrame, histories: pd.DataFrame) -> Figure:
    """Figure 2: validation loss per epoch; a cross marks the epoch at which each run stopped."""
    fig = _curves(runs, histories, "val_loss", "Figure 2: validation loss, x = stopping point")
    points = stopping_points(runs, histories)
    colours = width_colours(widths_of(complete_runs(runs)))
    for ax in fig.axes:
        title = ax.get_title()
        mine = points[points["model_type"] == title]
        for width, group in mine.groupby("width"):
            ax.scatter(
                group["epoch"],
                group["val_loss"],
                marker="x",
                s=30,
                color=colours[float(width)],
                zorder=3,
            )
        expected = complete_runs(runs)
        expected = expected[(expected["model_type"] == title) & expected["stop_epoch"].notna()]
        missing = len(expected) - len(mine)
        if missing > 0:
            ax.annotate(
                f"{missing} run(s): no history row at stop_epoch",
                xy=(0.02, 0.02),
                xycoords="axes fraction",
                fontsize=7,
            )
    return fig
