"""The verdict on the null hypothesis per model type, from the tests that can carry it (section 4.2).

The paper's null hypothesis: the core size |omega| does not change with width. Two of the
tests of Table 2 speak to it: the ANOVA on unpruned counts over the widths whose null is not
capped, and the t-tests of the uncapped rows. Capped rows (a width too narrow for its 1x
twin's core) reject by construction and are only listed. `null_hypothesis_verdict` returns
the verdict as data, for the report's key findings to phrase.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from propensity.analysis.model_types import ordered, width_label
from propensity.analysis.table2 import ALPHA, CAPPED, UNCAPPED


@dataclass(frozen=True)
class RowTest:
    """One width's test of observed against null ED, as the verdict quotes it."""

    width: float
    test: str
    p_holm: float
    diff: float
    diff_ci_low: float
    diff_ci_high: float
    n: int


@dataclass(frozen=True)
class NullVerdict:
    """What the data say about the null hypothesis (constant core size) for one model type.

    `status` is one of ``'rejected'`` (the uncapped ANOVA and >= 1 uncapped row reject),
    ``'rejected by the ANOVA only'``, ``'rejected by the t-tests only'``, ``'not rejected'``,
    ``'inconclusive'`` (only an equal-variance ANOVA that a width of identical counts makes
    optimistic rejects, no uncapped row does) or ``'untested'`` (neither test could run);
    `summary` says it in one sentence with the p-values. Capped rows are listed apart
    (`capped_widths`) and never count.
    """

    model_type: str
    status: str
    summary: str
    anova_p: float
    anova_note: str
    anova_p_all_widths: float
    rejecting: list[RowTest] = field(default_factory=list)
    not_rejecting: list[RowTest] = field(default_factory=list)
    untested: dict[float, str] = field(default_factory=dict)
    capped_widths: list[float] = field(default_factory=list)


def _p(p: float) -> str:
    return "n/a" if pd.isna(p) else ("< 0.0001" if p < 1e-4 else f"{p:.2g}")


def null_hypothesis_verdict(
    table: pd.DataFrame, anova_rows: pd.DataFrame, alpha: float = ALPHA
) -> list[NullVerdict]:
    """Per model type, the verdict on the null hypothesis from the uncapped ANOVA and the
    uncapped rows of Table 2 only (section 4.2), as data for the report's key findings.

    `table` and `anova_rows` are `table2` and `anova_table` of the same runs.
    """
    verdicts = []
    anova_by_type = anova_rows.set_index("model_type") if len(anova_rows) else pd.DataFrame()
    for model_type in ordered(table["model_type"]) if len(table) else []:
        rows = table[(table["model_type"] == model_type) & ~table["is_reference"]]
        a = anova_by_type.loc[model_type] if model_type in anova_by_type.index else None
        anova_p = float(a["p_uncapped"]) if a is not None else np.nan
        anova_note = str(a["note_uncapped"]) if a is not None else "no ANOVA"
        rejecting, not_rejecting, untested = [], [], {}
        for _, r in rows[rows["family"] == UNCAPPED].iterrows():
            if pd.isna(r["p_holm"]):
                untested[float(r["width"])] = str(r["note"]) or "no test"
                continue
            test = RowTest(
                width=float(r["width"]),
                test=str(r["test"]),
                p_holm=float(r["p_holm"]),
                diff=float(r["diff"]),
                diff_ci_low=float(r["diff_ci_low"]),
                diff_ci_high=float(r["diff_ci_high"]),
                n=int(r["n_runs"]),
            )
            (rejecting if test.p_holm < alpha else not_rejecting).append(test)
        capped = [float(w) for w in rows.loc[rows["family"] == CAPPED, "width"]]
        anova_rejects = bool(anova_p < alpha) if np.isfinite(anova_p) else None
        rows_tested = bool(rejecting or not_rejecting)
        if anova_rejects is None and not rows_tested:
            status = "untested"
        elif anova_rejects and rejecting:
            status = "rejected"
        elif anova_rejects and anova_note:
            status = "inconclusive"
        elif anova_rejects:
            status = "rejected by the ANOVA only"
        elif rejecting:
            status = "rejected by the t-tests only"
        else:
            status = "not rejected"
        if np.isfinite(anova_p):
            name = str(a["test_uncapped"])
            anova_text = f"{name[:1].upper()}{name[1:]} over the uncapped widths"
            anova_text += f" p = {_p(anova_p)}"
            anova_text += f" ({anova_note})" if anova_note else ""
        else:
            anova_text = f"ANOVA over the uncapped widths not run ({anova_note})"
        row_text = (
            "; ".join(
                f"{width_label(t.width)}: p = {_p(t.p_holm)} ({t.test}, Holm)"
                for t in sorted(rejecting + not_rejecting, key=lambda t: t.width)
            )
            or "no uncapped row tested"
        )
        verdicts.append(
            NullVerdict(
                model_type=model_type,
                status=status,
                summary=f"Null hypothesis: {status}. {anova_text}; uncapped rows: {row_text}.",
                anova_p=anova_p,
                anova_note=anova_note,
                anova_p_all_widths=float(a["p"]) if a is not None else np.nan,
                rejecting=rejecting,
                not_rejecting=not_rejecting,
                untested=untested,
                capped_widths=capped,
            )
        )
    return verdicts
