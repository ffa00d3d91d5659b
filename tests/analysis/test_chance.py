"""Runs near chance: flagged by their unpruned accuracy and left out of every fit."""

import numpy as np
import pandas as pd
import pytest

from propensity.analysis.chance import (
    ACCURACY_COLUMNS,
    NEAR_CHANCE_MARGIN,
    accuracy_table,
    chance_accuracy,
    near_chance,
    unpruned_accuracy,
)
from propensity.analysis.run_selection import REASON_NEAR_CHANCE, select_runs
from tests.analysis.synthetic import run_row


def _runs() -> pd.DataFrame:
    return pd.DataFrame(
        [
            run_row(run_key="good", base_val_acc=0.93),
            run_row(run_key="edge", base_val_acc=0.20),  # 10 points above 1/10: within
            run_row(run_key="above", base_val_acc=0.2100001),  # just outside
            run_row(run_key="conv", model="conv2", data="cifar10", base_val_acc=0.247),
            run_row(run_key="hundred", data="cifar100", base_val_acc=0.105),
            run_row(run_key="own", data="mine", num_classes=2, base_val_acc=0.55),
            run_row(run_key="unknown", data="mine", base_val_acc=0.15),
            run_row(run_key="no_base", base_val_acc=None, val_acc=0.12),
        ]
    )


def test_chance_is_one_over_the_recorded_or_known_class_count():
    chance = chance_accuracy(_runs()).tolist()
    assert chance[:5] == [0.1, 0.1, 0.1, 0.1, 0.01]
    assert chance[5] == 0.5  # the record's own num_classes wins over the name
    assert np.isnan(chance[6])  # a data set of unknown classes has no chance level


def test_the_unpruned_accuracy_is_the_sweeps_level_zero_else_the_final_validation():
    assert unpruned_accuracy(_runs()).tolist()[-2:] == [0.15, 0.12]


def test_within_ten_points_of_chance_is_flagged_and_nothing_unknown_is():
    flagged = near_chance(_runs())
    assert dict(zip(_runs()["run_key"], flagged, strict=True)) == {
        "good": False, "edge": True, "above": False, "conv": False, "hundred": True,
        "own": True, "unknown": False, "no_base": True,
    }  # fmt: skip
    assert pytest.approx(0.10) == NEAR_CHANCE_MARGIN
    assert near_chance(_runs(), margin=0.2).iloc[3]  # 0.247 is 14.7 points above chance


def test_selection_leaves_runs_near_chance_out_with_the_rule_as_reason():
    selection = select_runs(_runs())
    assert selection.kept["run_key"].tolist() == ["good", "above", "conv", "unknown"]
    reasons = selection.excluded.set_index("run_key")["reason"]
    assert set(reasons) == {REASON_NEAR_CHANCE}
    assert "10 points above chance" in REASON_NEAR_CHANCE
    assert "4 run(s) near chance left out" in selection.note()


def test_a_status_reason_comes_before_the_near_chance_one():
    runs = pd.DataFrame([run_row(run_key="x", status="diverged", base_val_acc=0.1)])
    assert select_runs(runs).excluded["reason"].tolist() == ["diverged"]


def test_the_accuracy_table_lists_every_run_once_with_its_flag():
    table = accuracy_table(_runs())
    assert list(table.columns) == ACCURACY_COLUMNS
    assert sorted(table["run_key"]) == sorted(_runs()["run_key"])
    assert table.set_index("run_key").loc["conv", "unpruned_val_acc"] == pytest.approx(0.247)
    assert accuracy_table(_runs().iloc[:0]).empty
