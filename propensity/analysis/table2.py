"""Table 2: observed vs null-hypothesis effective density per model type and width (section 4.2).

`table2` returns one row per (model type, width) with the sample sizes, observed ED,
null-hypothesis ED, Welch's and Student's t-tests with Holm-adjusted p-values, effect sizes
and 95% confidence intervals; `anova_table` returns one row per model type for the ANOVA on
unpruned weight counts. `format_table2` lays both out as the paper prints Table 2 (percent,
a star on the model type for ANOVA, an asterisk on a row for its t-test). All EDs are
fractions in the computation and percent only on display.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from propensity.analysis.model_types import ordered, width_label
from propensity.analysis.null_hypothesis import PAIRED, REFERENCE_WIDTH, pair_with_reference
from propensity.analysis.significance import anova, effect_sizes, holm, mean_ci, t_test

ALPHA = 0.05
# The columns that show the tests behind Table 2 (the report and notebook 01 print these).
TEST_COLUMNS: list[str] = [
    "model_type", "width", "n_runs", "n_paired", "n_capped", "diff", "diff_ci_low",
    "diff_ci_high", "t_welch", "p_welch", "p_welch_holm", "t_student", "p_student",
    "p_student_holm", "cohens_d", "hedges_g", "note",
]  # fmt: skip
ANOVA_COLUMNS: list[str] = [
    "model_type", "runs_per_width", "F", "p", "eta_sq", "welch_F", "welch_p", "note",
    "welch_note",
]  # fmt: skip
ANOVA_MARK = "★"
T_TEST_MARK = "∗"


def table2(
    runs: pd.DataFrame, reference_width: float = REFERENCE_WIDTH, alpha: float = ALPHA
) -> pd.DataFrame:
    """Table 2 as numbers, one row per (model type, width), widths ascending.

    The t-tests compare every observed ED of a width with the null EDs of that width's runs
    that found a 1x twin (unpaired, two-tailed, as the paper does). Holm's correction runs
    over all tested rows of the table, Welch's and Student's separately; `significant` uses
    the Holm-adjusted Welch p-value, the most conservative of the four. `note` says why any
    statistic of the row is missing.
    """
    paired = pair_with_reference(runs, reference_width)
    rows = []
    for (model_type, width), cell in paired.groupby(["model_type", "width"], sort=True):
        observed = cell["effective_density"]
        null = cell.loc[cell["pairing"] == PAIRED, "null_ed"]
        obs, nul = mean_ci(observed), mean_ci(null)
        row: dict[str, object] = {
            "model_type": model_type,
            "width": float(width),
            "is_reference": bool(np.isclose(width, reference_width)),
            "n_runs": obs["n"],
            "n_paired": nul["n"],
            "n_capped": int(cell.loc[cell["pairing"] == PAIRED, "null_capped"].sum()),
            "mean_ed": obs["mean"],
            "std_ed": obs["std"],
            "ed_ci_low": obs["ci_low"],
            "ed_ci_high": obs["ci_high"],
            "null_mean_ed": nul["mean"],
            "null_std_ed": nul["std"],
            "null_ci_low": nul["ci_low"],
            "null_ci_high": nul["ci_high"],
            "mean_unpruned": cell["unpruned_weights"].astype(float).mean(),
            "std_unpruned": cell["unpruned_weights"].astype(float).std(ddof=1),
            "total_weights": cell["total_weights"].astype(float).median(),
        }
        notes: list[str] = []
        if row["is_reference"]:
            welch = student = effect = {}
            notes.append("reference width: its null ED is its observed ED, no test")
        else:
            welch = t_test(observed, null, equal_var=False)
            student = t_test(observed, null, equal_var=True)
            effect = effect_sizes(observed, null)
            if not nul["n"]:
                notes.append("null: no run of this width has a 1x twin")
            notes += [
                f"{name}: {part['note']}"
                for name, part in (("t-test", welch), ("effect size", effect))
                if part["note"]
            ]
        if obs["note"]:
            notes.append(f"observed: {obs['note']}")
        row |= {
            "t_welch": welch.get("t", np.nan),
            "df_welch": welch.get("df", np.nan),
            "p_welch": welch.get("p", np.nan),
            "t_student": student.get("t", np.nan),
            "df_student": student.get("df", np.nan),
            "p_student": student.get("p", np.nan),
            "diff": welch.get("diff", np.nan),
            "diff_ci_low": welch.get("diff_ci_low", np.nan),
            "diff_ci_high": welch.get("diff_ci_high", np.nan),
            "cohens_d": effect.get("cohens_d", np.nan),
            "hedges_g": effect.get("hedges_g", np.nan),
            "note": "; ".join(notes),
        }
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["p_welch_holm"] = holm(table["p_welch"])
    table["p_student_holm"] = holm(table["p_student"])
    table["significant"] = table["p_welch_holm"] < alpha
    return table


def anova_table(runs: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """One-way ANOVA across widths on unpruned weight counts, per model type (section 4.2).

    'Are the mean pruned model sizes of different widths different?' A significant result
    rejects the null hypothesis that the core size |omega| does not depend on width.
    """
    paired = pair_with_reference(runs)
    rows = []
    for model_type, runs_of_type in paired.groupby("model_type", sort=True):
        groups = {
            float(w): g["unpruned_weights"].astype(float)
            for w, g in runs_of_type.groupby("width", sort=True)
        }
        result = anova(groups)
        sizes = ", ".join(f"{width_label(w)}: {len(g.dropna())}" for w, g in groups.items())
        rows.append({"model_type": model_type, "runs_per_width": sizes, **result})
    table = pd.DataFrame(rows)
    if not table.empty:
        table["significant"] = table["p"] < alpha
    return table


def _percent(value: float, digits: int = 1) -> str:
    return "n/a" if pd.isna(value) else f"{100 * value:.{digits}f}"


def format_table2(table: pd.DataFrame, anova_rows: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as the paper prints it: percent, ★ on an ANOVA-significant model type, ∗ on a
    row whose (Holm-adjusted Welch) t-test is significant, and n beside every mean."""
    significant_types = set(
        anova_rows.loc[anova_rows.get("significant", pd.Series(dtype=bool)), "model_type"]
        if not anova_rows.empty
        else []
    )
    rows = []
    for model_type in ordered(table["model_type"]) if not table.empty else []:
        first = True
        for _, row in table[table["model_type"] == model_type].iterrows():
            label = f"{model_type} {ANOVA_MARK}" if model_type in significant_types else model_type
            mark = f" {T_TEST_MARK}" if row["significant"] else ""
            rows.append(
                {
                    "Model": label if first else "",
                    "Size (x)": f"{row['width']:g}",
                    "Null Hyp. Mean ED": _percent(row["null_mean_ed"]),
                    "Null Hyp. STD ED": _percent(row["null_std_ed"]),
                    "Mean ED": _percent(row["mean_ed"]) + mark,
                    "STD ED": _percent(row["std_ed"]),
                    "n (obs / null)": f"{row['n_runs']} / {row['n_paired']}",
                    "p (Welch, Holm)": _format_p(row["p_welch_holm"]),
                    "Hedges' g": "n/a" if pd.isna(row["hedges_g"]) else f"{row['hedges_g']:.2f}",
                    "Note": row["note"],
                }
            )
            first = False
    return pd.DataFrame(rows)


def _format_p(p: float) -> str:
    if pd.isna(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"
