"""Which runs enter the analysis: unconverged out by default, every exclusion with its reason."""

import numpy as np
import pandas as pd
import pytest

from propensity.analysis.run_selection import (
    EXCLUDED_COLUMNS,
    REASON_NO_ED,
    REASON_UNCONVERGED,
    select_runs,
)
from tests.analysis.synthetic import run_row


def _runs() -> pd.DataFrame:
    return pd.DataFrame(
        [
            run_row(run_key="ok", width=1.0),
            run_row(run_key="ok2", width=2.0, run_dir="/r/ok2"),
            run_row(run_key="slow", status="max_epochs_reached", width=2.0),
            run_row(run_key="nan", status="diverged", effective_density=None, error="loss is nan"),
            run_row(run_key="crash", status="failed", effective_density=None, error="OOM"),
            run_row(run_key="cut", status="running", effective_density=None),
            run_row(run_key="unpruned", effective_density=None),
        ]
    )


def _trajectories(keys: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"run_key": k, "method": "magnitude", "level": 0, "density": 1.0, "val_acc": 0.9}
         for k in keys]
    )  # fmt: skip


def _histories(keys: list[str]) -> pd.DataFrame:
    return pd.DataFrame([{"run_key": k, "epoch": 1, "train_loss": 0.3, "val_loss": 0.4} for k in keys])


def test_only_finished_runs_with_an_ed_are_kept_and_every_other_says_why():
    selection = select_runs(_runs())
    assert selection.kept["run_key"].tolist() == ["ok", "ok2"]
    assert list(selection.excluded.columns) == EXCLUDED_COLUMNS
    reasons = selection.excluded.set_index("run_key")["reason"]
    assert reasons["slow"] == REASON_UNCONVERGED
    assert reasons["nan"] == "diverged"
    assert reasons["crash"] == "failed: OOM"
    assert reasons["cut"].startswith("interrupted or still running")
    assert reasons["unpruned"] == REASON_NO_ED
    assert selection.unconverged_counts().to_dict() == {("MLP/SGD · digits", 2.0): 1}
    assert "1 unconverged run(s) left out" in selection.note()
    assert "4 other run(s)" in selection.note()


def test_the_switch_puts_unconverged_runs_back_and_only_those():
    selection = select_runs(_runs(), include_unconverged=True)
    assert selection.kept["run_key"].tolist() == ["ok", "ok2", "slow"]
    assert REASON_UNCONVERGED not in set(selection.excluded["reason"])
    assert len(selection.excluded) == 4 and selection.unconverged_counts().empty


def test_missing_or_nan_files_and_unreadable_records_are_listed():
    runs = _runs()
    trajectories = _trajectories(["ok", "slow"])
    trajectories.loc[1, "val_acc"] = np.nan  # slow's trajectory is damaged, but it is
    histories = _histories(["ok", "ok2", "slow"])  # left out first for being unconverged
    histories.loc[0, "val_loss"] = np.nan
    selection = select_runs(
        runs,
        include_unconverged=True,
        trajectories=trajectories,
        histories=histories,
        problems=[
            "skipped /r/x/record.json: JSONDecodeError: Expecting value",
            "unreadable /r/ok2/trajectory.csv: EmptyDataError: No columns to parse from file",
        ],
    )
    reasons = selection.excluded.set_index("run_key")["reason"]
    assert selection.kept.empty
    assert reasons["ok"] == "NaN in history.csv (val_loss)"
    # Missing from the tables; the collector said why.
    assert reasons["ok2"] == (
        "unreadable /r/ok2/trajectory.csv: EmptyDataError: No columns to parse from file"
    )
    assert reasons["slow"] == "NaN in trajectory.csv (val_acc)"
    unreadable = selection.excluded[selection.excluded["run_key"] == ""]
    assert unreadable["reason"].tolist() == [
        "unreadable record: /r/x/record.json: JSONDecodeError: Expecting value"
    ]


def test_a_runs_table_without_status_is_a_one_line_error():
    with pytest.raises(ValueError, match="no column status"):
        select_runs(pd.DataFrame({"run_key": ["a"], "effective_density": [0.5]}))


def test_a_missing_file_without_a_collector_message_says_missing():
    selection = select_runs(_runs(), trajectories=_trajectories(["ok"]), histories=_histories(["ok", "ok2"]))
    assert selection.excluded.set_index("run_key").loc["ok2", "reason"] == "missing trajectory.csv"
