"""Training a cohort through the glue: one folder and record per member, as single runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from propensity.cohort_run import check_cohort, train_cohort
from propensity.records import RunRecord
from propensity.train import run_directory, train
from tests.conftest import FAST, run_cli


def test_each_member_is_recorded_under_its_single_run_key(compose_cfg, tmp_path) -> None:
    cfgs = [compose_cfg(*FAST, f"init_seed={i}", f"data_seed={d}") for i, d in [(0, 0), (1, 1)]]
    records = train_cohort(cfgs)
    singles = [train(compose_cfg(*FAST, f"init_seed={i}", f"data_seed={d}",
                                 f"results_dir={tmp_path / 'single'}")) for i, d in [(0, 0), (1, 1)]]
    for cfg, record, single in zip(cfgs, records, singles, strict=True):
        saved = RunRecord.load(run_directory(cfg) / "record.json")
        assert saved == record
        assert saved.run_key == single.run_key and saved.status == "finished"
        assert saved.cohort_size == 2 and single.cohort_size == 1
        assert saved.effective_density == single.effective_density
        assert saved.train_loss == pytest.approx(single.train_loss, abs=1e-5)
        assert saved.test_acc == pytest.approx(single.test_acc, abs=1e-6)
        assert pd.read_csv(run_directory(cfg) / "history.csv").epoch.tolist() == [1, 2]
        assert (run_directory(cfg) / "trajectory.csv").is_file()
    again = train_cohort(cfgs)  # finished members are skipped
    assert [r.finished_at for r in again] == [r.finished_at for r in records]


def test_members_of_different_cells_are_refused(compose_cfg) -> None:
    with pytest.raises(ValueError, match=r"cohort members differ in .model.*only init_seed and data_seed"):
        check_cohort([compose_cfg(*FAST), compose_cfg(*FAST, "width=0.5")])


@pytest.mark.slow
def test_multirun_groups_seeds_into_cohorts(tmp_path) -> None:
    result = run_cli("-m", *FAST, "init_seed=0,1,2", "cohort=2",
                     f"results_dir={tmp_path / 'results'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("record.json")]
    assert sorted((r["init_seed"], r["cohort_size"]) for r in records) == [(0, 2), (1, 2), (2, 1)]
    assert {r["status"] for r in records} == {"finished"}
