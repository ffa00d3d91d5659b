"""The key findings and the runs left out: generated from the tables, on hand-made runs."""

import numpy as np
import pandas as pd
import pytest

from propensity.analysis import anova_table, table2
from propensity.analysis.verdict import null_hypothesis_verdict
from propensity.report import build_report
from propensity.report.findings import findings_part, runs_part, untested
from tests.analysis.synthetic import make_tables


@pytest.fixture(scope="module")
def glorot_only():
    return make_tables(inits=("glorot",))


def test_report_opens_with_key_findings_then_the_runs(glorot_only, tmp_path):
    text = build_report(glorot_only, tmp_path).read_text()
    assert text.index("## Key findings") < text.index("## Runs") < text.index("## Training")
    assert text.index("## Runs") < text.index("### Table 2")


def test_findings_give_ed_per_width_the_verdict_and_the_capped_rows(glorot_only):
    runs = glorot_only.runs
    t2 = table2(runs)
    verdicts = null_hypothesis_verdict(t2, anova_table(runs))
    text = findings_part(runs, t2, verdicts, ["magnitude"], has_artifacts=False).render()
    row = t2[(t2["model_type"] == "MLP/SGD · digits") & (t2["width"] == 2.0)].iloc[0]
    assert f"2x {100 * row['mean_ed']:.1f}% (sd {100 * row['std_ed']:.1f}, n={row['n_runs']})" in text
    mlp = next(v for v in verdicts if v.model_type == "MLP/SGD · digits")
    assert mlp.summary in text  # the verdict, with the uncapped rows' p-values, word for word
    assert "Capped rows (0.5x): null ED capped at 100%" in text
    assert "no He runs" in text and "only magnitude pruning" in text


def test_untested_names_the_missing_initialisation(glorot_only):
    assert untested(glorot_only.runs, ["magnitude", "random"], True) == [
        "no He runs: Glorot vs He (Figure 6) untested"
    ]


def test_runs_section_takes_any_table_of_excluded_runs():
    reasons = ["unconverged: train loss 0.31 > 0.2", "unconverged: x", "NaN in history"]
    excluded = pd.DataFrame({"run_key": ["a", "b", "c"], "reason": reasons})
    part = runs_part(pd.DataFrame({"model_type": ["M"], "finished": [3]}), excluded)
    text = part.render()
    assert "3 run(s) left out: 2 unconverged; 1 NaN in history." in text
    assert "| a | unconverged: train loss 0.31 > 0.2 |" in text
    assert part.csvs["excluded_runs"].equals(excluded)
    noted = runs_part(pd.DataFrame(), excluded, note="3 left out (see below).").render()
    assert "3 left out (see below)." in noted
    assert "None: every run is in the analysis." in runs_part(pd.DataFrame(), excluded.iloc[:0]).render()


def _exponent_row(low, high, k=3):
    return pd.DataFrame([{"model_type": "M", "init": "Glorot", "ci_low_uncapped": low,
                          "ci_high_uncapped": high, "n_clusters": k}])


def _verdict(status):
    from propensity.analysis.verdict import NullVerdict

    return NullVerdict("M", status, f"Null hypothesis: {status}.", 0.01, "", 0.01)


def test_the_row_tests_agree_with_the_exponent_or_the_text_says_why_not():
    from propensity.report.findings import rows_against_exponent

    away, holds = _exponent_row(0.3, 1.2), _exponent_row(-0.2, 0.9)
    assert "agree with the exponent (both place the core away from constant)" in (
        rows_against_exponent(away, _verdict("rejected")))
    assert "agree with the exponent (neither rules out a constant core)" in (
        rows_against_exponent(holds, _verdict("not rejected")))
    differ = rows_against_exponent(away, _verdict("inconclusive"))
    assert "outside its interval over the uncapped widths while the row tests are inconclusive" in differ
    assert "more power" in differ
    differ = rows_against_exponent(holds, _verdict("rejected by the t-tests only"))
    assert "count every run as independent" in differ and "3 seed clusters" in differ
    assert "cannot test b = 0" in rows_against_exponent(_exponent_row(np.nan, np.nan), _verdict("rejected"))
    assert rows_against_exponent(away, _verdict("untested")) == ""
