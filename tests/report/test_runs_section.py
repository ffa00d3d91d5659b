"""The run table: every run's unpruned accuracy, and runs near chance out of every fit."""

import pandas as pd

from propensity.report import build_report
from propensity.report.runs_section import LISTED_RUNS, run_accuracy_part
from tests.analysis.synthetic import make_tables, quickstart_tables


def test_a_run_near_chance_is_flagged_counted_and_left_out_of_the_fits(tmp_path):
    tables = quickstart_tables()
    runs = tables.runs.copy()
    low = runs.index[runs["width"] == 2.0][0]
    runs.loc[low, "base_val_acc"] = 0.16  # 6 points above 1/10
    tables.runs = runs
    text = build_report(tables, tmp_path).read_text()
    assert "1 of 12 run(s) are near chance and left out of every fit and table" in text
    assert "1 run(s) near chance left out (unpruned validation accuracy is at most 10 points" in text
    accuracy = pd.read_csv(tmp_path / "tables" / "run_accuracy.csv")
    assert accuracy["near_chance"].sum() == 1 and len(accuracy) == 12
    excluded = pd.read_csv(tmp_path / "tables" / "excluded_runs.csv")
    assert excluded["run_key"].tolist() == [runs.loc[low, "run_key"]]
    assert excluded["reason"].str.startswith("near chance").all()
    table2 = pd.read_csv(tmp_path / "tables" / "table2.csv").set_index("width")
    assert table2.loc[2.0, "n_runs"] == 2 and table2["n_runs"].sum() == 11


def test_many_runs_are_summarised_per_width_and_the_csv_keeps_each():
    runs = make_tables().runs  # 96 complete runs and two broken ones
    assert len(runs) > LISTED_RUNS
    part = run_accuracy_part(runs)
    assert len(part.csvs["run_accuracy"]) == len(runs)
    summary = next(b for b in part.blocks if isinstance(b, pd.DataFrame))
    assert "median_acc" in summary.columns and summary["runs"].sum() == len(runs)
