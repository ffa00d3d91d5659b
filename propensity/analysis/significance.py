"""The statistical tests behind Table 2 (section 4.2), plus what the paper leaves out.

The paper runs a one-way ANOVA across widths on the unpruned weight counts of each model
type, and an unpaired two-tailed t-test of observed against null-hypothesis ED for each
non-1x row. Here every test returns its statistic, p-value and a `note`: an empty note means
the test ran; otherwise the note says in words why it could not (too few runs, no variance),
so a missing number is never a silent NaN. Effect sizes, 95% confidence intervals, Welch's
variants and a Holm correction are additions.

A null sample with no variance (every null ED capped at 100%, or every 1x twin with the same
ED) is not a sample but a constant: comparing with it is a one-sample t-test against that
constant, and `compare_with_null` says so, with no standardized effect size (the pooled
standard deviation would count the constant as if it had been measured).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.oneway import anova_oneway

CONFIDENCE = 0.95

WELCH = "Welch's t-test"
ONE_SAMPLE = "one-sample t-test vs constant null"
STUDENT = "Student's t-test (paper's test)"
STUDENT_CAVEAT = (
    "Paper's test: Student's unpaired t-test, shown for comparison only; it pools the two "
    "variances and, against a constant null, counts the constant's runs as degrees of "
    "freedom, so its p-value is too small."
)


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


def one_sample_t_test(
    values: Sequence[float], constant: float, confidence: float = CONFIDENCE
) -> dict[str, object]:
    """Two-tailed one-sample t-test of mean(values) against a known `constant`.

    Returns t, p, df, the mean difference (mean - constant) and its confidence interval, all
    from `scipy.stats.ttest_1samp`, or a note saying why the test cannot run.
    """
    x = _clean(values)
    out: dict[str, object] = {"t": math.nan, "p": math.nan, "df": math.nan}
    out |= {"diff": math.nan, "diff_ci_low": math.nan, "diff_ci_high": math.nan, "note": ""}
    if len(x):
        out["diff"] = float(x.mean() - constant)
    if len(x) < 2:
        out["note"] = f"too few runs (n={len(x)}; needs >= 2)"
        return out
    if np.ptp(x) == 0:
        out["note"] = "every observed value is the same: t is undefined"
        return out
    result = stats.ttest_1samp(x, constant)
    interval = result.confidence_interval(confidence_level=confidence)
    out |= {"t": float(result.statistic), "p": float(result.pvalue), "df": float(result.df)}
    out |= {"diff_ci_low": float(interval.low - constant)}
    out |= {"diff_ci_high": float(interval.high - constant)}
    return out


def compare_with_null(
    observed: Sequence[float],
    null: Sequence[float],
    constant: bool | None = None,
    confidence: float = CONFIDENCE,
) -> dict[str, object]:
    """The test of observed against null ED that the data allow, named (section 4.2).

    A null sample with variance: Welch's unpaired two-tailed t-test, with Cohen's d and
    Hedges' g. A constant null (`constant`; by default: >= 2 null values, all identical,
    e.g. capped at 100% or 1x twins sharing one ED): a one-sample t-test against that
    constant, with the mean difference and its confidence interval and no standardized
    effect size. One null value is not taken for a constant unless `constant` says so (the
    cap makes it exact; a single twin's ED is one draw). Either way `student_*` is the
    paper's unpaired Student test on the same two samples, kept for comparison (see
    `STUDENT_CAVEAT`). Keys: test, t, df, p, diff, diff_ci_low, diff_ci_high, cohens_d,
    hedges_g, t_student, df_student, p_student, note.
    """
    x, y = _clean(observed), _clean(null)
    student = t_test(x, y, equal_var=True, confidence=confidence)
    if constant is None:
        constant = len(y) >= 2 and np.ptp(y) == 0
    constant_null = bool(constant) and len(y) >= 1 and np.ptp(y) == 0
    out: dict[str, object] = {"test": ONE_SAMPLE if constant_null else WELCH}
    effect: dict[str, object] = {"cohens_d": math.nan, "hedges_g": math.nan, "note": ""}
    if constant_null:
        main = one_sample_t_test(x, float(y[0]), confidence)
        notes = [main["note"]] if main["note"] else []
        notes.append("null has no variance: no standardized effect size")
    else:
        main = t_test(x, y, equal_var=False, confidence=confidence)
        effect = effect_sizes(x, y)
        notes = [
            f"{name}: {part['note']}"
            for name, part in (("t-test", main), ("effect size", effect))
            if part["note"]
        ]
    out |= {k: main[k] for k in ("t", "df", "p", "diff", "diff_ci_low", "diff_ci_high")}
    out |= {"cohens_d": effect["cohens_d"], "hedges_g": effect["hedges_g"]}
    out |= {"t_student": student["t"], "df_student": student["df"], "p_student": student["p"]}
    out["note"] = "; ".join(notes)
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
    """Holm-adjusted p-values over the finite entries; NaN stays NaN (a test that did not run).

    Holm's step-down: the i-th smallest of m p-values times (m - i + 1), made monotone by a
    running maximum and capped at 1, as statsmodels' ``multipletests(method="holm")`` gives
    (the test compares the two). Written out because that function runs a full garbage
    collection on every call: inside a report that holds its figures, 0.19 s a call, 8 of the
    quickstart report's 23 s."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(p, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    if finite.size:
        order = finite[np.argsort(p[finite], kind="stable")]
        steps = np.arange(finite.size, 0, -1, dtype=float)
        adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps * p[order]))
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
