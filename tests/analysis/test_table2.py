"""Table 2's arithmetic on hand-made runs: means, null EDs, tests, Holm and the marks."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from propensity.analysis.null_hypothesis import pair_with_reference
from propensity.analysis.table2 import ANOVA_MARK, T_TEST_MARK, anova_table, format_table2, table2
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
def test_t_tests_and_holm_equal_scipy_and_statsmodels(runs):
    table = table2(runs)
    paired = pair_with_reference(runs)
    for _, r in table[~table["is_reference"]].iterrows():
        cell = paired[(paired["model_type"] == r["model_type"]) & (paired["width"] == r["width"])]
        for equal_var, column in ((False, "p_welch"), (True, "p_student")):
            ref = stats.ttest_ind(cell["effective_density"], cell["null_ed"], equal_var=equal_var)
            assert r[column] == pytest.approx(ref.pvalue)
    tested = table["p_welch"].notna()
    expected = multipletests(table.loc[tested, "p_welch"], method="holm")[1]
    assert table.loc[tested, "p_welch_holm"].to_numpy() == pytest.approx(expected)
    assert table.loc[~tested, "p_welch_holm"].isna().all()


def test_reference_rows_and_untestable_rows_say_why(runs):
    table = table2(runs)
    assert "reference width" in row(table, "MLP", 1.0)["note"]
    one_run = pd.DataFrame(sweep({1.0: [600, 500], 2.0: [900]}))
    lonely = row(table2(one_run), "MLP", 2.0)
    assert np.isnan(lonely["p_welch"]) and "too few runs (n=1 vs n=1" in lonely["note"]
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
    significant = table["significant"].to_numpy()
    marked = shown["Mean ED"].str.endswith(T_TEST_MARK).to_numpy()
    assert (marked == significant).all()
    assert not row(table, "Conv-2", 2.0)["significant"]  # observed == null exactly
    mlp_first = shown.index[shown["Model"].str.startswith("MLP")][0]
    assert shown.loc[mlp_first, ["Size (x)", "Null Hyp. Mean ED"]].tolist() == ["0.5", "100.0"]


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
