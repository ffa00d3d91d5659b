"""The null hypothesis' effective density (section 4.2, Table 2).

The null hypothesis says the 'core' model size |omega| does not change with width. The
paper makes it testable run by run: pair each run with the 1x run of the same model type
(architecture, optimizer, task), initialisation scheme, init seed and data seed; take that
1x run's unpruned weight count as a fraction of this run's total weights; cap it at 100%
(a narrow model cannot keep more weights than it has). That fraction is the ED this run
would have shown if its core were exactly as large as its 1x twin's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from propensity.analysis.model_types import complete_runs

REFERENCE_WIDTH = 1.0
# What must match between a run and its 1x twin, besides the model type (section 4.2).
PAIR_KEYS: tuple[str, ...] = ("init", "init_seed", "data_seed")

PAIRED = "paired"
NO_TWIN = "no 1x run with the same init and seeds"


def null_ed(ref_unpruned_weights: float, total_weights: float) -> float:
    """min(1, unpruned weights of the 1x twin / total weights of this width)."""
    return float(min(1.0, ref_unpruned_weights / total_weights))


def pair_with_reference(
    runs: pd.DataFrame, reference_width: float = REFERENCE_WIDTH
) -> pd.DataFrame:
    """Every complete run with its 1x twin and its null-hypothesis ED.

    Adds `ref_run_key`, `ref_unpruned_weights`, `null_ed` (fraction, capped at 1),
    `null_capped` (the cap applied) and `pairing`: ``'paired'`` or why no twin was used
    (none with the same init and seeds, or several, which would make the pairing ambiguous).
    Runs without a twin keep `null_ed` = NaN and are left out of the null sample.
    A run at the reference width is its own twin, so its null ED equals its observed ED.
    """
    done = complete_runs(runs)
    keys = ["model_type", *PAIR_KEYS]
    is_ref = np.isclose(done["width"].astype(float), reference_width)
    reference = done.loc[is_ref, [*keys, "run_key", "unpruned_weights"]]
    counts = reference.groupby(keys, dropna=False).size().rename("n_twins").reset_index()
    reference = reference.rename(
        columns={"run_key": "ref_run_key", "unpruned_weights": "ref_unpruned_weights"}
    ).drop_duplicates(subset=keys, keep=False)

    merged = done.reset_index(drop=True).merge(counts, on=keys, how="left")
    merged = merged.merge(reference, on=keys, how="left")
    n_twins = merged["n_twins"].fillna(0).astype(int)
    ambiguous = n_twins.astype(str) + " 1x runs with the same init and seeds"
    merged["pairing"] = np.where(n_twins == 1, PAIRED, np.where(n_twins == 0, NO_TWIN, ambiguous))
    ratio = merged["ref_unpruned_weights"].astype(float) / merged["total_weights"].astype(float)
    merged["null_capped"] = ratio > 1
    merged["null_ed"] = ratio.clip(upper=1.0)
    return merged.drop(columns="n_twins")


def pairing_summary(paired: pd.DataFrame) -> pd.DataFrame:
    """How many runs per model type and width found their 1x twin, and why the others did not."""
    table = paired.pivot_table(
        index=["model_type", "width"],
        columns="pairing",
        values="run_key",
        aggfunc="count",
        fill_value=0,
    )
    table.columns = [str(c) for c in table.columns]
    return table.reset_index()
