"""The propensity exponent in the report (section 4.2): table, sensitivity, local slopes, figure.

Placed before Table 2: the exponent uses every run at every width with nothing capped, so it
carries the paper's question; the row tests that follow are the paper's own framing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from propensity.analysis.exponent import (
    ALPHA,
    DELTA,
    FEW_SEEDS,
    exponent_sensitivity,
    exponent_table,
    local_exponents,
)
from propensity.analysis.exponent_figure import exponent_figure
from propensity.report.parts import Part, Tables

SHOWN = ["model_type", "init", "b", "ci_low", "ci_high", "n_runs", "n_widths", "n_seeds",
         "p_equiv_density", "p_equiv_null", "verdict"]

CANNOT_TELL = (
    "What the exponent cannot tell. (1) It fits one power law over the widths run: a core "
    "that grows at first and then stops shows as a trend in the local slopes above, not in "
    "b, and nothing is said beyond the widths run. (2) The core is the weights magnitude "
    "pruning keeps at the accuracy threshold, an upper bound on the smallest subnetwork "
    "that would do; the sensitivity rows show how b moves with the threshold and the "
    "method. (3) ED can only take a density the trajectory evaluated (2% steps), so each "
    "core size is known to within a step; this adds noise, not a slope, as long as the "
    "step is the same at every width. (4) The seed is the unit of independence: with "
    f"fewer than {FEW_SEEDS} seeds the bootstrap interval runs narrow and the verdict "
    "is optimistic. (5) 'Neither' with an interval between 0 and 1 is a finding (the core "
    "grows, but slower than the model); 'neither' with a wide interval asks for more seeds. "
    "(6) It says how the core scales, not why (section 5)."
)


def exponent_block(tables: Tables, figures_dir: Path, part: Part) -> None:
    """Add the exponent table, its sensitivity and local slopes, the figure and its caveats."""
    runs = tables.runs
    exponents = getattr(tables, "exponents", None)
    if exponents is None:
        exponents = exponent_table(runs)
    part.add(
        "### The propensity exponent: core size against total weights",
        "Per model type and init, the OLS slope b of log(core size = ED x total weights) on "
        "log(total weights) over every complete run at every width, nothing capped (section "
        "4.2's contrast as one number): b = 0 is the null hypothesis (the core does not "
        "grow), b = 1 constant density. 95% CI: percentile interval of a bootstrap that "
        "draws seeds (init seed, data seed) as the unit, 9,999 resamples. Equivalence "
        f"(TOST, alpha = {ALPHA:g}) of |b - 1| < delta and |b - 0| < delta with delta = "
        f"{DELTA:g}, a tenth of the distance between the hypotheses: p_equiv_density, "
        "p_equiv_null; verdict: the hypothesis the data support, or neither.",
    )
    part.table("exponent", exponents, columns=SHOWN)
    notes = sorted({n for n in exponents.get("note", pd.Series(dtype=str)) if n})
    if notes:
        part.add("Notes: " + "; ".join(notes) + ".")
    sensitivity = exponent_sensitivity(runs)
    part.add(
        "Sensitivity: b at every accuracy-drop threshold the runs recorded and for every "
        "pruning method they carry (same bootstrap, same delta)."
    )
    part.table("exponent_sensitivity", sensitivity,
               columns=["measure", "model_type", "init", "b", "ci_low", "ci_high", "n_runs",
                        "verdict"])
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
        "the fit with its 95% band and the b = 0 and b = 1 lines",
    )
    part.add(CANNOT_TELL)
