"""Figure 5 and the null hypothesis drawn in absolute counts (sections 4.1, 4.2).

Figure 5 puts each width's total weights beside its unpruned ('core') weights on a log
scale. `unpruned_vs_null` is the same comparison as the paper's hypothesis test, drawn:
under the null hypothesis the core size stays at the 1x runs' unpruned count for every
width (a flat line, capped by the width's total), while the observed counts grow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from propensity.analysis.figures_layout import figure_per_model_type
from propensity.analysis.model_types import width_label
from propensity.analysis.null_hypothesis import REFERENCE_WIDTH


def _count_stats(group: pd.DataFrame) -> pd.DataFrame:
    return group.groupby("width").agg(
        total=("total_weights", "median"),
        unpruned=("unpruned_weights", "mean"),
        unpruned_std=("unpruned_weights", "std"),
        n=("run_key", "count"),
    )


def _width_axis(ax: Axes, widths: list[float]) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(widths, [width_label(w) for w in widths])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("width")


def weight_counts_by_width(runs: pd.DataFrame) -> Figure:
    """Figure 5: total ('arch total') and unpruned weights per width, log scale, +-1 std bars.

    The std bar is clipped at the bottom to stay positive on the log axis.
    """
    fig, cells = figure_per_model_type(runs, "Figure 5: total vs unpruned weights")
    for ax, _, group in cells:
        stats = _count_stats(group.astype({"total_weights": float, "unpruned_weights": float}))
        widths = [float(w) for w in stats.index]
        ax.plot(widths, stats["total"], "s-", color="0.35", label="arch total")
        std = stats["unpruned_std"].fillna(0.0)
        lower = np.minimum(std, stats["unpruned"] * 0.999)
        ax.errorbar(
            widths,
            stats["unpruned"],
            yerr=[lower, std],
            fmt="o-",
            capsize=3,
            color="tab:green",
            label="unpruned (mean +- std)",
        )
        for w, n in zip(widths, stats["n"], strict=True):
            ax.annotate(
                f"n={n}",
                (w, stats.loc[w, "unpruned"]),
                fontsize=7,
                textcoords="offset points",
                xytext=(4, -10),
            )
        _width_axis(ax, widths)
        ax.set_ylabel("weights")
        ax.legend(fontsize=8)
    return fig


def unpruned_vs_null(runs: pd.DataFrame, reference_width: float = REFERENCE_WIDTH) -> Figure:
    """Observed unpruned weights per width against the null hypothesis' flat line.

    The null line is the 1x runs' mean unpruned count, capped by each width's total weights
    (the same cap as the null ED of Table 2). Without 1x runs a panel says so and shows the
    observed counts only.
    """
    fig, cells = figure_per_model_type(runs, "Unpruned weights vs the null hypothesis")
    for ax, _, group in cells:
        stats = _count_stats(group.astype({"total_weights": float, "unpruned_weights": float}))
        widths = [float(w) for w in stats.index]
        std = stats["unpruned_std"].fillna(0.0)
        ax.errorbar(
            widths,
            stats["unpruned"],
            yerr=[np.minimum(std, stats["unpruned"] * 0.999), std],
            fmt="o-",
            capsize=3,
            color="tab:green",
            label="observed (mean +- std)",
        )
        reference = [w for w in widths if np.isclose(w, reference_width)]
        if reference:
            core = stats.loc[reference[0], "unpruned"]
            ax.plot(
                widths,
                np.minimum(core, stats["total"]),
                "--",
                color="tab:red",
                label=f"null: {width_label(reference_width)} core, capped at total",
            )
        else:
            ax.annotate(
                f"no {width_label(reference_width)} runs: no null line",
                xy=(0.02, 0.92),
                xycoords="axes fraction",
                fontsize=8,
            )
        _width_axis(ax, widths)
        ax.set_ylabel("unpruned weights")
        ax.legend(fontsize=8)
    return fig
