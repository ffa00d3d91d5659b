"""The verdict on the null hypothesis rests on the uncapped ANOVA and the uncapped rows only."""

import pandas as pd
import pytest

from propensity.analysis.table2 import anova_table, table2
from propensity.analysis.verdict import null_hypothesis_verdict
from tests.analysis.synthetic import run_row

TOTALS = {0.5: 400, 1.0: 1000, 2.0: 2000}


def sweep(unpruned: dict[float, list[int]], model: str = "mlp") -> list[dict]:
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


def verdicts(*sweeps: list[dict]) -> dict[str, object]:
    runs = pd.DataFrame([r for s in sweeps for r in s])
    found = null_hypothesis_verdict(table2(runs), anova_table(runs))
    return {v.model_type.split("/")[0]: v for v in found}


@pytest.mark.filterwarnings("ignore:Precision loss")
def test_growing_core_is_rejected_and_a_flat_one_is_not():
    found = verdicts(
        sweep({0.5: [300, 320, 310], 1.0: [600, 500, 550], 2.0: [900, 1000, 950]}, "mlp"),
        sweep({1.0: [600, 500, 550], 2.0: [610, 490, 560]}, "conv2"),
    )
    growing, flat = found["MLP"], found["Conv-2"]
    assert growing.status == "rejected"
    assert [t.width for t in growing.rejecting] == [2.0] and growing.capped_widths == [0.5]
    assert growing.rejecting[0].test == "Welch's t-test" and growing.rejecting[0].diff > 0
    assert flat.status == "not rejected" and [t.width for t in flat.not_rejecting] == [2.0]
    assert "Welch's ANOVA over the uncapped widths" in growing.summary


@pytest.mark.filterwarnings("ignore:Precision loss")
def test_capped_rows_alone_never_reject():
    # 0.5x rejects trivially (null capped at 100%); the uncapped 2x keeps its twins' cores.
    found = verdicts(sweep({0.5: [300, 320, 310], 1.0: [600, 500, 550], 2.0: [610, 490, 560]}))
    mlp = found["MLP"]
    assert mlp.capped_widths == [0.5] and not mlp.rejecting
    assert mlp.status == "not rejected"
    assert mlp.anova_p_all_widths < 0.05 < mlp.anova_p  # the paper's ANOVA rejects, by the cap


@pytest.mark.filterwarnings("ignore:Precision loss")
def test_quickstart_shape_is_inconclusive_and_says_why():
    # The quickstart's shape: three 1x twins with one ED; the equal-variance ANOVA on the
    # counts rejects (p ~ 0.02) only because it takes the identical 1x counts for a sample
    # with spread; the one-sample test of the 2x row does not (p ~ 0.06).
    found = verdicts(sweep({1.0: [420, 420, 420], 2.0: [900, 1400, 900]}))
    mlp = found["MLP"]
    assert mlp.status == "inconclusive"
    assert "identical counts" in mlp.anova_note
    assert mlp.not_rejecting[0].test == "one-sample t-test vs constant null"
    assert mlp.anova_p < 0.05 < mlp.not_rejecting[0].p_holm
    assert "2x: p = " in mlp.summary


def test_untested_when_nothing_can_run():
    found = verdicts(sweep({1.0: [500], 2.0: [900]}))
    assert found["MLP"].status == "untested" and 2.0 in found["MLP"].untested
