"""The null test once per criterion, and the sentence saying whether the finding depends on one."""

import pandas as pd
import pytest

from propensity.analysis.criteria import (
    control_differences,
    criteria_tests,
    finding_sentence,
    method_runs,
    unit_summary,
)
from tests.analysis.synthetic import run_row

TOTALS = {0.5: 400, 1.0: 1000, 2.0: 2000}
GROWING = {0.5: [300, 320, 310], 1.0: [600, 500, 550], 2.0: [900, 1000, 950]}
FLAT = {0.5: [300, 320, 310], 1.0: [330, 300, 310], 2.0: [310, 320, 300]}


def runs(**cores: dict[float, list[int]]) -> pd.DataFrame:
    """One row per width and seed; ``cores[method]`` the unpruned weights of each method."""
    rows = []
    for w in TOTALS:
        for i in range(3):
            row = run_row(run_key=f"r-{w}-{i}", width=w, data_seed=i, total_weights=TOTALS[w])
            for method, core in cores.items():
                row[f"effective_density_{method}"] = core[w][i] / TOTALS[w]
                row[f"unpruned_weights_{method}"] = core[w][i]
            row["effective_density"] = row["effective_density_magnitude"]
            row["unpruned_weights"] = row["unpruned_weights_magnitude"]
            rows.append(row)
    return pd.DataFrame(rows)


def test_method_runs_puts_a_criterions_ed_where_table_2_reads_it():
    table = runs(magnitude=GROWING, snip=FLAT)
    snip = method_runs(table, "snip")
    assert snip["unpruned_weights"].tolist() == [c for w in TOTALS for c in FLAT[w]]
    assert method_runs(table, "obd").empty


@pytest.mark.filterwarnings("ignore:Precision loss")
def test_a_finding_that_one_criterion_breaks_is_said_to_depend_on_it():
    rows, verdicts = criteria_tests(runs(magnitude=GROWING, snip=GROWING, obd_lamp=FLAT,
                                         snip_lamp_shuffled=FLAT))
    status = {m: v.status for m, v in verdicts}
    assert status["magnitude"] == status["snip"] == "rejected" and status["obd_lamp"] == "not rejected"
    assert set(rows["method"]) == {"magnitude", "snip", "obd_lamp", "snip_lamp_shuffled"}
    sentence = finding_sentence(verdicts, verdicts[0][1].model_type)
    assert sentence.startswith("The paper's finding depends on the criterion")
    assert "magnitude, snip" in sentence and "obd_lamp (not rejected)" in sentence
    assert "shuffled" not in sentence  # a control is never counted as a criterion


@pytest.mark.filterwarnings("ignore:Precision loss")
def test_a_finding_under_every_criterion_says_so():
    _, verdicts = criteria_tests(runs(magnitude=GROWING, synflow_erk=GROWING))
    assert finding_sentence(verdicts, verdicts[0][1].model_type).startswith("Under every one of the 2")
    _, alone = criteria_tests(runs(magnitude=GROWING))
    assert finding_sentence(alone, alone[0][1].model_type) == ""


def test_a_criterion_is_paired_with_its_control_run_by_run():
    """Each run's criterion ED is compared with the same run's control ED: the differences are
    (-10, -4, -16) weights at every width while the runs themselves differ by up to 100, so the
    paired interval and p (checked against the t distribution by hand) hold only if the pairs do;
    any other pairing of the same columns has the same mean but far wider differences."""
    from scipy import stats

    offsets = (-10, -4, -16)
    better = {w: [c + d for c, d in zip(GROWING[w], offsets, strict=True)] for w in TOTALS}
    table = control_differences(runs(magnitude=better, random=GROWING, snip_lamp=GROWING))
    assert set(table["method"]) == {"magnitude"} and set(table["control"]) == {"random"}
    mean, sd, n = -10.0, 6.0, 3  # of the offsets
    half = stats.t.ppf(0.975, n - 1) * sd / n**0.5
    p = 2 * stats.t.cdf(mean / (sd / n**0.5), n - 1)
    for row in table.itertuples():
        total = TOTALS[row.width]
        assert row.n_pairs == n
        assert row.mean_diff == pytest.approx(mean / total, rel=1e-12)
        assert (row.diff_ci_low, row.diff_ci_high) == pytest.approx(
            ((mean - half) / total, (mean + half) / total), rel=1e-9)
        assert row.p == pytest.approx(p, rel=1e-9)


def test_units_summarise_the_unit_effective_density():
    table = runs(magnitude=GROWING, units=FLAT)
    table["unit_effective_density_units"] = 0.5
    summary = unit_summary(table)
    assert summary["mean_unit_ed"].tolist() == [0.5, 0.5, 0.5]
    expected = [sum(FLAT[w]) / 3 / TOTALS[w] for w in TOTALS]
    assert summary["mean_ed_units"].tolist() == pytest.approx(expected, rel=1e-12)
