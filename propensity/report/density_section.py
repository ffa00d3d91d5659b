"""Sections 4.1-4.2 of the report: effective density, weight counts and the null hypothesis.

Table 1 (weights per model and width), the propensity exponent (`exponent_section`), Table 2
(observed vs null-hypothesis ED) with the ANOVA and the t-tests behind it, the pairing with
the 1x twin, and Figures 3-6. A figure that compares two groups is left out, with a one-line
note, when one group has no runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from propensity.analysis import (
    ANOVA_COLUMNS,
    anova_table,
    complete_runs,
    ed_by_init,
    ed_by_threshold,
    effective_density_kde,
    format_table2,
    observed_weight_counts,
    pair_with_reference,
    pairing_summary,
    pruning_trajectories,
    table1,
    table2,
    unpruned_vs_null,
    weight_counts_by_width,
)
from propensity.analysis.model_types import INIT_NAMES
from propensity.analysis.panels import POINTS_BELOW
from propensity.analysis.significance import STUDENT_CAVEAT
from propensity.analysis.table2 import MARKS_LEGEND, format_tests
from propensity.analysis.verdict import null_hypothesis_verdict
from propensity.report.exponent_section import exponent_block
from propensity.report.parts import Part, Tables

# The data set each model is counted on in the paper's Table 1 (section 3.1).
PAPER_DATA = {"mlp": "mnist", "conv2": "cifar10", "resnet": "cifar10"}

# (file stem, caption, function of the tables); the order of the report.
FIGURES: list[tuple[str, str, Callable[[Any], Figure]]] = [
    (
        "fig3_pruning_trajectories",
        "Figure 3: validation accuracy against density (magnitude pruning), mean +- std per "
        "width; dashed: the accuracy the threshold allows (level-0 accuracy less the threshold), "
        "diamonds: each run's ED, where its trajectory first falls below it",
        lambda t: pruning_trajectories(t.runs, t.trajectories),
    ),
    (
        "fig4_ed_kde",
        "Figure 4: kernel density estimate of effective density per width; circles below: each "
        f"run's ED, for widths of fewer than {POINTS_BELOW} runs",
        lambda t: effective_density_kde(t.runs),
    ),
    (
        "fig5_weight_counts",
        "Figure 5: total vs unpruned weights per width (log scale, +- std; n runs under each "
        "width, circles single runs)",
        lambda t: weight_counts_by_width(t.runs),
    ),
    (
        "fig6_ed_by_init",
        "Figure 6: effective density by width, Glorot vs He (mean +- std, circles single runs)",
        lambda t: ed_by_init(t.runs),
    ),
    (
        "extra_ed_by_threshold",
        "Beyond the paper: effective density against the accuracy-drop threshold",
        lambda t: ed_by_threshold(t.runs),
    ),
    (
        "extra_unpruned_vs_null",
        "Beyond the paper: unpruned weights against the null hypothesis",
        lambda t: unpruned_vs_null(t.runs),
    ),
]


def missing_side(runs: pd.DataFrame, stem: str) -> str:
    """Why figure `stem` is left out (a comparison with one side empty), or '' to draw it."""
    if stem != "fig6_ed_by_init":
        return ""
    present = set(complete_runs(runs).get("init", pd.Series(dtype=str)).dropna())
    absent = [INIT_NAMES.get(i, i) for i in ("glorot", "he") if i not in present]
    if not absent:
        return ""
    return (
        f"Figure 6 (Glorot vs He) is left out: no complete {' or '.join(absent)} runs "
        "(add them with `init=glorot,he`)."
    )


def _thousands(counts: object) -> str:
    """``'266610, 266611'`` (the distinct counts of one cell) -> ``'266,610 / 266,611'``."""
    return " / ".join(f"{int(c):,}" for c in str(counts).split(", ") if c.strip().isdigit())


def table1_part(runs: pd.DataFrame, part: Part) -> None:
    """Table 1 for the data sets present: the recorded counts; the paper's where comparable."""
    done = complete_runs(runs)
    observed = observed_weight_counts(done)
    paper = table1()
    part.csvs["table1_weight_counts"] = paper
    part.add("### Table 1: prunable weights per model and width")
    pairs = {(m, d) for m, d in zip(done.get("model", []), done.get("data", []), strict=False)}
    comparable = paper[[(m, PAPER_DATA.get(m)) in pairs for m in paper["model"]]]
    part.add(
        "Weights recorded by the runs analysed here (per model, data set and width): the "
        "denominator of every ED (`propensity.pruning.total_weights`)."
    )
    part.csvs["observed_weight_counts"] = observed
    part.add(observed.assign(total_weights=observed["total_weights"].map(_thousands)))
    if comparable.empty:
        part.add(
            "None of these runs used the paper's data sets for their model (MLP: MNIST, "
            "Conv-2 and ResNet: CIFAR-10), so the paper's Table 1 is not compared here; the "
            "comparison is in [tables/table1_weight_counts.csv](tables/table1_weight_counts.csv)."
        )
        return
    part.add(
        "Beside the paper's Table 1, on the paper's inputs, for the models run on them. MLP "
        "counts agree; the paper's Conv-2 and ResNet counts are larger (see "
        "`propensity.analysis.weight_counts`).",
        comparable.reset_index(drop=True),
    )


def density_part(tables: Tables, figures_dir: Path) -> Part:
    """Table 1, Table 2 with its tests, the pairing, and Figures 3-6."""
    runs = tables.runs
    done = complete_runs(runs)
    part = Part("## Effective density and the null hypothesis (sections 4.1-4.2)")
    table1_part(runs, part)
    if len(done):
        exponent_block(tables, figures_dir, part)
    # the report's selection (unconverged runs out unless asked for) when it made one
    selection = getattr(tables, "selection", None)
    t2 = table2(runs, selection=selection)
    anova = anova_table(runs, selection=selection)
    pairing = pairing_summary(pair_with_reference(runs)) if len(done) else pd.DataFrame()
    part.csvs["table2"] = t2
    part.add(
        "### Table 2: observed vs null-hypothesis effective density (%)",
        f"{MARKS_LEGEND} The null ED pairs each run with the 1x run of the same model type, "
        "init, init seed and data seed, and is capped at 100% (section 4.2). n (obs / null): "
        "runs with an ED / runs whose 1x twin was found.",
    )
    part.table("table2_display", format_table2(t2, anova))
    verdicts = null_hypothesis_verdict(t2, anova)
    part.add(
        "### Verdict on the null hypothesis (uncapped widths only)",
        "\n".join(f"- **{v.model_type}**: {v.summary}" for v in verdicts) or "_(no runs)_",
    )
    part.add("### One-way ANOVA on unpruned weight counts, per model type")
    part.table("anova", anova, columns=ANOVA_COLUMNS)
    part.add(
        "### Tests of observed vs null ED, with 95% confidence intervals",
        "Welch's t-test where the null sample varies; a one-sample t-test against the constant "
        f"where it does not (no standardized effect size then). {STUDENT_CAVEAT}",
    )
    part.table("table2_tests", format_tests(t2))
    part.add("Every statistic: [tables/table2.csv](tables/table2.csv).")
    part.add("### Pairing with the 1x twin")
    part.table("pairing", pairing)
    part.add("### Figures")
    if selection is not None:
        part.add(f"The figures show the runs analysed. {selection.note()}")
    for stem, caption, draw in FIGURES:
        if note := missing_side(runs, stem):
            part.add(note)
            continue
        part.figure(draw(tables), figures_dir, stem, caption)
    return part
