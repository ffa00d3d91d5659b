"""The propensity exponent drawn: log core size against log total weights (section 4.2).

One point per fitted run, the line of `propensity.analysis.exponent` (the mean of the seed
clusters' lines) with its 95% t-band over the clusters, runs that never degraded as open
triangles at their upper bound (not fitted), and the two hypotheses for reference: the null
hypothesis as it predicts the data, the 1x twins' core (geometric mean) capped at the whole
model where a model is smaller (slope 0 above the cap, 1 below), and slope 1 (constant
density) through the runs' mean point.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from propensity.analysis.core_sizes import NEVER_DEGRADED, core_frame, seed_clusters
from propensity.analysis.exponent import CONFIDENCE, cluster_lines, t_interval
from propensity.analysis.model_types import INIT_NAMES, complete_runs, width_label
from propensity.analysis.panels import outside_legend, panels, say, width_colours, widths_of

TITLE = "Propensity exponent: core size against total weights"


def exponent_figure(runs: pd.DataFrame) -> Figure:
    """One panel per model type and init: log core size (ED x total weights) against log
    total weights, the cluster-mean line (slope b) with its t-band, never-degraded runs at
    their bound, and the b = 0 and b = 1 reference lines."""
    frame = core_frame(runs)
    groups = list(frame.groupby(["model_type", "init"], sort=True))
    titles = [f"{m}, {INIT_NAMES.get(i, i)}" for (m, i), _ in groups]
    fig, axes = panels(titles or ["no runs"], TITLE)
    if not groups:
        say(axes[0], "no complete runs with a core size")
        return fig
    colours = width_colours(widths_of(complete_runs(runs)))
    for ax, (_, everything) in zip(axes, groups, strict=True):
        group = everything[everything["core_size"].notna()]
        bounds = everything[(everything["entry"] == NEVER_DEGRADED) & everything["bound"].gt(0)]
        if len(bounds):
            ax.scatter(np.log10(bounds["total_weights"]), np.log10(bounds["bound"]), s=20,
                       marker="v", facecolors="none", edgecolors="black",
                       label=f"never degraded: upper bound, not fitted (n={len(bounds)})")
        if group.empty:
            say(ax, "no run with a core size")
            continue
        x, y = np.log10(group["total_weights"]), np.log10(group["core_size"])
        for width, members in group.groupby("width"):
            ax.scatter(np.log10(members["total_weights"]), np.log10(members["core_size"]),
                       s=14, color=colours.get(float(width), "grey"), alpha=0.8,
                       label=f"{width_label(float(width))} (n={len(members)})")
        grid = np.linspace(x.min(), x.max(), 50)
        x0, y0 = x.mean(), y.mean()
        null_core = everything["null_core"].dropna()
        if len(null_core):  # the null with its cap: the 1x core, or the whole model below it
            level = np.log10(null_core).mean()
            ax.plot(grid, np.minimum(level, grid), ":", color="black",
                    label="b = 0 (null: the 1x core, capped at the model)")
        else:
            ax.plot(grid, y0 + 0 * grid, ":", color="black", label="b = 0 (null: constant core)")
        ax.plot(grid, y0 + (grid - x0), "--", color="grey", label="b = 1 (constant density)")
        ax.set_xlabel("log10 total weights")
        ax.set_ylabel("log10 core size (ED x total)")
        if x.nunique() < 2:
            say(ax, "one width: no slope")
            continue
        # log10 on both axes: the slope is the same as in natural logs
        clusters, _ = seed_clusters(group)
        slopes, intercepts = cluster_lines(x.to_numpy(), y.to_numpy(), clusters)
        keep = np.isfinite(slopes)
        lines = intercepts[keep, None] + slopes[keep, None] * grid[None, :]
        ax.plot(grid, lines.mean(axis=0), color="C3",
                label=f"fit b = {slopes[keep].mean():.2f} (n={len(group)}, {keep.sum()} clusters)")
        if keep.sum() >= 2:
            _, low, high, _ = t_interval(lines.T, CONFIDENCE)
            ax.fill_between(grid, low, high, color="C3", alpha=0.2, linewidth=0,
                            label=f"{100 * CONFIDENCE:.0f}% t-band over the clusters")
        outside_legend(ax)
    return fig
