"""Does the propensity for density depend on how the subnetwork is found? (sections 4.2 and 6)

The paper tests its null hypothesis (the core size |omega| does not change with width) on
magnitude pruning alone. Every criterion of this project (`propensity.pruning.registry`)
prunes the same trained models, so the same test can run once per criterion: `method_runs`
puts a criterion's ED and core size where Table 2 reads the magnitude's, and `table2` and the
verdict (`propensity.analysis.verdict`) then run unchanged. `finding_sentence` says whether the
paper's finding (null rejected) holds under every deterministic criterion or depends on one.
The shuffled controls and random masks get their rows too, but are never counted as
criteria: they are the baselines a criterion must beat (`control_differences`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from propensity.analysis.methods import KEYS, methods_present
from propensity.analysis.model_types import complete_runs
from propensity.analysis.run_selection import RunSelection
from propensity.analysis.significance import holm, paired_test
from propensity.analysis.table2 import anova_table, table2
from propensity.analysis.verdict import NullVerdict, null_hypothesis_verdict
from propensity.pruning.registry import CONTROLS, METHODS, REFERENCE

CRITERIA_COLUMNS = ["model_type", "width", "method", "n_runs", "mean_ed", "mean_unpruned",
                    "null_mean_ed", "p_holm", "std_ed", "std_unpruned", "test", "note"]
VERDICT_COLUMNS = ["model_type", "method", "status", "summary"]
HOLDS = "rejected"


def is_control(method: str) -> bool:
    """Whether `method` draws its masks (random masks, a shuffled control): a baseline, not a
    way of finding the subnetwork."""
    return method in METHODS and METHODS[method].random


def method_runs(runs: pd.DataFrame, method: str) -> pd.DataFrame:
    """`runs` with `method`'s ED and core size in the ``effective_density`` and
    ``unpruned_weights`` columns (those Table 2 reads), runs without its ED dropped."""
    ed, unpruned = f"effective_density_{method}", f"unpruned_weights_{method}"
    if ed not in runs.columns:
        return runs.iloc[0:0]
    out = runs.assign(effective_density=runs[ed], unpruned_weights=runs.get(unpruned, np.nan))
    return out[out["effective_density"].notna()]


def _selection(selection: RunSelection | None, runs: pd.DataFrame) -> RunSelection | None:
    if selection is None:
        return None
    return RunSelection(runs, selection.excluded, selection.include_unconverged)


def criteria_tests(
    runs: pd.DataFrame, selection: RunSelection | None = None
) -> tuple[pd.DataFrame, list[tuple[str, NullVerdict]]]:
    """Table 2 and the null verdict once per method with an ED: ``(rows, [(method, verdict)])``.

    Rows: per model type, width and method, the observed and null ED, the mean core size and
    the named test's Holm p-value (Holm within each method, as Table 2 does for magnitude).
    """
    rows, verdicts = [], []
    for method in methods_present(complete_runs(runs)):
        these = method_runs(runs, method)
        chosen = _selection(selection, these)
        t2 = table2(these, selection=chosen)
        if t2.empty:
            continue
        rows.append(t2.assign(method=method))
        verdicts += [(method, v) for v in null_hypothesis_verdict(t2, anova_table(these, selection=chosen))]
    if not rows:
        return pd.DataFrame(columns=CRITERIA_COLUMNS), []
    table = pd.concat(rows, ignore_index=True)
    return table[[c for c in CRITERIA_COLUMNS if c in table.columns]], verdicts


def verdict_table(verdicts: list[tuple[str, NullVerdict]]) -> pd.DataFrame:
    """One row per model type and method: the verdict's status and its sentence."""
    return pd.DataFrame([{"model_type": v.model_type, "method": m, "status": v.status, "summary": v.summary}
                         for m, v in verdicts], columns=VERDICT_COLUMNS)


def finding_sentence(verdicts: list[tuple[str, NullVerdict]], model_type: str) -> str:
    """Whether the paper's finding (the null rejected) holds under every criterion of
    `model_type` that was tested, or depends on the criterion; '' with fewer than two."""
    tested = [(m, v.status) for m, v in verdicts
              if v.model_type == model_type and not is_control(m) and v.status != "untested"]
    if len(tested) < 2:
        return ""
    holds = [m for m, s in tested if s == HOLDS]
    if len(holds) == len(tested):
        return (f"Under every one of the {len(tested)} criteria tested ({', '.join(m for m, _ in tested)}) "
                "the null hypothesis is rejected: the paper's finding does not depend on magnitude pruning.")
    if not holds:
        return (f"Under none of the {len(tested)} criteria tested is the null hypothesis rejected by both "
                f"tests ({'; '.join(f'{m}: {s}' for m, s in tested)}).")
    by_status: dict[str, list[str]] = {}
    for m, s in tested:
        if s != HOLDS:
            by_status.setdefault(s, []).append(m)
    others = "; ".join(f"{', '.join(ms)} ({s})" for s, ms in by_status.items())
    return (f"The paper's finding depends on the criterion: the null hypothesis is rejected under "
            f"{', '.join(holds)}, but not under {others}.")


def control_differences(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model type, width and criterion: ED(criterion) - ED(its control), paired by run.

    The control (`CONTROLS`) keeps the criterion's per-layer counts at every level and draws
    the positions at random; a negative difference is what the criterion's choice of weights
    buys beyond its allocation. Two-tailed paired t-test, Holm over all rows.
    """
    done = complete_runs(runs)
    columns = [*KEYS, "method", "control", "n_pairs", "mean_diff", "diff_ci_low", "diff_ci_high",
               "p", "p_holm", "note"]
    rows = []
    for method, control in CONTROLS.items():
        a, b = f"effective_density_{method}", f"effective_density_{control}"
        if a not in done.columns or b not in done.columns:
            continue
        for (model_type, width), group in done.groupby(list(KEYS), sort=True):
            both = group[[a, b]].dropna()
            if both.empty:
                continue
            test = paired_test(both[a], both[b])
            rows.append({"model_type": model_type, "width": width, "method": method, "control": control,
                         **{k: test.get(k, np.nan) for k in ("n_pairs", "mean_diff", "diff_ci_low",
                                                            "diff_ci_high", "p", "note")}})
    table = pd.DataFrame(rows, columns=[c for c in columns if c != "p_holm"])
    table.insert(columns.index("p_holm"), "p_holm", holm(table["p"]) if len(table) else [])
    return table[columns]


def unit_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model type and width: the unit effective density (hidden units left at the ED) and
    the weight density it implies, beside magnitude's ED of the same runs."""
    done = complete_runs(runs)
    columns = [*KEYS, "n", "mean_unit_ed", "mean_ed_units", "mean_ed_magnitude", "mean_unpruned_units"]
    if "unit_effective_density_units" not in done.columns:
        return pd.DataFrame(columns=columns)
    these = done[done["unit_effective_density_units"].notna()]
    grouped = these.groupby(list(KEYS), sort=True)
    out = grouped.agg(n=("run_key", "size"), mean_unit_ed=("unit_effective_density_units", "mean"),
                      mean_ed_units=("effective_density_units", "mean"),
                      mean_ed_magnitude=(f"effective_density_{REFERENCE}", "mean"),
                      mean_unpruned_units=("unpruned_weights_units", "mean")).reset_index()
    return out[columns]

