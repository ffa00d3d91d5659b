"""The propensity exponent drawn: log core size against log total weights (section 4.2).

One point per run, the fitted line of `propensity.analysis.exponent` with its 95% band
(the same seed-cluster bootstrap draws as the table's interval), and the two hypotheses for
reference, both through the runs' mean point: slope 0 (the null hypothesis, a constant core)
and slope 1 (constant density).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from propensity.analysis.exponent import (
    CONFIDENCE,
    RESAMPLES,
    SEED,
    bootstrap_lines,
    core_frame,
    ols,
)
from propensity.analysis.model_types import INIT_NAMES, complete_runs, width_label
from propensity.analysis.panels import outside_legend, panels, say, width_colours, widths_of

TITLE = "Propensity exponent: core size against total weights"


def exponent_figure(
    runs: pd.DataFrame,
    ed_column: str = "effective_density",
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Figure:
    """One panel per model type and init: log core size (ED x total weights) against log
    total weights, the OLS line (slope b) with its bootstrap band, and the b = 0 and b = 1
    reference lines."""
    frame = core_frame(runs, ed_column)
    frame = frame[frame["core_size"].gt(0)]
    groups = list(frame.groupby(["model_type", "init"], sort=True))
    titles = [f"{m}, {INIT_NAMES.get(i, i)}" for (m, i), _ in groups]
    fig, axes = panels(titles or ["no runs"], TITLE)
    if not groups:
        say(axes[0], "no complete runs with a core size")
        return fig
    colours = width_colours(widths_of(complete_runs(runs)))
    tail = 100 * (1 - CONFIDENCE) / 2
    for ax, (_, group) in zip(axes, groups, strict=True):
        x, y = np.log10(group["total_weights"]), np.log10(group["core_size"])
        for width, members in group.groupby("width"):
            ax.scatter(np.log10(members["total_weights"]), np.log10(members["core_size"]),
                       s=14, color=colours.get(float(width), "grey"), alpha=0.8,
                       label=f"{width_label(float(width))} (n={len(members)})")
        grid = np.linspace(x.min(), x.max(), 50)
        x0, y0 = x.mean(), y.mean()
        ax.plot(grid, y0 + 0 * grid, ":", color="black", label="b = 0 (null: constant core)")
        ax.plot(grid, y0 + (grid - x0), "--", color="grey", label="b = 1 (constant density)")
        if x.nunique() < 2:
            say(ax, "one width: no slope")
            continue
        # log10 on both axes: the slope is the same as in natural logs
        b, a = ols(x.to_numpy(), y.to_numpy())
        ax.plot(grid, a + b * grid, color="C3", label=f"fit b = {b:.2f} (n={len(group)})")
        if group["seeds"].nunique() >= 2:
            slopes, intercepts = bootstrap_lines(x, y, group["seeds"].to_numpy(), resamples, seed)
            keep = np.isfinite(slopes)
            lines = intercepts[keep, None] + slopes[keep, None] * grid[None, :]
            low, high = np.percentile(lines, [tail, 100 - tail], axis=0)
            ax.fill_between(grid, low, high, color="C3", alpha=0.2, linewidth=0,
                            label=f"{100 * CONFIDENCE:.0f}% band (seed bootstrap)")
        ax.set_xlabel("log10 total weights")
        ax.set_ylabel("log10 core size (ED x total)")
        outside_legend(ax)
    return fig
