"""Sections 2 and 6 of the report: the pruning methods compared on the same trained models."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from propensity.analysis import complete_runs
from propensity.analysis.criteria import (
    control_differences,
    criteria_tests,
    is_control,
    unit_summary,
    verdict_table,
)
from propensity.analysis.methods import (
    ed_by_method,
    method_summary,
    methods_present,
    paired_differences,
    trajectories_by_method,
)
from propensity.analysis.shared_grid import (
    shared_grid_differences,
    shared_grid_frame,
    shared_grid_summary,
)
from propensity.pruning.registry import METHOD_NAMES, REFERENCE
from propensity.report.parts import Part, Tables

ENABLE_BASELINES = f"pruning.baselines=[{','.join(m for m in METHOD_NAMES if m != REFERENCE)}]"


def methods_part(tables: Tables, figures_dir: Path) -> Part:
    """ "Pruning methods": ED per method and width, and paired differences vs magnitude."""
    runs, trajectories = tables.runs, tables.trajectories
    part = Part("## Pruning methods (sections 2 and 6)")
    methods = methods_present(complete_runs(runs))
    if len(methods) < 2:
        part.add(
            f"Only {', '.join(methods) or 'no'} pruning was run; add the baselines with "
            f"`{ENABLE_BASELINES}` (edge-popup's cost is bounded by `pruning.edge_popup.*`)."
        )
        return part
    summary, paired = method_summary(runs), paired_differences(runs)
    part.add(
        f"Methods: {', '.join(methods)}. Every method prunes the same trained model of a run, "
        "at the run's threshold. n: runs with that method's ED. Random masks are averaged "
        "over `pruning.mask_seeds` per level; edge-popup's ED can only take the densities "
        "listed in `pruning.edge_popup.densities`, so it is coarser than the 2% steps."
    )
    part.table("methods_summary", summary, hide=("std_unpruned",))
    part.add(
        f"### Paired differences in ED against {REFERENCE} pruning",
        f"mean_diff = ED(method) - ED({REFERENCE}) over the runs pruned both ways (n_pairs); "
        "two-tailed paired t-test (`scipy.stats.ttest_rel`), 95% CI of the mean difference, "
        "p_holm adjusted over all rows. A positive difference: the method needs more weights.",
    )
    part.table(
        "methods_paired",
        paired,
        columns=["model_type", "width", "method", "n_pairs", "mean_diff", "diff_ci_low",
                 "diff_ci_high", "p_holm", "note"],
        hide=("note",) if paired.get("note", "").eq("").all() else ("diff_ci_low",),
    )
    _shared_grid(runs, trajectories, part)
    _criteria(tables, part)
    part.figure(
        ed_by_method(runs),
        figures_dir,
        "methods_ed_by_width",
        "Effective density by width, one marker per pruning method (mean +- std)",
    )
    for method, fig in trajectories_by_method(runs, trajectories).items():
        if method != REFERENCE:
            part.figure(
                fig,
                figures_dir,
                f"methods_trajectories_{method}",
                f"Pruning trajectories with {method} pruning, mean +- std",
            )
    return part


def _shared_grid(runs: pd.DataFrame, trajectories: pd.DataFrame, part: Part) -> None:
    """Every method's ED read on each run's shared grid (`propensity.analysis.shared_grid`)."""
    frame = shared_grid_frame(runs, trajectories)
    if frame.empty:
        return
    summary, paired = shared_grid_summary(frame), shared_grid_differences(frame)
    part.add(
        "### Methods on one grid of densities",
        "ED is the first failing density, so a coarser grid lowers it by itself. Here every "
        "method of a run is read at the densities of its coarsest trajectory (`grid`, "
        "edge-popup's when it ran) with the run's threshold; magnitude's accuracy there is "
        "edge-popup's starting mask (`source` exact) or the nearest level at or above each "
        "density (own). mean_fine_ed: the method's ED on its own grid, as above.",
    )
    part.table("methods_shared_grid", summary, hide=("grid",))
    part.add(f"Paired differences on the shared grid against {REFERENCE} (as above):")
    part.table("methods_shared_grid_paired", paired)


def _criteria(tables: Tables, part: Part) -> None:
    """Table 2 and its verdict once per criterion, criteria against their controls, units."""
    runs = tables.runs
    rows, verdicts = criteria_tests(runs, getattr(tables, "selection", None))
    deterministic = {m for m in rows["method"].unique() if not is_control(m)} if len(rows) else set()
    if len(deterministic) < 2:
        return
    part.add(
        "### Criteria beyond magnitude: the null test per criterion (sections 4.2 and 6)",
        "Each criterion is a score (magnitude; SNIP |w dL/dw| and OBD 1/2 H_ii w^2 on "
        "`pruning.score_samples` training examples at the trained weights; data-free SynFlow) "
        "and an allocation across layers (layer-wise as the paper, `_global`, `_lamp`, `_erk`); "
        "`units` removes whole hidden units. Per criterion: its ED and core size per width, and "
        "Table 2's test of the observed against the null ED (the 1x twin's core size), Holm "
        "within the criterion. Controls (`random`, `random_erk`, `*_shuffled`: the same per-layer "
        "counts, random positions) get rows but no say in the finding.",
    )
    part.table("criteria_table2", rows)
    part.add("Verdict on the null hypothesis (constant core size) per criterion:")
    part.table("criteria_verdicts", verdict_table(verdicts), columns=["model_type", "method", "status"])
    controls = control_differences(runs)
    if len(controls):
        part.add(
            "#### Criteria against random positions at their own allocation",
            "mean_diff = ED(criterion) - ED(control) over the runs pruned both ways; negative: the "
            "criterion's choice of weights keeps accuracy with fewer weights than its allocation "
            "alone. Paired t-test, Holm over all rows.",
        )
        part.table("criteria_controls", controls)
    units = unit_summary(runs)
    if len(units):
        part.add(
            "#### Whole units",
            "mean_unit_ed: the fraction of hidden units left at the ED; mean_ed_units: the weight "
            "density that implies (the weights of the model rebuilt without the removed units).",
        )
        part.table("criteria_units", units)
