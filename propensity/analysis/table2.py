"""Table 2: observed vs null-hypothesis effective density per model type and width (section 4.2).

`table2` returns one row per (model type, width) with the sample sizes, observed ED,
null-hypothesis ED, the test of one against the other that the data allow (named in
`test`), the paper's Student test beside it, Holm-adjusted p-values, effect sizes where they
are defined and 95% confidence intervals; `anova_table` returns one row per model type for
the ANOVA on unpruned weight counts (`propensity.analysis.verdict` says per model type what
the two together support). `format_table2` lays Table 2 out as the paper prints it (percent, a
star on the model type for ANOVA, an asterisk on a row for its t-test). All EDs are fractions
in the computation and percent only on display.

Rows whose null ED is capped at 100% (a width too narrow to hold its 1x twin's core) are
flagged (`null_capped`) and kept apart: there any observed ED below 100% rejects the null,
so their tests say nothing about width. They get their own Holm family, their own mark, and
no say in the verdict. Unconverged runs are left out by default (`propensity.analysis.
run_selection`); each row counts them (`n_unconverged`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from propensity.analysis.formatting import format_p
from propensity.analysis.model_types import ordered, width_label
from propensity.analysis.null_hypothesis import PAIRED, REFERENCE_WIDTH, pair_with_reference
from propensity.analysis.run_selection import RunSelection, select_runs
from propensity.analysis.significance import anova, compare_with_null, holm, mean_ci

ALPHA = 0.05
CAPPED_NOTE = "null capped at 100%: any ED below 100% rejects it"
# The columns that show the tests behind Table 2 (the report and notebook 01 print these).
TEST_COLUMNS: list[str] = [
    "model_type", "width", "test", "n_runs", "n_paired", "null_capped", "n_unconverged",
    "diff", "diff_ci_low", "diff_ci_high", "p", "p_holm", "p_student", "p_student_holm",
    "hedges_g", "note",
]  # fmt: skip
ANOVA_COLUMNS: list[str] = [
    "model_type", "runs_per_width", "F", "p", "eta_sq", "welch_F", "welch_p", "note",
    "uncapped_widths", "test_uncapped", "F_uncapped", "p_uncapped", "note_uncapped",
]  # fmt: skip
ANOVA_MARK = "★"
T_TEST_MARK = "∗"
CAPPED_MARK = "†"
MARKS_LEGEND = (
    f"{ANOVA_MARK} on a model type: one-way ANOVA across widths on unpruned weight counts, "
    f"p < 0.05. {T_TEST_MARK} on a row: observed ED differs from the null ED, p < 0.05 "
    f"Holm-adjusted over the uncapped rows. {CAPPED_MARK}: the same at a row whose null is "
    f"capped at 100% (Holm over the capped rows), where any ED below 100% rejects it."
)
UNCAPPED, CAPPED = "uncapped", "capped"


def _selection(runs: pd.DataFrame, include_unconverged: bool, selection: RunSelection | None) -> RunSelection:
    return selection if selection is not None else select_runs(runs, include_unconverged)


def table2(
    runs: pd.DataFrame,
    reference_width: float = REFERENCE_WIDTH,
    alpha: float = ALPHA,
    include_unconverged: bool = False,
    selection: RunSelection | None = None,
) -> pd.DataFrame:
    """Table 2 as numbers, one row per (model type, width), widths ascending.

    Runs: `select_runs(runs, include_unconverged)`, or the given `selection` (one made with
    the trajectories and histories, as the report does). Each row compares the observed EDs
    of a width with the null EDs of its runs that found a 1x twin (`compare_with_null`):
    Welch's unpaired two-tailed t-test, or a one-sample t-test when the null is a constant
    (all capped, or all twins with one ED); `test` names it, `p` is its p-value and
    `p_student` the paper's Student test on the same samples. Holm's correction runs over
    the tested rows of each family (`family`: uncapped or capped), the named test and the
    paper's separately; `significant` uses the Holm-adjusted named test. `note` says why any
    statistic of the row is missing, and flags a capped null.
    """
    chosen = _selection(runs, include_unconverged, selection)
    unconverged = chosen.unconverged_counts()
    paired = pair_with_reference(chosen.kept, reference_width)
    rows = []
    for (model_type, width), cell in paired.groupby(["model_type", "width"], sort=True):
        rows.append(_row(model_type, float(width), cell, reference_width))
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["n_unconverged"] = [
        int(unconverged.get((m, w), 0)) for m, w in zip(table["model_type"], table["width"], strict=True)
    ]
    table["family"] = np.where(table["is_reference"], "", np.where(table["null_capped"], CAPPED, UNCAPPED))
    for column in ("p", "p_student"):
        table[f"{column}_holm"] = np.nan
        for family in (UNCAPPED, CAPPED):
            members = table["family"] == family
            table.loc[members, f"{column}_holm"] = holm(table.loc[members, column])
    table["significant"] = table["p_holm"] < alpha
    return table


def _row(model_type: str, width: float, cell: pd.DataFrame, reference_width: float) -> dict:
    observed = cell["effective_density"]
    twinned = cell[cell["pairing"] == PAIRED]
    null = twinned["null_ed"]
    obs, nul = mean_ci(observed), mean_ci(null)
    n_capped = int(twinned["null_capped"].sum())
    row: dict[str, object] = {
        "model_type": model_type,
        "width": width,
        "is_reference": bool(np.isclose(width, reference_width)),
        "n_runs": obs["n"],
        "n_paired": nul["n"],
        "n_capped": n_capped,
        "null_capped": n_capped > 0,
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
    test: dict[str, object] = {}
    if row["is_reference"]:
        notes.append("reference width: its null ED is its observed ED, no test")
    else:
        if n_capped and n_capped == nul["n"]:
            notes.append(CAPPED_NOTE)
        elif n_capped:
            notes.append(f"{n_capped} of {nul['n']} null EDs capped at 100%")
        test = compare_with_null(observed, null, constant=True if n_capped and n_capped == nul["n"] else None)
        if not nul["n"]:
            notes.append("null: no run of this width has a 1x twin")
        if test["note"]:
            notes.append(str(test["note"]))
    if obs["note"]:
        notes.append(f"observed: {obs['note']}")
    for key in ("test", "t", "df", "p", "diff", "diff_ci_low", "diff_ci_high", "cohens_d",
                "hedges_g", "t_student", "df_student", "p_student"):  # fmt: skip
        row[key] = test.get(key, "" if key == "test" else np.nan)
    row["note"] = "; ".join(notes)
    return row


def anova_table(
    runs: pd.DataFrame,
    alpha: float = ALPHA,
    include_unconverged: bool = False,
    selection: RunSelection | None = None,
) -> pd.DataFrame:
    """One-way ANOVA across widths on unpruned weight counts, per model type (section 4.2).

    'Are the mean pruned model sizes of different widths different?' A significant result
    rejects the null hypothesis that the core size |omega| does not depend on width. The
    paper's ANOVA runs over every width (`F`, `p`); but where a width's total is below its
    1x twin's core the null itself predicts a smaller count (the cap), so that ANOVA rejects
    by construction once a narrow width is in. `F_uncapped`, `p_uncapped` run it over the
    widths whose null is not capped (`uncapped_widths`), the test the verdict rests on.
    Runs are chosen as in `table2`.
    """
    chosen = _selection(runs, include_unconverged, selection)
    paired = pair_with_reference(chosen.kept)
    rows = []
    for model_type, runs_of_type in paired.groupby("model_type", sort=True):
        by_width = dict(tuple(runs_of_type.groupby("width", sort=True)))
        groups = {float(w): g["unpruned_weights"].astype(float) for w, g in by_width.items()}
        result = anova(groups)
        sizes = ", ".join(f"{width_label(w)}: {len(g.dropna())}" for w, g in groups.items())
        uncapped = {w: g for w, g in groups.items() if not by_width[w]["null_capped"].any()}
        rows.append(
            {
                "model_type": model_type,
                "runs_per_width": sizes,
                **result,
                "uncapped_widths": ", ".join(width_label(w) for w in uncapped),
                **_uncapped_anova(uncapped),
            }
        )
    table = pd.DataFrame(rows)
    if not table.empty:
        table["significant"] = table["p"] < alpha
        table["significant_uncapped"] = table["p_uncapped"] < alpha
    return table


def _uncapped_anova(groups: dict[float, pd.Series]) -> dict[str, object]:
    """Welch's ANOVA over the uncapped widths where it can run (unequal variances are the
    rule for counts across widths); else the classic F, with a caveat when a width's counts
    are all identical (the pooled variance then counts those runs as if they had spread)."""
    result = anova(groups)
    out: dict[str, object] = {"test_uncapped": "Welch's ANOVA", "F_uncapped": result["welch_F"]}
    out |= {"p_uncapped": result["welch_p"], "note_uncapped": ""}
    if not np.isfinite(result["welch_p"]):  # type: ignore[arg-type]
        out |= {"test_uncapped": "one-way ANOVA", "F_uncapped": result["F"]}
        out |= {"p_uncapped": result["p"], "note_uncapped": result["note"]}
        flat = [width_label(w) for w, g in groups.items() if len(g.dropna()) > 1 and g.nunique() == 1]
        if np.isfinite(result["p"]) and flat:
            out["note_uncapped"] = (
                f"{', '.join(flat)}: identical counts, so Welch's ANOVA cannot run and the "
                "equal-variance F is optimistic"
            )
    if not np.isfinite(out["p_uncapped"]):  # type: ignore[arg-type]
        out["test_uncapped"] = ""
    return out


def _percent(value: float, digits: int = 1) -> str:
    return "n/a" if pd.isna(value) else f"{100 * value:.{digits}f}"


def _mean_sd(mean: float, sd: float) -> str:
    return _percent(mean) if pd.isna(sd) else f"{_percent(mean)} ± {_percent(sd)}"


def format_table2(table: pd.DataFrame, anova_rows: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as the paper prints it, in 8 columns: percent (mean ± sd), ★ on an
    ANOVA-significant model type (the paper's all-widths ANOVA), ∗ on an uncapped row whose
    Holm-adjusted test is significant, † on such a capped row, n beside every mean and the
    unconverged runs left out of the cell."""
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
            mark = ""
            if row["significant"]:
                mark = f" {CAPPED_MARK if row['null_capped'] else T_TEST_MARK}"
            rows.append(
                {
                    "Model": label if first else "",
                    "Size (x)": f"{row['width']:g}",
                    "Null ED % (mean ± sd)": _mean_sd(row["null_mean_ed"], row["null_std_ed"]),
                    "ED % (mean ± sd)": _mean_sd(row["mean_ed"], row["std_ed"]) + mark,
                    "n (obs / null)": f"{row['n_runs']} / {row['n_paired']}",
                    "Unconverged left out": str(row.get("n_unconverged", 0)),
                    "p (Holm)": format_p(row["p_holm"]),
                    "Note": row["note"],
                }
            )
            first = False
    return pd.DataFrame(rows)


def format_tests(table: pd.DataFrame) -> pd.DataFrame:
    """The tests behind Table 2 in 8 columns: the named test, the mean difference (observed
    minus null ED, percentage points) with its 95% CI, its Holm-adjusted p, the paper's
    Student p beside it (see `STUDENT_CAVEAT`) and Hedges' g where it is defined."""
    rows = []
    for _, row in table[~table["is_reference"]].iterrows() if len(table) else []:
        ci = (
            ""
            if pd.isna(row["diff_ci_low"])
            else f" [{_percent(row['diff_ci_low'])}, {_percent(row['diff_ci_high'])}]"
        )
        rows.append(
            {
                "Model": row["model_type"],
                "Size (x)": f"{row['width']:g}",
                "Test": row["test"] or "none",
                "Diff, pp (95% CI)": _percent(row["diff"]) + ci,
                "p (Holm)": format_p(row["p_holm"]),
                "Paper's test: Student p": format_p(row["p_student"]),
                "Hedges' g": "n/a" if pd.isna(row["hedges_g"]) else f"{row['hedges_g']:.2f}",
                "Family": row["family"],
            }
        )
    return pd.DataFrame(rows)
