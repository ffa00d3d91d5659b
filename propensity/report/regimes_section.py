"""Beyond the paper: does retraining change the answer? ED, Table 2 and the propensity
exponent per retraining regime, on the same trained runs (``docs/retraining.md``).

The section exists only when some run carries regimes (``regimes.parquet``, from the records'
``ed_by_regime``); a report of results without them is unchanged. Every number comes from
`propensity.analysis.regimes`, which runs the paper's analysis unchanged on each regime.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from propensity.analysis.exponent import DELTA, MIN_CLUSTERS_FOR_VERDICT
from propensity.analysis.regimes import (
    exponent_shifts,
    regime_exponents,
    regime_findings,
    regime_summary,
    regime_table2,
    regimes_present,
    side_by_side,
)
from propensity.analysis.regimes_figure import regimes_figure
from propensity.analysis.table2 import CAPPED_MARK, T_TEST_MARK
from propensity.report.parts import Part, Tables

QUESTION = (
    "Does retraining move the propensity exponent b toward 0 (Irto, Goldt and Sanguinetti "
    "2023: IMP with retraining converges to a core of constant size) or leave it where the "
    "paper found it without retraining?"
)
EXPONENT_SHOWN = ["regime", "model_type", "init", "b", "ci_low", "ci_high", "n_clusters", "verdict"]
SHIFT_SHOWN = ["model_type", "init", "regime", "shift", "ci_low", "ci_high", "n_runs", "n_clusters"]
CANNOT_TELL = (
    "What these numbers cannot tell. An ED under `finetune` or `imp` measures how small a "
    "network can be trained or repaired to; the paper's ED how much of a trained network is "
    "redundant, so a lower ED under retraining does not contradict it: the question is b. A "
    "winning-ticket claim needs `imp` to beat both controls (`imp_reinit`: the mask with fresh "
    "weights; `imp_random`: the same per-layer counts at random positions) at the same level "
    "across seeds; beating `none` shows only that retraining helps. The fine-tuning ED found by "
    "bisection assumes accuracy falls monotonically with density (see `docs/retraining.md`)."
)


def regime_key_findings(tables: Tables) -> list[str]:
    """The key findings' paragraph on retraining, or nothing when no analysed run carries
    regimes."""
    regimes = getattr(tables, "regimes", None)
    exponents = regime_exponents(tables.runs, regimes)
    lines = regime_findings(exponents, exponent_shifts(tables.runs, regimes))
    if not lines:
        return []
    return [f"**Retraining.** {QUESTION}" + "".join(f"\n- {line}" for line in lines)]


def regimes_part(tables: Tables, figures_dir: Path) -> Part | None:
    """The regimes' ED, exponent, paired shift of b, Table 2 side by side and the figure;
    None when no run carries regimes."""
    regimes = getattr(tables, "regimes", None)
    if regimes is None or regimes.empty:
        return None
    runs = tables.runs
    part = Part("## Retraining regimes (beyond the paper)")
    carrying = runs["run_key"].isin(regimes["run_key"])
    if not carrying.any():
        part.add(f"{regimes['run_key'].nunique():,} runs carry retraining regimes, but none of "
                 "them is analysed (see Runs for why they were left out).")
        return part
    present = regimes_present(regimes)
    part.add(
        f"{int(carrying.sum()):,} analysed runs carry retraining regimes ({', '.join(present)}); "
        "every regime below is read on those runs only, so the regimes compare the same trained "
        "models. `none` is the paper's ED (a run's own `none` entry, else its own ED). Each "
        "regime's ED is the paper's definition (the first level that degrades more than the "
        "threshold) on its own trajectory; the matching density is the lowest density within "
        f"the threshold. {QUESTION}",
    )
    part.table("regimes_summary", regime_summary(runs, regimes))
    exponents = regime_exponents(runs, regimes)
    part.add(
        "### The propensity exponent per regime",
        "The exponent of the effective density section, fitted once per regime with the same "
        "entry rules, seed clusters, t-interval and verdict (TOST, delta = "
        f"{DELTA:g}; a verdict needs {MIN_CLUSTERS_FOR_VERDICT} seed clusters).",
    )
    part.table("regimes_exponent", exponents, columns=EXPONENT_SHOWN)
    shifts = exponent_shifts(runs, regimes)
    part.add(
        "### Does b move? The paired shift against no retraining",
        "shift = b(regime) - b(none) over the runs with a core under both: each seed cluster "
        "has a slope under both regimes, the shift is the mean of its paired differences and "
        "the 95% CI their t-interval (clusters - 1 degrees of freedom). Pairing removes what a "
        "cluster's slope shares across regimes, so this interval can exclude 0 where the two "
        "regimes' own intervals overlap.",
    )
    part.table("regimes_shift", shifts, columns=SHIFT_SHOWN)
    part.add("The key findings say per regime what these intervals carry (**Retraining.**).")
    rows, verdicts = regime_table2(runs, regimes, getattr(tables, "selection", None))
    part.csvs["regimes_table2"] = rows
    part.add(
        "### Table 2 per regime, side by side (%)",
        "Per regime: observed ED (mean ± sd) / null ED (the 1x twin's core under the same "
        f"regime, capped at 100%), n runs. {T_TEST_MARK}: observed and null ED differ, p < 0.05 "
        f"Holm-adjusted within the regime over the uncapped rows; {CAPPED_MARK}: the same at a "
        "capped row. Every statistic: [tables/regimes_table2.csv](tables/regimes_table2.csv).",
    )
    part.table("regimes_table2_display", side_by_side(rows))
    part.add("Verdict on the null hypothesis (constant core size) per regime:")
    part.table("regimes_verdicts", pd.DataFrame(
        [{"model_type": v.model_type, "regime": r, "status": v.status, "summary": v.summary}
         for r, v in verdicts], columns=["model_type", "regime", "status", "summary"]),
        columns=["model_type", "regime", "status"])
    part.figure(regimes_figure(runs, regimes), figures_dir, "regimes_core_size",
                "Core size against total weights, one line per retraining regime: the mean "
                "core of each width and the fitted line (slope b) per regime")
    part.add(CANNOT_TELL)
    return part
