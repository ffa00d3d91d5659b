"""Beyond the paper (its discussion): the local learning coefficient beside effective density."""

from __future__ import annotations

from pathlib import Path

from propensity.analysis.llc import (
    figure_llc_by_width,
    figure_llc_traces,
    figure_llc_vs_unpruned,
    llc_anova,
    llc_per_width,
    llc_vs_unpruned,
    read_traces,
    runs_with_llc,
    valid_llc,
)
from propensity.report.parts import Part, Tables

# Runs whose chains the trace figure shows: enough to see their shape, few enough to read.
TRACE_RUNS = 4


def llc_part(tables: Tables, figures_dir: Path) -> Part:
    """LLC per width, against unpruned weights, its ANOVA across widths, and chain traces."""
    part = Part("## Learning coefficient (beyond the paper)")
    asked = runs_with_llc(tables.runs)
    if asked.empty:
        part.add("No run estimated the local learning coefficient; add `llc=sgld` "
                 "(`pip install propensity[llc]`).")
        return part
    valid = valid_llc(tables.runs)
    part.add(
        f"{len(asked):,} runs estimated the LLC (SGLD, devinterp); {len(valid):,} estimates are "
        "valid. An invalid estimate (a chain diverged, or its loss fell clearly below the "
        "trained loss) is never averaged; `invalid` counts them per width."
    )
    part.table("llc_by_width", llc_per_width(tables.runs))
    if valid.empty:
        return part
    part.add("### Is the LLC constant across widths? (the null hypothesis' analogue, section 4.2)")
    part.table("llc_anova", llc_anova(tables.runs))
    part.add("### LLC against unpruned weights (Spearman rank correlation)")
    part.table("llc_vs_unpruned", llc_vs_unpruned(tables.runs))
    part.figure(figure_llc_by_width(tables.runs), figures_dir, "llc_by_width",
                "LLC per width (mean and sd of valid estimates; n per point in the legend)")
    part.figure(figure_llc_vs_unpruned(tables.runs), figures_dir, "llc_vs_unpruned",
                "LLC against unpruned weights, one point per run")
    traces = {}
    if "run_dir" in asked.columns:
        for _, run in asked.head(TRACE_RUNS).iterrows():
            trace = read_traces(Path(str(run["run_dir"])))
            if trace is not None:
                traces[str(run["run_key"])] = trace
    if traces:
        part.figure(figure_llc_traces(traces), figures_dir, "llc_traces",
                    f"SGLD chains' loss per draw, first {len(traces)} runs (trained loss dashed)")
    return part
