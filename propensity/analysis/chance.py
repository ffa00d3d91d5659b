"""Runs that ended near chance: each run's unpruned accuracy beside chance (sections 3.1-3.2).

Effective density reads where a trained model's accuracy first drops by the threshold (5
points in the paper's figures, section 3.2). A model that ended close to chance has almost
no accuracy to lose: its pruning trajectory measures noise around chance, and its ED says
nothing about how much of the model its task needs. The rule: a run whose unpruned
validation accuracy (the pruning sweep's level 0, else the training's last validation
accuracy) is within `NEAR_CHANCE_MARGIN` (10 points) of chance, 1 / number of classes, is
near chance. `propensity.analysis.run_selection.select_runs` leaves such runs out of every
fit and table, and the report's run table flags them.

The number of classes is the run's own (``num_classes`` in its record); a record without it
takes the class count of its data set's name (`CLASSES_BY_DATA`). A run whose class count is
unknown either way is never called near chance: its chance level is not known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from propensity.analysis.model_types import model_type_labels

NEAR_CHANCE_MARGIN = 0.10
# Accuracies are multiples of 1/N: an accuracy exactly at the margin (up to float noise)
# counts as within it.
TOLERANCE = 1e-9
# The class count of each data set the project ships (`propensity.data`), for records that
# do not carry their own.
CLASSES_BY_DATA: dict[str, int] = {
    "digits": 10,
    "mnist": 10,
    "fashion_mnist": 10,
    "cifar10": 10,
    "cifar100": 100,
    "svhn": 10,
    "synthetic": 10,
}
ACCURACY_COLUMNS = ["run_key", "model_type", "width", "init", "init_seed", "data_seed", "status",
                    "unpruned_val_acc", "chance", "near_chance"]


def rule(margin: float = NEAR_CHANCE_MARGIN) -> str:
    """The near-chance rule, for captions and the report: what makes a run near chance."""
    return (
        f"unpruned validation accuracy is at most {100 * margin:g} points above chance "
        "(1 / number of classes)"
    )


def unpruned_accuracy(runs: pd.DataFrame) -> pd.Series:
    """Each run's unpruned validation accuracy: the pruning sweep's level 0 (``base_val_acc``),
    else the validation accuracy at the stop epoch (``val_acc``); NaN where neither exists."""
    nothing = pd.Series(np.nan, index=runs.index, dtype=float)
    base = pd.to_numeric(runs.get("base_val_acc", nothing), errors="coerce").astype(float)
    final = pd.to_numeric(runs.get("val_acc", nothing), errors="coerce").astype(float)
    return base.fillna(final).rename("unpruned_val_acc")


def chance_accuracy(runs: pd.DataFrame) -> pd.Series:
    """Each run's chance accuracy, 1 / number of classes: the run's ``num_classes`` where it
    recorded one, else its data set's (`CLASSES_BY_DATA`); NaN where neither is known."""
    by_name = runs.get("data", pd.Series(None, index=runs.index)).map(CLASSES_BY_DATA)
    recorded = runs.get("num_classes", pd.Series(None, index=runs.index))
    classes = pd.to_numeric(recorded, errors="coerce").astype(float)
    classes = classes.fillna(pd.to_numeric(by_name, errors="coerce").astype(float))
    return (1.0 / classes.where(classes >= 2)).rename("chance")


def near_chance(runs: pd.DataFrame, margin: float = NEAR_CHANCE_MARGIN) -> pd.Series:
    """Whether each run ended near chance (`rule`); False where its accuracy or chance is
    unknown."""
    accuracy, chance = unpruned_accuracy(runs), chance_accuracy(runs)
    flagged = (accuracy - chance) <= margin + TOLERANCE
    return (flagged & accuracy.notna() & chance.notna()).rename("near_chance")


def accuracy_table(runs: pd.DataFrame, margin: float = NEAR_CHANCE_MARGIN) -> pd.DataFrame:
    """One row per run: its identity, status, unpruned validation accuracy, chance and the
    near-chance flag (`ACCURACY_COLUMNS`), ordered by model type, width and seeds."""
    if runs.empty:
        return pd.DataFrame(columns=ACCURACY_COLUMNS)
    table = runs.assign(
        model_type=model_type_labels(runs),
        unpruned_val_acc=unpruned_accuracy(runs),
        chance=chance_accuracy(runs),
        near_chance=near_chance(runs, margin),
    )
    for column in ACCURACY_COLUMNS:
        if column not in table.columns:
            table[column] = None
    order = [c for c in ("model_type", "width", "init", "init_seed", "data_seed", "run_key")
             if table[c].notna().any()]
    return table.sort_values(order, na_position="last")[ACCURACY_COLUMNS].reset_index(drop=True)


def accuracy_summary(table: pd.DataFrame) -> pd.DataFrame:
    """`accuracy_table` per model type and width: runs, the lowest, median and highest
    unpruned validation accuracy, chance, and how many runs are near chance."""
    columns = ["model_type", "width", "runs", "min_acc", "median_acc", "max_acc", "chance",
               "near_chance"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    grouped = table.groupby(["model_type", "width"], dropna=False)
    summary = grouped.agg(
        runs=("run_key", "size"),
        min_acc=("unpruned_val_acc", "min"),
        median_acc=("unpruned_val_acc", "median"),
        max_acc=("unpruned_val_acc", "max"),
        chance=("chance", "max"),
        near_chance=("near_chance", "sum"),
    )
    return summary.reset_index()[columns]
