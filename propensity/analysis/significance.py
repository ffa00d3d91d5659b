"""The statistical tests behind Table 2 (section 4.2), plus what the paper leaves out.

The paper runs a one-way ANOVA across widths on the unpruned weight counts of each model
type, and an unpaired two-tailed t-test of observed against null-hypothesis ED for each
non-1x row. Here every test returns its statistic, p-value and a `note`: an empty note means
the test ran; otherwise the note says in words why it could not (too few runs, no variance),
so a missing number is never a silent NaN. Effect sizes, 95% confidence intervals, Welch's
variants and a Holm correction are additions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.oneway import anova_oneway

CONFIDENCE = 0.95


def _clean(values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> dict[str, object]:
    """Mean, sample std (ddof=1), n and the t-based confidence interval of the mean."""
    x = _clean(values)
    n = len(x)
    out: dict[str, object] = {"n": n, "mean": math.nan, "std": math.nan}
    out |= {"ci_low": math.nan, "ci_high": math.nan, "note": ""}
    if n == 0:
        out["note"] = "no runs"
        return out
    out["mean"] = float(x.mean())
    if n < 2:
        out["note"] = "1 run: no std or confidence interval (needs >= 2)"
        return out
    std = float(x.std(ddof=1))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    out |= {"std": std, "ci_low": out["mean"] - half, "ci_high": out["mean"] + half}
    return out


def t_test(
    a: Sequence[float], b: Sequence[float], equal_var: bool, confidence: float = CONFIDENCE
) -> dict[str, object]:
    """Unpaired two-tailed t-test of mean(a) - mean(b): Student's (`equal_var`) or Welch's.

    Returns t, p, degrees of freedom and the confidence interval of the difference, all from
    `scipy.stats.ttest_ind`, or a note saying why the test cannot run.
    """
    x, y = _clean(a), _clean(b)
    out: dict[str, object] = {"t": math.nan, "p": math.nan, "df": math.nan}
    out |= {"diff": math.nan, "diff_ci_low": math.nan, "diff_ci_high": math.nan, "note": ""}
    if len(x) and len(y):
        out["diff"] = float(x.mean() - y.mean())
    if len(x) < 2 or len(y) < 2:
        out["note"] = f"too few runs (n={len(x)} vs n={len(y)}; needs >= 2 in each)"
        return out
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        out["note"] = "both samples have zero variance: t is undefined"
        return out
    with warnings.catch_warnings():
        # A sample of identical values (every null ED capped at 100%) is legitimate here;
        # scipy warns about its zero variance, which the other sample's variance covers.
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        result = stats.ttest_ind(x, y, equal_var=equal_var)
    interval = result.confidence_interval(confidence_level=confidence)
    out |= {"t": float(result.statistic), "p": float(result.pvalue), "df": float(result.df)}
    out |= {"diff_ci_low": float(interval.low), "diff_ci_high": float(interval.high)}
    return out


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float:
    """(mean(a) - mean(b)) / pooled sample std; NaN when it is undefined (see `effect_sizes`)."""
    return float(effect_sizes(a, b)["cohens_d"])  # type: ignore[arg-type]


def effect_sizes(a: Sequence[float], b: Sequence[float]) -> dict[str, object]:
    """Cohen's d and Hedges' g (d with the small-sample correction J = 1 - 3 / (4(n1+n2) - 9)).

    The pooled std weighs each sample's variance by its degrees of freedom. A note explains
    a NaN: too few runs, or no variance at all (the difference is then exact, d infinite).
    """
    x, y = _clean(a), _clean(b)
    out: dict[str, object] = {"cohens_d": math.nan, "hedges_g": math.nan, "note": ""}
    n1, n2 = len(x), len(y)
    if n1 < 2 or n2 < 2:
        out["note"] = f"too few runs for an effect size (n={n1} vs n={n2})"
        return out
    pooled = math.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2))
    if pooled == 0:
        out["note"] = "zero pooled variance: effect size undefined"
        return out
    d = float((x.mean() - y.mean()) / pooled)
    out |= {"cohens_d": d, "hedges_g": d * (1 - 3 / (4 * (n1 + n2) - 9))}
    return out


def anova(groups: Mapping[float, Sequence[float]]) -> dict[str, object]:
    """One-way ANOVA across the groups (widths), as in section 4.2, plus Welch's ANOVA.

    Classic F and p come from `scipy.stats.f_oneway`; eta squared (the share of variance
    the width explains) from the sums of squares; Welch's F (robust to the very unequal
    variances of unpruned counts across widths) from statsmodels' `anova_oneway`.
    """
    samples = [x for x in (_clean(v) for v in groups.values()) if len(x)]
    k, n = len(samples), sum(len(x) for x in samples)
    out: dict[str, object] = {"groups": k, "n": n, "F": math.nan, "p": math.nan}
    out |= {"df_between": k - 1, "df_within": n - k, "eta_sq": math.nan}
    out |= {"welch_F": math.nan, "welch_p": math.nan, "note": "", "welch_note": ""}
    if k < 2:
        out["note"] = f"{k} width(s) with runs: ANOVA needs >= 2"
        out["welch_note"] = out["note"]
        return out
    if n - k < 1:
        out["note"] = "one run per width: no within-width variance to test against"
        out["welch_note"] = out["note"]
        return out
    everything = np.concatenate(samples)
    ss_total = float(((everything - everything.mean()) ** 2).sum())
    ss_within = float(sum(((x - x.mean()) ** 2).sum() for x in samples))
    if ss_within == 0:
        out["note"] = "every width's runs are identical: F is undefined"
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
            result = stats.f_oneway(*samples)
        out |= {"F": float(result.statistic), "p": float(result.pvalue)}
        out["eta_sq"] = (ss_total - ss_within) / ss_total if ss_total else math.nan
    if min(len(x) for x in samples) < 2 or any(np.ptp(x) == 0 for x in samples):
        out["welch_note"] = "Welch's ANOVA needs >= 2 runs and some variance at every width"
    else:
        welch = anova_oneway(samples, use_var="unequal", welch_correction=True)
        out |= {"welch_F": float(welch.statistic), "welch_p": float(welch.pvalue)}
    return out


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values over the finite entries; NaN stays NaN (a test that did not run)."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        adjusted[finite] = multipletests(p[finite], method="holm")[1]
    return adjusted


def paired_test(
    method_ed: np.ndarray | pd.Series,
    reference_ed: np.ndarray | pd.Series,
    confidence: float = CONFIDENCE,
) -> dict[str, object]:
    """Paired two-tailed t-test of ED(method) - ED(reference) over runs (`ttest_rel`).

    Pairs with a missing value on either side are dropped. Returns n_pairs, the mean and
    std of the differences, t, p, df and the confidence interval of the mean difference, or
    a note saying why the test cannot run (fewer than 2 pairs, differences all equal).
    """
    a = np.asarray(method_ed, dtype=float)
    b = np.asarray(reference_ed, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    diff = a - b
    n = len(diff)
    out: dict[str, object] = {"n_pairs": n, "mean_diff": math.nan, "std_diff": math.nan}
    out |= {"t": math.nan, "p": math.nan, "df": math.nan}
    out |= {"diff_ci_low": math.nan, "diff_ci_high": math.nan, "note": ""}
    if n == 0:
        out["note"] = "no run has both methods' ED"
        return out
    out["mean_diff"] = float(diff.mean())
    if n < 2:
        out["note"] = "1 pair: no test (needs >= 2)"
        return out
    out["std_diff"] = float(diff.std(ddof=1))
    if np.ptp(diff) == 0:
        out["note"] = "every pair differs by the same amount: t is undefined"
        return out
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        result = stats.ttest_rel(a, b)
    interval = result.confidence_interval(confidence_level=confidence)
    out |= {"t": float(result.statistic), "p": float(result.pvalue), "df": float(result.df)}
    out |= {"diff_ci_low": float(interval.low), "diff_ci_high": float(interval.high)}
    return out
