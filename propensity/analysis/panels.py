"""What every figure shares: one panel per model type, one colour per width.

The paper's figures (sections 3-4) draw one panel per model type and one colour per width.
Figures are built on `matplotlib.figure.Figure` directly, never through pyplot, so they
need no display, leave no global state behind and render with the Agg canvas wherever
they are saved (a CI runner, a cluster node, a notebook).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure

from propensity.analysis.model_types import complete_runs, ordered, width_label

# Wide enough for the legend beside the axes, where it never covers data.
PANEL_SIZE = (5.4, 3.4)
# Share of the figure's width a title may take: a margin for the layout's padding.
TITLE_SHARE = 0.94
# A group (a width, a method at a width) of fewer runs than this shows every run beside its
# summary: a mean, a band or a density curve from a handful of runs hides how few they are.
POINTS_BELOW = 10


def fit_suptitle(fig: Figure, title: str) -> None:
    """Set `title` as the figure's title, wrapped at word boundaries so every line fits
    inside the canvas (a one-panel figure is narrower than a long title). The lines are
    measured with the Agg renderer the figure is saved with, at the figure's dpi."""
    text = fig.suptitle(title)
    renderer = RendererAgg(*fig.bbox.size, fig.dpi)
    room = TITLE_SHARE * fig.bbox.width
    for width in range(len(title), 9, -1):
        text.set_text(textwrap.fill(title, width))
        if text.get_window_extent(renderer).width <= room:
            return


def panels(titles: list[str], suptitle: str) -> tuple[Figure, list[Axes]]:
    """A figure with one panel per title (at least one), up to three per row."""
    count = max(1, len(titles))
    ncols = min(3, count)
    nrows = -(-count // ncols)
    fig = Figure(figsize=(PANEL_SIZE[0] * ncols, PANEL_SIZE[1] * nrows), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax, title in zip(axes, titles, strict=False):
        ax.set_title(title, fontsize=10)
    for ax in axes[count:]:
        ax.set_visible(False)
    fit_suptitle(fig, suptitle)
    return fig, axes[:count]


def width_colours(widths: list[float]) -> dict[float, tuple[float, ...]]:
    """One colour per width, narrow (dark) to wide (light), the same in every figure."""
    cmap = colormaps["viridis"]
    positions = np.linspace(0.0, 0.85, max(1, len(widths)))
    return {w: cmap(p) for w, p in zip(widths, positions, strict=False)}


def by_model_type(runs: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """Complete runs of each model type, in display order."""
    done = complete_runs(runs)
    for model_type in ordered(done["model_type"]):
        yield model_type, done[done["model_type"] == model_type]


def figure_per_model_type(
    runs: pd.DataFrame, suptitle: str
) -> tuple[Figure, list[tuple[Axes, str, pd.DataFrame]]]:
    """A panel per model type, each paired with that type's complete runs.

    With no complete run at all the figure still renders, with one panel saying so.
    """
    groups = list(by_model_type(runs))
    fig, axes = panels([name for name, _ in groups] or ["no runs"], suptitle)
    if not groups:
        say(axes[0], "no complete runs (none finished with an effective density)")
    return fig, [(ax, name, group) for ax, (name, group) in zip(axes, groups, strict=False)]


def say(ax: Axes, text: str) -> None:
    """Write `text` in the middle of an empty panel, where data would have been."""
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def outside_legend(ax: Axes, title: str | None = None) -> None:
    """The legend of `ax`, if anything is labelled, beside the axes so it covers no data."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(
            title=title, fontsize=8, title_fontsize=8, loc="upper left",
            bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False,
        )


def width_legend(ax: Axes, title: str = "width") -> None:
    """A legend of the widths drawn in `ax`, if any were (beside the axes)."""
    outside_legend(ax, title)


def label(width: float, n: int) -> str:
    """Legend entry for one width: the paper's 'Size (x)' and the number of runs behind it."""
    return f"{width_label(width)} (n={n})"


def per_point(counts: pd.Series) -> str:
    """'n=3 per point', or 'n=2-3 per point' when the points rest on different run counts."""
    low, high = int(counts.min()), int(counts.max())
    return f"n={low} per point" if low == high else f"n={low}-{high} per point"


def run_points(
    ax: Axes, x: float, values: pd.Series | np.ndarray, colour: object, spread: float = 0.0,
    log: bool = False,
) -> None:
    """Each run's value as a small open circle at `x`, when the group has fewer than
    `POINTS_BELOW` runs; spread evenly over +-`spread` (a factor on a log axis) so equal values
    stay apart."""
    points = np.asarray(values, dtype=float)
    points = points[~np.isnan(points)]
    if not 0 < len(points) < POINTS_BELOW:
        return
    offsets = np.linspace(-spread, spread, len(points)) if len(points) > 1 else np.zeros(1)
    xs = x * (1 + offsets) if log else x + offsets
    ax.scatter(xs, points, s=14, facecolors="none", edgecolors=[colour], linewidths=0.8,
               zorder=3)


def widths_of(runs: pd.DataFrame) -> list[float]:
    return [float(w) for w in ordered(runs["width"])]


def errorbars_by_width(
    ax: Axes,
    frame: pd.DataFrame,
    column: str,
    categories: list[str],
    colours: dict[str, str],
    names: dict[str, str] | None = None,
    *,
    spread: float = 0.12,
    joined: bool = False,
    legend: bool = True,
) -> None:
    """Mean ED +- std per (categorical) width, one series per value of `column`, side by side,
    with every run (`run_points`) where a group has fewer than `POINTS_BELOW`.

    The layout of Figure 6 (Glorot vs He), shared by any comparison of a few categories
    (inits, pruning methods); the legend, when asked for, gives the runs behind each point.
    """
    widths = widths_of(frame)
    offsets = np.linspace(-spread, spread, len(categories)) if len(categories) > 1 else [0.0]
    for category, offset in zip(categories, offsets, strict=True):
        members = frame[frame[column] == category]
        stats = members.groupby("width")["effective_density"].agg(["mean", "std", "count"])
        ax.errorbar(
            [widths.index(float(w)) + offset for w in stats.index],
            stats["mean"],
            yerr=stats["std"].fillna(0.0),
            fmt="o-" if joined else "o",
            capsize=3,
            color=colours.get(category, "grey"),
            label=f"{(names or {}).get(category, category)} ({per_point(stats['count'])})",
        )
        step = spread / max(1, len(categories)) / 2
        for width, values in members.groupby("width")["effective_density"]:
            position = widths.index(float(width)) + offset
            run_points(ax, position, values, colours.get(category, "grey"), spread=step)
    ax.set_xticks(range(len(widths)), [width_label(w) for w in widths])
    ax.set_xlabel("width")
    ax.set_ylabel("effective density")
    if legend:
        width_legend(ax, title=column)
