"""The run table: every run's unpruned validation accuracy beside chance (sections 3.1-3.2).

A run that ended near chance (`propensity.analysis.chance`) is flagged here and left out of
every fit and table by the report's one selection step
(`propensity.analysis.run_selection.select_runs`), which lists it under "Runs left out".
"""

from __future__ import annotations

import pandas as pd

from propensity.analysis.chance import NEAR_CHANCE_MARGIN, accuracy_summary, accuracy_table, rule
from propensity.report.parts import Part

# Up to this many runs the table shows each; beyond, one row per model type and width (and
# each run near chance), with every run in the CSV.
LISTED_RUNS = 60
SHOWN = ["run_key", "model_type", "width", "init", "init_seed", "data_seed", "status",
         "unpruned_val_acc", "chance", "near_chance"]


def run_accuracy_part(runs: pd.DataFrame, margin: float = NEAR_CHANCE_MARGIN) -> Part:
    """Each run's unpruned validation accuracy, chance, and whether it ended near chance."""
    part = Part("### Unpruned validation accuracy of every run")
    table = accuracy_table(runs, margin)
    flagged = table[table["near_chance"]]
    part.add(
        "unpruned_val_acc: the trained model's validation accuracy before pruning (the pruning "
        "sweep's level 0, else the stop epoch's); chance: 1 / number of classes. A run is near "
        f"chance when its {rule(margin)}. Such a run has almost no accuracy to lose, so its "
        f"effective density measures noise: {len(flagged):,} of {len(table):,} run(s) are near "
        "chance and left out of every fit and table."
    )
    varying = [c for c in SHOWN if c in ("run_key", "width", "unpruned_val_acc", "chance",
                                         "near_chance") or table[c].nunique(dropna=False) > 1]
    if len(table) <= LISTED_RUNS:
        part.table("run_accuracy", table, columns=varying)
        return part
    part.csvs["run_accuracy"] = table
    part.add(
        f"Per model type and width ({len(table):,} runs; each run in "
        "[tables/run_accuracy.csv](tables/run_accuracy.csv)):",
        accuracy_summary(table),
    )
    if len(flagged):
        part.add("The runs near chance:", flagged[varying].reset_index(drop=True))
    return part
