"""What report.md says first: the key findings per model type, and every run left out and why.

The findings are generated from the same tables the later sections print (Table 2, the
ANOVA), so the summary cannot disagree with them. The verdict on the null hypothesis rests
on the ANOVA and on the rows whose null ED is not capped: where the null ED is capped at
100% (section 4.2), any ED below 100% rejects it, so such rows are named but not counted
as evidence.
"""

from __future__ import annotations

import pandas as pd

from propensity.analysis import complete_runs
from propensity.analysis.model_types import INIT_NAMES, width_label
from propensity.analysis.table2 import ALPHA
from propensity.report.parts import Part

EXCLUDED_COLUMNS = ["run_key", "reason"]


def excluded_runs(runs: pd.DataFrame, problems: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Every run the analysis leaves out, with the reason: its status (and error), or no ED.

    `problems` are the collector's messages about records it could not read; each becomes a
    row whose run_key is '(unreadable)'.
    """
    kept = set(complete_runs(runs)["run_key"]) if len(runs) else set()
    rows = []
    for _, run in runs[~runs["run_key"].isin(kept)].iterrows() if len(runs) else []:
        status = str(run.get("status", "unknown"))
        reason = f"status {status}"
        error = run.get("error")
        if isinstance(error, str) and error:
            reason += f": {error.splitlines()[0][:200]}"
        elif status in ("finished", "max_epochs_reached"):
            reason += ", but no effective density recorded"
        rows.append({"run_key": run["run_key"], "reason": reason})
    rows += [{"run_key": "(unreadable)", "reason": str(p)} for p in problems]
    return pd.DataFrame(rows, columns=EXCLUDED_COLUMNS)


def runs_part(runs: pd.DataFrame, counts: pd.DataFrame, excluded: pd.DataFrame) -> Part:
    """Runs by model type and status, then every run left out of the analysis and why."""
    part = Part("## Runs")
    part.table("status_counts", counts)
    part.add("### Runs left out of the analysis")
    if excluded.empty:
        part.add("None: every run is in the analysis.")
        return part
    reasons = excluded["reason"].str.split(":", n=1).str[0].value_counts()
    part.add(
        f"{len(excluded):,} run(s) left out: "
        + "; ".join(f"{n:,} {reason}" for reason, n in reasons.items())
        + "."
    )
    part.table("excluded_runs", excluded[[c for c in EXCLUDED_COLUMNS if c in excluded.columns]])
    return part


def _ed_per_width(rows: pd.DataFrame) -> str:
    cells = []
    for _, row in rows.iterrows():
        sd = "n/a" if pd.isna(row["std_ed"]) else f"{100 * row['std_ed']:.1f}"
        cells.append(f"{width_label(row['width'])} {100 * row['mean_ed']:.1f}% (sd {sd}, n={row['n_runs']})")
    return "; ".join(cells)


def _anova_verdict(anova: pd.DataFrame, model_type: str) -> str:
    row = anova[anova["model_type"] == model_type] if len(anova) else anova
    if row.empty:
        return "ANOVA: not run."
    row = row.iloc[0]
    if pd.isna(row.get("p")):
        return f"ANOVA across widths: not run ({row.get('note') or 'no p-value'})."
    verdict = "rejects" if row["p"] < ALPHA else "does not reject"
    return (
        f"ANOVA across widths on unpruned weights: F = {row['F']:.3g}, p = {row['p']:.2g}, "
        f"{verdict} the null hypothesis that the core size does not depend on width."
    )


def _t_test_verdict(rows: pd.DataFrame) -> str:
    tested = rows[~rows["is_reference"]]
    capped = tested[tested["n_capped"] > 0]
    uncapped = tested[tested["n_capped"] == 0]
    parts = []
    if len(uncapped):
        p = uncapped["p_welch_holm"]
        reject = uncapped[p < ALPHA]
        listed = ", ".join(
            f"{width_label(w)} (p = {q:.2g})" if pd.notna(q) else f"{width_label(w)} (not tested)"
            for w, q in zip(uncapped["width"], p, strict=True)
        )
        if len(reject):
            names = ", ".join(width_label(w) for w in reject["width"])
            parts.append(
                f"Uncapped rows rejecting the null (Welch, Holm, p < {ALPHA}): {names}; "
                f"all uncapped: {listed}."
            )
        else:
            parts.append(f"No uncapped row rejects the null (Welch, Holm): {listed}.")
    else:
        parts.append("No uncapped row: the t-tests give no evidence either way.")
    if len(capped):
        names = ", ".join(width_label(w) for w in capped["width"])
        parts.append(
            f"Capped rows ({names}): null ED capped at 100%, so any ED below 100% rejects it; "
            "not counted as evidence."
        )
    return " ".join(parts)


def untested(runs: pd.DataFrame, methods: list[str], has_artifacts: bool) -> list[str]:
    """What these runs cannot say: a missing initialisation, pruning baselines, section 5."""
    done = complete_runs(runs) if len(runs) else pd.DataFrame()
    notes = []
    inits = set(done.get("init", pd.Series(dtype=str)).dropna())
    for init in ("glorot", "he"):
        if init not in inits:
            notes.append(f"no {INIT_NAMES[init]} runs: Glorot vs He (Figure 6) untested")
    if len(methods) < 2:
        notes.append("only magnitude pruning: the pruning methods are not compared")
    if not has_artifacts:
        notes.append("no section-5 artifacts: overlap, similarity and activations untested")
    return notes


def findings_part(
    runs: pd.DataFrame, t2: pd.DataFrame, anova: pd.DataFrame, methods: list[str], has_artifacts: bool
) -> Part:
    """One paragraph per model type: ED per width, the ANOVA verdict, the t-tests; then what is untested."""
    part = Part("## Key findings")
    if t2.empty:
        part.add("No complete run with an effective density: nothing to summarise.")
        return part
    for model_type in sorted(t2["model_type"].unique()):
        rows = t2[t2["model_type"] == model_type].sort_values("width")
        part.add(
            f"**{model_type}**. ED per width (mean, sd in points, n runs): {_ed_per_width(rows)}. "
            f"{_anova_verdict(anova, model_type)} {_t_test_verdict(rows)}"
        )
    if notes := untested(runs, methods, has_artifacts):
        part.add("Untested here: " + "; ".join(notes) + ".")
    return part

