"""The tests behind Table 2 give scipy's and statsmodels' numbers, or say why they cannot."""

import gc
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.oneway import anova_oneway

from propensity.analysis.significance import (
    ONE_SAMPLE,
    STUDENT_CAVEAT,
    WELCH,
    anova,
    cohens_d,
    compare_with_null,
    effect_sizes,
    holm,
    mean_ci,
    one_sample_t_test,
    paired_test,
    t_test,
)

A = [0.51, 0.47, 0.55, 0.43, 0.49, 0.52]
B = [0.21, 0.19, 0.24, 0.18, 0.2]


@pytest.mark.parametrize("equal_var", [True, False])
def test_t_test_equals_scipy(equal_var):
    ours = t_test(A, B, equal_var=equal_var)
    ref = stats.ttest_ind(A, B, equal_var=equal_var)
    interval = ref.confidence_interval(0.95)
    assert ours["t"] == pytest.approx(ref.statistic)
    assert ours["p"] == pytest.approx(ref.pvalue)
    assert ours["df"] == pytest.approx(ref.df)
    assert (ours["diff_ci_low"], ours["diff_ci_high"]) == pytest.approx(
        (interval.low, interval.high)
    )
    assert ours["diff"] == pytest.approx(np.mean(A) - np.mean(B))
    assert ours["note"] == ""


@pytest.mark.filterwarnings("ignore:Precision loss")
def test_t_test_against_a_constant_sample_still_runs():
    ours = t_test(A, [1.0, 1.0, 1.0], equal_var=False)
    assert ours["p"] == pytest.approx(stats.ttest_ind(A, [1.0] * 3, equal_var=False).pvalue)


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        ([0.5], B, "too few runs (n=1 vs n=5"),
        ([0.5, 0.5], [0.2, 0.2], "zero variance"),
        ([], B, "too few runs (n=0"),
    ],
)
def test_t_test_says_why_it_cannot_run(a, b, reason):
    out = t_test(a, b, equal_var=False)
    assert math.isnan(out["p"]) and reason in out["note"]


def test_nan_values_are_dropped_not_propagated():
    assert t_test([*A, np.nan], B, True)["p"] == pytest.approx(stats.ttest_ind(A, B).pvalue)


def test_anova_equals_scipy_and_statsmodels():
    groups = {0.5: [10.0, 12, 11, 13], 1.0: [20.0, 25, 22], 2.0: [40.0, 38, 45, 50, 41]}
    out = anova(groups)
    ref = stats.f_oneway(*groups.values())
    assert out["F"] == pytest.approx(ref.statistic)
    assert out["p"] == pytest.approx(ref.pvalue)
    frame = pd.DataFrame(
        [(w, v) for w, vs in groups.items() for v in vs], columns=["width", "unpruned"]
    )
    table = anova_lm(ols("unpruned ~ C(width)", data=frame).fit())
    assert out["F"] == pytest.approx(table.loc["C(width)", "F"])
    ss = table["sum_sq"]
    assert out["eta_sq"] == pytest.approx(ss["C(width)"] / ss.sum())
    welch = anova_oneway(list(groups.values()), use_var="unequal")
    assert out["welch_p"] == pytest.approx(welch.pvalue)
    assert (out["groups"], out["n"], out["df_between"], out["df_within"]) == (3, 12, 2, 9)


@pytest.mark.parametrize(
    ("groups", "reason"),
    [
        ({1.0: [1.0, 2.0]}, "ANOVA needs >= 2"),
        ({1.0: [1.0], 2.0: [3.0]}, "one run per width"),
        ({1.0: [1.0, 1.0], 2.0: [3.0, 3.0]}, "identical"),
    ],
)
def test_anova_says_why_it_cannot_run(groups, reason):
    out = anova(groups)
    assert math.isnan(out["p"]) and reason in out["note"]


def test_welch_anova_needs_two_runs_per_width_but_classic_anova_does_not():
    out = anova({1.0: [1.0], 2.0: [3.0, 4.0, 5.0]})
    assert out["p"] == pytest.approx(stats.f_oneway([1.0], [3.0, 4.0, 5.0]).pvalue)
    assert math.isnan(out["welch_p"]) and out["welch_note"]


def test_holm_by_hand_and_against_statsmodels_keeping_nan():
    p = [0.01, np.nan, 0.04, 0.03]
    assert holm(p)[[0, 2, 3]] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(holm(p)[1])
    assert holm(p)[[0, 2, 3]] == pytest.approx(multipletests([0.01, 0.04, 0.03], method="holm")[1])
    assert np.isnan(holm([np.nan])).all()


@pytest.fixture
def cheap_collections() -> Iterator[None]:
    """`multipletests` runs a full garbage collection on every call, which walks every object
    the test process holds (torch's included: 0.14 s a call, minutes for the cases below on a
    loaded machine). Freezing what is alive beforehand leaves each collection only the test's
    own objects; the p-values and what statsmodels returns are untouched."""
    gc.freeze()
    yield
    gc.unfreeze()


def test_holm_equals_statsmodels_on_random_p_values_with_ties_and_caps(cheap_collections):
    rng = np.random.default_rng(0)
    for m in (1, 2, 3, 7, 40):
        for _ in range(50):
            p = rng.choice([rng.uniform(0, 1), 0.02, 0.5, 1e-5], size=m) * rng.uniform(0.5, 1.5, m)
            p = np.minimum(p, 1.0)
            assert holm(p) == pytest.approx(multipletests(p, method="holm")[1], rel=1e-12, abs=0)


def test_effect_sizes_by_hand():
    out = effect_sizes([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])  # pooled std 1, d = -1
    assert out["cohens_d"] == pytest.approx(-1.0)
    assert out["hedges_g"] == pytest.approx(-1.0 * (1 - 3 / (4 * 6 - 9)))
    assert cohens_d([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) == pytest.approx(-1.0)
    assert "zero pooled variance" in effect_sizes([1.0, 1.0], [2.0, 2.0])["note"]


def test_mean_ci_matches_the_t_interval():
    out = mean_ci(A)
    low, high = stats.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=stats.sem(A))
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((low, high))
    assert out["std"] == pytest.approx(np.std(A, ddof=1))
    single = mean_ci([0.4])
    assert single["mean"] == 0.4 and math.isnan(single["std"]) and "1 run" in single["note"]


# --- A constant null: a one-sample test, named, with no standardized effect size ---

OBSERVED = [0.28, 0.44, 0.28]  # the quickstart's 2x EDs; their 1x twins all kept 42%


def test_one_sample_t_test_equals_scipy_with_the_ci_of_the_difference():
    ours = one_sample_t_test(OBSERVED, 0.131)
    ref = stats.ttest_1samp(OBSERVED, 0.131)
    interval = ref.confidence_interval(0.95)
    assert (ours["t"], ours["p"], ours["df"]) == pytest.approx((ref.statistic, ref.pvalue, 2))
    assert ours["diff"] == pytest.approx(np.mean(OBSERVED) - 0.131)
    assert (ours["diff_ci_low"], ours["diff_ci_high"]) == pytest.approx(
        (interval.low - 0.131, interval.high - 0.131)
    )
    assert "too few runs" in one_sample_t_test([0.3], 0.1)["note"]
    assert "every observed value is the same" in one_sample_t_test([0.3, 0.3], 0.1)["note"]


@pytest.mark.filterwarnings("ignore:Precision loss")
def test_zero_variance_null_is_a_one_sample_test_without_effect_size():
    out = compare_with_null(OBSERVED, [0.131] * 3)
    assert out["test"] == ONE_SAMPLE == "one-sample t-test vs constant null"
    assert out["p"] == pytest.approx(stats.ttest_1samp(OBSERVED, 0.131).pvalue)
    assert math.isnan(out["cohens_d"]) and math.isnan(out["hedges_g"])
    assert "no standardized effect size" in out["note"]
    # The paper's Student test stays beside it, and its p is smaller (it counts the
    # constant's three runs as degrees of freedom).
    student = stats.ttest_ind(OBSERVED, [0.131] * 3, equal_var=True)
    assert out["p_student"] == pytest.approx(student.pvalue) and out["p_student"] < out["p"]


def test_null_with_variance_is_welch_with_effect_sizes():
    out = compare_with_null(A, B)
    assert out["test"] == WELCH
    assert out["p"] == pytest.approx(stats.ttest_ind(A, B, equal_var=False).pvalue)
    assert out["hedges_g"] == pytest.approx(effect_sizes(A, B)["hedges_g"])
    assert out["p_student"] == pytest.approx(stats.ttest_ind(A, B).pvalue)


def test_one_null_value_is_a_constant_only_when_the_caller_says_so():
    assert compare_with_null(A, [1.0])["test"] == WELCH  # one draw, not a constant
    capped = compare_with_null(A, [1.0], constant=True)  # the cap makes it exact
    assert capped["test"] == ONE_SAMPLE
    assert capped["p"] == pytest.approx(stats.ttest_1samp(A, 1.0).pvalue)
    assert STUDENT_CAVEAT.startswith("Paper's test")


def test_paired_test_equals_scipy_ttest_rel():
    a = np.array([0.80, 0.86, 0.81, 0.70])
    b = np.array([0.40, 0.44, 0.42, 0.30])
    result = paired_test(a, b)
    expected = stats.ttest_rel(a, b)
    assert result["t"] == pytest.approx(expected.statistic)
    assert result["p"] == pytest.approx(expected.pvalue)
    assert result["df"] == 3 and result["n_pairs"] == 4 and result["note"] == ""
    assert result["mean_diff"] == pytest.approx(np.mean(a - b))
    interval = expected.confidence_interval()
    assert (result["diff_ci_low"], result["diff_ci_high"]) == pytest.approx((interval.low, interval.high))
    # A paired test is not the unpaired one: pairing removes the run-to-run spread.
    assert result["p"] < stats.ttest_ind(a, b).pvalue


def test_paired_test_says_why_it_cannot_run():
    assert paired_test([], [])["note"] == "no run has both methods' ED"
    one = paired_test([0.5, np.nan], [0.4, 0.3])
    assert one["n_pairs"] == 1 and one["mean_diff"] == pytest.approx(0.1) and np.isnan(one["p"])
    assert "needs >= 2" in one["note"]
    constant = paired_test([0.5, 0.6], [0.4, 0.5])
    assert np.isnan(constant["t"]) and "same amount" in constant["note"]
