"""Training a cohort through the glue: one folder and record per member, as single runs."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from propensity.cohort.memory import GIB
from propensity.config.members import check_one_cell, member_configs
from propensity.config.validation import ConfigError, validate
from propensity.engines.epoch_report import EpochReport
from propensity.launch.devices import device_of
from propensity.launch.signals import Interrupted
from propensity.run import recipe
from propensity.run.job import run_job
from propensity.run.members import read_members
from propensity.run.plan import MemoryPlan
from propensity.run.recipe import train, train_cohort
from propensity.storage.checkpoints import Checkpoint
from propensity.storage.records import RunRecord
from tests.conftest import FAST, run_cli, run_directory


def _checkpoint(cfgs) -> Checkpoint:
    members = read_members(cfgs)
    return Checkpoint.of_cohort(members[0].experiment_dir, [m.run_key for m in members])


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
        check_one_cell([compose_cfg(*FAST), compose_cfg(*FAST, "width=0.5")])


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


@pytest.fixture(autouse=True)
def python_signal_handlers() -> Iterator[None]:
    """Python's own SIGTERM and SIGINT handlers for each test, whatever the shell gave pytest.

    A shell without job control starts a background command (``make test &``) with SIGINT
    ignored, and `interruptible` rightly leaves an ignored signal ignored; these tests are about
    the signals a run does handle."""
    ours = {signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.default_int_handler}
    previous = {s: signal.signal(s, handler) for s, handler in ours.items()}
    yield
    for s, handler in previous.items():
        signal.signal(s, handler)


def _signal_after_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int, signum: int) -> None:
    """Raise `signum` in this thread once the cohort's epoch hook has finished `epoch`, as a
    scheduler or a user would between two epochs. `signal.raise_signal` delivers it to the
    calling (main) thread before it returns, so its handler runs at once, not at a moment
    that depends on the machine's load."""
    original = EpochReport.__call__

    def report_then_signal(self: EpochReport, done: int, rows, training: int) -> None:
        original(self, done, rows, training)
        if done == epoch:
            signal.raise_signal(signum)

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
    checkpoint = _checkpoint(cfgs)
    assert torch.load(checkpoint.path, weights_only=True)["epoch"] == 2
    for cfg in cfgs:
        stopped = RunRecord.load(run_directory(cfg) / "record.json")
        assert (stopped.status, stopped.error) == ("interrupted", "interrupted by SIGTERM")
        assert pd.read_csv(run_directory(cfg) / "history.csv").epoch.tolist() == [1, 2]

    original, epochs = EpochReport.__call__, []
    monkeypatch.setattr(EpochReport, "__call__", lambda self, epoch, rows, training: (
        epochs.append(epoch), original(self, epoch, rows, training)))
    with caplog.at_level(logging.INFO, logger="propensity"):
        resumed = train_cohort(cfgs)
    assert f"resume the cohort from {checkpoint.path} (epoch 2)" in caplog.text
    assert epochs == [3, 4]  # only the epochs the interruption left
    for cfg, record, reference in zip(cfgs, resumed, whole, strict=True):
        assert record.status == "finished" and record.effective_density == reference.effective_density
        ours, ref = run_directory(cfg), Path(reference.config["results_dir"]) / "adhoc" / reference.run_key
        for table in ("history.csv", "trajectory.csv"):
            assert (ours / table).read_text() == (ref / table).read_text(), table
    assert not checkpoint.path.parent.exists()  # every member is done: the checkpoint went


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_leaves_every_member_interrupted_and_exits_as_a_single_run(
    compose_cfg, monkeypatch, signum: int, code: int
) -> None:
    cfg = compose_cfg(*FAST, "+cohort_members=[[0,0],[1,1]]")
    _signal_after_epoch(monkeypatch, 1, signum)
    with pytest.raises(SystemExit) as exit_:
        run_job(cfg)
    assert exit_.value.code == code
    for member in member_configs(cfg):
        assert RunRecord.load(run_directory(member) / "record.json").status == "interrupted"


def test_an_ignored_sigint_stays_ignored(compose_cfg, monkeypatch) -> None:
    """A run started with SIGINT ignored (a background job of a shell, ``nohup``) is not stopped
    by a Ctrl-C meant for the foreground: it trains on and finishes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cfg = compose_cfg(*FAST, "+cohort_members=[[0,0],[1,1]]")
    _signal_after_epoch(monkeypatch, 1, signal.SIGINT)
    run_job(cfg)
    for member in member_configs(cfg):
        assert RunRecord.load(run_directory(member) / "record.json").status == "finished"


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
    assert not list(_checkpoint(cfgs).path.parent.parent.iterdir())  # the old cohort's checkpoint too


SEEDS = [(0, 0), (1, 0), (2, 1), (3, 1)]


def _cohort(compose_cfg, *overrides: str) -> list:
    return [compose_cfg(*FAST, f"init_seed={i}", f"data_seed={d}", *overrides) for i, d in SEEDS]


def test_a_budget_for_two_members_trains_two_chunks_with_the_one_chunk_records(
    compose_cfg, tmp_path
) -> None:
    whole = train_cohort(_cohort(compose_cfg, f"results_dir={tmp_path / 'whole'}"))
    cfgs = _cohort(compose_cfg, f"results_dir={tmp_path / 'chunks'}")
    estimate = MemoryPlan(read_members(cfgs)).estimate
    budget = (estimate.chunk_peak(2, 2) + estimate.chunk_peak(3, 2)) / 2 / GIB  # two fit, three do not
    cfgs = [OmegaConf.merge(cfg, {"cohort_memory_gb": budget}) for cfg in cfgs]
    members = read_members(cfgs)
    assert MemoryPlan(members).chunk_sizes(members) == [2, 2]
    chunked = train_cohort(cfgs)
    assert [r.cohort_size for r in whole] == [4] * 4 and [r.cohort_size for r in chunked] == [2] * 4
    for one, two in zip(whole, chunked, strict=True):
        assert two.run_key == one.run_key and two.status == one.status == "finished"
        assert two.effective_density == one.effective_density
        for key in ("train_loss", "val_loss", "test_loss", "val_acc", "test_acc"):
            assert getattr(two, key) == pytest.approx(getattr(one, key), abs=1e-5), key


def test_a_tight_budget_shrinks_the_evaluation_batches_not_the_results(
    compose_cfg, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    """Evaluation batches only group samples: a budget that holds four members' training
    but not 300 validation samples of each at once keeps one chunk of four, with the
    accuracies and effective densities of the unconstrained cohort."""
    whole = train_cohort(_cohort(compose_cfg, f"results_dir={tmp_path / 'whole'}"))
    cfgs = _cohort(compose_cfg, f"results_dir={tmp_path / 'tight'}")
    estimate = MemoryPlan(read_members(cfgs)).estimate
    budget = (estimate.chunk_peak(4, 2) + 4 * estimate.eval_sample * 20) / GIB  # room for +20 samples
    cfgs = [OmegaConf.merge(cfg, {"cohort_memory_gb": budget}) for cfg in cfgs]
    members = read_members(cfgs)
    assert MemoryPlan(members).chunk_sizes(members) == [4]
    val_batch, prune_batch = MemoryPlan(members).evaluation_batches(members)
    assert val_batch < 300 and prune_batch < 300  # digits: 300 validation samples
    with caplog.at_level(logging.INFO, logger="propensity"):
        tight = train_cohort(cfgs)
    assert any("evaluation batches of" in r.getMessage() for r in caplog.records)
    for one, two in zip(whole, tight, strict=True):
        assert two.cohort_size == 4 and two.effective_density == one.effective_density
        assert (two.val_acc, two.test_acc) == (one.val_acc, one.test_acc)
        assert two.val_loss == pytest.approx(one.val_loss, abs=1e-6)


def test_levels_at_once_keep_run_keys_accuracies_and_effective_densities(compose_cfg, tmp_path) -> None:
    """Several pruning levels per forward (``pruning.levels_at_once``: a number, or 0 for as
    many as fit the budget) only group the work: same run keys, accuracies along the whole
    trajectory and effective densities as one level at a time."""
    base = _cohort(compose_cfg, f"results_dir={tmp_path / 'one'}")
    one = train_cohort(base)
    for at_once in (0, 7):
        cfgs = _cohort(compose_cfg, f"results_dir={tmp_path / str(at_once)}",
                       f"pruning.levels_at_once={at_once}")
        if at_once == 0:  # digits' 300 validation samples: all 51 levels fit the RAM budget
            members = read_members(cfgs)
            assert MemoryPlan(members).pruning_levels(members, 8192) == 51
        many = train_cohort(cfgs)
        for a, b, cfg_a, cfg_b in zip(one, many, base, cfgs, strict=True):
            assert b.run_key == a.run_key and b.effective_density == a.effective_density
            ta = pd.read_csv(run_directory(cfg_a) / "trajectory.csv")
            tb = pd.read_csv(run_directory(cfg_b) / "trajectory.csv")
            assert tb.val_acc.tolist() == ta.val_acc.tolist()
            assert tb.val_loss.to_numpy() == pytest.approx(ta.val_loss.to_numpy(), rel=1e-5)


def test_a_chunk_out_of_cuda_memory_is_halved_and_retried(
    compose_cfg, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = recipe.train_chunk
    sizes = []

    def at_most_two(members, plan):  # a device where three members do not fit
        sizes.append(len(members))
        if len(members) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")
        return real(members, plan)

    monkeypatch.setattr(recipe, "train_chunk", at_most_two)
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
    with pytest.raises(ConfigError, match=r"^cohort_memory_gb=0: must be in \(0, .*; use GiB"):
        validate(compose_cfg(*FAST, "cohort_memory_gb=0"))
    validate(compose_cfg(*FAST, "cohort_memory_gb=0.5"))
