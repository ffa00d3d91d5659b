"""Sections 2 and 6 of the report: the pruning methods compared on the same trained models."""

from __future__ import annotations

from pathlib import Path

from propensity.analysis import complete_runs
from propensity.analysis.methods import (
    ed_by_method,
    method_summary,
    methods_present,
    paired_differences,
    trajectories_by_method,
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
