"""Table 2's arithmetic on hand-made runs: means, null EDs, tests, Holm and the marks."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.oneway import anova_oneway

from propensity.analysis.null_hypothesis import pair_with_reference
from propensity.analysis.significance import ONE_SAMPLE, WELCH
from propensity.analysis.table2 import (
    ANOVA_MARK,
    CAPPED_MARK,
    CAPPED_NOTE,
    T_TEST_MARK,
    anova_table,
    format_table2,
    format_tests,
    table2,
)
from tests.analysis.synthetic import run_row

TOTALS = {0.5: 400, 1.0: 1000, 2.0: 2000}


def sweep(unpruned: dict[float, list[int]], model: str = "mlp") -> list[dict]:
    """Runs of one model type; the i-th run of each width has data_seed i."""
    return [
        run_row(
            run_key=f"{model}-{w}-{i}",
            model=model,
            width=w,
            data_seed=i,
            total_weights=TOTALS[w],
            unpruned_weights=u,
            effective_density=u / TOTALS[w],
        )
        for w, counts in unpruned.items()
        for i, u in enumerate(counts)
    ]


GROWING = {0.5: [300, 320, 310], 1.0: [600, 500, 550], 2.0: [900, 1000, 950]}
# A model type whose core does not grow: the 2x runs keep exactly their 1x twins' counts.
FLAT = {1.0: [600, 500, 550], 2.0: [600, 500, 550]}


@pytest.fixture
def runs() -> pd.DataFrame:
    return pd.DataFrame(sweep(GROWING, "mlp") + sweep(FLAT, "conv2"))


def row(table: pd.DataFrame, model_type_prefix: str, width: float) -> pd.Series:
    match = table[table["model_type"].str.startswith(model_type_prefix) & (table["width"] == width)]
    assert len(match) == 1
    return match.iloc[0]


def test_observed_and_null_means_by_hand(runs):
    table = table2(runs)
    wide = row(table, "MLP", 2.0)
    observed = [900 / 2000, 1000 / 2000, 950 / 2000]
    null = [600 / 2000, 500 / 2000, 550 / 2000]
    assert wide["mean_ed"] == pytest.approx(np.mean(observed))
    assert wide["std_ed"] == pytest.approx(np.std(observed, ddof=1))
    assert wide["null_mean_ed"] == pytest.approx(np.mean(null))
    assert wide["null_std_ed"] == pytest.approx(np.std(null, ddof=1))
    assert (wide["n_runs"], wide["n_paired"], wide["n_capped"]) == (3, 3, 0)
    narrow = row(table, "MLP", 0.5)  # 1x twins keep 500-600 weights > 400: capped at 100%
    assert narrow["null_mean_ed"] == 1.0 and narrow["null_std_ed"] == 0.0
    assert narrow["n_capped"] == 3


@pytest.mark.filterwarnings("ignore:Precision loss")
def test_each_row_runs_the_test_its_null_allows_and_the_papers_beside(runs):
    table = table2(runs)
    paired = pair_with_reference(runs)
    for _, r in table[~table["is_reference"]].iterrows():
        cell = paired[(paired["model_type"] == r["model_type"]) & (paired["width"] == r["width"])]
        observed, null = cell["effective_density"], cell["null_ed"]
        if r["null_capped"]:  # every null at 100%: a one-sample test against 1
            assert r["test"] == ONE_SAMPLE
            assert r["p"] == pytest.approx(stats.ttest_1samp(observed, 1.0).pvalue)
            assert np.isnan(r["hedges_g"]) and np.isnan(r["cohens_d"])
        else:
            assert r["test"] == WELCH
            assert r["p"] == pytest.approx(stats.ttest_ind(observed, null, equal_var=False).pvalue)
        student = stats.ttest_ind(observed, null, equal_var=True).pvalue
        assert r["p_student"] == pytest.approx(student)


def test_capped_rows_are_flagged_and_corrected_apart(runs):
    table = table2(runs)
    capped = row(table, "MLP", 0.5)
    assert capped["null_capped"] and capped["family"] == "capped"
    assert CAPPED_NOTE in capped["note"] == CAPPED_NOTE + "; " + capped["note"].split("; ", 1)[1]
    uncapped = table[table["family"] == "uncapped"]
    assert len(uncapped) == 2 and not uncapped["null_capped"].any()
    # Holm runs within each family: the capped row's tiny p does not touch the uncapped ones.
    expected = multipletests(uncapped["p"], method="holm")[1]
    assert uncapped["p_holm"].to_numpy() == pytest.approx(expected)
    assert capped["p_holm"] == pytest.approx(capped["p"])  # alone in its family
    assert np.isnan(row(table, "MLP", 1.0)["p_holm"])


@pytest.mark.filterwarnings("ignore:Precision loss")
def test_twins_sharing_one_ed_make_a_constant_null_without_effect_size():
    # All three 1x twins keep 500 weights: the 2x null is 500/2000 three times.
    same = pd.DataFrame(sweep({1.0: [500, 500, 500], 2.0: [560, 880, 560]}))
    wide = row(table2(same), "MLP", 2.0)
    observed = [560 / 2000, 880 / 2000, 560 / 2000]
    assert wide["test"] == "one-sample t-test vs constant null"
    assert not wide["null_capped"] and wide["family"] == "uncapped"
    assert wide["p"] == pytest.approx(stats.ttest_1samp(observed, 0.25).pvalue)
    interval = stats.ttest_1samp(observed, 0.25).confidence_interval(0.95)
    assert (wide["diff_ci_low"], wide["diff_ci_high"]) == pytest.approx(
        (interval.low - 0.25, interval.high - 0.25)
    )
    assert np.isnan(wide["hedges_g"]) and "no standardized effect size" in wide["note"]
    tests = format_tests(table2(same))
    assert tests.loc[0, "Test"] == "one-sample t-test vs constant null"
    assert tests.loc[0, "Hedges' g"] == "n/a" and len(tests.columns) <= 8


def _unconverged(runs: pd.DataFrame, width: float, n: int) -> pd.DataFrame:
    extra = [
        run_row(
            run_key=f"slow-{i}",
            status="max_epochs_reached",
            width=width,
            data_seed=10 + i,
            total_weights=TOTALS[width],
            unpruned_weights=100,
            effective_density=100 / TOTALS[width],
        )
        for i in range(n)
    ]
    return pd.concat([runs, pd.DataFrame(extra)], ignore_index=True)


def test_unconverged_runs_are_left_out_counted_and_restored_by_the_switch(runs):
    slow = _unconverged(runs, 2.0, 2)
    default = row(table2(slow), "MLP", 2.0)
    assert default["n_runs"] == 3 and default["n_unconverged"] == 2
    assert default["mean_ed"] == pytest.approx(row(table2(runs), "MLP", 2.0)["mean_ed"])
    assert row(table2(slow), "MLP", 0.5)["n_unconverged"] == 0
    shown = format_table2(table2(slow), anova_table(slow))
    wide_rows = shown.loc[shown["Size (x)"] == "2", "Unconverged left out"]  # Conv-2, then MLP
    assert wide_rows.tolist() == ["0", "2"]
    assert len(shown.columns) <= 8
    restored = row(table2(slow, include_unconverged=True), "MLP", 2.0)
    assert restored["n_runs"] == 5 and restored["n_unconverged"] == 0
    anova_default = anova_table(slow).iloc[1]  # Conv-2, then MLP
    assert anova_default["runs_per_width"] == "0.5x: 3, 1x: 3, 2x: 3"
    anova_all = anova_table(slow, include_unconverged=True).iloc[1]
    assert anova_all["runs_per_width"] == "0.5x: 3, 1x: 3, 2x: 5"


def test_anova_over_uncapped_widths_leaves_the_capped_width_out(runs):
    mlp = anova_table(runs).iloc[1]
    assert mlp["model_type"].startswith("MLP") and mlp["uncapped_widths"] == "1x, 2x"
    uncapped = [GROWING[1.0], GROWING[2.0]]
    assert mlp["test_uncapped"] == "Welch's ANOVA"
    welch = anova_oneway(uncapped, use_var="unequal", welch_correction=True)
    assert mlp["p_uncapped"] == pytest.approx(welch.pvalue)
    flat = anova_table(pd.DataFrame(sweep({1.0: [500, 500, 500], 2.0: [560, 880, 560]})))
    assert flat.iloc[0]["test_uncapped"] == "one-way ANOVA"
    assert flat.iloc[0]["p_uncapped"] == pytest.approx(
        stats.f_oneway([500, 500, 500], [560, 880, 560]).pvalue
    )
    assert "1x: identical counts" in flat.iloc[0]["note_uncapped"]


def test_reference_rows_and_untestable_rows_say_why(runs):
    table = table2(runs)
    assert "reference width" in row(table, "MLP", 1.0)["note"]
    one_run = pd.DataFrame(sweep({1.0: [600, 500], 2.0: [900]}))
    lonely = row(table2(one_run), "MLP", 2.0)
    assert np.isnan(lonely["p"]) and "too few runs (n=1 vs n=1" in lonely["note"]
    orphan = pd.DataFrame(sweep({1.0: [600]}) + sweep({2.0: [0, 900, 950]})[1:])
    orphan_row = row(table2(orphan), "MLP", 2.0)  # seeds 1 and 2 have no 1x twin
    assert (
        orphan_row["n_paired"] == 0 and "no run of this width has a 1x twin" in orphan_row["note"]
    )


def test_anova_on_unpruned_counts_equals_scipy(runs):
    anova = anova_table(runs).set_index("model_type")
    mlp = anova.loc[next(i for i in anova.index if i.startswith("MLP"))]
    assert mlp["p"] == pytest.approx(stats.f_oneway(*GROWING.values()).pvalue)
    assert mlp["runs_per_width"] == "0.5x: 3, 1x: 3, 2x: 3"
    flat = anova.loc[next(i for i in anova.index if i.startswith("Conv-2"))]
    assert flat["p"] == pytest.approx(1.0) and not flat["significant"]


def test_marks_follow_the_tests(runs):
    table, anova = table2(runs), anova_table(runs)
    shown = format_table2(table, anova)
    models = shown["Model"][shown["Model"] != ""].tolist()
    assert any(m.startswith("MLP") and m.endswith(ANOVA_MARK) for m in models)
    assert any(m.startswith("Conv-2") and ANOVA_MARK not in m for m in models)
    significant = (table["significant"] & ~table["null_capped"]).to_numpy()
    marked = shown["ED % (mean ± sd)"].str.endswith(T_TEST_MARK).to_numpy()
    assert (marked == significant).all()
    capped_marks = shown["ED % (mean ± sd)"].str.endswith(CAPPED_MARK).to_numpy()
    assert (capped_marks == (table["significant"] & table["null_capped"]).to_numpy()).all()
    assert not row(table, "Conv-2", 2.0)["significant"]  # observed == null exactly
    mlp_first = shown.index[shown["Model"].str.startswith("MLP")][0]
    assert shown.loc[mlp_first, ["Size (x)", "Null ED % (mean ± sd)"]].tolist() == [
        "0.5",
        "100.0 ± 0.0",
    ]


def test_failed_runs_do_not_count(runs):
    broken = pd.concat(
        [
            runs,
            pd.DataFrame(
                [
                    run_row(
                        run_key="x",
                        status="failed",
                        width=2.0,
                        effective_density=None,
                        unpruned_weights=None,
                    )
                ]
            ),
        ]
    )
    assert row(table2(broken), "MLP", 2.0)["n_runs"] == 3


def test_empty_and_degenerate_inputs(degenerate):
    table = table2(degenerate.runs)
    assert len(table) == 1 and "1 run" in table.iloc[0]["note"]
    assert "ANOVA needs >= 2" in anova_table(degenerate.runs).iloc[0]["note"]
    empty = degenerate.runs.iloc[0:0]
    assert table2(empty).empty and format_table2(table2(empty), anova_table(empty)).empty


def test_a_partly_capped_null_is_welch_but_still_kept_apart():
    # 1x twins keep 600, 380 and 550 weights; a 0.5x model has 400: two of three capped.
    partly = pd.DataFrame(sweep({0.5: [300, 320, 310], 1.0: [600, 380, 550]}))
    narrow = row(table2(partly), "MLP", 0.5)
    assert narrow["test"] == WELCH and narrow["n_capped"] == 2
    assert narrow["null_capped"] and narrow["family"] == "capped"
    assert "2 of 3 null EDs capped at 100%" in narrow["note"]
