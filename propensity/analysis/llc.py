"""The learning coefficient across widths, beside effective density (beyond the paper).

The paper's discussion (section 5) proposes the local learning coefficient (LLC) of singular
learning theory as a second measure of a network's 'true' size. These are its tables and
figures, in the shape of the paper's own: the LLC per width (as Table 2 gives ED per width),
its rank correlation with the unpruned weight count (the core size of section 4.1), the
analogue of section 4.2's null hypothesis (is the LLC constant across widths? a one-way
ANOVA, as for unpruned counts) and the chains' loss traces, the estimator's own diagnostic.

An estimate whose chains diverged or left the local minimum (``llc_valid`` false) is never
averaged: `valid_llc` drops it, and `llc_per_width` counts how many were dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator
from scipy import stats

from propensity.analysis.model_types import complete_runs, width_label
from propensity.analysis.panels import figure_per_model_type, panels, say, width_colours
from propensity.analysis.significance import anova, mean_ci

TRACES_FILE = "llc_traces.csv"
LLC_COLUMNS = ("llc_mean", "llc_std", "llc_valid", "llc_reason")


def runs_with_llc(runs: pd.DataFrame) -> pd.DataFrame:
    """Complete runs (trained and pruned) that asked for an LLC estimate, valid or not."""
    missing = [c for c in LLC_COLUMNS if c not in runs.columns]  # results from before the LLC
    done = complete_runs(runs.assign(**dict.fromkeys(missing, None)))
    return done[done["llc_valid"].notna()]


def valid_llc(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs whose LLC estimate is valid and finite: the only ones any result averages."""
    asked = runs_with_llc(runs)
    finite = np.isfinite(asked["llc_mean"].astype(float))
    return asked[asked["llc_valid"].astype(bool) & finite]


def llc_per_width(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd and n of the LLC per model type and width, over valid estimates only.

    ``invalid`` counts the estimates left out at that width, so the exclusion is never silent.
    """
    asked, valid = runs_with_llc(runs), valid_llc(runs)
    rows = []
    for (model_type, width), group in asked.groupby(["model_type", "width"], sort=True):
        kept = valid[(valid["model_type"] == model_type) & (valid["width"] == width)]
        summary = mean_ci(kept["llc_mean"].astype(float).tolist())
        rows.append({"model_type": model_type, "width": float(width), "n": summary["n"],
                     "mean": summary["mean"], "sd": summary["std"],
                     "invalid": len(group) - len(kept), "note": summary["note"]})
    columns = ["model_type", "width", "n", "mean", "sd", "invalid", "note"]
    return pd.DataFrame(rows, columns=columns)


def llc_vs_unpruned(runs: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rank correlation of the LLC with the unpruned weight count, per model type.

    A rank correlation, since neither quantity need be linear in the other (the LLC is bounded
    by half the parameter count, unpruned counts grow roughly with width squared).
    """
    rows = []
    for model_type, group in valid_llc(runs).groupby("model_type", sort=True):
        x, y = group["unpruned_weights"].astype(float), group["llc_mean"].astype(float)
        row = {"model_type": model_type, "n": len(group), "rho": math.nan, "p": math.nan, "note": ""}
        if len(group) < 3:
            row["note"] = f"{len(group)} valid estimate(s): a rank correlation needs >= 3"
        elif x.nunique() < 2 or y.nunique() < 2:
            row["note"] = "one of the two is constant: the rank correlation is undefined"
        else:
            result = stats.spearmanr(x, y)
            row |= {"rho": float(result.statistic), "p": float(result.pvalue)}
        rows.append(row)
    return pd.DataFrame(rows, columns=["model_type", "n", "rho", "p", "note"])


def llc_anova(runs: pd.DataFrame) -> pd.DataFrame:
    """Is the LLC constant across widths? One-way ANOVA per model type, valid estimates only.

    The analogue of section 4.2's test on unpruned counts, with `significance.anova` (classic F,
    eta squared and Welch's F); a significant result says the LLC depends on width.
    """
    rows = []
    for model_type, group in valid_llc(runs).groupby("model_type", sort=True):
        groups = {float(w): g["llc_mean"].astype(float) for w, g in group.groupby("width", sort=True)}
        sizes = ", ".join(f"{width_label(w)}: {len(g)}" for w, g in groups.items())
        rows.append({"model_type": model_type, "runs_per_width": sizes, **anova(groups)})
    return pd.DataFrame(rows)


def read_traces(run_dir: str | Path) -> pd.DataFrame | None:
    """A run's ``llc_traces.csv`` (chain, draw, loss, init_loss), or None if it has none."""
    path = Path(run_dir) / TRACES_FILE
    return pd.read_csv(path) if path.is_file() else None


def figure_llc_by_width(runs: pd.DataFrame) -> Figure:
    """LLC per width (mean +- sd of valid estimates, each run a dot), one panel per model type."""
    fig, cells = figure_per_model_type(runs_with_llc(runs), "Learning coefficient by width")
    valid = valid_llc(runs)
    for ax, model_type, _ in cells:
        mine = valid[valid["model_type"] == model_type]
        if mine.empty:
            say(ax, "no valid LLC estimate")
            continue
        stats_ = mine.groupby("width")["llc_mean"].agg(["mean", "std", "count"])
        widths = [float(w) for w in stats_.index]
        ax.plot(mine["width"], mine["llc_mean"], ".", color="0.6", label="one run")
        ax.errorbar(widths, stats_["mean"], yerr=stats_["std"].fillna(0.0), fmt="o-", capsize=3,
                    color="C0", label="mean ± sd")
        ax.set_xscale("log")
        ax.set_xticks(widths, [f"{width_label(w)}\n(n={int(n)})" for w, n in zip(widths, stats_["count"],
                                                                                  strict=True)])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("width")
        ax.set_ylabel("learning coefficient (LLC)")
        ax.legend(fontsize=8)
    return fig


def figure_llc_vs_unpruned(runs: pd.DataFrame) -> Figure:
    """Each valid run's LLC against its unpruned weight count, coloured by width."""
    fig, cells = figure_per_model_type(runs_with_llc(runs), "Learning coefficient vs unpruned weights")
    valid = valid_llc(runs)
    correlations = llc_vs_unpruned(runs).set_index("model_type")
    for ax, model_type, _ in cells:
        mine = valid[valid["model_type"] == model_type]
        if mine.empty:
            say(ax, "no valid LLC estimate")
            continue
        colours = width_colours(sorted(mine["width"].unique()))
        for width, group in mine.groupby("width", sort=True):
            ax.scatter(group["unpruned_weights"], group["llc_mean"], color=colours[width],
                       label=f"{width_label(width)} (n={len(group)})")
        rho = correlations.loc[model_type]
        note = rho["note"] or f"Spearman ρ = {rho['rho']:.2f} (p = {rho['p']:.2g}, n = {rho['n']})"
        ax.text(0.02, 0.98, note, transform=ax.transAxes, va="top", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("unpruned weights")
        ax.set_ylabel("learning coefficient (LLC)")
        ax.legend(title="width", fontsize=8, title_fontsize=8, loc="lower right")
    return fig


def figure_llc_traces(traces: Mapping[str, pd.DataFrame]) -> Figure:
    """Every chain's loss per draw, one panel per run, with the trained loss L_n(w*) dashed.

    devinterp's own diagnostic: a healthy chain rises quickly above L_n(w*) and levels off; one
    that keeps climbing has not converged, one that falls below it has left the minimum.
    """
    fig, axes = panels(list(traces) or ["no traces"], "Learning coefficient: SGLD chains' loss traces")
    if not traces:
        say(axes[0], "no run has llc_traces.csv")
    for ax, frame in zip(axes, traces.values(), strict=False):
        for chain, group in frame.groupby("chain", sort=True):
            ax.plot(group["draw"], group["loss"], lw=0.8, label=f"chain {chain}")
        ax.axhline(float(frame["init_loss"].iloc[0]), color="k", ls="--", lw=1, label="trained loss")
        ax.set_xlabel("draw")
        ax.set_ylabel("minibatch loss")
        ax.legend(fontsize=7)
    return fig
