"""Training a cohort through the glue: one folder and record per member, as single runs."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path

import pandas as pd
import pytest
import torch

from propensity.cohort_epochs import CohortCheckpoint
from propensity.cohort_run import check_cohort, main_cohort, member_configs, train_cohort
from propensity.launch import Interrupted
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
    jobs = [json.loads(p.read_text()) for p in tmp_path.rglob("job_status.json")]
    named = sorted(sorted(m["run_key"] for m in job.get("members", [])) or [job["run_key"]] for job in jobs)
    assert named == sorted([sorted(r["run_key"] for r in records if r["cohort_size"] == 2),
                            [r["run_key"] for r in records if r["cohort_size"] == 1]])
    assert {job["status"] for job in jobs} == {"finished"}
    assert "job 0 finished (2 runs)" in result.stdout + result.stderr
    assert "sweep done: 3 finished (3 runs in 2 jobs)" in result.stdout + result.stderr


def _signal_after_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int, signum: int) -> None:
    """Send this process `signum` once the cohort's epoch hook has finished `epoch`, as a
    scheduler or a user would between two epochs."""
    from propensity.cohort_epochs import EpochReport

    original = EpochReport.__call__

    def report_then_signal(self: EpochReport, end) -> None:
        original(self, end)
        if end.epoch == epoch:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(EpochReport, "__call__", report_then_signal)


def test_an_interrupted_cohort_resumes_from_its_checkpoint_as_if_never_stopped(
    compose_cfg, tmp_path, monkeypatch, caplog
) -> None:
    seeds, longer = [(0, 0), (1, 1)], [*FAST, "stop.max_epochs=4"]
    whole = train_cohort([compose_cfg(*longer, f"init_seed={i}", f"data_seed={d}",
                                      f"results_dir={tmp_path / 'whole'}") for i, d in seeds])
    cfgs = [compose_cfg(*longer, f"init_seed={i}", f"data_seed={d}") for i, d in seeds]

    with monkeypatch.context() as patch:
        _signal_after_epoch(patch, 2, signal.SIGTERM)
        with pytest.raises(Interrupted):
            train_cohort(cfgs)
    checkpoint = CohortCheckpoint(cfgs)
    assert torch.load(checkpoint.path, weights_only=True)["epoch"] == 2
    for cfg in cfgs:
        stopped = RunRecord.load(run_directory(cfg) / "record.json")
        assert (stopped.status, stopped.error) == ("interrupted", "interrupted by SIGTERM")
        assert pd.read_csv(run_directory(cfg) / "history.csv").epoch.tolist() == [1, 2]

    from propensity.cohort_epochs import EpochReport

    original, epochs = EpochReport.__call__, []
    monkeypatch.setattr(EpochReport, "__call__", lambda self, end: (epochs.append(end.epoch),
                                                                    original(self, end)))
    with caplog.at_level(logging.INFO, logger="propensity"):
        resumed = train_cohort(cfgs)
    assert f"resume the cohort from {checkpoint.path} (epoch 2)" in caplog.text
    assert epochs == [3, 4]  # only the epochs the interruption left
    for cfg, record, reference in zip(cfgs, resumed, whole, strict=True):
        assert record.status == "finished" and record.effective_density == reference.effective_density
        ours, ref = run_directory(cfg), Path(reference.config["results_dir"]) / "adhoc" / reference.run_key
        for table in ("history.csv", "trajectory.csv"):
            assert (ours / table).read_text() == (ref / table).read_text(), table
    assert not checkpoint.folder.exists()  # every member is done: the checkpoint went


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_leaves_every_member_interrupted_and_exits_as_a_single_run(
    compose_cfg, monkeypatch, signum: int, code: int
) -> None:
    cfg = compose_cfg(*FAST, "+cohort_members=[[0,0],[1,1]]")
    _signal_after_epoch(monkeypatch, 1, signum)
    with pytest.raises(SystemExit) as exit_:
        main_cohort(cfg)
    assert exit_.value.code == code
    for member in member_configs(cfg):
        assert RunRecord.load(run_directory(member) / "record.json").status == "interrupted"


def test_a_changed_set_of_unfinished_members_is_retrained_and_said(
    compose_cfg, monkeypatch, caplog
) -> None:
    cfgs = [compose_cfg(*FAST, f"init_seed={i}") for i in (0, 1)]
    with monkeypatch.context() as patch:
        _signal_after_epoch(patch, 1, signal.SIGTERM)
        with pytest.raises(Interrupted):
            train_cohort(cfgs)
    cfgs.append(compose_cfg(*FAST, "init_seed=2"))
    with caplog.at_level(logging.INFO, logger="propensity"):
        records = train_cohort(cfgs)
    assert "the unfinished members changed since" in caplog.text
    assert "resume the cohort" not in caplog.text
    assert [r.status for r in records] == ["finished"] * 3
    assert not list(CohortCheckpoint(cfgs).root.iterdir())  # the old cohort's checkpoint too
