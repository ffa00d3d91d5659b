"""Core size against total weights, one line per retraining regime (section 4.2, beyond it).

The propensity exponent's figure (`propensity.analysis.exponent_figure`) for several regimes
at once: per regime, the geometric mean core of each width (the runs that enter its fit,
`propensity.analysis.core_sizes`) and its fitted line, the mean of the seed clusters' lines
(slope b, as `propensity.analysis.exponent` fits it). A line flatter than no retraining's is
a core that grows less with the model; a flat one is Irto, Goldt and Sanguinetti's (2023)
constant core.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from propensity.analysis.core_sizes import core_frame, seed_clusters
from propensity.analysis.exponent import cluster_lines
from propensity.analysis.model_types import INIT_NAMES
from propensity.analysis.panels import outside_legend, panels, say
from propensity.analysis.regimes import regime_runs, regimes_present

TITLE = "Core size against total weights, one line per retraining regime"
# The same colour for a regime in every panel; controls dashed.
REGIME_STYLES = {"none": ("black", "-"), "finetune": ("C0", "-"), "imp": ("C3", "-"),
                 "imp_reinit": ("C1", "--"), "imp_random": ("C2", "--")}


def _draw(ax, group: pd.DataFrame, regime: str, index: int) -> None:
    colour, line = REGIME_STYLES.get(regime, (f"C{4 + index}", ":"))
    fitted = group[group["core_size"].notna()]
    if fitted.empty:
        return
    x, y = np.log10(fitted["total_weights"]), np.log10(fitted["core_size"])
    means = pd.DataFrame({"x": x, "y": y, "width": fitted["width"]}).groupby("width").mean()
    label = f"{regime} (n={len(fitted)})"
    if x.nunique() >= 2:
        slopes, intercepts = cluster_lines(x.to_numpy(), y.to_numpy(), seed_clusters(fitted)[0])
        keep = np.isfinite(slopes)
        grid = np.linspace(x.min(), x.max(), 20)
        ax.plot(grid, (intercepts[keep, None] + slopes[keep, None] * grid).mean(axis=0),
                line, color=colour, linewidth=1.5)
        label = f"{regime}: b = {slopes[keep].mean():.2f} (n={len(fitted)})"
    ax.plot(means["x"], means["y"], "o", color=colour, markersize=5, label=label)


def regimes_figure(runs: pd.DataFrame, regimes: pd.DataFrame | None) -> Figure:
    """One panel per model type and init: log10 core size against log10 total weights, per
    regime the mean of each width and the fitted line with its b, and slope 1 (constant
    density) through no retraining's mean point for reference."""
    present = regimes_present(regimes)
    frames = {r: core_frame(regime_runs(runs, regimes, r)) for r in present}
    keys = sorted({k for f in frames.values() for k in zip(f["model_type"], f["init"], strict=True)})
    fig, axes = panels([f"{m}, {INIT_NAMES.get(i, i)}" for m, i in keys] or ["no runs"], TITLE)
    if not keys:
        say(axes[0], "no complete run carries retraining regimes")
        return fig
    for ax, (model_type, init) in zip(axes, keys, strict=True):
        for index, (regime, frame) in enumerate(frames.items()):
            _draw(ax, frame[(frame["model_type"] == model_type) & (frame["init"] == init)], regime, index)
        base = frames[present[0]]
        base = base[(base["model_type"] == model_type) & (base["init"] == init) & base["core_size"].notna()]
        if len(base):
            x = np.log10(base["total_weights"])
            grid = np.linspace(x.min(), x.max(), 20)
            ax.plot(grid, np.log10(base["core_size"]).mean() + grid - x.mean(), ":", color="grey",
                    label="slope 1 (constant density)")
        ax.set_xlabel("log10 total weights")
        ax.set_ylabel("log10 core size (ED x total)")
        outside_legend(ax, "regime")
    return fig
