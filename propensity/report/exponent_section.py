"""The propensity exponent in the report (section 4.2): table, sensitivity, local slopes, figure.

Placed before Table 2: the exponent reads the paper's question as one number over every
width; the row tests that follow are the paper's own framing. What enters the fit, the
interval and the verdict's rule are `propensity.analysis.core_sizes` and
`propensity.analysis.exponent`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from propensity.analysis.exponent import (
    ALPHA,
    DELTA,
    MIN_CLUSTERS_FOR_VERDICT,
    exponent_sensitivity,
    exponent_table,
    local_exponents,
)
from propensity.analysis.exponent_figure import exponent_figure
from propensity.report.parts import Part, Tables

SHOWN = ["model_type", "init", "b", "ci_low", "ci_high", "n_runs", "n_clusters", "verdict"]
TESTS_SHOWN = ["model_type", "init", "uncapped_widths", "b_uncapped", "ci_low_uncapped",
               "ci_high_uncapped", "p_equiv_density", "p_equiv_null"]
SENSITIVITY_SHOWN = ["measure", "model_type", "init", "b", "95% CI", "n_clusters",
                     "never degraded / zero core", "verdict"]

CANNOT_TELL = (
    "What the exponent cannot tell. (1) It fits one power law over the widths run: a core "
    "that grows at first and then stops shows as a trend in the local slopes above, not in "
    "b, and nothing is said beyond the widths run. (2) The core is the weights magnitude "
    "pruning keeps at the accuracy threshold, an upper bound on the smallest subnetwork "
    "that would do; the sensitivity rows show how b moves with the threshold and the "
    "method. (3) ED can only take a density the trajectory evaluated (2% steps), so each "
    "core size is known to within a step. (4) The seed cluster is the unit of independence: "
    "the data seed (its validation split is where ED is read) or, with one data split, the "
    "init seed, and then the interval holds for that split only. Init seeds reused across "
    "data seeds are taken as independent between clusters. (5) Runs that never degraded are "
    "left out, so the fit is conditional on degrading; the counts per width say where. "
    "(6) It says how the core scales, not why (section 5)."
)


def exponent_block(tables: Tables, figures_dir: Path, part: Part) -> None:
    """Add the exponent table, what entered it, its sensitivity and local slopes, the
    figure and its caveats."""
    runs = tables.runs
    exponents = getattr(tables, "exponents", None)
    if exponents is None:
        exponents = exponent_table(runs)
    part.add(
        "### The propensity exponent: core size against total weights",
        "Per model type and init, b: the slope of log(core size = ED x total weights) on "
        "log(total weights), section 4.2's contrast as one number: b = 0 is the null "
        "hypothesis (the core does not grow), b = 1 constant density. Each seed cluster "
        "(`cluster`: the data seed, or the init seed where all runs share one data split) "
        "gets its own least-squares line; b is the mean of the clusters' slopes and the 95% "
        "CI the t-interval with clusters - 1 degrees of freedom. Equivalence (TOST, alpha = "
        f"{ALPHA:g}, delta = {DELTA:g}): p_equiv_density tests |b - 1| < delta over every "
        "width; p_equiv_null tests |b - 0| < delta over the uncapped widths only "
        "(`uncapped_widths`, with their own fit b_uncapped): below them a model is smaller "
        "than the 1x core, keeps at most all its weights, and the null predicts b = 1 there. "
        f"A verdict needs {MIN_CLUSTERS_FOR_VERDICT} seed clusters; with fewer the estimate "
        "and interval stand and the verdict says so.",
    )
    part.table("exponent", exponents, columns=SHOWN)
    part.add("The two equivalence tests: b = 1 over every width (p_equiv_density), b = 0 over "
             "the uncapped widths and their own fit (p_equiv_null).")
    part.table("exponent_tests", exponents[[c for c in TESTS_SHOWN if c in exponents]])
    entries = [f"{row['model_type']}, {row['init']}: {row['entries']}"
               for _, row in exponents.iterrows() if row["entries"]]
    part.add(
        "What entered the fit. Runs that never degraded report the last level's density, "
        "which bounds their ED from above: they are left out and counted. Runs that degraded "
        "only at density 0 passed one step above, and their core is read there "
        "(ed_last_pass). Counts per width: " + ("; ".join(entries) if entries else
                                                      "no runs") + "."
    )
    notes = sorted({n for n in exponents.get("note", pd.Series(dtype=str)) if n})
    if notes:
        part.add("Notes: " + "; ".join(notes) + ".")
    sensitivity = exponent_sensitivity(runs, getattr(tables, "trajectories", None))
    part.add(
        "Sensitivity: b at every accuracy-drop threshold the runs recorded (never-degraded "
        "runs found in each run's trajectory at that threshold) and for every pruning method "
        "they carry (its own never-degraded flags), each with its own clusters and verdict."
    )
    shown = sensitivity.assign(**{
        "95% CI": [f"{lo:.2f} to {hi:.2f}" if pd.notna(lo) else "n/a"
                   for lo, hi in zip(sensitivity["ci_low"], sensitivity["ci_high"], strict=True)],
        "never degraded / zero core": [f"{n} / {z}" for n, z in zip(
            sensitivity["n_never_degraded"], sensitivity["n_zero_core"], strict=True)],
    })
    part.csvs["exponent_sensitivity"] = sensitivity
    part.add(shown[SENSITIVITY_SHOWN] if len(shown) else "No sensitivity rows: no other "
             "threshold or method recorded.",
             "All columns: [tables/exponent_sensitivity.csv](tables/exponent_sensitivity.csv).")
    part.add(
        "Local slopes between adjacent widths (mean log core over mean log total weights): "
        "one power law gives the same slope for every pair."
    )
    part.table("exponent_local", local_exponents(runs))
    part.figure(
        exponent_figure(runs),
        figures_dir,
        "exponent",
        "Propensity exponent: log core size against log total weights, one point per run, "
        "the fit with its 95% t-band over the seed clusters, never-degraded runs at their "
        "upper bound, and the b = 0 and b = 1 lines",
    )
    part.add(CANNOT_TELL)
