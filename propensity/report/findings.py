"""What report.md says first: the key findings per model type, and every run left out and why.

The findings lead with the propensity exponent (`propensity.analysis.exponent`): per model
type and init, b with its interval, where b = 1 and b = 0 lie against it (b = 0 against the
fit over the uncapped widths, where a constant core can show), and one verdict, or "too few
seeds" where the clusters cannot carry one. The paper's own framing follows: ED per width
and the verdict of the row tests and the ANOVA (`propensity.analysis.verdict`), then one
sentence on whether the row tests agree with the exponent about b = 0, and why they may
not. Both are generated from the same tables the later sections print, so the summary
cannot disagree with them. The row verdict rests on the ANOVA and the rows whose null ED is
not capped: where the null ED is capped at 100% (section 4.2), any ED below 100% rejects
it, so such rows are named but never counted.
"""

from __future__ import annotations

import pandas as pd

from propensity.analysis import complete_runs
from propensity.analysis.criteria import finding_sentence
from propensity.analysis.exponent import exponent_summary
from propensity.analysis.model_types import INIT_NAMES, width_label
from propensity.analysis.verdict import NullVerdict
from propensity.report.parts import Part

# What the Runs section needs of a table of runs left out; further columns are shown too.
EXCLUDED_COLUMNS = ["run_key", "reason"]


def runs_part(counts: pd.DataFrame, excluded: pd.DataFrame, note: str = "") -> Part:
    """Runs by model type and status, then every run left out of the analysis and why.

    `excluded` has one row per run left out, with at least ``run_key`` and ``reason``;
    `note` is one line on what was left out and how to put it back.
    """
    part = Part("## Runs")
    part.table("status_counts", counts)
    part.add("### Runs left out of the analysis")
    if excluded.empty:
        part.add("None: every run is in the analysis.")
        part.csvs["excluded_runs"] = excluded
        return part
    if not note:
        reasons = excluded["reason"].str.split(":", n=1).str[0].value_counts()
        note = f"{len(excluded):,} run(s) left out: " + "; ".join(
            f"{n:,} {reason}" for reason, n in reasons.items()
        ) + "."
    part.add(note)
    first = [c for c in EXCLUDED_COLUMNS if c in excluded.columns]
    part.table("excluded_runs", excluded, columns=[*first, *(c for c in excluded if c not in first)])
    return part


def _ed_per_width(rows: pd.DataFrame) -> str:
    cells = []
    for _, row in rows.iterrows():
        sd = "n/a" if pd.isna(row["std_ed"]) else f"{100 * row['std_ed']:.1f}"
        cells.append(f"{width_label(row['width'])} {100 * row['mean_ed']:.1f}% (sd {sd}, n={row['n_runs']})")
    return "; ".join(cells)


def _capped(verdict: NullVerdict) -> str:
    if not verdict.capped_widths:
        return ""
    names = ", ".join(width_label(w) for w in verdict.capped_widths)
    return (
        f" Capped rows ({names}): null ED capped at 100%, so any ED below 100% rejects it; "
        "not counted as evidence."
    )


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


def exponent_lines(exponents: pd.DataFrame, model_type: str) -> list[str]:
    """One sentence per init of `model_type` from the exponent table, or none."""
    if exponents is None or exponents.empty:
        return []
    rows = exponents[exponents["model_type"] == model_type]
    return [f"{row['init']}: {exponent_summary(row)}" for _, row in rows.iterrows()]


def rows_against_exponent(exponents: pd.DataFrame | None, verdict: NullVerdict | None) -> str:
    """Whether the row tests' verdict on the null agrees with the exponent's interval over
    the uncapped widths (0 inside it: a constant core not ruled out), and why they can
    differ; empty when either is missing."""
    if exponents is None or exponents.empty or verdict is None or verdict.status == "untested":
        return ""
    rows = exponents[exponents["model_type"] == verdict.model_type]
    rows_reject = verdict.status.startswith("rejected")
    said = []
    for _, row in rows.iterrows():
        if pd.isna(row["ci_low_uncapped"]):
            said.append(f"{row['init']}: the exponent cannot test b = 0 (too few uncapped "
                        "widths or clusters), so only the row tests speak to the null")
            continue
        excludes = row["ci_low_uncapped"] > 0 or row["ci_high_uncapped"] < 0
        if excludes == rows_reject:
            said.append(f"{row['init']}: the row tests agree with the exponent ("
                        + ("both place the core away from constant" if excludes else
                           "neither rules out a constant core") + ")")
        elif excludes:
            said.append(
                f"{row['init']}: the exponent puts b = 0 outside its interval over the uncapped "
                f"widths while the row tests are {verdict.status}: the row tests compare each "
                "uncapped width with its 1x twin on its own (Holm over the widths), the exponent "
                "fits one slope through all of them, which has more power"
            )
        else:
            said.append(
                f"{row['init']}: the row tests are {verdict.status} while the exponent's interval "
                "over the uncapped widths holds b = 0: the row tests count every run as "
                f"independent evidence, the exponent counts its {row['n_clusters']} seed "
                "clusters, so its interval is the wider"
            )
    return ("Row tests against the exponent: " + "; ".join(said) + ".") if said else ""


def findings_part(
    runs: pd.DataFrame,
    t2: pd.DataFrame,
    verdicts: list[NullVerdict],
    methods: list[str],
    has_artifacts: bool,
    exponents: pd.DataFrame | None = None,
    criteria: list[tuple[str, NullVerdict]] | None = None,
) -> Part:
    """Per model type: the propensity exponent per init with its interval and TOST verdict,
    then ED per width and the row tests' verdict with its p-values, and whether it holds
    under every criterion (`criteria`: each method's verdicts, section 6); then what is
    untested."""
    part = Part("## Key findings")
    if t2.empty:
        part.add("No complete run with an effective density: nothing to summarise.")
        return part
    by_type = {v.model_type: v for v in verdicts}
    for model_type in sorted(t2["model_type"].unique()):
        rows = t2[t2["model_type"] == model_type].sort_values("width")
        verdict = by_type.get(model_type)
        said = f" {verdict.summary}{_capped(verdict)}" if verdict else " No verdict: no test ran."
        lead = exponent_lines(exponents, model_type)
        exponent = "".join(f"\n- {line}" for line in lead)
        across = finding_sentence(criteria or [], model_type)
        if against := rows_against_exponent(exponents, verdict):
            said += f" {against}"
        part.add(
            f"**{model_type}**. Core size |omega| = ED x total weights against total weights "
            f"(log-log; b = 0 the null hypothesis, b = 1 constant density):{exponent}"
            if lead else f"**{model_type}**. No propensity exponent: no runs to fit.",
            f"Row by row, as the paper frames it: ED per width (mean, sd in points, n runs): "
            f"{_ed_per_width(rows)}.{said}" + (f" {across}" if across else ""),
        )
    if exponents is not None and len(exponents):
        part.add("What the exponent cannot tell is listed beside its table, under effective density.")
    if notes := untested(runs, methods, has_artifacts):
        part.add("Untested here: " + "; ".join(notes) + ".")
    return part
