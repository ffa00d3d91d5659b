"""Training a cohort through the glue: one folder and record per member, as single runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from propensity import cohort_run
from propensity.cohort.memory import GIB
from propensity.cohort_run import check_cohort, chunk_plan, device_of, member_estimate, train_cohort
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


SEEDS = [(0, 0), (1, 0), (2, 1), (3, 1)]


def _cohort(compose_cfg, *overrides: str) -> list:
    return [compose_cfg(*FAST, f"init_seed={i}", f"data_seed={d}", *overrides) for i, d in SEEDS]


def test_a_budget_for_two_members_trains_two_chunks_with_the_one_chunk_records(
    compose_cfg, tmp_path
) -> None:
    whole = train_cohort(_cohort(compose_cfg, f"results_dir={tmp_path / 'whole'}"))
    cfgs = _cohort(compose_cfg, f"results_dir={tmp_path / 'chunks'}")
    estimate = member_estimate(cfgs[0])
    budget = (estimate.chunk(2, 2) + estimate.chunk(3, 2)) / 2 / GIB  # two fit, three do not
    cfgs = [OmegaConf.merge(cfg, {"cohort_memory_gb": budget}) for cfg in cfgs]
    assert chunk_plan(cfgs) == [2, 2]
    chunked = train_cohort(cfgs)
    assert [r.cohort_size for r in whole] == [4] * 4 and [r.cohort_size for r in chunked] == [2] * 4
    for one, two in zip(whole, chunked, strict=True):
        assert two.run_key == one.run_key and two.status == one.status == "finished"
        assert two.effective_density == one.effective_density
        for key in ("train_loss", "val_loss", "test_loss", "val_acc", "test_acc"):
            assert getattr(two, key) == pytest.approx(getattr(one, key), abs=1e-5), key


def test_a_chunk_out_of_cuda_memory_is_halved_and_retried(
    compose_cfg, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = cohort_run._train_members
    sizes = []

    def at_most_two(cfgs):  # a device where three members do not fit
        sizes.append(len(cfgs))
        if len(cfgs) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")
        return real(cfgs)

    monkeypatch.setattr(cohort_run, "_train_members", at_most_two)
    cfgs = _cohort(compose_cfg, "cohort_memory_gb=1000")
    records = train_cohort(cfgs)
    assert sizes == [4, 2, 2]
    assert [r.cohort_size for r in records] == [2] * 4 and {r.status for r in records} == {"finished"}
    assert [r.init_seed for r in records] == [i for i, _ in SEEDS]
    [line] = [r.getMessage() for r in caplog.records if "out of CUDA memory" in r.getMessage()]
    assert "chunk of 4 members" in line and "at most 2" in line


def test_launcher_gpus_puts_a_cohort_on_its_jobs_device(
    compose_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from hydra.core.hydra_config import HydraConfig

    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: SimpleNamespace(job=SimpleNamespace(num=3))))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    assert device_of(compose_cfg(*FAST, "launcher=gpus")) == torch.device("cuda", 1)  # job 3 mod 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert device_of(compose_cfg(*FAST, "launcher=gpus")) == torch.device("cpu")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    if not torch.cuda.is_available():  # without launcher=gpus the trainer's setting decides
        assert device_of(compose_cfg(*FAST)) == torch.device("cpu")


def test_cohort_memory_gb_is_checked_in_one_line(compose_cfg) -> None:
    from propensity.validation import ConfigError, validate

    with pytest.raises(ConfigError, match=r"^cohort_memory_gb=0: must be in \(0, .*; use GiB"):
        validate(compose_cfg(*FAST, "cohort_memory_gb=0"))
    validate(compose_cfg(*FAST, "cohort_memory_gb=0.5"))
