"""Pruning methods compared per model type and width (the paper's sections 2 and 6).

The paper prunes layer-wise by magnitude (section 3.2). Its related work and future work ask
how the effective density (ED) depends on that choice: random masks (the random-ablation
view), one global magnitude ranking, and edge-popup score masks. Every method is swept on
the same trained model of a run, and ``record.json`` stores each method's ED, so methods
compare *within* a run: the differences here are paired by ``run_key``, and the paired
t-test (`significance.paired_test`) removes the run-to-run variation that an unpaired test
would count as noise.

The collected runs table carries one ``effective_density_<method>`` and one
``unpruned_weights_<method>`` column per method (`propensity.collect`); `method_frame`
turns them into one row per run and method, the input of everything else here.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from propensity.analysis.density import pruning_trajectories
from propensity.analysis.model_types import complete_runs, ordered
from propensity.analysis.panels import errorbars_by_width, figure_per_model_type, fit_suptitle, say
from propensity.analysis.significance import holm, paired_test
from propensity.pruning.registry import METHOD_NAMES, METHODS, REFERENCE

# Display order: the registry's (the paper's method first, then the baselines).
METHOD_ORDER = METHOD_NAMES
METHOD_COLUMN = re.compile(r"^effective_density_(.+)$")
METHOD_COLOURS = {
    "magnitude": "#1f77b4",
    "random": "#7f7f7f",
    "global_magnitude": "#ff7f0e",
    "edge_popup": "#2ca02c",
}
# The criteria beyond magnitude (section 6) in tab20b's colours, their random controls in
# tab20c's, registry order: no two share a colour, nor one with the four above.
for _palette, _drawn in (("tab20b", False), ("tab20c", True)):
    _names = [m for m in METHOD_ORDER if m not in METHOD_COLOURS and METHODS[m].random is _drawn]
    METHOD_COLOURS |= {m: to_hex(colormaps[_palette](i % 20)) for i, m in enumerate(_names)}
KEYS = ("model_type", "width")
# More methods than this get a panel each (`ed_by_method_facets`) instead of a shared legend.
OVERLAID_METHODS = 8
FACET_COLUMNS = 4
FACET_SIZE = (3.0, 2.3)  # inches per facet
# A facet's method, in one colour that stands apart from the reference's grey: its panel's
# title names it, and several of the methods' own colours are pale or grey.
FACET_COLOUR = "tab:red"


def _method_rank(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def methods_present(runs: pd.DataFrame) -> list[str]:
    """Methods with at least one ED in the runs table, the paper's magnitude pruning first.

    Read from the ``effective_density_<method>`` columns; a table collected from records
    without ``ed_by_method`` falls back to each run's ``pruning_method``.
    """
    found = [
        match.group(1)
        for column in runs.columns
        if (match := METHOD_COLUMN.match(column)) and runs[column].notna().any()
    ]
    if not found and "pruning_method" in runs.columns:
        found = runs.loc[runs["effective_density"].notna(), "pruning_method"].dropna().unique()
    return sorted(set(found), key=_method_rank)


def method_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per complete run and method with an ED: the long form of the per-method columns.

    Columns: run_key, model_type, width, method, effective_density, unpruned_weights (float;
    NaN where a method recorded no count). Only complete runs (`complete_runs`) enter.
    """
    done = complete_runs(runs)
    columns = ["run_key", *KEYS, "method", "effective_density", "unpruned_weights"]
    frames = []
    for method in methods_present(runs):
        ed_column = f"effective_density_{method}"
        if ed_column in done.columns:
            ed = done[ed_column]
            unpruned = done.get(f"unpruned_weights_{method}", pd.Series(np.nan, index=done.index))
        else:  # old records: only the run's own method, in the unsuffixed columns
            own = done["pruning_method"] == method
            ed = done["effective_density"].where(own)
            unpruned = done["unpruned_weights"].where(own)
        frames.append(
            pd.DataFrame(
                {
                    "run_key": done["run_key"],
                    **{k: done[k] for k in KEYS},
                    "method": method,
                    "effective_density": pd.to_numeric(ed, errors="coerce").astype(float),
                    "unpruned_weights": pd.to_numeric(unpruned, errors="coerce").astype(float),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(frames, ignore_index=True)
    return frame[frame["effective_density"].notna()].reset_index(drop=True)[columns]


def method_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model type, width and method: n, mean and std of ED and of unpruned weights.

    The std is the sample std (ddof=1), NaN with a note for a single run.
    """
    frame = method_frame(runs)
    columns = [*KEYS, "method", "n", "mean_ed", "std_ed", "mean_unpruned", "std_unpruned", "note"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    grouped = frame.groupby([*KEYS, "method"], sort=False)
    summary = grouped.agg(
        n=("effective_density", "size"),
        mean_ed=("effective_density", "mean"),
        std_ed=("effective_density", "std"),
        mean_unpruned=("unpruned_weights", "mean"),
        std_unpruned=("unpruned_weights", "std"),
    ).reset_index()
    summary["note"] = np.where(summary["n"] < 2, "1 run: no std (needs >= 2)", "")
    order = summary["method"].map(lambda m: _method_rank(m)[0])
    summary = summary.assign(_order=order).sort_values([*KEYS, "_order", "method"])
    return summary.drop(columns="_order").reset_index(drop=True)[columns]


def paired_differences(runs: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Per model type, width and method, the paired test of its ED against `reference`'s.

    Pairs are the same run (``run_key``), pruned both ways. ``p_holm`` adjusts the p-values
    of all rows together (Holm); a row whose test did not run has NaN and a note.
    """
    frame = method_frame(runs)
    columns = [*KEYS, "method", "reference", "n_pairs", "mean_diff", "std_diff", "t", "p", "df"]
    columns += ["diff_ci_low", "diff_ci_high", "p_holm", "note"]
    if frame.empty or reference not in set(frame["method"]):
        return pd.DataFrame(columns=columns)
    wide = frame.pivot_table(
        index=["run_key", *KEYS], columns="method", values="effective_density", aggfunc="first"
    ).reset_index()
    rows = []
    for (model_type, width), group in wide.groupby(list(KEYS), sort=True):
        for method in methods_present(runs):
            if method == reference or method not in group.columns:
                continue
            test = paired_test(group[method], group[reference])
            rows.append(
                {"model_type": model_type, "width": width, "method": method, "reference": reference, **test}
            )
    table = pd.DataFrame(rows, columns=[c for c in columns if c != "p_holm"])
    table.insert(len(columns) - 2, "p_holm", holm(table["p"]) if len(table) else [])
    return table[columns]


def ed_by_method(runs: pd.DataFrame) -> Figure:
    """Mean ED +- std per width for every pruning method, beside Figure 6's layout.

    Up to `OVERLAID_METHODS` methods share one panel per model type, with a legend of their
    run counts. More would not fit a legend beside a panel, so each method then gets a panel
    of its own (`ed_by_method_facets`).
    """
    frame = method_frame(runs)
    if len(methods_present(runs)) > OVERLAID_METHODS:
        return ed_by_method_facets(runs, frame)
    fig, cells = figure_per_model_type(runs, "Effective density by pruning method")
    for ax, model_type, _ in cells:
        members = frame[frame["model_type"] == model_type]
        methods = [m for m in methods_present(runs) if m in set(members["method"])]
        if not methods:
            say(ax, "no per-method effective densities")
            continue
        errorbars_by_width(ax, members, "method", methods, METHOD_COLOURS, spread=0.15, joined=True)
    return fig


def ed_by_method_facets(runs: pd.DataFrame, frame: pd.DataFrame | None = None) -> Figure:
    """One panel per (model type, method), `FACET_COLUMNS` to a row: the method's mean ED +- std
    per width in `FACET_COLOUR` beside the reference method's (the paper's magnitude pruning)
    in grey, on one shared ED axis, every run shown where a width has fewer than
    ``POINTS_BELOW`` (`propensity.analysis.panels`). Panel titles name the method (and the
    model type when there are several), so no legend is needed."""
    frame = method_frame(runs) if frame is None else frame
    types = ordered(frame["model_type"]) if len(frame) else []
    cells = [
        (model_type, method)
        for model_type in types
        for method in methods_present(runs)
        if method != REFERENCE and method in set(frame.loc[frame["model_type"] == model_type, "method"])
    ]
    ncols = min(FACET_COLUMNS, max(1, len(cells)))
    nrows = max(1, -(-len(cells) // ncols))
    fig = Figure(figsize=(FACET_SIZE[0] * ncols, FACET_SIZE[1] * nrows + 0.6), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel())
    for ax in axes[len(cells):]:
        ax.set_visible(False)
    fit_suptitle(
        fig,
        f"Effective density by pruning method: each panel one method (red) against "
        f"{REFERENCE} pruning (grey), mean +- std, circles single runs",
    )
    if not cells:
        axes[0].set_visible(True)
        say(axes[0], "no per-method effective densities")
        return fig
    colours = {REFERENCE: "0.55"} | {m: FACET_COLOUR for _, m in cells}
    for ax, (model_type, method) in zip(axes, cells, strict=False):
        members = frame[(frame["model_type"] == model_type) & frame["method"].isin([REFERENCE, method])]
        shown = [m for m in (REFERENCE, method) if m in set(members["method"])]
        errorbars_by_width(ax, members, "method", shown, colours, spread=0.12, joined=True,
                           legend=False)
        ax.set_title(method if len(types) == 1 else f"{model_type}\n{method}", fontsize=9)
        ax.set_xlabel("width", fontsize=8)
        ax.set_ylabel("effective density", fontsize=8)
        ax.tick_params(labelsize=7)
        if not ax.get_subplotspec().is_first_col():
            ax.set_ylabel("")
    return fig


def trajectory_methods(trajectories: pd.DataFrame) -> list[str]:
    """Methods with pruning trajectories (the ``method`` column), magnitude first."""
    if "method" not in trajectories.columns:
        return [REFERENCE] if len(trajectories) else []
    return sorted(trajectories["method"].dropna().unique(), key=_method_rank)


def trajectories_by_method(runs: pd.DataFrame, trajectories: pd.DataFrame) -> dict[str, Figure]:
    """Figure 3 once per method: mean validation accuracy against density per width (+-1 std).

    Each is `pruning_trajectories` on that method's rows of the trajectories table. Random
    masks are already averaged over mask seeds within a run; edge-popup has points only at
    the densities it was trained for (``pruning.edge_popup.densities``).
    """
    return {m: pruning_trajectories(runs, trajectories, method=m) for m in trajectory_methods(trajectories)}
