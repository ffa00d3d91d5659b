"""The key findings and the runs left out: generated from the tables, on hand-made runs."""

import pandas as pd
import pytest

from propensity.analysis import anova_table, table2
from propensity.report import build_report
from propensity.report.findings import excluded_runs, findings_part, runs_part, untested
from tests.analysis.synthetic import make_tables


@pytest.fixture(scope="module")
def glorot_only():
    return make_tables(inits=("glorot",))


def test_report_opens_with_key_findings_then_the_runs(glorot_only, tmp_path):
    text = build_report(glorot_only, tmp_path).read_text()
    assert text.index("## Key findings") < text.index("## Runs") < text.index("## Training")
    assert text.index("## Runs") < text.index("### Table 2")


def test_findings_give_ed_per_width_the_anova_and_the_uncapped_rows(glorot_only):
    runs = glorot_only.runs
    t2, anova = table2(runs), anova_table(runs)
    text = findings_part(runs, t2, anova, ["magnitude"], has_artifacts=False).render()
    row = t2[(t2["model_type"] == "MLP/SGD · digits") & (t2["width"] == 2.0)].iloc[0]
    assert f"2x {100 * row['mean_ed']:.1f}% (sd {100 * row['std_ed']:.1f}, n={row['n_runs']})" in text
    assert "ANOVA across widths on unpruned weights" in text and "rejects the null" in text
    assert f"2x (p = {row['p_welch_holm']:.2g})" in text  # an uncapped row, with its p
    assert "Capped rows (0.5x): null ED capped at 100%" in text
    assert "no He runs" in text and "only magnitude pruning" in text


def test_a_row_that_does_not_reject_is_said_so():
    t2 = pd.DataFrame({
        "model_type": ["M"] * 2, "width": [1.0, 2.0], "is_reference": [True, False],
        "n_runs": [3, 3], "n_capped": [0, 0], "mean_ed": [0.5, 0.42], "std_ed": [0.0, 0.01],
        "p_welch_holm": [float("nan"), 0.063],
    })  # fmt: skip
    text = findings_part(pd.DataFrame(), t2, pd.DataFrame(), [], True).render()
    assert "No uncapped row rejects the null (Welch, Holm): 2x (p = 0.063)." in text
    assert "ANOVA: not run." in text


def test_untested_names_the_missing_initialisation(glorot_only):
    assert untested(glorot_only.runs, ["magnitude", "random"], True) == [
        "no He runs: Glorot vs He (Figure 6) untested"
    ]


def test_excluded_runs_give_each_run_left_out_and_why(tables):
    excluded = excluded_runs(tables.runs, problems=["run_a/record.json: not valid JSON"])
    assert list(excluded.columns) == ["run_key", "reason"]
    reasons = dict(zip(excluded["run_key"], excluded["reason"], strict=True))
    assert reasons["failed-1"].startswith("status failed")
    assert reasons["diverged-1"].startswith("status diverged")
    assert reasons["(unreadable)"] == "run_a/record.json: not valid JSON"
    assert len(excluded) == 3


def test_runs_section_takes_any_table_of_excluded_runs():
    reasons = ["unconverged: train loss 0.31 > 0.2", "unconverged: x", "NaN in history"]
    excluded = pd.DataFrame({"run_key": ["a", "b", "c"], "reason": reasons})
    part = runs_part(pd.DataFrame(), pd.DataFrame({"model_type": ["M"], "finished": [3]}), excluded)
    text = part.render()
    assert "3 run(s) left out: 2 unconverged; 1 NaN in history." in text
    assert "| a | unconverged: train loss 0.31 > 0.2 |" in text
    assert part.csvs["excluded_runs"].equals(excluded)
    assert "None: every run is in the analysis." in runs_part(
        pd.DataFrame(), pd.DataFrame(), excluded.iloc[:0]).render()
